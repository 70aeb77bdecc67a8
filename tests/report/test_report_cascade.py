"""The report's cascade section shows the cascade's numbers (parsed cells against the
payload, which is the API's report) and its three charts; a cascade that cannot run says why."""

from __future__ import annotations

import pytest
from tests.report.conftest import ASOF
from tests.report.test_report import Cells, number

from crossmargin import api
from crossmargin.collateral.holdings import CollateralHolding
from crossmargin.config import find_data_dir
from crossmargin.report import build_payload, render

pytestmark = pytest.mark.skipif(find_data_dir() is None, reason="market history not present")


def _book():  # type: ignore[no-untyped-def]
    book = api.sample_book()
    cash = [CollateralHolding(account=a, asset="USD", amount=2_000_000.0) for a in book.accounts]
    return book.with_collateral(cash)


def test_cascade_section_numbers_and_charts() -> None:
    book = _book()
    market = api.market_for(book, asof=ASOF)
    run = api.cascade(book, crisis="2025-10-10", market=market, modes=("isolated", "cross"))
    payload = build_payload(book, market, models=("rules",), stress=False, cascade=run.report)
    html = render(payload)
    parser = Cells()
    parser.feed(html)
    cells = [c for c in parser.cells if c["table"] == "cascade"]
    assert {c["data-mode"] for c in cells} == {"isolated", "cross"}
    for r in run.report.results:
        got = {
            c["data-key"]: c["text"] for c in cells if c["data-mode"] == r.mode and "data-key" in c
        }
        assert number(got["accounts_liquidated"]) == r.accounts_liquidated
        assert number(got["notional"]) == pytest.approx(r.notional, abs=0.006)
        assert number(got["fund_drawn"]) == pytest.approx(r.fund_drawn, abs=0.006)
        assert number(got["adl"]) == pytest.approx(r.ledger.adl, abs=0.006)
        assert number(got["iterations"]) == r.iterations
    for chart in ("cascade-prices", "cascade-liquidations", "cascade-layers"):
        assert f'data-chart="{chart}"' in html
    assert "Cascade: 2025-10-10 (venue loss\nallocation)" in html
    assert payload["cascade"]["result"]["modes"][0]["mode"] == "isolated"


def test_a_cascade_that_cannot_run_says_why() -> None:
    book = _book()
    market = api.market_for(book, asof=ASOF)
    payload = build_payload(book, market, models=("rules",), stress=False, cascade="1999-01-04")
    assert payload["cascade"]["available"] is False
    html = render(payload)
    assert 'id="cascade-hook"' in html
    assert "no history" in html or "outside" in html
