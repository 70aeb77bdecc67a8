"""HS/FHS scenario builders: FHS = HS at constant vol, sqrt(h) vs overlapping, vol factors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from crossmargin.errors import InputError, MarketDataError
from crossmargin.market.historical_scenarios import (
    book_factor_panel,
    historical_scenarios,
    window_by_dates,
    worst_window,
)
from crossmargin.market.history import MarketHistory
from crossmargin.market.risk_factors import GapReport, RiskFactorPanel
from crossmargin.market.varswap import atm_from_variance_swap
from crossmargin.stats.tail import var_es


def _panel(
    returns: np.ndarray, names: tuple[str, ...], calendar: str = "crypto"
) -> RiskFactorPanel:
    dates = pd.date_range("2000-01-01", periods=returns.shape[0], freq="D")
    kinds = tuple("vol_index" if n.startswith("vol:") else "price" for n in names)
    return RiskFactorPanel(
        dates=dates,
        names=names,
        kinds=kinds,  # type: ignore[arg-type]
        returns=returns,
        calendar=calendar,  # type: ignore[arg-type]
        gaps=GapReport(max_fill_days=3, gaps=(), dropped_dates=()),
    )


def test_fhs_equals_hs_when_every_ewma_vol_is_constant() -> None:
    # |r_t| = sigma every day: the EWMA seed and every update equal sigma^2, so sigma_t = sigma_T
    rng = np.random.default_rng(1)
    signs = rng.choice([-1.0, 1.0], size=(300, 3))
    returns = signs * np.array([0.03, 0.01, 0.02])
    panel = _panel(returns, ("BTC", "SPY", "vol:BTC"))
    for horizon in ("overlapping", "sqrt"):
        kw = {"lookback": 200, "mpor": 2, "horizon_method": horizon}
        hs = historical_scenarios(panel, ["BTC", "SPY"], method="hs", **kw)  # type: ignore[arg-type]
        fhs = historical_scenarios(panel, ["BTC", "SPY"], method="fhs", lam=0.94, **kw)  # type: ignore[arg-type]
        np.testing.assert_allclose(fhs.spot_shocks, hs.spot_shocks, rtol=1e-12, atol=0)
        np.testing.assert_allclose(fhs.vol_shocks, hs.vol_shocks, rtol=1e-12, atol=0)
        assert fhs.names == hs.names
        assert np.all(hs.vol_shocks[:, 1] == 0.0)  # SPY has no vol column: vol moves of 0


def test_fhs_rescales_to_todays_vol() -> None:
    # vol 1% for 250 days then 4%: FHS scenarios from the calm days are scaled up ~4x
    rng = np.random.default_rng(2)
    r = np.concatenate([rng.normal(0, 0.01, 250), rng.normal(0, 0.04, 150)])
    panel = _panel(r[:, None], ("BTC",))
    hs = historical_scenarios(panel, ["BTC"], lookback=300, mpor=1, horizon_method="sqrt")
    fhs = historical_scenarios(
        panel, ["BTC"], lookback=300, mpor=1, horizon_method="sqrt", method="fhs", lam=0.94
    )
    calm = slice(0, 150)  # the first 150 scenarios of the window come from the 1% regime
    ratio = np.std(fhs.spot_shocks[calm]) / np.std(hs.spot_shocks[calm])
    assert 2.5 < ratio < 6.0


def test_sqrt_scaling_matches_overlapping_returns_on_iid_normal_data() -> None:
    # i.i.d. N(0, 1%) daily log returns, 40,000 days (fixed seed), h = 5: the 99% ES of a long
    # position from overlapping 5-day sums and from sqrt(5)-scaled daily returns agree within 3%
    # (sampling error of ~400 tail points from autocorrelated overlapping windows).
    rng = np.random.default_rng(20240101)
    panel = _panel(rng.normal(0.0, 0.01, (40_000, 1)), ("BTC",))
    kw = {"lookback": 40_000, "mpor": 5}
    over = historical_scenarios(panel, ["BTC"], horizon_method="overlapping", **kw)
    sqrt = historical_scenarios(panel, ["BTC"], horizon_method="sqrt", **kw)
    assert over.size == 40_000 - 5 + 1
    assert sqrt.size == 40_000
    es_over = float(var_es(np.expm1(over.spot_shocks[:, 0]), 0.99).es)
    es_sqrt = float(var_es(np.expm1(sqrt.spot_shocks[:, 0]), 0.99).es)
    assert es_over == pytest.approx(es_sqrt, rel=0.03)
    exact = 0.01 * np.sqrt(5) * 2.665214  # normal ES_99 = phi(z)/(1 - 0.99) = 2.6652 sd
    assert es_sqrt == pytest.approx(exact, rel=0.05)


def test_scenario_set_shape_names_and_time_step() -> None:
    panel = _panel(np.arange(1.0, 11.0)[:, None] / 100, ("BTC",), calendar="nyse")
    s = historical_scenarios(panel, ["BTC"], lookback=6, mpor=2)
    np.testing.assert_allclose(s.spot_shocks[:, 0], [0.05 + 0.06, 0.13, 0.15, 0.17, 0.19])
    assert s.names[0] == f"{panel.dates[5]:%Y-%m-%d}"  # named by the window's last day
    assert s.spot_shock_type == "log"
    assert s.vol_shock_type == "absolute"
    np.testing.assert_allclose(s.time_steps, 2 / 252)  # NYSE days: h/252 years
    crypto = historical_scenarios(
        _panel(np.ones((10, 1)) / 100, ("BTC",)), ["BTC"], lookback=4, mpor=3, horizon_method="sqrt"
    )
    np.testing.assert_allclose(crypto.spot_shocks, np.sqrt(3) / 100)
    np.testing.assert_allclose(crypto.time_steps, 3 / 365)


def test_builder_errors() -> None:
    panel = _panel(np.zeros((10, 1)), ("BTC",))
    with pytest.raises(MarketDataError, match="lookback of 11 days is longer than the 10"):
        historical_scenarios(panel, ["BTC"], lookback=11, mpor=1)
    with pytest.raises(InputError, match="method"):
        historical_scenarios(panel, ["BTC"], lookback=5, mpor=1, method="mc")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="horizon"):
        historical_scenarios(panel, ["BTC"], lookback=5, mpor=1, horizon_method="x")  # type: ignore[arg-type]


def test_worst_window_and_window_by_dates() -> None:
    pnl = np.zeros(100)
    pnl[60:70] = -np.arange(1.0, 11.0)
    start, stop = worst_window(pnl, 20, 0.9)  # k = 2: the window must hold -10 and -9
    assert start <= 68
    assert stop >= 70
    assert stop - start == 20
    assert worst_window(pnl, 20, 0.9) == (50, 70)  # earliest of the tied windows
    assert worst_window(pnl[:10], 20, 0.99) == (0, 10)
    names = [f"{d:%Y-%m-%d}" for d in pd.date_range("2020-01-01", periods=10)]
    assert window_by_dates(names, "2020-01-03", "2020-01-05") == (2, 5)
    with pytest.raises(MarketDataError, match="no scenario dated"):
        window_by_dates(names, "2021-01-01", "2021-02-01")


def test_vol_factor_falls_back_to_realised_before_the_index(write_file) -> None:  # type: ignore[no-untyped-def]
    days = pd.date_range("2020-01-01", "2020-06-30", freq="D")
    rng = np.random.default_rng(4)
    btc = 9000 * np.exp(np.cumsum(rng.normal(0, 0.03, days.size)))
    write_file(
        "crypto/btc_usd_yahoo_daily.csv", dict(zip(days.strftime("%Y-%m-%d"), btc, strict=True))
    )
    dvol_days = days[days >= "2020-04-01"]
    dvol = 70 + np.cumsum(rng.normal(0, 1, dvol_days.size))
    folder = write_file(
        "crypto/btc_dvol_daily.csv", dict(zip(dvol_days.strftime("%Y-%m-%d"), dvol, strict=True))
    )
    history = MarketHistory.load(folder)
    panel, (source,) = book_factor_panel(history, ["BTC"], "2020-06-30")
    assert panel.names == ("BTC", "vol:BTC")
    vol = panel.column("vol:BTC")
    after = panel.dates > pd.Timestamp("2020-04-01")
    # The proxy is DVOL's 30-day ATM level (variance-swap level -> house smile ATM): its changes.
    atm = atm_from_variance_swap(dvol / 100, "crypto")
    np.testing.assert_allclose(vol[after], np.diff(atm), atol=1e-12)
    assert source.proxy_days == int(after.sum())
    assert source.fallback_days > 0  # RV30 changes in February and March (and on 2020-04-01)
    assert source.proxy_days + source.fallback_days + source.missing_days == len(panel.dates)
    assert "BTC_DVOL" in source.describe()


@pytest.mark.parametrize("window", [5, 6, 250, 251])
@pytest.mark.parametrize("measure", ["es", "var"])
@pytest.mark.parametrize("confidence", [0.99, 0.9, 0.5])
def test_worst_window_equals_brute_force(window: int, measure: str, confidence: float) -> None:
    """The rank-filter fast path picks the same window as sorting every window."""
    from crossmargin.market.historical_scenarios import worst_window
    from crossmargin.stats.tail import tail_count

    rng = np.random.default_rng(window)
    pnl = np.round(rng.standard_t(3, size=900) * 100)  # rounded: ties happen
    k = tail_count(confidence, window)
    scores = []
    for i in range(pnl.size - window + 1):
        worst = np.sort(pnl[i : i + window])[:k]
        scores.append(-worst.mean() if measure == "es" else -worst[-1])
    best = int(np.argmax(scores))  # first maximum: ties go to the earliest window
    assert worst_window(pnl, window, confidence, measure=measure) == (best, best + window)
