"""Isolated vs cross comparison: row arithmetic, and the docs table is the code's output."""

from __future__ import annotations

from pathlib import Path

import pytest

from crossmargin import api
from crossmargin.analysis.compare import compare_models, markdown_table
from crossmargin.config import find_data_dir

DOC = Path(__file__).parents[2] / "docs" / "sample-book.md"


@pytest.mark.skipif(find_data_dir() is None, reason="shared market history not found")
def test_sample_book_table_in_docs_matches_the_code() -> None:
    book = api.sample_book()
    market = api.market_for(book, asof="2026-02-11")
    comparison = compare_models(book, market, ("rules", "span", "pm_grid"))
    by = {(r.model, r.account): r for r in comparison.rows}
    for model in ("rules", "span", "pm_grid"):
        total = by[(model, "total")]
        accounts = [r for r in comparison.rows if r.model == model and r.account != "total"]
        assert total.netted == pytest.approx(sum(r.netted for r in accounts))
        assert total.standalone == pytest.approx(sum(r.standalone for r in accounts))
        assert total.isolated == pytest.approx(by[("rules", "total")].netted)
    # rules is additive: no benefit by construction.
    assert by[("rules", "total")].benefit == pytest.approx(0.0, abs=1e-6)
    # The docs page carries exactly these lines (whole USD).
    doc = DOC.read_text(encoding="utf-8")
    for line in markdown_table(comparison).splitlines()[2:]:
        assert line in doc, line


@pytest.mark.skipif(find_data_dir() is None, reason="shared market history not found")
def test_models_that_read_history_get_the_given_data_folder(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With ``--data DIR`` and nothing to discover, the ES model must still find its data."""
    import crossmargin.config as cfg

    folder = find_data_dir()
    monkeypatch.delenv("CROSSMARGIN_DATA", raising=False)
    monkeypatch.setattr(cfg, "_search_upwards", lambda _start: None)
    book = api.sample_book()
    market = api.market_for(book, asof="2026-02-11", data_dir=folder)
    comparison = compare_models(book, market, ("es",), data_dir=folder)
    assert {r.model for r in comparison.rows} == {"rules", "es"}
