"""``crossmargin margin --model pm_grid --mode/--venue``: choices and bad input."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
BOOK = str(EXAMPLES / "book_deribit_pme_example.csv")
MARKET = str(EXAMPLES / "market_deribit_pme_example.json")


def _margin(run_cli: Any, *extra: str) -> Any:
    return run_cli("margin", BOOK, "--market", MARKET, "--no-store", "--offsets", "none", *extra)


def test_mode_changes_the_risk_unit(run_cli: Any) -> None:
    out = {}
    for mode in ("segregated", "cross"):
        res = _margin(run_cli, "--model", "pm_grid", "--mode", mode, "--json")
        assert res.code == 0, res.err
        data = json.loads(res.out)
        assert data["parameters"]["mode"] == mode
        out[mode] = data["accounts"][0]["components"]["scan_loss"]
    # A long inverse book loses more at today's spot (S:PM) than at the scenario spot (X:PM).
    assert out["segregated"] > out["cross"]


@pytest.mark.parametrize("venue", ["deribit", "paradex", "okx"])
def test_every_venue_runs(run_cli: Any, venue: str) -> None:
    res = _margin(run_cli, "--model", "pm_grid", "--venue", venue, "--json")
    assert res.code == 0, res.err
    assert json.loads(res.out)["parameters"]["venue"] == venue


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--model", "span", "--mode", "segregated"), "--mode applies to --model pm_grid only"),
        (("--model", "rules", "--venue", "okx"), "--venue applies to --model pm_grid only"),
        (("--model", "pm_grid", "--mode", "portfolio"), "unknown pm_grid mode 'portfolio'"),
        (("--model", "pm_grid", "--venue", "kraken"), "unknown venue 'kraken'"),
    ],
)
def test_bad_choices_are_one_line_errors(run_cli: Any, args: tuple[str, ...], message: str) -> None:
    res = _margin(run_cli, *args)
    assert res.code != 0
    assert message in res.err
    assert "Traceback" not in res.err + res.out
