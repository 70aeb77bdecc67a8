"""Factor moves on trading calendars: h-step moves, calendar spans, FHS, vol sources, gaps."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from crossmargin.errors import InputError
from crossmargin.market.calendars import calendar_days, joint_calendar, parse_period, period_start
from crossmargin.market.factor_grid import (
    VOL_FROM_FALLBACK,
    VOL_FROM_INDEX,
    UnderlyingLevels,
    daily_factor_moves,
    filtered_moves,
    horizon_moves,
    underlying_levels,
)
from crossmargin.market.history import MarketHistory
from crossmargin.stats.tail import var_es


def _levels(
    log_spot: np.ndarray, vol: np.ndarray | None = None, name: str = "BTC"
) -> UnderlyingLevels:
    n = log_spot.size
    return UnderlyingLevels(
        underlying=name,
        log_spot=log_spot,
        vol_index=np.full(n, np.nan) if vol is None else vol,
        vol_fallback=np.full(n, np.nan),
        capped=np.zeros(n, dtype=bool),
        vol_rule="test",
        gaps=(),
    )


def _days(n: int, calendar: str = "crypto") -> pd.DatetimeIndex:
    start = pd.Timestamp("2000-01-03")
    if calendar == "crypto":
        return calendar_days("crypto", start, start + pd.Timedelta(days=n - 1))
    return calendar_days("nyse", start, start + pd.Timedelta(days=2 * n))[:n]


def test_h_step_moves_are_level_differences_with_calendar_spans() -> None:
    days = _days(10, "nyse")
    log_spot = np.cumsum(np.arange(1.0, 11.0) / 100)
    moves = horizon_moves([_levels(log_spot)], days, "nyse", mpor=2)
    np.testing.assert_allclose(moves.spot[2:, 0], log_spot[2:] - log_spot[:-2])
    assert np.all(np.isnan(moves.spot[:2, 0]))
    spans = (days[2:] - days[:-2]).days.to_numpy()
    np.testing.assert_allclose(moves.span_days[2:], spans)
    # 2000-01-03 is a Monday: the two-session move ending Wednesday spans 2 days, the one
    # ending Monday 2000-01-10 spans Thursday..Monday = 4 days
    assert moves.span_days[2] == 2.0
    assert moves.span_days[list(days).index(pd.Timestamp("2000-01-10"))] == 4.0
    sqrt = horizon_moves([_levels(log_spot)], days, "nyse", mpor=3, horizon_method="sqrt")
    np.testing.assert_allclose(sqrt.spot[1:, 0], np.sqrt(3) * np.diff(log_spot))
    crypto = horizon_moves([_levels(log_spot)], _days(10), "crypto", mpor=3)
    np.testing.assert_allclose(crypto.span_days[3:], 3.0)


def test_vol_moves_use_one_source_at_both_ends() -> None:
    n = 8
    index = np.array([np.nan, np.nan, np.nan, 0.50, 0.55, np.nan, 0.60, 0.62])
    fallback = np.array([0.40, 0.42, 0.44, 0.46, 0.48, 0.50, 0.52, 0.54])
    lv = UnderlyingLevels(
        underlying="BTC",
        log_spot=np.zeros(n),
        vol_index=index,
        vol_fallback=fallback,
        capped=np.zeros(n, dtype=bool),
        vol_rule="test",
        gaps=(),
    )
    moves = horizon_moves([lv], _days(n), "crypto", mpor=1)
    # day 4: index at both ends (0.55 - 0.50); day 3: index starts, fallback at both ends
    assert moves.vol[4, 0] == pytest.approx(0.05)
    assert moves.vol_source[4, 0] == VOL_FROM_INDEX
    assert moves.vol[3, 0] == pytest.approx(0.02)
    assert moves.vol_source[3, 0] == VOL_FROM_FALLBACK
    assert moves.vol[6, 0] == pytest.approx(0.02)  # index missing on day 5: fallback both ends
    assert moves.vol[7, 0] == pytest.approx(0.02)  # index at both ends again (0.62 - 0.60)
    assert moves.vol_source[7, 0] == VOL_FROM_INDEX


def test_fhs_equals_hs_when_every_ewma_vol_is_constant() -> None:
    # |r_t| = sigma every day: the EWMA seed and every update equal sigma^2, so sigma_t = sigma_T
    rng = np.random.default_rng(1)
    signs = rng.choice([-1.0, 1.0], size=(300, 2))
    rets = signs * np.array([0.03, 0.01])
    levels = [
        _levels(np.concatenate([[0.0], np.cumsum(rets[:, j])]), name=u)
        for j, u in enumerate(("BTC", "ETH"))
    ]
    days = _days(301)
    for horizon in ("overlapping", "sqrt"):
        hs = horizon_moves(levels, days, "crypto", mpor=2, horizon_method=horizon)  # type: ignore[arg-type]
        fhs = filtered_moves(
            hs,
            levels,
            start_row=0,
            lam=0.94,
            seed_window=30,
            horizon_method=horizon,  # type: ignore[arg-type]
        )
        ok = np.isfinite(fhs.spot[:, 0])
        assert ok.sum() >= 290
        np.testing.assert_allclose(fhs.spot[ok], hs.spot[ok], rtol=1e-12, atol=1e-15)


def test_fhs_rescales_to_todays_vol() -> None:
    # vol 1% for 250 days then 4%: FHS moves of the calm days are scaled up ~4x
    rng = np.random.default_rng(2)
    r = np.concatenate([rng.normal(0, 0.01, 250), rng.normal(0, 0.04, 150)])
    levels = [_levels(np.concatenate([[0.0], np.cumsum(r)]))]
    hs = horizon_moves(levels, _days(401), "crypto", mpor=1)
    fhs = filtered_moves(hs, levels, start_row=0, lam=0.94, seed_window=30)
    calm = slice(100, 250)
    ratio = np.nanstd(fhs.spot[calm, 0]) / np.nanstd(hs.spot[calm, 0])
    assert 2.5 < ratio < 6.0


def test_sqrt_scaling_matches_overlapping_moves_on_iid_normal_data() -> None:
    # i.i.d. N(0, 1%) daily log returns, 40,000 days (fixed seed), h = 5: the 99% ES of a long
    # position from overlapping 5-step moves and from sqrt(5)-scaled daily moves agree within
    # 3% (sampling error of ~400 tail points from autocorrelated overlapping windows).
    rng = np.random.default_rng(20240101)
    log_spot = np.concatenate([[0.0], np.cumsum(rng.normal(0.0, 0.01, 40_000))])
    days = pd.date_range("1900-01-01", periods=log_spot.size, freq="D")
    over = horizon_moves([_levels(log_spot)], days, "crypto", mpor=5)
    sqrt = horizon_moves([_levels(log_spot)], days, "crypto", mpor=5, horizon_method="sqrt")
    es_over = float(var_es(np.expm1(over.spot[5:, 0]), 0.99).es)
    es_sqrt = float(var_es(np.expm1(sqrt.spot[1:, 0]), 0.99).es)
    assert es_over == pytest.approx(es_sqrt, rel=0.03)
    exact = 0.01 * np.sqrt(5) * 2.665214  # normal ES_99 = phi(z)/(1 - 0.99) = 2.6652 sd
    assert es_sqrt == pytest.approx(exact, rel=0.05)


def test_mixed_calendar_joint_moves_span_the_weekend(write_file) -> None:  # type: ignore[no-untyped-def]
    # A BTC + SPY netting set lives on NYSE sessions: the BTC move ending Monday is the
    # Friday close to Monday close (Saturday and Sunday included), like SPY's.
    crypto = pd.date_range("2024-01-01", "2024-03-31", freq="D")
    rng = np.random.default_rng(9)
    btc = 40_000 * np.exp(np.cumsum(rng.normal(0, 0.03, crypto.size)))
    write_file(
        "crypto/btc_usd_yahoo_daily.csv", dict(zip(crypto.strftime("%Y-%m-%d"), btc, strict=True))
    )
    sessions = calendar_days("nyse", "2024-01-01", "2024-03-31")
    spy = 470 * np.exp(np.cumsum(rng.normal(0, 0.01, sessions.size)))
    folder = write_file(
        "etf/spy_daily.csv", dict(zip(sessions.strftime("%Y-%m-%d"), spy, strict=True))
    )
    write_file("crypto/btc_dvol_daily.csv", {d: 60.0 for d in crypto.strftime("%Y-%m-%d")})
    write_file("index/vix_cboe_daily.csv", {d: 15.0 for d in sessions.strftime("%Y-%m-%d")})
    history = MarketHistory.load(folder)
    moves = daily_factor_moves(history, ["BTC", "SPY"], "2024-02-01", "2024-03-29")
    assert moves.calendar == "nyse"
    monday = moves.dates.index("2024-02-12")
    btc_close = pd.Series(btc, index=crypto)
    expected = np.log(btc_close["2024-02-12"] / btc_close["2024-02-09"])
    assert moves.daily[monday, 0] == pytest.approx(expected, rel=1e-12)
    assert moves.span_days[monday] == 3.0
    # 2024-02-19 (Presidents' Day) is no session: the Tuesday move runs from Friday
    tuesday = moves.dates.index("2024-02-20")
    assert moves.span_days[tuesday] == 4.0
    assert moves.daily[tuesday, 0] == pytest.approx(
        np.log(btc_close["2024-02-20"] / btc_close["2024-02-16"]), rel=1e-12
    )
    alone = daily_factor_moves(history, ["BTC"], "2024-02-01", "2024-03-29")
    assert alone.calendar == "crypto"
    assert len(alone.dates) == 58  # every day of February 2024 (29) and March to the 29th


def test_long_gap_leaves_no_move_across_it(write_file) -> None:  # type: ignore[no-untyped-def]
    days = pd.date_range("2024-01-01", "2024-01-31", freq="D")
    closes = {d.strftime("%Y-%m-%d"): 100.0 + i for i, d in enumerate(days)}
    for gone in ("2024-01-10", "2024-01-11", "2024-01-12", "2024-01-13", "2024-01-14"):
        del closes[gone]  # 5 missing days: more than the 3-day fill limit
    write_file("crypto/btc_dvol_daily.csv", {d.strftime("%Y-%m-%d"): 60.0 for d in days})
    history = MarketHistory.load(write_file("crypto/btc_usd_yahoo_daily.csv", closes))
    grid = calendar_days("crypto", "2024-01-01", "2024-01-31")
    lv = underlying_levels(history, "BTC", grid, max_fill_days=3)
    assert np.all(np.isnan(lv.log_spot[9:14]))  # the whole gap, not its first 3 days
    assert len(lv.gaps) == 1
    assert not lv.gaps[0].filled
    moves = horizon_moves([lv], grid, "crypto", mpor=2)
    assert np.all(np.isnan(moves.spot[9:16, 0]))  # every move with an end inside the gap
    assert np.isfinite(moves.spot[16, 0])


def test_calendars_and_periods() -> None:
    assert joint_calendar(["crypto", "crypto"]) == "crypto"
    assert joint_calendar(["crypto", "nyse"]) == "nyse"
    sessions = calendar_days("nyse", "2001-09-07", "2001-09-20")
    assert pd.Timestamp("2001-09-11") not in sessions  # unscheduled closure after 9/11
    assert pd.Timestamp("2001-09-17") in sessions
    assert period_start("2025-06-02", "12M") == pd.Timestamp("2024-06-03")
    assert period_start("2024-02-29", "1Y") == pd.Timestamp("2023-03-01")
    assert period_start("2025-06-02", "10D") == pd.Timestamp("2025-05-24")
    assert parse_period("12m") == "12M"
    for bad in ("250", 250, "12", "0M", "twelve months", None):
        with pytest.raises(InputError, match="calendar period"):
            parse_period(bad)  # type: ignore[arg-type]
