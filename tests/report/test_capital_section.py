"""The report's capital-efficiency section shows the API's numbers (independent calls)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tests.report.conftest import ASOF
from tests.report.test_report import Cells, number

from crossmargin import api


@pytest.fixture(scope="module")
def parsed(report: tuple[Path, dict[str, Any]]) -> Cells:
    cells = Cells()
    cells.feed(report[0].read_text(encoding="utf-8"))
    return cells


def test_capital_tables_match_the_api(report: tuple[Path, dict[str, Any]], parsed: Cells) -> None:
    section = report[1]["capital"]
    if not section["available"]:
        pytest.skip(f"capital section unavailable: {section['reason']}")
    book = api.sample_book()
    market = api.market_for(book, asof=ASOF)
    cap = api.capital(book, market, "es", cash="isolated", liquidation=False)
    rules = api.margin(book, market, "rules")
    roe = [c for c in parsed.cells if c["table"] == "capital-roe" and c.get("data-key")]
    for a in cap.accounts:
        iso = next(x.total for x in rules.accounts if x.account == a.account)
        got = {c["data-key"]: number(c["text"]) for c in roe if c["data-account"] == a.account}
        assert got["isolated"] == pytest.approx(iso, abs=0.006)
        assert got["requirement"] == pytest.approx(a.requirement, abs=0.006)
        assert got["freed"] == pytest.approx(iso - a.requirement, abs=0.006)
        assert got["funding_value"] == pytest.approx((iso - a.requirement) * cap.rate, abs=0.006)
    hedges = [c for c in parsed.cells if c["table"] == "capital-hedges" and c.get("data-key")]
    for h in section["hedges"]:
        got = {
            c["data-key"]: number(c["text"]) for c in hedges if c["data-account"] == h["account"]
        }
        assert got["saving"] == pytest.approx(
            h["requirement_before"] - h["requirement_after"], abs=0.006
        )
        rows = [{"symbol": t["symbol"], "quantity": t["quantity"]} for t in h["trades"]]
        if rows:  # the saving is what what-if gives for those trades
            wi = api.what_if(book, h["account"], rows, market, "es")
            assert got["requirement_after"] == pytest.approx(wi.after_total, abs=0.006)
    for acc in section["attribution"]["accounts"]:
        total = sum(i["contribution"] for i in acc["items"])
        assert total == pytest.approx(acc["total"], rel=1e-9)
