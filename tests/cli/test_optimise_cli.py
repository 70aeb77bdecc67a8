"""`crossmargin attribute` and `crossmargin optimise hedge|allocate|capital`: JSON contracts
against the API, tables, and one-line errors for bad input."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from crossmargin import api
from crossmargin.config import find_data_dir

needs_data = pytest.mark.skipif(
    find_data_dir() is None, reason="shared market history not found (../shared/data/market)"
)
Run = Callable[..., Any]
SAMPLE = str(Path(__file__).parents[2] / "src/crossmargin/data/sample_book.csv")
ASOF = "2026-02-11"


@needs_data
def test_attribute_json_sums_and_matches_margin(run_cli: Run) -> None:
    res = run_cli("attribute", SAMPLE, "--model", "span", "--asof", ASOF, "--json",
                  "--no-incremental")  # fmt: skip
    assert res.code == 0, res.err
    data = json.loads(res.out)
    book = api.load_book(SAMPLE)  # the positions file alone, as the command reads it
    margin = api.margin(book, api.market_for(book, asof=ASOF), "span")
    for acc in data["accounts"]:
        want = next(a.total for a in margin.accounts if a.account == acc["account"])
        assert acc["total"] == pytest.approx(want, rel=1e-12)
        assert sum(i["contribution"] for i in acc["items"]) == pytest.approx(want, rel=1e-9)
    assert "contribution" in data["units"]


@needs_data
def test_attribute_tables(run_cli: Run) -> None:
    res = run_cli("attribute", SAMPLE, "--model", "es", "--asof", ASOF, "--account",
                  "beta-macro", "--by", "tier")  # fmt: skip
    assert res.code == 0, res.err
    assert "beta-macro under es" in res.out
    assert "underlying credit" in res.out
    assert "requirement" in res.out
    res = run_cli("attribute", SAMPLE, "--model", "simm", "--asof", ASOF, "--by",
                  "asset-class", "--account", "gamma-xasset")  # fmt: skip
    assert res.code == 0, res.err
    assert "crypto" in res.out


def test_attribute_bad_input(run_cli: Run) -> None:
    res = run_cli("attribute", SAMPLE, "--by", "venue")
    assert res.code == 2
    assert "unknown --by 'venue'" in res.err
    res = run_cli("attribute", SAMPLE, "--model", "simm", "--by", "tier")
    assert res.code == 2
    assert "no offset tiers" in res.err


@needs_data
def test_hedge_json_is_verified_by_what_if(run_cli: Run) -> None:
    res = run_cli("optimise", "hedge", SAMPLE, "--account", "beta-macro", "--model", "pm_grid",
                  "--asof", ASOF, "--max-notional", "200000", "--json")  # fmt: skip
    assert res.code == 0, res.err
    data = json.loads(res.out)
    assert data["verified"] == pytest.approx(data["promised"], rel=1e-9)
    book = api.load_book(SAMPLE)
    market = api.market_for(book, asof=ASOF)
    rows = [{"symbol": t["symbol"], "quantity": t["quantity"]} for t in data["trades"]]
    wi = api.what_if(book, "beta-macro", rows, market, "pm_grid")
    assert wi.after_total == pytest.approx(data["requirement_after"], rel=1e-9)
    assert data["units"]["quantity"] == "contracts"


@needs_data
def test_hedge_errors(run_cli: Run, tmp_path: Path) -> None:
    universe = tmp_path / "u.json"
    universe.write_text(json.dumps({"candidates": [{"symbol": "ZZZ-PERPETUAL"}]}), "utf-8")
    res = run_cli("optimise", "hedge", SAMPLE, "--account", "beta-macro", "--universe",
                  str(universe), "--asof", ASOF)  # fmt: skip
    assert res.code == 2
    assert "ZZZ-PERPETUAL" in res.err
    assert str(universe) in res.err
    res = run_cli(
        "optimise",
        "hedge",
        SAMPLE,
        "--account",
        "gamma-xasset",
        "--asof",
        ASOF,
        "--model",
        "pm_grid",
        "--delta-band",
        "BTC=-10:10",
        "--max-notional",
        "100",
    )
    assert res.code == 2
    assert "max notional 100 USD binds" in res.err
    res = run_cli("optimise", "hedge", SAMPLE, "--account", "beta-macro", "--delta-band", "x")
    assert res.code == 2
    assert "UNDERLYING=LOW:HIGH" in res.err


@needs_data
def test_allocate_json_and_bad_venues(run_cli: Run, tmp_path: Path) -> None:
    venues = tmp_path / "venues.json"
    venues.write_text(json.dumps({"venues": [
        {"name": "deribit", "model": "pm_grid", "eligible": {"styles": ["deribit"]}},
        {"name": "prime", "model": "rules"}]}), "utf-8")  # fmt: skip
    res = run_cli("optimise", "allocate", SAMPLE, "--venues", str(venues), "--asof", ASOF,
                  "--json")  # fmt: skip
    assert res.code == 0, res.err
    data = json.loads(res.out)
    assert data["total"] == pytest.approx(min(p["total"] for p in data["plans"]))
    assert data["gap"] is not None
    assert data["saving"] == pytest.approx(data["isolated"] - data["total"])
    venues.write_text(json.dumps({"venues": [{"name": "x", "model": "magic"}]}), "utf-8")
    res = run_cli("optimise", "allocate", SAMPLE, "--venues", str(venues), "--asof", ASOF)
    assert res.code == 2
    assert "unknown model 'magic'" in res.err
    assert res.err.count("\n") <= 2


@needs_data
def test_capital_table_and_json(run_cli: Run) -> None:
    res = run_cli("optimise", "capital", SAMPLE, "--model", "span", "--asof", ASOF, "--cash",
                  "isolated", "--rate", "0.05", "--no-liquidation", "--json")  # fmt: skip
    assert res.code == 0, res.err
    data = json.loads(res.out)
    assert data["rate"] == 0.05
    for a in data["accounts"]:
        assert a["funding_value"] == pytest.approx(0.05 * a["freed"], rel=1e-12)
    res = run_cli("optimise", "capital", SAMPLE, "--model", "span", "--asof", ASOF, "--cash",
                  "plenty")  # fmt: skip
    assert res.code == 2
    assert "--cash 'plenty'" in res.err
