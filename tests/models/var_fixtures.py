"""Synthetic market-history folders (shared layout) and books for the VaR/ES model tests."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from crossmargin.instruments import Instrument, parse_symbol
from crossmargin.market.history import MarketHistory
from crossmargin.market.snapshot import MarketSnapshot
from crossmargin.models.base import RowMargins
from crossmargin.models.var import ExpectedShortfallModel, HistoricalVaRMarginModel

ASOF = "2020-06-30"
FILES = {
    "BTC": "crypto/btc_usd_yahoo_daily.csv",
    "BTC_DVOL": "crypto/btc_dvol_daily.csv",
    "SPY": "etf/spy_daily.csv",
    "VIX": "index/vix_cboe_daily.csv",
}


def write_series(folder: Path, name: str, values: pd.Series, volume: float = 1000.0) -> None:
    """Write one series in the shared CSV layout (``volume`` for price files)."""
    path = folder / FILES[name]
    path.parent.mkdir(parents=True, exist_ok=True)
    days = [f"{d:%Y-%m-%d}" for d in values.index]
    if name == "BTC_DVOL":
        lines = ["date,dvol_close", *(f"{d},{v!r}" for d, v in zip(days, values, strict=True))]
    else:
        lines = ["date,open,high,low,close,volume"]
        lines += [
            f"{d},{v!r},{v!r},{v!r},{v!r},{volume!r}" for d, v in zip(days, values, strict=True)
        ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def random_history(
    folder: Path, *, start: str = "2016-01-01", end: str = "2020-12-31", seed: int = 3
) -> Path:
    """BTC (crypto days), BTC_DVOL, SPY and VIX (weekdays) as random walks; returns ``folder``."""
    rng = np.random.default_rng(seed)
    crypto = pd.date_range(start, end, freq="D")
    weekdays = pd.bdate_range(start, end)
    btc = 8000.0 * np.exp(np.cumsum(rng.standard_t(4, crypto.size) * 0.03))
    dvol = 60.0 + np.cumsum(rng.normal(0.0, 1.5, crypto.size)).clip(-40, 80)
    spy = 250.0 * np.exp(np.cumsum(rng.standard_t(4, weekdays.size) * 0.01))
    vix = 18.0 + np.abs(np.cumsum(rng.normal(0.0, 0.8, weekdays.size))).clip(0, 60)
    write_series(folder, "BTC", pd.Series(btc, index=crypto), volume=2.0e10)
    write_series(folder, "BTC_DVOL", pd.Series(dvol, index=crypto))
    write_series(folder, "SPY", pd.Series(spy, index=weekdays), volume=8.0e7)
    write_series(folder, "VIX", pd.Series(vix, index=weekdays))
    return folder


def corrupt_after(folder: Path, asof: str, seed: int = 11) -> None:
    """Scale every value (and volume) dated after ``asof`` in every file by random factors."""
    rng = np.random.default_rng(seed)
    for relative in FILES.values():
        path = folder / relative
        frame = pd.read_csv(path)
        late = pd.to_datetime(frame["date"]) > pd.Timestamp(asof)
        for col in frame.columns[1:]:
            frame.loc[late, col] = frame.loc[late, col] * rng.uniform(0.2, 5.0, int(late.sum()))
        frame.to_csv(path, index=False)


def crypto_history(folder: Path, closes: pd.Series, dvol: float = 60.0) -> MarketHistory:
    """A BTC-only history with the given closes and a constant DVOL."""
    write_series(folder, "BTC", closes, volume=2.0e10)
    write_series(folder, "BTC_DVOL", pd.Series(dvol, index=closes.index))
    return MarketHistory.load(folder)


def snapshot(history: MarketHistory, asof: str, underlyings: Sequence[str]) -> MarketSnapshot:
    """Spots from the history's close on ``asof``; zero rates; flat vols are not needed."""
    spots = {u: history.close_on(u, asof)[0] for u in underlyings}
    when = datetime.combine(pd.Timestamp(asof).date(), datetime.min.time(), tzinfo=UTC)
    return MarketSnapshot(
        valuation_time=when.replace(hour=21),
        spots=spots,
        rates={"USD": 0.0},
        fx={"USDC": 1.0, "USDT": 1.0},
    )


def mixed_market(history: MarketHistory) -> tuple[MarketSnapshot, tuple[Instrument, ...]]:
    """A BTC and SPY snapshot on :data:`ASOF` with flat 60% vols, and eight instruments on
    them (spot, ETF, perpetual, options, future): the book the kernel-against-twin model
    tests margin."""
    from dataclasses import replace

    from crossmargin.market.volsurface import VolSurface

    market = snapshot(history, ASOF, ["BTC", "SPY"])
    flat = VolSurface.from_parameters(atm_vol=0.6)
    market = replace(market, vols={"BTC": flat, "SPY": flat})
    inst = instruments(
        "BTC_USDC", "SPY", "BTC-PERPETUAL", "BTC-25SEP20-9000-C", "BTC-25SEP20-9000-P",
        "BTC-25SEP20-11000-C", "BTC-25DEC20-8000-P", "BTC-25SEP20",
    )  # fmt: skip
    return market, inst


def assert_same_rows(got: RowMargins, want: RowMargins) -> None:
    """Two models' rows are the same figures bit for bit: totals, every component and info
    array, worst scenarios and facts."""
    np.testing.assert_array_equal(got.total, want.total)
    for name, value in want.components.items():
        np.testing.assert_array_equal(got.components[name], value, err_msg=name)
    for name, value in want.info.items():
        np.testing.assert_array_equal(got.info[name], value, err_msg=name)
    assert got.worst_scenario is not None
    assert want.worst_scenario is not None
    np.testing.assert_array_equal(got.worst_scenario, want.worst_scenario)
    assert got.facts == want.facts


def instruments(*symbols: str) -> tuple[Instrument, ...]:
    """Parse symbols (reference year 2020)."""
    return tuple(parse_symbol(s, reference_year=2020) for s in symbols)


def holdings(rows: Sequence[Sequence[float]]) -> sp.csr_matrix:
    """A CSR holdings matrix from dense rows."""
    return sp.csr_matrix(np.asarray(rows, dtype=float))


def params_file(folder: Path, overrides: Mapping[str, object]) -> Path:
    """A copy of the shipped es.json with ``defaults`` overridden."""
    from importlib import resources

    text = resources.files("crossmargin").joinpath("models/params/es.json").read_text("utf-8")
    data = json.loads(text)
    data["defaults"].update(overrides)
    path = folder / "es_params.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


#: Models and options whose rows every path must give alike (the compiled kernels against the
#: matrix): ES as configured by default, with the floor APC under FHS, with the buffer APC and
#: no stressed window; VaR at 97.5%. The ``stress-weight`` APC mixes the matrix itself.
MODEL_CASES: tuple[tuple[type[ExpectedShortfallModel], dict[str, object]], ...] = (
    (ExpectedShortfallModel, {}),
    (ExpectedShortfallModel, {"apc": "floor", "method": "fhs"}),
    (ExpectedShortfallModel, {"apc": "buffer", "stress_window": None}),
    (HistoricalVaRMarginModel, {"confidence": 0.975}),
)
