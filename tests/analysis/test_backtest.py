"""Backtest engine: realised P&L, no look-ahead, statistics wiring, parallel = serial."""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from crossmargin import api
from crossmargin.analysis.backtest import MODES, BacktestPaths, ModelSpec, run_paths
from crossmargin.analysis.backtest_stats import summarise
from crossmargin.analysis.strategies import representative_strategies
from crossmargin.config import find_data_dir
from crossmargin.errors import InputError, MarketDataError
from crossmargin.market.history import MarketHistory

DATA = find_data_dir()
needs_data = pytest.mark.skipif(DATA is None, reason="shared market history not found")


def strategies(*names: str) -> list:  # type: ignore[type-arg]
    return [s for s in representative_strategies() if s.name in names]


@needs_data
def test_realised_pnl_of_long_btc_is_the_close_to_close_move() -> None:
    paths = run_paths(strategies("long-btc"), ModelSpec("rules"), "2024-03-01", "2024-03-15")
    closes = MarketHistory.load().series("BTC")
    for d, e, pnl in zip(paths.dates, paths.horizon_end[:, 0], paths.pnl[:, 0], strict=True):
        s0, s1 = closes[pd.Timestamp(d)], closes[pd.Timestamp(e)]
        quantity = 1_000_000 / s0  # 1 million USD of BTC bought at the close of day t
        assert pnl == pytest.approx(quantity * (s1 - s0), rel=1e-9)
    # NYSE calendar (the strategy set mixes in nothing else, so this is crypto: every day).
    assert paths.dates[1] == date(2024, 3, 2)


def _corrupt_copy(src: Path, dst: Path, after: str) -> None:
    """Copy the files the test needs, multiplying every number after ``after`` by 3."""
    for rel in (
        "crypto/btc_usd_yahoo_daily.csv",
        "crypto/btc_dvol_daily.csv",
        "index/spx_daily.csv",
        "index/vix_cboe_daily.csv",
        "rates/fred_rates_daily.csv",
    ):
        (dst / rel).parent.mkdir(parents=True, exist_ok=True)
        with (src / rel).open() as fin, (dst / rel).open("w", newline="") as fout:
            reader, writer = csv.reader(fin), csv.writer(fout)
            writer.writerow(next(reader))
            for row in reader:
                if row[0] > after:
                    row = [row[0], *[_triple(x) for x in row[1:]]]
                writer.writerow(row)  # fmt: skip


def _triple(text: str) -> str:
    try:
        return repr(3.0 * float(text))
    except ValueError:
        return text


@needs_data
@pytest.mark.parametrize("model", ["rules", "es"])
def test_no_look_ahead_margin_unchanged_by_corrupting_the_future(
    tmp_path: Path, model: str
) -> None:
    cut = "2023-06-15"
    assert DATA is not None
    _corrupt_copy(DATA, tmp_path, cut)
    book = strategies("btc-vs-es")
    kwargs = {"mpor": 2}
    clean = run_paths(book, ModelSpec(model), "2023-06-01", cut, workers=1, **kwargs)
    dirty = run_paths(
        book, ModelSpec(model), "2023-06-01", cut, workers=1,
        history=MarketHistory.load(tmp_path), **kwargs,
    )  # fmt: skip
    assert clean.dates == dirty.dates
    for mode in MODES:
        np.testing.assert_array_equal(clean.margin[mode], dirty.margin[mode])
    # The realised P&L does look at the future, and the corruption shows there.
    assert not np.allclose(clean.pnl[-1], dirty.pnl[-1])


def _paths(exception_days: list[int], n: int = 250) -> BacktestPaths:
    pnl = np.full((n, 1), -0.5)
    pnl[exception_days, 0] = -2.0
    ones = np.ones((n, 1))
    days = tuple(date(2020, 1, 1) + pd.Timedelta(days=i) for i in range(n))
    return BacktestPaths(
        dates=days, horizon_end=np.array(days, dtype="datetime64[D]")[:, None], accounts=("a",),
        margin={"netted": ones, "grouped": ones * 1.5, "standalone": ones * 3.0}, pnl=pnl,
    )  # fmt: skip


def test_statistics_match_the_reference_values() -> None:
    # METHODS §9.4 / V8: exceptions on days 50, 100, 101, 180, 220 of 250 (1-based):
    # n_ij = (240, 4, 4, 1), LR_ind 3.1540, LR_POF 1.9568, LR_cc 5.1108; 5 of 250 at 99% is
    # yellow (BCBS 1996: green 0-4, yellow 5-9, red 10+).
    result = summarise(
        _paths([49, 99, 100, 179, 219]), model="toy", confidence=0.99, mpor=1, book="t",
        rolling=False,
    )  # fmt: skip
    data = result.to_dict()
    assert data["exceptions"] == 5
    assert data["observations"] == 250
    assert data["kupiec"]["lr"] == pytest.approx(1.9568, abs=1e-4)
    assert data["christoffersen"]["lr_ind"] == pytest.approx(3.1540, abs=1e-4)
    assert data["christoffersen"]["lr_cc"] == pytest.approx(5.1108, abs=1e-4)
    assert data["christoffersen"]["p_value"] == pytest.approx(0.0777, abs=1e-4)
    assert data["traffic_light"] == "yellow"
    # Grouped (1.5) still breached by a loss of 2, standalone (3) never.
    assert data["grouped"]["exceptions"] == 5
    assert data["standalone"]["exceptions"] == 0
    assert data["standalone"]["traffic_light"] == "green"
    for key in ("confidence", "mpor", "netted", "standalone", "series"):
        assert key in data
    assert data["series"][49]["exception"] is True
    assert data["series"][49]["standalone_exception"] is False


