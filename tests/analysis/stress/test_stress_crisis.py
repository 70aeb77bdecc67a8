"""Crisis replays reproduce the real moves of the shared history, and the docs table."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path
from types import ModuleType

import pytest

from crossmargin.analysis.stress.crisis import crisis_catalogue, crisis_moves, resolve_window
from crossmargin.analysis.stress.report import StressReport
from crossmargin.errors import InputError, MarketDataError
from crossmargin.market.history import MarketHistory
from crossmargin.market.varswap import atm_from_variance_swap

ROOT = Path(__file__).resolve().parents[3]
pytestmark = pytest.mark.realdata

# crypto/btc_usd_yahoo_daily.csv close: 2020-03-11 7911.430176, 2020-03-12 4970.788086
BTC_COVID = 4970.788086 / 7911.430176 - 1.0  # -37.17%
# index/spx_daily.csv close (FRED): 2024-08-02 5346.56, 2024-08-05 5186.33
SPX_YEN = 5186.33 / 5346.56 - 1.0  # -3.00%
# index/vix_cboe_daily.csv close: 2024-08-02 23.39, 2024-08-05 38.57 (decimal vol change)
VIX_YEN = 0.3857 - 0.2339


def test_covid_worst_day_is_the_btc_crash(sample_report: StressReport) -> None:
    day = sample_report.scenario("covid 1d").account("alpha-crypto")  # long BTC/ETH futures
    assert day.scenario == "2020-03-12"
    assert day.moves["BTC"].spot == pytest.approx(BTC_COVID, abs=1e-9)
    assert abs(BTC_COVID + 0.372) < 5e-4
    assert day.loss > day.margin  # the crash is far beyond the 2-day 99% ES margin


def test_yen_carry_spx_move_and_vix_change(sample_report: StressReport) -> None:
    s = sample_report.scenario("yen-carry window")
    assert s.moves["SPX"].spot == pytest.approx(SPX_YEN, abs=1e-9)
    # SPX and SPY vol proxy: VIX, a variance-swap level, mapped to the 30-day ATM of the
    # house smile (the map is checked against brute-force quadrature in tests/market).
    for name, cls in (("SPX", "equity_index"), ("SPY", "etf")):
        atm = atm_from_variance_swap([0.2339, 0.3857], cls)
        assert s.moves[name].vol == pytest.approx(atm[1] - atm[0], abs=1e-9)
        assert 0.6 * VIX_YEN < s.moves[name].vol < VIX_YEN  # ATM moves less than the index


def test_every_named_crisis_and_horizon_is_reported(sample_report: StressReport) -> None:
    names = {s.name for s in sample_report.scenarios}
    for w in crisis_catalogue():
        assert {f"{w} 1d", f"{w} 2d", f"{w} window"} <= names
    for s in sample_report.scenarios:
        for a in s.accounts:
            assert a.shortfall == max(0.0, a.loss - a.margin)
            assert a.margin == sample_report.held.required[a.account]


def test_lehman_proxies_crypto_and_flags_it(
    history: MarketHistory, sample_report: StressReport
) -> None:
    s = sample_report.scenario("lehman 1d")
    assert any(n.startswith("BTC proxied") for n in s.notes)
    moves = crisis_moves(history, resolve_window("lehman"), ["SPX", "BTC"], mpor=2)
    assert set(moves.proxied) == {"BTC"}
    assert moves.uncovered == {}
    plain = crisis_moves(history, resolve_window("2008-09-29"), ["SPX", "BTC"], mpor=1)
    assert set(plain.uncovered) == {"BTC"}  # a user window has no proxy: not covered
    # SPX on 2008-09-29 (TARP vote): 1213.27 -> 1106.39 in spx_daily.csv
    assert math.expm1(plain.daily[0, 0]) == pytest.approx(1106.39 / 1213.27 - 1, abs=1e-4)


def test_window_outside_the_data_is_one_clear_error(history: MarketHistory) -> None:
    with pytest.raises(
        MarketDataError, match=r"crisis window 2030-01-02\.\.2030-01-10 is outside the market"
    ):
        crisis_moves(history, resolve_window("2030-01-02:2030-01-10"), ["SPX", "BTC"])
    with pytest.raises(InputError, match="unknown crisis 'dotcom'"):
        resolve_window("dotcom")


@pytest.fixture(scope="module")
def table_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "stress_table", ROOT / "scripts" / "stress_table.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_docs_table_cell_matches(sample_report: StressReport, table_script: ModuleType) -> None:
    from crossmargin.cli.stress import stress_rows

    row = next(
        r
        for r in stress_rows(sample_report)
        if (r["crisis"], r["account"]) == ("covid", "gamma-xasset")
    )
    line = table_script.markdown(row)
    doc = (ROOT / "docs" / "stress.md").read_text(encoding="utf-8")
    assert line in doc.splitlines()
    cells = [c.strip() for c in line.strip("|").split("|")]
    assert float(cells[2].replace(",", "")) == pytest.approx(row["margin"], abs=0.5)


def test_stressed_mode_uses_the_covid_correlation(history: MarketHistory) -> None:
    """The normal-score (van der Waerden) correlation of BTC and SPX NYSE-day log returns over
    2020-02-20..2020-04-30, computed here from the CSVs with pandas and scipy (BTC sampled on
    NYSE days: weekend moves fold into Monday; ranks by order of appearance)."""
    import numpy as np
    import pandas as pd
    from scipy.stats import norm, rankdata

    from crossmargin import api

    root = Path(history.data_dir)
    btc = pd.read_csv(root / "crypto/btc_usd_yahoo_daily.csv", index_col=0, parse_dates=True)
    spx = pd.read_csv(root / "index/spx_daily.csv", index_col=0, parse_dates=True)
    days = spx.loc["2020-02-19":"2020-04-30"].index
    r_btc = np.diff(np.log(btc["close"].reindex(days).to_numpy()))
    r_spx = np.diff(np.log(spx["close"].reindex(days).to_numpy()))
    n = r_btc.size

    def scores(r: np.ndarray) -> np.ndarray:
        return np.asarray(norm.ppf(rankdata(r, method="ordinal") / (n + 1)))

    expected = float(np.corrcoef(scores(r_btc), scores(r_spx))[0, 1])
    book = api.sample_book()
    market = api.market_for(book, asof="2026-02-11", data_dir=history.data_dir)
    report = api.stress(
        book,
        "es",
        market=market,
        correlation="stressed",
        pairs="BTC:SPX",
        data_dir=history.data_dir,
    )
    assert report.correlation is not None
    (m,) = report.correlation.matrices  # only gamma-xasset's netting set holds BTC and SPX
    assert "covid" in report.correlation.stressed_source
    assert m.target["BTC:SPX"] == pytest.approx(expected, abs=1e-9)
    assert abs(m.before["BTC:SPX"] - expected) > 0.02
    row = report.correlation.row("gamma-xasset", "stressed")
    assert row.achieved["BTC:SPX"] == pytest.approx(expected, abs=0.03)
