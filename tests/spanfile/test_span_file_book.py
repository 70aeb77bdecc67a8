"""``--model span --params FILE.spn|.pa2``: a book margined with a SPAN file's risk arrays.

Fixtures: the hand-built ``tests/reference/span/cme_treasuries.pa2`` and ``.spn`` (see
test_span_files.py; no real CME file can be downloaded here), the Treasury futures of
``examples/contracts_sol_eth_treasuries.json`` and the snapshot
``examples/market_cme_treasuries.json`` (NOV and FX only: the arrays come from the file).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from crossmargin.errors import InputError, ModelError
from crossmargin.models.span import SpanModel
from crossmargin.spanfile import read_spn
from crossmargin.spanfile.book import contract_rows
from published import check

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "reference" / "span"
EXAMPLES = ROOT / "examples"


def _args(book: Path, params: Path) -> tuple[str, ...]:
    return (
        "margin", str(book), "--model", "span", "--params", str(params),
        "--market", str(EXAMPLES / "market_cme_treasuries.json"),
        "--contracts", str(EXAMPLES / "contracts_sol_eth_treasuries.json"),
        "--offsets", "none", "--no-store",
    )  # fmt: skip


def _book(tmp_path: Path, rows: str) -> Path:
    path = tmp_path / "book.csv"
    path.write_text("account,symbol,quantity\n" + rows, encoding="utf-8")
    return path


@pytest.mark.parametrize("suffix", [".pa2", ".spn"])
def test_the_cli_margins_a_book_from_the_file(run_cli: Any, tmp_path: Path, suffix: str) -> None:
    book = _book(tmp_path, "bond-spread,ZBH26,2\nbond-spread,ZNH26,-3\nlong-bond,ZBH26,1\n")
    res = run_cli(*_args(book, FIXTURES / f"cme_treasuries{suffix}"), "--json")
    assert res.code == 0, res.err
    payload = json.loads(res.out)
    accounts = {a["account"]: a for a in payload["accounts"]}
    # CME Group, "SPAN margin: spread calculations" (cmegroup.com/clearing/margins/
    # spread-calc.html) [P]: +2 30Yr / -3 10Yr scanned together at 70 % = $2,840, with the
    # file's arrays (outrights 3,100 and 1,600 typed into the fixture) and its sSpread record.
    check("cme-scanning-30y-10y", accounts["bond-spread"]["netted"])
    assert accounts["bond-spread"]["components"]["scan_risk"] == pytest.approx(11_000.0)
    assert accounts["long-bond"]["netted"] == pytest.approx(3_100.0)  # the ZB array's worst
    assert accounts["long-bond"]["worst_scenario"] == "ZB -3/3 vol up"
    assert payload["parameters"]["business_date"] == "20260115"
    assert payload["parameters"]["inter_spreads"][0]["method"] == "scanning"


def test_a_contract_missing_from_the_file_is_named(run_cli: Any, tmp_path: Path) -> None:
    book = _book(tmp_path, "a,ZBH26,2\nb,ZFH26,1\nb,ZNM26,1\n")
    res = run_cli(*_args(book, FIXTURES / "cme_treasuries.spn"))
    assert res.code != 0
    err = " ".join(res.err.split())  # rich wraps long lines
    assert "cme_treasuries.spn has no risk array for ZFH26 (future ZF 202603)" in err
    assert "ZNM26 (future ZN 202606)" in err
    assert "Traceback" not in res.err + res.out


def test_a_malformed_file_is_an_input_error_naming_the_line(run_cli: Any, tmp_path: Path) -> None:
    text = (FIXTURES / "cme_treasuries.spn").read_text(encoding="utf-8")
    bad = tmp_path / "cut.spn"
    bad.write_text(text[: text.index("<a>-1033</a>")], encoding="utf-8")
    res = run_cli(*_args(_book(tmp_path, "a,ZBH26,1\n"), bad))
    assert res.code != 0
    assert "not well-formed XML inside <ra>" in res.err
    assert "line " in res.err
    assert "Traceback" not in res.err + res.out


def test_overrides_do_not_apply_to_file_arrays() -> None:
    with pytest.raises(InputError, match="do not apply to the risk arrays"):
        SpanModel(FIXTURES / "cme_treasuries.spn", price_scan_range=0.1)


def _inst(root: str, kind: str, month: int, right: str = "", strike: float | None = None) -> Any:
    return SimpleNamespace(
        symbol=f"{root}-{kind}",
        kind=kind,
        spec=SimpleNamespace(root=root),
        expiry=datetime(2026, month, 20, tzinfo=UTC),
        is_call=right == "C",
        strike=strike,
    )


def test_options_are_found_by_right_and_strike() -> None:
    data = read_spn(FIXTURES / "cme_treasuries.spn")
    # The fixture's OZN March 2026 112 call is its third contract (line order of the file).
    call = _inst("OZN", "option", 3, "C", 112.0)
    assert contract_rows(data, (call, _inst("ZB", "future", 3))) == [2, 0]
    for wrong in (
        _inst("OZN", "option", 3, "P", 112.0),  # a put
        _inst("OZN", "option", 3, "C", 113.0),  # another strike
        _inst("OZN", "option", 6, "C", 112.0),  # another month
        _inst("OZN", "future", 3),  # an option product is not a future
    ):
        with pytest.raises(ModelError, match="has no risk array for OZN"):
            contract_rows(data, (wrong,))


def test_an_account_margins_the_same_alone_and_in_the_book(run_cli: Any, tmp_path: Path) -> None:
    rows = ["bond-spread,ZBH26,2\nbond-spread,ZNH26,-3\n", "long-bond,ZBH26,1\n",
            "short-note,ZNH26,-2\nshort-note,ZBH26,-1\n"]  # fmt: skip

    def netted(text: str) -> dict[str, float]:
        res = run_cli(*_args(_book(tmp_path, text), FIXTURES / "cme_treasuries.pa2"), "--json")
        assert res.code == 0, res.err
        return {a["account"]: a["netted"] for a in json.loads(res.out)["accounts"]}

    together, reverse = netted("".join(rows)), netted("".join(reversed(rows)))
    for text in rows:
        ((account, alone),) = netted(text).items()
        assert together[account] == pytest.approx(alone, rel=1e-12)
        assert reverse[account] == pytest.approx(alone, rel=1e-12)