def test_overlapping_windows_report_non_overlapping_subsamples() -> None:
    result = summarise(_paths([10, 11, 40, 41]), model="toy", confidence=0.99, mpor=2,
                       book="t", rolling=False)  # fmt: skip
    sub = result.to_dict()["non_overlapping"]
    assert sub["h"] == 2
    assert [s["exceptions"] for s in sub["subsamples"]] == [2, 2]
    assert [s["observations"] for s in sub["subsamples"]] == [125, 125]


@needs_data
def test_parallel_equals_serial() -> None:
    book = strategies("btc-vs-es", "spy-covered-call")
    args = (book, ModelSpec("rules"), "2023-01-01", "2023-06-30")
    serial = run_paths(*args, workers=1)
    parallel = run_paths(*args, workers=2)
    assert len(serial.dates) >= 120  # the parallel path is really taken
    assert serial.dates == parallel.dates
    np.testing.assert_array_equal(serial.pnl, parallel.pnl)
    for mode in MODES:
        np.testing.assert_array_equal(serial.margin[mode], parallel.margin[mode])


@needs_data
def test_bad_windows() -> None:
    book = strategies("long-btc")
    with pytest.raises(InputError, match="after its end"):
        run_paths(book, ModelSpec("rules"), "2024-03-10", "2024-03-01")
    with pytest.raises(MarketDataError):
        run_paths(book, ModelSpec("rules"), "2031-01-01", "2031-06-30")
    with pytest.raises(InputError, match="not shorter than the window"):
        run_paths(book, ModelSpec("rules"), "2024-03-01", "2024-03-03", mpor=5)
    with pytest.raises(InputError, match="confidence"):
        api.backtest(book, "rules", "2024-03-01", "2024-03-20", confidence=1.2)


@needs_data
def test_hypothetical_pnl_of_a_future_uses_each_days_forward() -> None:
    """A long ES future: the hypothetical P&L is ``m·(F₁ − F₀)`` with each day's forward from
    its own snapshot (``MarketSnapshot.forward``: that day's spot, rate and carry, the time
    left), the clean one ``m·(S₁e^{b₀T₁} − F₀)`` with day t's carry; the difference is the
    carry change alone."""
    from crossmargin.analysis.strategies import Leg, Strategy, materialise
    from crossmargin.market.builder import snapshot_from_history

    strategy = Strategy(
        name="es-future",
        description="one long ES future, 60 days to expiry",
        legs=(Leg(product="cme_es_future", sign=1.0, quantity=1.0, tenor_days=60.0),),
    )
    paths = run_paths([strategy], ModelSpec("rules"), "2023-03-01", "2023-03-10", mpor=2)
    history = MarketHistory.load()
    assert paths.pnl_clean is not None
    for d, e, hyp, clean in zip(
        paths.dates, paths.horizon_end[:, 0], paths.pnl[:, 0], paths.pnl_clean[:, 0], strict=True
    ):
        end = pd.Timestamp(e).date()
        now = snapshot_from_history(d, ("SPX",), history=history.until(d))
        later = snapshot_from_history(end, ("SPX",), history=history.until(end))
        (pos,) = materialise([strategy], now).positions
        t0 = pos.instrument.years_to_expiry(now.valuation_time)
        t1 = pos.instrument.years_to_expiry(later.valuation_time)
        f0 = float(now.forward("SPX", t0))
        f1 = float(later.forward("SPX", t1))
        assert hyp == pytest.approx(50.0 * (f1 - f0), rel=1e-9)
        b0 = float(now.carry("SPX", t0))
        assert clean == pytest.approx(50.0 * (later.spot("SPX") * np.exp(b0 * t1) - f0), rel=1e-9)


