"""Every figure says its unit (issue 17, item 2): each number of ``value --json``,
``margin --json`` (every model) and ``what-if --json`` is covered by the payload's declared
``units`` block, and the conversions the units state hold between JSON and tables (vega per
1.00 vol in JSON is 100 x the table's per vol point; theta per year is 365 x per day).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from crossmargin.config import find_data_dir
from crossmargin.field_units import margin_units, uncovered, unit_of

needs_data = pytest.mark.skipif(
    find_data_dir() is None, reason="shared market history not found (../shared/data/market)"
)
Run = Callable[..., "object"]
ASOF = "2026-02-11"


@pytest.fixture(scope="module")
def book(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from crossmargin import api

    path = tmp_path_factory.mktemp("units") / "book.json"
    api.write_sample(path)
    return path


def _json(run_cli: Run, *args: str) -> dict[str, object]:
    res = run_cli(*args)
    assert res.code == 0, res.err
    payload: dict[str, object] = json.loads(res.out)
    return payload


@needs_data
@pytest.mark.parametrize(
    "model", [["rules"], ["span"], ["pm_grid"], ["es"], ["hvar"], ["span", "--also", "es"]]
)
def test_every_margin_figure_has_a_unit(run_cli: Run, book: Path, model: list[str]) -> None:
    payload = _json(run_cli, "margin", str(book), "--model", *model, "--asof", ASOF,
                    "--no-store", "--json")  # fmt: skip
    units = payload["units"]
    assert isinstance(units, dict)
    assert uncovered(payload, units) == []
    assert units["money"].startswith("USD")


@needs_data
def test_every_valuation_figure_has_a_unit_and_tables_convert_as_declared(
    run_cli: Run, book: Path
) -> None:
    payload = _json(run_cli, "value", str(book), "--asof", ASOF, "--json")
    units = payload["units"]
    assert isinstance(units, dict)
    assert uncovered(payload, units) == []
    assert "per 1.00" in units["vega"]
    assert "per year" in units["theta"]
    assert "per 1 USD move" in units["gamma"]
    table = run_cli("value", str(book), "--asof", ASOF).out
    header = next(line for line in table.splitlines() if "vega (" in line)
    assert "vega (USD/vol pt)" in header
    assert "theta (USD/day)" in header
    rows = {
        (cells[0], cells[1]): cells
        for line in table.splitlines()
        if (cells := [c.strip() for c in re.split(r"[│┃]", line)[1:-1]]) and len(cells) == 8
    }
    checked = 0
    for account in payload["accounts"]:  # type: ignore[attr-defined]
        for g in account["greeks"]:
            cells = rows[(account["account"], g["underlying"])]
            assert float(cells[6].replace(",", "")) == pytest.approx(g["vega"] / 100.0, abs=0.5)
            assert float(cells[7].replace(",", "")) == pytest.approx(g["theta"] / 365.0, abs=0.5)
            checked += 1
    assert checked >= 5


@needs_data
@pytest.mark.parametrize("also", [[], ["--also", "rules"]])
def test_every_what_if_figure_has_a_unit(run_cli: Run, book: Path, also: list[str]) -> None:
    payload = _json(run_cli, "what-if", str(book), "--account", "alpha-crypto", "--trade",
                    "BTC-PERPETUAL:1000", "--asof", ASOF, *also, "--json")  # fmt: skip
    units = payload["units"]
    assert isinstance(units, dict)
    assert uncovered(payload, units) == []
    assert units["incremental_margin"] == "USD"
    if also:  # the more conservative of span and rules, before and after alike
        alone = {
            m: _json(run_cli, "what-if", str(book), "--account", "alpha-crypto", "--trade",
                     "BTC-PERPETUAL:1000", "--asof", ASOF, "--model", m, "--json")
            for m in ("span", "rules")
        }  # fmt: skip
        for side in ("margin_before", "margin_after"):
            assert payload[side] >= max(a[side] for a in alone.values()) - 1e-6


def test_lookup_prefers_the_nearest_declaration() -> None:
    units = margin_units("EUR")
    assert unit_of(["accounts", 0, "equity", "haircut"], units) == "EUR"
    assert unit_of(["accounts", 0, "equity", "holdings", 2, "haircut"], units).startswith("decimal")
    assert unit_of(["components", "binding_span"], units).startswith("flag")
    assert unit_of(["accounts", 1, "components", "span.scan_risk"], units) == "EUR"
    assert unit_of(["accounts", 1, "info", "days_to_liquidate"], units) == "trading days"
    assert unit_of(["benefit_pct"], units).startswith("percent")
    assert unit_of(["nothing", "declared"], units) is None
    assert uncovered({"total": 1.0, "mystery": 2.0, "units": {}}, units) == ["mystery"]
