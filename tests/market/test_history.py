"""MarketHistory: catalogue, units, look-ups on a date, staleness and realised vol."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from importlib import resources
from pathlib import Path

import pandas as pd
import pytest

from crossmargin.errors import MarketDataError
from crossmargin.market.history import MarketHistory, load_catalogue

WriteFile = Callable[[str, Mapping[str, float]], Path]  # the conftest fixture write_file

# ---------------------------------------------------------------- catalogue


def test_catalogue_ships_in_the_package_and_covers_the_required_series() -> None:
    raw = json.loads(
        resources.files("crossmargin").joinpath("data/market_series.json").read_text("utf-8")
    )
    required = [
        "BTC",
        "ETH",
        "BTC_DVOL",
        "SPX",
        "ES",
        "VIX",
        "SPY",
        "QQQ",
        "IWM",
        "EFA",
        "EEM",
        "SHY",
        "IEF",
        "TLT",
        "LQD",
        "HYG",
        "GLD",
        "SLV",
        "USO",
        "DBC",
        "UUP",
        "FXE",
        "FXY",
        "AAPL",
        "MSFT",
        "AMZN",
        "GOOGL",
        "META",
        "JPM",
        "TSLA",
        "SOFR",
        "EFFR",
        "DGS10",
        "DGS2",
    ]
    assert set(required) <= set(raw["series"])
    cat = load_catalogue()
    assert cat["BTC_DVOL"].kind == "vol_index"
    assert cat["VIX"].kind == "vol_index"
    assert cat["DGS2"].column == "DGS2_derived"
    assert cat["ES"].file == cat["SPX"].file  # ES uses the SPX index history
    assert {cat[n].calendar for n in ("BTC", "ETH", "BTC_DVOL")} == {"crypto"}
    assert {cat[n].kind for n in ("SOFR", "EFFR", "DGS10", "DGS2")} == {"rate"}
    assert all(s.note for s in cat.values())


# ---------------------------------------------------------------- real data


@pytest.mark.realdata
def test_btc_crash_of_2020_03_12(real_history: MarketHistory) -> None:
    # Data README: "2020-03-12 is −38.8% (Yahoo shows −37.2%)".
    after, d1 = real_history.close_on("BTC", "2020-03-12")
    before, d0 = real_history.close_on("BTC", "2020-03-11")
    assert (d0, d1) == (pd.Timestamp("2020-03-11"), pd.Timestamp("2020-03-12"))
    assert after / before - 1 == pytest.approx(-0.372, abs=0.001)


@pytest.mark.realdata
def test_vix_maximum_is_82_69_on_2020_03_16_as_a_decimal(real_history: MarketHistory) -> None:
    # Data README: "The maximum close is 82.69 (2020-03-16)"; vols are decimals.
    vix = real_history.series("VIX")
    assert vix.max() == pytest.approx(0.8269, abs=1e-12)
    assert vix.idxmax() == pd.Timestamp("2020-03-16")
    assert real_history.close_on("VIX", "2020-03-16") == (
        pytest.approx(0.8269),
        pd.Timestamp("2020-03-16"),
    )


@pytest.mark.realdata
@pytest.mark.parametrize("name", ["SPX", "SPY", "ES", "VIX"])
def test_us_series_present_on_2024_08_05(real_history: MarketHistory, name: str) -> None:
    _, found = real_history.close_on(name, "2024-08-05", max_stale_days=0)
    assert found == pd.Timestamp("2024-08-05")


@pytest.mark.realdata
def test_vix_close_on_2024_08_05(real_history: MarketHistory) -> None:
    # CBOE: VIX closed at 38.57 on Monday 2024-08-05 (yen carry-trade unwind).
    assert real_history.close_on("VIX", "2024-08-05")[0] == pytest.approx(0.3857)


@pytest.mark.realdata
@pytest.mark.parametrize(
    ("name", "start", "end"),
    [  # from the data README's file table
        ("BTC", "2014-09-17", "2026-06-04"),
        ("BTC_DVOL", "2021-03-24", "2026-04-20"),
        ("SPY", "1993-01-29", "2026-06-05"),
        ("VIX", "1990-01-02", "2026-07-23"),
        ("SPX", "1990-01-02", "2026-02-11"),
        ("TSLA", "2010-06-29", "2025-02-10"),
        ("ETH", "2016-05-27", "2026-06-04"),  # Coinbase file before Yahoo's 2017-11-09
        ("BTC_LONG", "2011-08-18", "2026-06-04"),  # Bitstamp/Coinbase before 2014-09-17
    ],
)
def test_coverage_matches_the_readme(
    real_history: MarketHistory, name: str, start: str, end: str
) -> None:
    assert real_history.coverage(name) == (pd.Timestamp(start), pd.Timestamp(end))


@pytest.mark.realdata
def test_date_outside_the_history_names_series_and_coverage(real_history: MarketHistory) -> None:
    with pytest.raises(MarketDataError, match=r"2030-01-01.*BTC \(2014-09-17\.\.2026-06-04\)"):
        real_history.close_on("BTC", "2030-01-01")
    with pytest.raises(MarketDataError, match=r"BTC_DVOL \(2021-03-24\.\.2026-04-20\)"):
        real_history.close_on("BTC_DVOL", "2020-12-31")


@pytest.mark.realdata
def test_nyse_weekend_is_within_the_default_staleness(real_history: MarketHistory) -> None:
    # Sunday 2024-08-04 -> Friday 2024-08-02, two calendar days back.
    _, found = real_history.close_on("SPY", "2024-08-04")
    assert found == pd.Timestamp("2024-08-02")
    with pytest.raises(MarketDataError, match=r"SPY.*2024-08-04.*staleness"):
        real_history.close_on("SPY", "2024-08-04", max_stale_days=1)


@pytest.mark.realdata
def test_september_2001_closure_exceeds_the_nyse_limit(real_history: MarketHistory) -> None:
    # NYSE was shut 2001-09-11..14; on Sunday 09-16 the last close (09-10) is 6 days old > 5.
    with pytest.raises(MarketDataError, match=r"SPY.*2001-09-16.*2001-09-10"):
        real_history.close_on("SPY", "2001-09-16")
    assert real_history.close_on("SPY", "2001-09-16", max_stale_days=7)[1] == pd.Timestamp(
        "2001-09-10"
    )


@pytest.mark.realdata
def test_dvol_gap_staleness(real_history: MarketHistory) -> None:
    # BTC_DVOL has no rows for 2024-02-17..2024-02-20 (a 4-day gap; its limit is 3 days).
    assert real_history.close_on("BTC_DVOL", "2024-02-19")[1] == pd.Timestamp("2024-02-16")
    with pytest.raises(MarketDataError, match=r"BTC_DVOL.*2024-02-20"):
        real_history.close_on("BTC_DVOL", "2024-02-20")


@pytest.mark.realdata
def test_rates_are_decimals_and_dgs2_is_derived(real_history: MarketHistory) -> None:
    raw = pd.read_csv(
        real_history.data_dir / "rates/fred_rates_daily.csv", index_col="date", parse_dates=True
    )
    day = pd.Timestamp("2024-08-05")
    dgs10, _ = real_history.close_on("DGS10", day)
    dgs2, _ = real_history.close_on("DGS2", day)
    assert dgs10 == pytest.approx(raw.loc[day, "DGS10"] / 100)
    assert dgs2 == pytest.approx((raw.loc[day, "DGS10"] - raw.loc[day, "T10Y2Y"]) / 100)
    assert 0.0 < real_history.close_on("SOFR", day)[0] < 0.1


@pytest.mark.realdata
def test_btc_long_equals_yahoo_from_2014_09_17(real_history: MarketHistory) -> None:
    long, short = real_history.series("BTC_LONG"), real_history.series("BTC")
    pd.testing.assert_series_equal(long.loc[short.index[0] :], short, check_names=False)
    # Bitstamp, first row of the file: 2011-08-18 close 10.9.
    assert long.iloc[0] == pytest.approx(10.9)


@pytest.mark.realdata
def test_loading_only_named_series(real_history: MarketHistory) -> None:
    h = MarketHistory.load(real_history.data_dir, names=["VIX", "BTC"])
    assert h.names == ("BTC", "VIX")
    with pytest.raises(MarketDataError, match="unknown market series 'SPY'"):
        h.series("SPY")


# ---------------------------------------------------------------- errors, synthetic data


def test_unknown_name_lists_known_names(tmp_path: Path) -> None:
    h = MarketHistory.load(tmp_path)
    with pytest.raises(MarketDataError, match=r"unknown market series 'XYZ'; known: .*BTC.*VIX"):
        h.series("XYZ")
    with pytest.raises(MarketDataError, match="unknown market series XYZ"):
        MarketHistory.load(tmp_path, names=["BTC", "XYZ"])


def test_missing_file_says_where_to_look(tmp_path: Path) -> None:
    with pytest.raises(MarketDataError, match=r"btc_usd_yahoo_daily\.csv not found.*--data"):
        MarketHistory.load(tmp_path, names=["BTC"])


def test_unsorted_dates_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "etf" / "spy_daily.csv"
    path.parent.mkdir()
    path.write_text("date,close\n2024-01-03,1\n2024-01-02,2\n", encoding="utf-8")
    with pytest.raises(MarketDataError, match="sorted"):
        MarketHistory.load(tmp_path).series("SPY")


def test_series_cannot_be_mutated_through_the_cache(write_file: WriteFile) -> None:
    folder = write_file("etf/spy_daily.csv", {"2024-01-02": 10.0, "2024-01-03": 11.0})
    h = MarketHistory.load(folder)
    s = h.series("SPY")
    s.iloc[0] = -1.0
    assert h.series("SPY").iloc[0] == 10.0


def test_realised_vol_by_hand(write_file: WriteFile) -> None:
    # Closes 100, 100·e^0.01, 100: log returns +0.01, −0.01, sample std = 0.02/√2.
    closes = {"2024-01-01": 100.0, "2024-01-02": 100.0 * math.exp(0.01), "2024-01-03": 100.0}
    write_file("crypto/btc_usd_yahoo_daily.csv", closes)
    folder = write_file("etf/spy_daily.csv", closes)
    h = MarketHistory.load(folder)
    daily = 0.02 / math.sqrt(2)
    assert h.realised_vol("BTC", "2024-01-03", window=2) == pytest.approx(daily * math.sqrt(365))
    assert h.realised_vol("SPY", "2024-01-03", window=2) == pytest.approx(daily * math.sqrt(252))
    with pytest.raises(MarketDataError, match="fewer than the 3-return window"):
        h.realised_vol("SPY", "2024-01-03", window=3)


def test_until_cuts_every_series_and_shares_the_cache() -> None:
    """``until`` is the structural no-look-ahead view used by backtests."""
    from crossmargin.config import find_data_dir
    from crossmargin.errors import MarketDataError
    from crossmargin.market.history import MarketHistory

    if find_data_dir() is None:
        pytest.skip("shared market history not found")
    full = MarketHistory.load()
    view = full.until("2020-03-12")
    assert view.coverage("BTC")[1] == pd.Timestamp("2020-03-12")
    assert view.coverage("SPY")[1] == pd.Timestamp("2020-03-12")
    assert full.coverage("BTC")[1] > pd.Timestamp("2026-01-01")
    # The day after the cut-off takes the cut-off's close (1-day crypto staleness limit);
    # nothing later exists in the view.
    assert view.close_on("BTC", "2020-03-13")[1] == pd.Timestamp("2020-03-12")
    with pytest.raises(MarketDataError, match="outside the history of BTC"):
        view.close_on("BTC", "2020-03-14")
    # The file is read once: the view reuses the parent's full-series cache.
    assert "BTC" in full._full
