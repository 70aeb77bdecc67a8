"""The report says what it shows (issue 17): the header names the book by its file name and
the as-of date (never an absolute internal path), and every chart's axes name their unit."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.report.conftest import ASOF

from crossmargin.report.render import (
    correlation_figure,
    distribution_figure,
    waterfall,
)
from crossmargin.report.render_sections import backtest_figure


def test_header_names_the_book_and_asof_not_a_path(report: tuple[Path, dict[str, Any]]) -> None:
    path, payload = report
    assert payload["book"] == "sample_book.csv"
    assert payload["title"] == f"crossmargin report: sample_book.csv as of {ASOF}"
    html = path.read_text(encoding="utf-8")
    assert "/src/crossmargin/" not in html


def test_every_axis_names_its_unit(report: tuple[Path, dict[str, Any]]) -> None:
    _, payload = report
    ccy = payload["currency"]
    figures = [waterfall(m) for m in payload["margin"].values()]
    figures.append(distribution_figure(payload["distribution"], ccy))
    bt = payload["backtest"]
    figures.append(backtest_figure(bt["series"], f"{bt['model']} backtest: book", ccy))
    for fig in figures:
        layout = fig.layout
        assert layout.yaxis.title.text, layout.title.text
        assert layout.xaxis.title.text, layout.title.text
        titles = f"{layout.xaxis.title.text} {layout.yaxis.title.text}"
        assert f"({ccy})" in titles, titles
        assert "amount" not in layout.yaxis.title.text.split("(")[0].strip().split()
    sets = payload["correlations"].get("netting_sets", [])
    assert sets
    for corr in sets:
        heat = correlation_figure(corr)
        assert "correlation" in heat.data[0].colorbar.title.text
