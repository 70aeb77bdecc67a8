"""The ``es`` and ``hvar`` models on synthetic histories: conventions, add-ons, APC, errors."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from var_fixtures import (
    ASOF,
    corrupt_after,
    crypto_history,
    holdings,
    instruments,
    params_file,
    random_history,
    snapshot,
)

from crossmargin.errors import InputError, MarketDataError
from crossmargin.market.history import MarketHistory
from crossmargin.models import get_model, model_names
from crossmargin.models.var import (
    ExpectedShortfallModel,
    HistoricalVaRMarginModel,
    implied_correlations,
)
from crossmargin.portfolio.book import Portfolio, Position

# Hand-picked daily log returns of the last 20 days (the lookback): worst -0.12, then -0.07.
LAST_RETURNS = [0.01, -0.02, 0.03, -0.12, 0.00, 0.02, -0.01, 0.04, -0.07, 0.01]
LAST_RETURNS += [0.02, -0.03, 0.01, 0.00, -0.04, 0.05, -0.02, 0.01, 0.03, -0.01]


@pytest.fixture(scope="module")
def hand_history(tmp_path_factory: pytest.TempPathFactory) -> MarketHistory:
    """BTC: 40 days at 10,000 (small noise), then the 20 returns above; as of the last day."""
    folder = tmp_path_factory.mktemp("hand")
    noise = np.tile([0.001, -0.001], 20)
    rets = np.concatenate([noise, LAST_RETURNS])
    closes = 10_000.0 * np.exp(np.concatenate([[0.0], np.cumsum(rets)]))
    days = pd.date_range("2020-01-01", periods=closes.size, freq="D")
    return crypto_history(folder, pd.Series(closes, index=days))


@pytest.fixture(scope="module")
def random_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return random_history(tmp_path_factory.mktemp("random"))


def test_hand_computed_var_and_es_through_the_model(hand_history: MarketHistory) -> None:
    # Convention: k = ceil((1 - a) n); VaR = k-th worst loss, ES = mean of the k worst losses.
    # n = 20 one-day scenarios at a = 0.9 gives k = 2: the returns -0.12 and -0.07.
    asof = f"{hand_history.coverage('BTC')[1]:%Y-%m-%d}"
    market = snapshot(hand_history, asof, ["BTC"])
    s0 = market.spots["BTC"]
    losses = sorted(-s0 * math.expm1(r) for r in LAST_RETURNS)[::-1]  # 1 BTC spot, loss > 0
    var_hand, es_hand = losses[1], (losses[0] + losses[1]) / 2
    inst = instruments("BTC_USDC")
    kw = {"confidence": 0.9, "lookback": "20D", "mpor": 1, "history": hand_history}
    for cls, expected in ((HistoricalVaRMarginModel, var_hand), (ExpectedShortfallModel, es_hand)):
        model = cls(**kw)  # type: ignore[arg-type]
        ctx = model.prepare(inst, market)
        rows = model.margin_rows(ctx, holdings([[1.0], [2.0]]))
        assert rows.components["core"][0] == pytest.approx(expected, rel=1e-12)
        assert rows.components["core"][1] == pytest.approx(2 * expected, rel=1e-12)
        assert (
            rows.scenario_names[int(rows.worst_scenario[0])]
            == f"{pd.Timestamp(asof) - pd.Timedelta(days=16):%Y-%m-%d}"
        )
    assert es_hand >= var_hand


def test_short_position_uses_the_upper_tail(hand_history: MarketHistory) -> None:
    asof = f"{hand_history.coverage('BTC')[1]:%Y-%m-%d}"
    market = snapshot(hand_history, asof, ["BTC"])
    s0 = market.spots["BTC"]
    model = ExpectedShortfallModel(confidence=0.9, lookback="20D", mpor=1, history=hand_history)
    rows = model.margin_rows(model.prepare(instruments("BTC_USDC"), market), holdings([[-1.0]]))
    gains = sorted((s0 * math.expm1(r) for r in LAST_RETURNS), reverse=True)
    assert rows.components["core"][0] == pytest.approx((gains[0] + gains[1]) / 2, rel=1e-12)


def _hand_es(
    history: MarketHistory,
    names: list[str],
    qty: list[float],
    lookback_days: int,
    h: int,
    calendar: str,
    confidence: float = 0.99,
) -> float:
    """Independent twin of one row of linear positions (1 unit = 1 unit of underlying):
    closes read straight from the CSVs with pandas, sampled on the row's calendar, h-step log
    moves ending on each day of the lookback, loss = Σ q·S₀·(eˣ − 1), fractional-tail ES."""
    import warnings

    with warnings.catch_warnings():  # exchange-calendars' own pandas deprecation warnings
        warnings.simplefilter("ignore")
        import exchange_calendars as xc

        cal = xc.get_calendar("XNYS", start="2015-01-01", end="2021-12-31")
    asof = pd.Timestamp(ASOF)
    start = asof - pd.Timedelta(days=lookback_days - 1)
    if calendar == "crypto":
        days = pd.date_range(start - pd.Timedelta(days=h + 10), asof, freq="D")
    else:
        sessions = pd.DatetimeIndex(cal.sessions).tz_localize(None)
        days = sessions[(sessions >= start - pd.Timedelta(days=h * 4 + 10)) & (sessions <= asof)]
    pnl = np.zeros(int(((days >= start) & (days <= asof)).sum()))
    for name, q in zip(names, qty, strict=True):
        path = history.data_dir / history.spec(name).file
        close = pd.read_csv(path, index_col="date", parse_dates=True)["close"]
        level = close.reindex(close.index.union(days)).ffill().reindex(days)
        x = np.log(level / level.shift(h))[(days >= start) & (days <= asof)].to_numpy()
        s0 = float(close.loc[:asof].iloc[-1])
        pnl = pnl + q * s0 * np.expm1(x)
    losses = np.sort(-pnl)[::-1]
    m = (1 - confidence) * losses.size
    k = int(np.ceil(m - 1e-9))
    return float((losses[: k - 1].sum() + (m - (k - 1)) * losses[k - 1]) / m)


def test_es_rows_on_their_own_calendar_equal_a_pandas_twin(random_folder: Path) -> None:
    history = MarketHistory.load(random_folder)
    market = snapshot(history, ASOF, ["BTC", "SPY"])
    inst = instruments("BTC_USDC", "SPY")
    book = holdings([[1.0, 0.0], [0.0, -20.0], [1.0, -20.0], [2.0, 30.0]])
    es = ExpectedShortfallModel(lookback="365D", stress_window=None, history=history)
    rows = es.margin_rows(es.prepare(inst, market), book)
    core = rows.components["core"]
    assert core[0] == pytest.approx(_hand_es(history, ["BTC"], [1.0], 365, 2, "crypto"), rel=1e-9)
    assert core[1] == pytest.approx(_hand_es(history, ["SPY"], [-20.0], 365, 2, "nyse"), rel=1e-9)
    for r, qty in ((2, [1.0, -20.0]), (3, [2.0, 30.0])):
        hand = _hand_es(history, ["BTC", "SPY"], qty, 365, 2, "nyse")
        assert core[r] == pytest.approx(hand, rel=1e-9)
    var = HistoricalVaRMarginModel(lookback="365D", stress_window=None, history=history)
    assert np.all(core >= var.margin_rows(var.prepare(inst, market), book).components["core"])


def test_no_look_ahead(tmp_path: Path) -> None:
    clean = random_history(tmp_path / "clean")
    dirty = random_history(tmp_path / "dirty")
    corrupt_after(dirty, ASOF)
    inst = instruments("BTC_USDC", "SPY", "BTC-PERPETUAL", "BTC-25SEP20-9000-C")
    book = holdings([[1.0, -40.0, 500.0, 2.0], [0.0, 10.0, 0.0, -1.0], [2.0, 0.0, 0.0, 0.0]])
    results = []
    for folder in (clean, dirty):
        history = MarketHistory.load(folder)
        market = snapshot(history, ASOF, ["BTC", "SPY"])
        market = _with_flat_vols(market)
        for apc in (None, "stress-weight", "floor"):
            model = ExpectedShortfallModel(lookback="400D", method="fhs", apc=apc, history=history)
            rows = model.margin_rows(model.prepare(inst, market), book)
            results.append(
                np.column_stack([rows.total, *rows.components.values(), *rows.info.values()])
            )
    assert not np.array_equal(
        pd.read_csv(clean / "etf/spy_daily.csv")["close"],
        pd.read_csv(dirty / "etf/spy_daily.csv")["close"],
    )
    for a, b in zip(results[:3], results[3:], strict=True):
        np.testing.assert_array_equal(a, b)
        assert np.all(a[:, 0] > 0)


def _with_flat_vols(market):  # type: ignore[no-untyped-def]
    from dataclasses import replace

    from crossmargin.market.volsurface import VolSurface

    flat = VolSurface.from_parameters(atm_vol=0.6)
    return replace(market, vols={"BTC": flat, "SPY": flat})


def test_apc_components(random_folder: Path) -> None:
    history = MarketHistory.load(random_folder)
    market = snapshot(history, ASOF, ["BTC", "SPY"])
    inst = instruments("BTC_USDC", "SPY")
    book = holdings([[1.0, -30.0], [1.0, 0.0]])
    base = ExpectedShortfallModel(lookback="12M", history=history)
    plain = base.margin_rows(base.prepare(inst, market), book)
    buffered = ExpectedShortfallModel(lookback="12M", apc="buffer", history=history)
    rows = buffered.margin_rows(buffered.prepare(inst, market), book)
    np.testing.assert_allclose(rows.components["apc"], 0.25 * plain.components["core"])
    floor = ExpectedShortfallModel(lookback="12M", apc="floor", history=history)
    rows = floor.margin_rows(floor.prepare(inst, market), book)
    assert np.all(rows.components["apc"] >= 0)
    assert np.all(rows.total >= plain.total)
    weighted = ExpectedShortfallModel(lookback="12M", apc="stress-weight", history=history)
    rows = weighted.margin_rows(weighted.prepare(inst, market), book)
    np.testing.assert_allclose(rows.info["stress"], plain.info["stress"])
    # the stressed window holds as many scenarios as the row's own lookback: the 366 crypto
    # days of the 12 months to 2020-06-30 (a leap year) for BTC alone, NYSE sessions for
    # BTC + SPY
    assert rows.facts[1]["stressed_window"]["scenarios"] == 366
    assert rows.facts[0]["stressed_window"]["scenarios"] == rows.facts[0]["lookback"]["scenarios"]
    assert rows.facts[0]["calendar"] == "nyse"
    # the weighted measure lies between the lookback and the stressed-window measures
    mixed = rows.components["core"] + rows.components["apc"]
    lo = np.minimum(plain.components["core"], plain.info["stress"])
    hi = np.maximum(plain.components["core"], plain.info["stress"])
    assert np.all((mixed >= lo - 1e-9) & (mixed <= hi + 1e-9))
    assert np.all(plain.info["stress"] >= plain.components["core"] - 1e-9)


def test_given_stress_window_dates(random_folder: Path) -> None:
    history = MarketHistory.load(random_folder)
    market = snapshot(history, ASOF, ["BTC", "SPY"])
    model = ExpectedShortfallModel(stress_window=("2018-01-01", "2018-12-31"), history=history)
    ctx = model.prepare(instruments("BTC_USDC"), market)
    rows = model.margin_rows(ctx, holdings([[1.0]]))
    window = rows.facts[0]["stressed_window"]
    assert window["first"] >= "2018-01-01"
    assert window["last"] <= "2018-12-31"
    assert window["scenarios"] == 365  # every crypto day of 2018


def test_compute_netting_and_correlations(random_folder: Path) -> None:
    history = MarketHistory.load(random_folder)
    market = snapshot(history, ASOF, ["BTC", "SPY"])
    btc, spy = instruments("BTC_USDC", "SPY")
    book = Portfolio.from_positions(
        [
            Position(account="A", instrument=btc, quantity=1.0),
            Position(account="A", instrument=spy, quantity=-20.0),
        ]
    )
    model = get_model("es", lookback="500D", history=history)
    result = model.compute(book, market)
    acc = result.accounts[0]
    assert set(acc.components) == {
        "core", "apc", "liquidity_delta", "liquidity_vega", "concentration", "basis", "funding"
    }  # fmt: skip
    assert set(acc.info) == {"stress", "days_to_liquidate"}
    assert acc.netting_set["calendar"] == "nyse"
    assert acc.netting_set["netting_set"] == "BTC+SPY"
    assert acc.worst_scenario is not None
    assert acc.worst_scenario.startswith("20")
    assert acc.netted <= acc.standalone  # ES core is subadditive; add-ons here are linear
    corr = implied_correlations(model, book.instruments, market)  # type: ignore[arg-type]
    assert list(corr.columns) == ["BTC", "SPY", "vol:BTC", "vol:SPY"]
    np.testing.assert_allclose(np.diag(corr.to_numpy()), 1.0)
    assert {"es", "hvar"} <= set(model_names())
    assert result.parameters["parameter_file"]["version"] == "2026-12.1"


def test_bad_inputs(random_folder: Path) -> None:
    history = MarketHistory.load(random_folder)
    market = snapshot(history, ASOF, ["BTC", "SPY"])
    for bad in (0.0, 1.0, 1.5, -0.1):
        with pytest.raises(InputError, match="confidence must be strictly between 0 and 1"):
            ExpectedShortfallModel(confidence=bad)
    with pytest.raises(InputError, match="apc"):
        ExpectedShortfallModel(apc="cushion")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="method"):
        ExpectedShortfallModel(method="mc")  # type: ignore[arg-type]
    for bad in (0, 250, "250", "0D"):
        with pytest.raises(InputError, match="lookback must be a calendar period"):
            ExpectedShortfallModel(lookback=bad)  # type: ignore[arg-type]
    with pytest.raises(InputError, match="stress-weight"):
        ExpectedShortfallModel(apc="stress-weight", stress_window=None)
    model = ExpectedShortfallModel(lookback="20Y", history=history)
    with pytest.raises(
        MarketDataError, match=r"20Y lookback from .* needs moves of BTC from its start.*2016"
    ):
        model.margin_rows(model.prepare(instruments("BTC_USDC"), market), holdings([[1.0]]))
    crypto_only = MarketHistory(
        data_dir=history.data_dir, catalogue={k: history.catalogue[k] for k in ("BTC", "BTC_DVOL")}
    )
    model = ExpectedShortfallModel(history=crypto_only)
    with pytest.raises(MarketDataError, match=r"'SPY' has no daily price history.*add the series"):
        model.prepare(instruments("BTC_USDC", "SPY"), market)
    with pytest.raises(MarketDataError, match="no scenario dated in the stress window"):
        ExpectedShortfallModel(stress_window=("2030-01-01", "2030-12-31"), history=history).prepare(
            instruments("BTC_USDC"), market
        )


def test_parameter_file_override(random_folder: Path, tmp_path: Path) -> None:
    history = MarketHistory.load(random_folder)
    market = snapshot(history, ASOF, ["BTC"])
    path = params_file(tmp_path, {"confidence": 0.975, "lookback": "300D", "mpor": 3})
    model = ExpectedShortfallModel(params=path, history=history)
    assert (model.confidence, model.lookback, model.mpor) == (0.975, "300D", 3)
    rows = model.margin_rows(model.prepare(instruments("BTC_USDC"), market), holdings([[1.0]]))
    facts = rows.facts[0]
    assert facts["lookback"]["scenarios"] == 300  # one 3-day move ending on each of 300 days
    assert facts["mpor_calendar_days"] == {"min": 3.0, "mean": 3.0, "max": 3.0}


def test_underlyings_held_marks_every_stored_entry() -> None:
    # against the 0/1 product it replaced: a row holds an underlying when any stored entry
    # (a zero quantity included) is on one of its instruments
    from types import SimpleNamespace

    from crossmargin.models.var import _underlyings_held
    from crossmargin.netting.sums import row_of_data

    rng = np.random.default_rng(3)
    n_rows, n_inst, n_und, nnz = 12, 20, 4, 40
    und_index = rng.integers(n_und, size=n_inst)
    rows = np.sort(rng.integers(n_rows, size=nnz))
    indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=n_rows))])
    data = rng.normal(size=nnz) * (rng.random(nnz) > 0.2)  # some stored zeros
    h = sp.csr_matrix((data, rng.integers(n_inst, size=nnz), indptr), shape=(n_rows, n_inst))
    context = SimpleNamespace(underlyings=tuple(f"U{k}" for k in range(n_und)),
                              und_index=und_index)  # fmt: skip
    ones = sp.csr_matrix((np.ones(h.nnz), h.indices, h.indptr), shape=h.shape)
    exposure = sp.csr_matrix((np.ones(n_inst), (np.arange(n_inst), und_index)),
                             shape=(n_inst, n_und))  # fmt: skip
    want = (ones @ exposure).toarray() > 0
    held = _underlyings_held(context, h, row_of_data(h))  # type: ignore[arg-type]
    assert np.array_equal(held, want)