def _es_paths(n: int = 400, seed: int = 3) -> BacktestPaths:
    """One account whose forecast each day is a standard normal on 500 scenarios scaled by
    σ_t; the margin held is the forecast's ES; realised P&L drawn from that forecast."""
    from scipy.stats import norm

    from crossmargin.analysis.backtest_forecast import CoreForecast
    from crossmargin.stats import Predictive

    rng = np.random.default_rng(seed)
    grid = norm.ppf((np.arange(500) + 0.5) / 500)
    sig = np.exp(rng.normal(0.0, 0.2, n))
    days = [grid * s for s in sig]
    pred = Predictive.from_scenarios(days, 0.99)
    forecasts = [
        [(float(pred.var[i]), float(pred.es[i]), 500,
          tuple(pred.tail[i, : pred.tail_count[i]].tolist()))]
        for i in range(n)
    ]  # fmt: skip
    pnl = np.array([d[rng.integers(500)] for d in days])[:, None]
    margin = pred.es[:, None]
    dates = tuple(date(2020, 1, 1) + pd.Timedelta(days=i) for i in range(n))
    return BacktestPaths(
        dates=dates, horizon_end=np.array(dates, dtype="datetime64[D]")[:, None],
        accounts=("a",), margin={"netted": margin, "grouped": margin, "standalone": margin},
        pnl=pnl, pnl_clean=pnl * 0.5, forecast=CoreForecast.stack(0.99, forecasts),
    )  # fmt: skip


def test_es_margin_is_backtested_as_es() -> None:
    from scipy.stats import binom, norm

    from crossmargin.stats import acerbi_szekely_z2, max_increase, peak_to_trough_ratio

    paths = _es_paths()
    result = summarise(paths, model="es", confidence=0.99, mpor=1, book="t", rolling=False)
    data = result.to_dict()
    net = data["accounts"][0]["netted"]
    es = net["es_backtest"]
    x, n = net["exceptions"], net["observations"]
    p_equiv = 1.0 - norm.cdf(norm.pdf(norm.ppf(0.99)) / 0.01)
    assert es["normal"]["probability"] == pytest.approx(p_equiv, rel=1e-12)
    assert es["normal"]["expected"] == pytest.approx(n * p_equiv)
    assert es["normal"]["binomial_p_value"] == pytest.approx(binom.sf(x - 1, n, p_equiv))
    clean = paths.pnl_clean
    assert clean is not None
    assert es["clean_exceptions"] == int((-clean[:, 0] > paths.margin["netted"][:, 0]).sum())
    # the empirical rate: each day P(X < −ES) under its own forecast. ES = mean of the 5
    # worst grid points Φ⁻¹(0.001, 0.003, ..., 0.009) = −2.65σ; only Φ⁻¹(0.001) = −3.09σ
    # and Φ⁻¹(0.003) = −2.75σ lie beyond it: 2 of 500
    worst = norm.ppf((np.arange(5) + 0.5) / 500)
    assert int((worst < worst.mean()).sum()) == 2
    assert es["empirical"]["probability"] == pytest.approx(2 / 500)
    # Z2: the same as the stats function on the same forecasts
    assert paths.forecast is not None
    direct = acerbi_szekely_z2(paths.pnl[:, 0], paths.forecast.predictive(0, np.ones(400, bool)))
    assert es["z2"]["z2"] == pytest.approx(direct.z2)
    assert es["z2"]["p_value"] == pytest.approx(direct.p_value)
    assert es["z2"]["p_value"] > 0.05  # the forecasts are right by construction
    # only the netted series of an ES model carries Z2
    assert "z2" not in data["accounts"][0]["standalone"]["es_backtest"]
    # procyclicality of the margin series
    cyc = net["procyclicality"]
    m = paths.margin["netted"][:, 0]
    assert cyc["peak_to_trough_ratio"] == pytest.approx(peak_to_trough_ratio(m).ratio)
    for h in ("1", "5", "30"):
        assert cyc["max_increase_pct"][h] == pytest.approx(max_increase(m, int(h)).pct)
    assert cyc["apc_buffer"]["exceptions"] <= x
    assert "ice" in cyc  # 400 observations >= 30 + 250
    # a non-ES model has no ES checks
    other = summarise(paths, model="span", confidence=0.99, mpor=1, book="t", rolling=False)
    assert other.to_dict()["accounts"][0]["netted"]["es_backtest"] is None


@needs_data
def test_es_forecast_is_the_models_core_es() -> None:
    """The forecast kept on each day (from the cached context the margin came from) has the
    ES of the model's own ``core`` component, computed here by a fresh ``api.margin``."""
    from crossmargin.analysis.strategies import materialise
    from crossmargin.market.builder import snapshot_from_history

    book = strategies("long-btc")
    paths = run_paths(book, ModelSpec("es"), "2024-03-01", "2024-03-06", mpor=2, workers=1)
    assert paths.forecast is not None
    history = MarketHistory.load()
    for i in (0, len(paths.dates) - 1):
        d = paths.dates[i]
        view = history.until(d)
        now = snapshot_from_history(d, ("BTC",), history=view)
        fresh = api.margin(materialise(book, now), now, "es", history=view)
        core = fresh.accounts[0].components["core"]
        assert max(paths.forecast.es[i, 0], 0.0) == pytest.approx(core, rel=1e-12)
        assert paths.margin["netted"][i, 0] == pytest.approx(fresh.accounts[0].total, rel=1e-12)
