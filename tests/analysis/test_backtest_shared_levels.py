"""Backtest views share whole-history levels cut per day: the same figures as each day's own
view rebuilding them (MarketHistory.causal, issue 19 item 5)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from tests.analysis.backtest_paths import assert_same_paths

from crossmargin.analysis.backtest import ModelSpec, run_paths
from crossmargin.analysis.strategies import Leg, Strategy
from crossmargin.config import find_data_dir
from crossmargin.errors import MarketDataError
from crossmargin.market.calendars import calendar_days
from crossmargin.market.history import MarketHistory
from crossmargin.market.risk_factors import levels_on_calendar
from crossmargin.market.vol_proxies import implied_vol_levels

needs_data = pytest.mark.skipif(find_data_dir() is None, reason="shared market history not found")


@needs_data
def test_levels_cut_from_the_whole_history_equal_the_views_own() -> None:
    # BTC_DVOL misses 2024-02-17..20 (last observation 02-16, 4 days stale on 02-20 > 3):
    # the whole history leaves the run unfilled, but a view cut on 02-17..19 sees a run of
    # 1-3 days and fills it. The shared levels must re-judge that trailing run per view.
    root = MarketHistory.load()
    for cut in pd.date_range("2024-02-14", "2024-02-23"):
        shared, own = root.until(cut), root.until(cut, causal=False)
        for start in ("2024-01-01", "2024-02-18", "2021-03-01"):
            days = calendar_days("crypto", start, cut)
            if not len(days):
                continue
            for fill in (0, 3, 5):
                got, got_gaps = levels_on_calendar(shared, "BTC_DVOL", days, max_fill_days=fill)
                want, want_gaps = levels_on_calendar(own, "BTC_DVOL", days, max_fill_days=fill)
                np.testing.assert_array_equal(got, want)
                assert got_gaps == want_gaps
        if cut == pd.Timestamp("2024-02-18"):  # the partial run really is filled here
            days = calendar_days("crypto", "2024-02-10", cut)
            filled, _ = levels_on_calendar(shared, "BTC_DVOL", days, max_fill_days=3)
            assert np.isfinite(filled[-2:]).all()
    # A view cut before the series starts reports it, as its own path does.
    days = calendar_days("crypto", "2020-01-01", "2020-02-01")
    with pytest.raises(MarketDataError, match="no observation on or before 2020-02-01"):
        levels_on_calendar(root.until("2020-02-01"), "BTC_DVOL", days, max_fill_days=3)
    # NYSE series on crypto days (weekends NaN) and a view cut before SPX's 2001 gap ends.
    for cut in ("2001-09-12", "2001-09-14", "2001-09-17", "2024-02-20"):
        days = calendar_days("crypto", "2001-01-01", cut)
        got, got_gaps = levels_on_calendar(root.until(cut), "SPX", days, max_fill_days=3)
        want, want_gaps = levels_on_calendar(
            root.until(cut, causal=False), "SPX", days, max_fill_days=3
        )
        np.testing.assert_array_equal(got, want)
        assert got_gaps == want_gaps


@needs_data
def test_implied_vols_cut_from_the_whole_history_equal_the_views_own() -> None:
    root = MarketHistory.load()
    # BTC just after its first observation (seed window not yet full: the view's own path),
    # SPY (scaled index: EWMA ratio to SPX), BTC with DVOL, across DVOL's 2024 gap.
    cases = [("BTC", "2014-10-01"), ("BTC", "2014-12-01"), ("BTC", "2024-02-19"),
             ("SPY", "2008-10-10"), ("SPY", "2024-02-20"), ("SPX", "1990-03-01")]  # fmt: skip
    for underlying, cut in cases:
        got = implied_vol_levels(root.until(cut), underlying)
        want = implied_vol_levels(root.until(cut, causal=False), underlying)
        for name in ("index", "fallback"):
            pd.testing.assert_series_equal(
                getattr(got, name), getattr(want, name), check_index_type=False
            )
        assert list(got.capped) == list(want.capped)
        assert list(got.index_capped) == list(want.index_capped)


@needs_data
def test_backtest_with_shared_levels_equals_the_daily_rebuild() -> None:
    # Every day's margins (three modes), both P&Ls and the ES forecasts, exactly, across
    # DVOL's February 2024 gap (skipped days included) for a crypto and an NYSE netting set.
    book = (
        Strategy(name="btc", description="t", legs=(
            Leg(product="deribit_btc_usdc_spot", sign=1.0, notional_usd=1e6),
            Leg(product="deribit_btc_option", sign=-1.0, quantity=5, tenor_days=30,
                moneyness=1.05, option_type="C"),
        )),
        Strategy(name="mixed", description="t", legs=(
            Leg(product="deribit_btc_usdc_spot", sign=1.0, notional_usd=1e6),
            Leg(product="cme_es_future", sign=-1.0, notional_usd=8e5, tenor_days=90),
            Leg(product="occ_spy_option", sign=1.0, quantity=10, tenor_days=30,
                moneyness=0.9, option_type="P"),
        )),
    )  # fmt: skip
    model = ModelSpec("es", (("mpor", 2),))
    args = (book, model, "2024-02-12", "2024-02-26")
    new = run_paths(*args, workers=1)
    old = run_paths(*args, workers=1, rebuild_daily=True)
    assert len(new.dates) >= 8
    assert new.pnl_clean is not None
    assert old.pnl_clean is not None
    assert new.forecast is not None
    assert old.forecast is not None
    assert_same_paths(new, old)


@needs_data
def test_vol_sampling_on_arrays_equals_the_pandas_twin() -> None:
    from crossmargin.market.factor_grid import _nanoseconds, _sample, _sample_at, _vol_levels

    history = MarketHistory.load().until("2024-03-01")
    for underlying in ("BTC", "SPY"):
        index, fallback, _, _ = _vol_levels(history, underlying)
        for days in (calendar_days("crypto", "2021-01-01", "2024-03-01"),
                     calendar_days("nyse", "1995-01-01", "2024-03-01")):  # fmt: skip
            for series in (index, fallback):
                at = _nanoseconds(pd.DatetimeIndex(series.index))
                for stale in (0, 3):
                    want = _sample(series, days, stale)
                    got = _sample_at(at, series.to_numpy(dtype=float), _nanoseconds(days), stale)
                    np.testing.assert_array_equal(got, want)
                    assert np.isfinite(want).any()


@needs_data
def test_offset_windows_in_the_past_are_shared_and_equal_the_views_own() -> None:
    # The stressed window 2020-02-20..04-30 of the EMIR tiers: cut inside it, each view reads
    # it up to its own day; cut after it, every view shares one computation.
    from crossmargin.netting.eligibility import pair_test
    from crossmargin.netting.tiers import load_policy

    rule = load_policy("emir").rule("netting-set").eligibility
    assert rule is not None
    root = MarketHistory.load()
    for cut in ("2020-04-29", "2020-04-30", "2020-05-01", "2024-03-05"):
        shared, own = root.until(cut), root.until(cut, causal=False)
        for pair in (("BTC", "SPX"), ("SPX", "SPY"), ("BTC", "SPY")):
            got = pair_test(shared, pair, cut, rule).to_dict()
            assert got == pair_test(own, pair, cut, rule).to_dict()
            assert got["stressed"]["days"] > 40
    assert root._causal is not None
    kept = [k for k in root._causal if k[0] == "offset_window"]
    assert len(kept) == 3  # one per pair, from the two cuts after the window
