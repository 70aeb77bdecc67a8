"""CME's published SPAN spread illustrations through ``crossmargin margin``.

Book ``examples/book_cme_span_examples.csv`` (one account per illustration), Treasury
futures from ``examples/contracts_sol_eth_treasuries.json``, parameters
``examples/span_cme_treasuries.json`` and the snapshot ``examples/market_cme_treasuries.json``
(no market history needed). Sources: CME Group, "SPAN margin: spread calculations" [P]; the
scan ranges are example values chosen so the snapshot gives CME's outrights.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from published import check

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
ARGS = (
    "margin", str(EXAMPLES / "book_cme_span_examples.csv"), "--model", "span",
    "--params", str(EXAMPLES / "span_cme_treasuries.json"),
    "--market", str(EXAMPLES / "market_cme_treasuries.json"),
    "--contracts", str(EXAMPLES / "contracts_sol_eth_treasuries.json"),
    "--no-store",
)  # fmt: skip


@pytest.fixture
def accounts(run_cli: Any) -> dict[str, dict[str, Any]]:
    res = run_cli(*ARGS, "--offsets", "none", "--json")
    assert res.code == 0, res.err
    return {a["account"]: a for a in json.loads(res.out)["accounts"]}


def test_scanning_based_30y_10y_spread(accounts: dict[str, dict[str, Any]]) -> None:
    # CME Group, "SPAN margin: spread calculations" (cmegroup.com/clearing/margins/
    # spread-calc.html) [P]: +2 30Yr / -3 10Yr scanned together at a 70 % credit =
    # $2,840 (outrights 11,000).
    bond = accounts["bond-spread"]
    check("cme-scanning-30y-10y", bond["netted"])
    assert bond["components"]["scan_risk"] == pytest.approx(11_000.0, abs=1e-6)  # 6,200 + 4,800
    assert bond["standalone"] == pytest.approx(11_000.0, abs=1e-6)


@pytest.mark.parametrize(
    ("account", "example"),
    [
        ("calendar-2v3", "cme-calendar-2v3"),
        ("calendar-2v4", "cme-calendar-2v4"),
        ("calendar-3v4", "cme-calendar-3v4"),
    ],
)
def test_calendar_spreads(accounts: dict[str, dict[str, Any]], account: str, example: str) -> None:
    # CME Group, "SPAN margin: spread calculations" (cmegroup.com/clearing/margins/
    # spread-calc.html) [P]: outrights M2 $500, M3 $500, M4 $750; intra charges 2v3
    # $200, 2v4 $50, 3v4 $0.
    check(example, accounts[account]["netted"])


def test_the_table_shows_the_figures(run_cli: Any) -> None:
    res = run_cli(*ARGS)
    assert res.code == 0, res.err
    assert "2,840" in res.out


def test_a_params_file_with_an_unknown_spread_method_is_refused(
    run_cli: Any, tmp_path: Path
) -> None:
    data = json.loads((EXAMPLES / "span_cme_treasuries.json").read_text(encoding="utf-8"))
    data["inter_spreads"][0]["method"] = "scan"
    bad = tmp_path / "span_bad.json"
    bad.write_text(json.dumps(data), encoding="utf-8")
    args = list(ARGS)
    args[args.index("--params") + 1] = str(bad)
    res = run_cli(*args)
    assert res.code != 0
    assert "'inter_spreads[0].method' is 'scan'; accepted: 'delta' or 'scanning'" in res.err
    assert "Traceback" not in res.err + res.out
