"""Risk-factor panels: calendar alignment, gap filling/dropping, implied-vol proxies."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from tests.market.vol_reference import atm_reference, cap_loop, ewma_vol_loop

from crossmargin.errors import InputError, MarketDataError
from crossmargin.market.defaults import vol_proxy_params
from crossmargin.market.history import MarketHistory
from crossmargin.market.risk_factors import build_panel
from crossmargin.market.varswap import HouseSmile, variance_swap_from_atm
from crossmargin.market.vol_proxies import implied_vol_on, implied_vol_proxy, vol_proxy_rule

WriteFile = Callable[[str, Mapping[str, float]], Path]  # the conftest fixture write_file


def _days(start: str, end: str) -> list[str]:
    return [d.strftime("%Y-%m-%d") for d in pd.date_range(start, end, freq="D")]


# BTC on every calendar day of January 2024 (Mon 1 .. Wed 31). Around the first weekend the
# closes are set by hand: Fri 5 = 110, Sat 6 = 121, Sun 7 = 99, Mon 8 = 132, Tue 9 = 66.
BTC = {d: 100.0 + i for i, d in enumerate(_days("2024-01-01", "2024-01-31"))}
BTC |= {"2024-01-05": 110.0, "2024-01-06": 121.0, "2024-01-07": 99.0}
BTC |= {"2024-01-08": 132.0, "2024-01-09": 66.0}
# SPY on NYSE days: 2024-01-01 (New Year) and 2024-01-15 (MLK day) are holidays.
NYSE = [d for d in _days("2024-01-02", "2024-01-31") if pd.Timestamp(d).day_of_week < 5]
NYSE.remove("2024-01-15")
SPY = {d: 400.0 + 2 * i for i, d in enumerate(NYSE)}


@pytest.fixture
def crypto_and_nyse(write_file: WriteFile) -> MarketHistory:
    write_file("crypto/btc_usd_yahoo_daily.csv", BTC)
    return MarketHistory.load(write_file("etf/spy_daily.csv", SPY))


def test_mixed_panel_is_on_nyse_days(crypto_and_nyse: MarketHistory) -> None:
    panel = build_panel(crypto_and_nyse, ["BTC", "SPY"], "2024-01-03", "2024-01-31")
    assert panel.calendar == "nyse"
    assert [d.strftime("%Y-%m-%d") for d in panel.dates] == NYSE[1:]
    assert panel.returns.shape == (len(NYSE) - 1, 2)
    assert panel.kinds == ("price", "price")


def test_monday_crypto_return_compounds_the_weekend(crypto_and_nyse: MarketHistory) -> None:
    panel = build_panel(crypto_and_nyse, ["BTC", "SPY"], "2024-01-03", "2024-01-31")
    frame = panel.to_frame()
    sat_sun_mon = math.log(121 / 110) + math.log(99 / 121) + math.log(132 / 99)
    assert frame.loc["2024-01-08", "BTC"] == pytest.approx(sat_sun_mon)
    assert frame.loc["2024-01-08", "BTC"] == pytest.approx(math.log(1.2))  # 132/110
    assert frame.loc["2024-01-09", "BTC"] == pytest.approx(math.log(0.5))  # 66/132
    # SPY Fri 2024-01-05 is the 4th NYSE day (400 + 2·3 = 406), Mon the 5th (408).
    assert frame.loc["2024-01-08", "SPY"] == pytest.approx(math.log(408 / 406))
    # Across MLK day the crypto move runs Fri 12 -> Tue 16 (closes 111 -> 115).
    assert frame.loc["2024-01-16", "BTC"] == pytest.approx(math.log(115 / 111))
    assert panel.gaps.gaps == ()


def test_crypto_only_panel_is_on_calendar_days(crypto_and_nyse: MarketHistory) -> None:
    panel = build_panel(crypto_and_nyse, ["BTC"], "2024-01-06", "2024-01-09")
    assert panel.calendar == "crypto"
    np.testing.assert_allclose(
        panel.column("BTC"), np.log([121 / 110, 99 / 121, 132 / 99, 66 / 132])
    )


# BTC_DVOL (percent points) on every January day except three gaps:
#   2024-01-10 (1 day), 2024-01-13..15 (3 days), 2024-01-20..23 (4 days).
DVOL = {d: 40.0 + i for i, d in enumerate(_days("2024-01-01", "2024-01-31"))}
for _gap_day in [
    "2024-01-10",
    *_days("2024-01-13", "2024-01-15"),
    *_days("2024-01-20", "2024-01-23"),
]:
    del DVOL[_gap_day]


@pytest.fixture
def gappy(write_file: WriteFile) -> MarketHistory:
    write_file("crypto/btc_usd_yahoo_daily.csv", BTC)
    write_file("etf/spy_daily.csv", SPY)
    return MarketHistory.load(write_file("crypto/btc_dvol_daily.csv", DVOL))


def test_gaps_are_filled_up_to_the_limit_and_reported(gappy: MarketHistory) -> None:
    panel = build_panel(gappy, ["BTC", "BTC_DVOL"], "2024-01-02", "2024-01-31")
    gaps = [(g.first_missing, g.last_missing, g.length, g.filled) for g in panel.gaps.gaps]
    ts = pd.Timestamp
    assert gaps == [
        (ts("2024-01-10"), ts("2024-01-10"), 1, True),
        (ts("2024-01-13"), ts("2024-01-15"), 3, True),
        (ts("2024-01-20"), ts("2024-01-23"), 4, False),
    ]
    assert {g.series for g in panel.gaps.gaps} == {"BTC_DVOL"}
    # The 4-day gap is not filled: its days and the day after it (whose move starts from
    # 2024-01-23) leave the panel.
    dropped = [ts(d) for d in _days("2024-01-20", "2024-01-24")]
    assert list(panel.gaps.dropped_dates) == dropped
    assert not set(dropped) & set(panel.dates)
    assert len(panel.dates) == 30 - 5
    frame = panel.to_frame()
    # DVOL on day i of January is 40 + (i-1) percent points, i.e. +0.01 per day in decimal.
    assert frame.loc["2024-01-10", "BTC_DVOL"] == pytest.approx(0.0)  # filled with Jan 9
    assert frame.loc["2024-01-11", "BTC_DVOL"] == pytest.approx(0.02)  # 0.50 - 0.48
    assert frame.loc["2024-01-16", "BTC_DVOL"] == pytest.approx(0.04)  # 0.55 - 0.51 (Jan 12)
    assert frame.loc["2024-01-25", "BTC_DVOL"] == pytest.approx(0.01)
    assert "4 missing" in panel.gaps.summary()


def test_zero_fill_limit_drops_every_gap(gappy: MarketHistory) -> None:
    panel = build_panel(gappy, ["BTC_DVOL"], "2024-01-02", "2024-01-31", max_fill_days=0)
    assert panel.gaps.filled == ()
    assert len(panel.gaps.unfilled) == 3
    # gap days 1 + 3 + 4 = 8, plus the day after each gap: 11 of 30 days dropped.
    assert len(panel.gaps.dropped_dates) == 11
    assert len(panel.dates) == 19
    assert not np.isnan(panel.returns).any()


def test_dvol_gap_on_a_weekend_does_not_touch_a_nyse_panel(gappy: MarketHistory) -> None:
    # The 3-day gap (Sat 13 .. Mon 15) lies on a weekend + MLK day: NYSE days around it are
    # Fri 12 and Tue 16, both observed, so with max_fill_days=0 it is reported but drops
    # nothing. The 4-day gap Sat 20 .. Tue 23 drops Mon 22, Tue 23 and Wed 24.
    panel = build_panel(gappy, ["SPY", "BTC_DVOL"], "2024-01-03", "2024-01-31", max_fill_days=0)
    ts = pd.Timestamp
    assert ts("2024-01-16") in panel.dates
    assert list(panel.gaps.dropped_dates) == [ts("2024-01-10"), ts("2024-01-11")] + [
        ts(d) for d in ("2024-01-22", "2024-01-23", "2024-01-24")
    ]
    assert panel.to_frame().loc["2024-01-16", "BTC_DVOL"] == pytest.approx(0.04)


def test_nyse_holiday_rows_of_vix_do_not_create_panel_days(write_file: WriteFile) -> None:
    # CBOE's file has VIX rows on some NYSE holidays; SPY (a price) defines NYSE days, and the
    # holiday VIX value is folded into the next NYSE day's change.
    vix = {"2024-01-11": 12.0, "2024-01-12": 13.0, "2024-01-15": 20.0, "2024-01-16": 14.5}
    write_file("etf/spy_daily.csv", SPY)
    history = MarketHistory.load(write_file("index/vix_cboe_daily.csv", vix))
    panel = build_panel(history, ["SPY", "VIX"], "2024-01-12", "2024-01-16")
    assert list(panel.dates) == [pd.Timestamp("2024-01-12"), pd.Timestamp("2024-01-16")]
    np.testing.assert_allclose(panel.column("VIX"), [0.01, 0.015])


def test_panel_arguments_are_checked(crypto_and_nyse: MarketHistory) -> None:
    with pytest.raises(InputError, match="after its end"):
        build_panel(crypto_and_nyse, ["BTC"], "2024-01-10", "2024-01-05")
    with pytest.raises(InputError, match="at least one"):
        build_panel(crypto_and_nyse, [], "2024-01-05", "2024-01-10")
    with pytest.raises(MarketDataError, match=r"BTC covers 2024-01-01\.\.2024-01-31"):
        build_panel(crypto_and_nyse, ["BTC"], "2024-01-05", "2024-02-10")
    with pytest.raises(MarketDataError, match="start the panel after 2024-01-01"):
        build_panel(crypto_and_nyse, ["BTC"], "2024-01-01", "2024-01-10")


def test_panel_returns_are_read_only(crypto_and_nyse: MarketHistory) -> None:
    panel = build_panel(crypto_and_nyse, ["BTC"], "2024-01-02", "2024-01-10")
    with pytest.raises(ValueError, match="read-only"):
        panel.returns[0, 0] = 1.0


# ---------------------------------------------------------------- real data


@pytest.mark.realdata
def test_readme_correlations_2018_2025(real_history: MarketHistory) -> None:
    # Data README sanity check: 2018–2025 daily log-return correlations SPY–QQQ 0.94,
    # SPY–TLT −0.15 (NYSE series only, so no alignment question).
    panel = build_panel(real_history, ["SPY", "QQQ", "TLT"], "2018-01-01", "2025-12-31")
    corr = np.corrcoef(panel.returns, rowvar=False)
    assert corr[0, 1] == pytest.approx(0.94, abs=0.01)
    assert corr[0, 2] == pytest.approx(-0.15, abs=0.02)
    assert panel.gaps.gaps == ()  # README: ETFs have 0 missing NYSE days


@pytest.mark.realdata
def test_real_monday_btc_move_is_friday_to_monday(real_history: MarketHistory) -> None:
    panel = build_panel(real_history, ["BTC", "SPY", "VIX"], "2024-08-01", "2024-08-09")
    fri, _ = real_history.close_on("BTC", "2024-08-02")
    mon, _ = real_history.close_on("BTC", "2024-08-05")
    frame = panel.to_frame()
    assert frame.loc["2024-08-05", "BTC"] == pytest.approx(math.log(mon / fri))
    # VIX: 23.39 on Fri 2024-08-02, 38.57 on Mon 2024-08-05 (CBOE closes).
    assert frame.loc["2024-08-05", "VIX"] == pytest.approx(0.3857 - 0.2339)


@pytest.mark.realdata
def test_real_dvol_panel_reports_the_four_day_gaps(real_history: MarketHistory) -> None:
    # The only gaps longer than 3 days in BTC_DVOL are 4 days long (2 of them).
    panel = build_panel(real_history, ["BTC", "BTC_DVOL"], "2021-04-01", "2026-04-01")
    assert [g.length for g in panel.gaps.unfilled] == [4, 4]
    assert pd.Timestamp("2024-02-17") in panel.gaps.dropped_dates
    assert len(panel.gaps.dropped_dates) == 10  # (4 + 1) per long gap


@pytest.mark.realdata
def test_vol_proxies(real_history: MarketHistory) -> None:
    # Data README: DVOL hits 114.7 at FTX (2022-11-09); VIX max 82.69 on 2020-03-16. The proxy
    # is the 30-day ATM vol whose house smile reprices that variance-swap level (the forward
    # map is checked against brute-force quadrature in test_varswap.py).
    btc = implied_vol_on(real_history, "BTC", "2022-11-09")
    assert btc.source == "index"
    assert float(variance_swap_from_atm(btc.value, "crypto")) == pytest.approx(1.147, abs=5e-4)
    for name, cls in (("SPX", "equity_index"), ("ES", "equity_index"), ("SPY", "etf")):
        got = implied_vol_on(real_history, name, "2020-03-16")
        assert got.source == "index"
        assert float(variance_swap_from_atm(got.value, cls)) == pytest.approx(0.8269)
    gld = implied_vol_on(real_history, "GLD", "2024-08-05")
    assert (gld.source, gld.note) == ("fallback", "GLD (no implied-vol index)")
    assert vol_proxy_rule(real_history, "QQQ").describe() == (
        "QQQ: ATM of VIX × EWMA(QQQ)/EWMA(SPY) (λ 0.97, ratio capped ×1.5/day; etf smile)"
    )
    with pytest.raises(MarketDataError, match=r"DGS10: it is a rate"):
        implied_vol_proxy(real_history, "DGS10")
    # Inside the 4-day DVOL gap (2024-02-17..20) the index is too stale: the fallback stands in.
    gap = implied_vol_on(real_history, "BTC", "2024-02-20")
    assert (gap.source, gap.note) == (
        "fallback",
        "BTC (no BTC_DVOL value within 3 days; last 2024-02-16)",
    )


@pytest.mark.realdata
def test_eth_proxy_matches_a_plain_twin(real_history: MarketHistory) -> None:
    # ETH = DVOL × EWMA(ETH)/EWMA(BTC), the ratio capped per day, mapped to ATM: plain loops
    # over the whole history (the cap is recursive) and a root-find of the quadrature.
    day = pd.Timestamp("2024-08-05")
    dvol, _ = real_history.close_on("BTC_DVOL", day)
    p = vol_proxy_params()

    def ewma(name: str) -> pd.Series:
        closes = real_history.series(name)
        vols = ewma_vol_loop(closes.tolist(), p.ewma_lambda, p.seed_window, 365)
        return pd.Series(vols, index=closes.index[p.seed_window + 1 :])

    ratio = (ewma("ETH") / ewma("BTC")).dropna()
    capped, _ = cap_loop(ratio.tolist(), p.max_daily_ratio)
    level = dvol * capped[ratio.index.get_loc(day)]
    smile = HouseSmile.for_asset_class("crypto")
    params = (smile.skew_1y, smile.smile_1y, smile.min_vol, smile.max_vol_multiple)
    got = implied_vol_on(real_history, "ETH", day)
    assert (got.source, got.date) == ("index", day)
    assert got.value == pytest.approx(atm_reference(level, 30 / 365, params), rel=1e-9)
