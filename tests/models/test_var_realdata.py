"""The es model on the shared market history: the docs table row and the early-date vol rule."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType

import pytest

from crossmargin.config import find_data_dir
from crossmargin.market.history import MarketHistory

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.realdata


@pytest.fixture(scope="module")
def history() -> MarketHistory:
    folder = find_data_dir()
    if folder is None or not folder.is_dir():
        pytest.skip("shared market data not found (set CROSSMARGIN_DATA or add ../shared/data)")
    return MarketHistory.load(folder)


@pytest.fixture(scope="module")
def es_table() -> ModuleType:
    spec = importlib.util.spec_from_file_location("es_table", ROOT / "scripts" / "es_table.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _doc_row(asof: str) -> list[str]:
    text = (ROOT / "docs" / "models" / "es.md").read_text(encoding="utf-8")
    line = next(x for x in text.splitlines() if x.startswith(f"| {asof} |"))
    return [c.strip() for c in line.strip("|").split("|")]


def _money(cell: str) -> float:
    return float(re.sub(r"[,%]", "", cell))


def test_docs_table_row_matches_to_the_cent(history: MarketHistory, es_table: ModuleType) -> None:
    row = es_table.es_row(history, "2024-12-31")
    doc = _doc_row("2024-12-31")
    computed = [c.strip() for c in es_table.markdown(row).strip("|").split("|")]
    assert computed == doc
    for key, cell in zip(("es_btc", "es_spx", "es_book"), doc[6:9], strict=True):
        assert abs(row[key] - _money(cell)) < 0.005
    assert 0.0 < row["corr"] < 1.0
    # each account on its own netting set: BTC alone on the crypto calendar (365 days of
    # 2-day moves), the book on NYSE sessions (weekend moves enter its Monday scenarios)
    assert row["btc_window"] == 366  # 2024 is a leap year: 366 days in the 12 months
    assert row["window"].endswith("(252)")


def test_before_dvol_the_btc_vol_factor_is_the_fallback(
    history: MarketHistory, es_table: ModuleType
) -> None:
    row = es_table.es_row(history, "2019-06-28")
    assert row["btc_vol"] == "DVOL 0 d, fallback 251 d"
    assert _doc_row("2019-06-28")[4] == "DVOL 0 d, fallback 251 d"


def test_ten_year_floor_is_on_unfiltered_moves(history: MarketHistory) -> None:
    """EMIR Art 28(1)(c) floor for 1,000 SPY on 2017-06-30 (calm 2017, 2008 in the window).

    Hand computation straight from the CSV: SPY closes (its dates are the NYSE sessions),
    2-session log moves ending on each session in (2007-06-30, 2017-06-30], loss per scenario
    1000·S₀·(1 − eˣ), 99% ES with the fractional tail weight. Filtered moves would rescale 2008
    to 2017's vol and give a floor of a few hundred dollars instead.
    """
    import numpy as np
    import pandas as pd

    from crossmargin.instruments import parse_symbol
    from crossmargin.market.builder import snapshot_from_history
    from crossmargin.models.var import ExpectedShortfallModel
    from crossmargin.portfolio.book import Portfolio, Position

    close = pd.read_csv(history.data_dir / "etf/spy_daily.csv", index_col="date",
                        parse_dates=True)["close"]  # fmt: skip
    close = close[close.index <= "2017-06-30"]
    x = np.log(close / close.shift(2))
    x = x[x.index > "2007-06-30"].to_numpy()
    s0 = float(close.iloc[-1])
    losses = np.sort(1000.0 * s0 * -np.expm1(x))[::-1]
    m = 0.01 * losses.size
    k = int(np.ceil(m))
    hand = float((losses[: k - 1].sum() + (m - (k - 1)) * losses[k - 1]) / m)
    assert hand > 10_000  # the 2008 moves are in the window
    market = snapshot_from_history("2017-06-30", ["SPY"], history=history)
    book = Portfolio.from_positions(
        [Position(account="a", instrument=parse_symbol("SPY"), quantity=1000.0)]
    )
    for method in ("fhs", "hs"):
        model = ExpectedShortfallModel(method=method, apc="floor", history=history)  # type: ignore[arg-type]
        acc = model.compute(book, market).accounts[0]
        assert acc.components["core"] < hand / 3  # 2017 was calm
        assert acc.components["core"] + acc.components["apc"] == pytest.approx(hand, rel=1e-9)
        assert acc.netting_set["floor"]["scenarios"] == losses.size


def test_crypto_and_mixed_windows_cover_twelve_months(history: MarketHistory) -> None:
    from crossmargin.instruments import parse_symbol
    from crossmargin.market.builder import snapshot_from_history
    from crossmargin.models.var import ExpectedShortfallModel
    from crossmargin.portfolio.book import Portfolio, Position

    market = snapshot_from_history("2025-06-02", ["BTC", "SPX"], history=history)
    btc, es = parse_symbol("BTC_USDC"), parse_symbol("ESU25", reference_year=2025)
    book = Portfolio.from_positions(
        [
            Position(account="crypto", instrument=btc, quantity=1.0),
            Position(account="mixed", instrument=btc, quantity=1.0),
            Position(account="mixed", instrument=es, quantity=-1.0),
        ]
    )
    result = ExpectedShortfallModel(history=history).compute(book, market)
    facts = {a.account: a.netting_set for a in result.accounts}
    crypto, mixed = facts["crypto"], facts["mixed"]
    assert crypto["calendar"] == "crypto"
    assert crypto["lookback"]["calendar_days"] >= 365
    assert crypto["lookback"]["scenarios"] == 365  # every day of the 12 months to 2025-06-02
    assert crypto["mpor_calendar_days"]["max"] == 2.0
    assert mixed["calendar"] == "nyse"
    assert (mixed["lookback"]["first"], mixed["lookback"]["last"]) == ("2024-06-03", "2025-06-02")
    assert mixed["lookback"]["calendar_days"] == 365
    assert mixed["mpor_calendar_days"]["max"] >= 4.0  # Thursday..Monday
