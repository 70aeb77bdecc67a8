"""Collateral, offsets, venue groups and what-if at the CLI: contracts and bad input.

Every bad input is one line on stderr naming the file, the row or key and the value, exit
code 2 (input error), nothing on stdout and no traceback.
"""

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
ASOF = "2026-02-11"


def _one_line_error(res: Any, *needles: str) -> None:
    assert res.code == 2, (res.code, res.err)
    assert res.out == ""
    assert "Traceback" not in res.err
    lines = [line for line in res.err.strip().splitlines() if line.strip()]
    text = " ".join(lines)
    for needle in needles:
        assert needle in text, (needle, res.err)


@pytest.fixture
def sample(tmp_path: Path, run_cli: Run) -> tuple[Path, Path]:
    res = run_cli("sample", "--out", str(tmp_path / "book.csv"), "--json")
    assert res.code == 0, res.err
    out = json.loads(res.out)
    return Path(out["path"]), Path(out["collateral_path"])


def test_sample_writes_its_collateral_beside_a_csv_book(sample: tuple[Path, Path]) -> None:
    book, held = sample
    assert held.name == "book_collateral.csv"
    loaded = api.load_book(book, collateral=held)
    shipped = api.sample_book()
    assert loaded.collateral == shipped.collateral
    assert [(p.account, p.symbol, p.quantity) for p in loaded.raw] == [
        (p.account, p.symbol, p.quantity) for p in shipped.raw
    ]


@needs_data
def test_margin_json_states_equity_tiers_and_units(run_cli: Run, sample: tuple[Path, Path]) -> None:
    book, held = sample
    res = run_cli("margin", str(book), "--collateral", str(held), "--model", "span",
                  "--asof", ASOF, "--no-store", "--json")  # fmt: skip
    assert res.code == 0, res.err
    data = json.loads(res.out)
    assert data["units"]["money"].startswith("USD")
    assert data["offsets"]["name"] == "emir"
    for acc in data["accounts"]:
        eq = acc["equity"]
        assert eq["equity"] == pytest.approx(eq["collateral_after_haircut"] + eq["mtm"])
        assert eq["excess"] == pytest.approx(eq["equity"] - acc["total"])
        assert [t["tier"] for t in acc["tiers"]] == [
            "position", "product", "underlying", "asset-class", "netting-set",
        ]  # fmt: skip
        assert acc["tiers"][-1]["capped"] == pytest.approx(acc["total"])


@needs_data
def test_what_if_cli_matches_the_api(run_cli: Run, sample: tuple[Path, Path]) -> None:
    book, held = sample
    res = run_cli("what-if", str(book), "--collateral", str(held), "--account",
                  "gamma-xasset", "--trade", "ESH26:1@6950", "--cash", "1000", "--asof", ASOF,
                  "--json")  # fmt: skip
    assert res.code == 0, res.err
    data = json.loads(res.out)
    portfolio = api.load_book(book, collateral=held)
    market = api.market_for(portfolio, asof=ASOF)
    want = api.what_if(portfolio, "gamma-xasset",
                       [{"symbol": "ESH26", "quantity": 1, "trade_price": 6950.0}], market,
                       "span", collateral=1000.0)  # fmt: skip
    assert data["margin_after"] == pytest.approx(want.after_total, rel=1e-12)
    assert data["equity_after"] == pytest.approx(want.equity_after, rel=1e-12)
    assert data["excess"] == pytest.approx(want.excess, rel=1e-12)
    assert data["units"]["money"].startswith("USD")
    table = run_cli("what-if", str(book), "--collateral", str(held), "--account",
                    "gamma-xasset", "--trade", "ESH26:1@6950", "--asof", ASOF)  # fmt: skip
    assert table.code == 0, table.err
    assert "margin ratio (equity / MM)" in table.out


@needs_data
def test_cross_margin_declaration_splits_accounts_into_netting_sets(
    run_cli: Run, sample: tuple[Path, Path]
) -> None:
    book, held = sample
    res = run_cli("margin", str(book), "--collateral", str(held), "--model", "span",
                  "--asof", ASOF, "--no-store", "--json", "--cross-margin", "none")  # fmt: skip
    assert res.code == 0, res.err
    sets = {a["account"]: a for a in json.loads(res.out)["accounts"]}
    assert "beta-macro@cme" in sets
    assert "beta-macro@occ" in sets
    # each venue's netting set equals the account's positions at that venue margined alone
    portfolio = api.load_book(book, collateral=held)
    market = api.market_for(portfolio, asof=ASOF)
    cme = [
        p for p in portfolio.raw if p.account == "beta-macro" and p.instrument.spec.style == "cme"
    ]
    from crossmargin.portfolio import Portfolio

    alone = Portfolio.from_positions(
        cme,
        collateral=[
            h for h in portfolio.collateral if h.account == "beta-macro" and h.venue == "cme"
        ],
    )
    want = api.margin(alone, market, "span").accounts[0]
    assert sets["beta-macro@cme"]["total"] == pytest.approx(want.total, rel=1e-12)
    assert sets["beta-macro@cme"]["equity"]["collateral_value"] == pytest.approx(150_000.0)


# ------------------------------------------------------------------------- bad input
def test_collateral_row_in_an_unknown_currency(run_cli: Run, tmp_path: Path) -> None:
    book = tmp_path / "book.csv"
    book.write_text("account,symbol,quantity\na,SPY,10\n")
    held = tmp_path / "held.csv"
    held.write_text("account,asset,amount,venue\na,USD,1000,\na,XYZ,5,\n")
    res = run_cli("margin", str(book), "--collateral", str(held), "--model", "rules",
                  "--market", "unused.json")  # fmt: skip
    _one_line_error(res, str(held), "row 3", "asset", "XYZ", "unknown collateral asset")


def test_collateral_amount_not_a_number_and_unknown_column(run_cli: Run, tmp_path: Path) -> None:
    book = tmp_path / "book.csv"
    book.write_text("account,symbol,quantity\na,SPY,10\n")
    held = tmp_path / "held.csv"
    held.write_text("account,asset,amount,haircut\na,USD,lots,0.1\n")
    res = run_cli("margin", str(book), "--collateral", str(held), "--market", "unused.json")
    assert res.code == 2
    assert "haircut" in res.err
    assert "unknown column" in res.err
    assert "Traceback" not in res.err


@pytest.mark.parametrize(
    ("patch", "needles"),
    [({"kinds": {"coin": 1.0}}, ("venues.house.kinds.coin", "1.0", "[0, 1)")),
     ({"kinds": {"security": -0.1}}, ("venues.house.kinds.security", "-0.1")),
     ({"assets": {"USDe": 1.5}}, ("venues.house.assets.USDe", "1.5")),
     ({"haircut": 0.1}, ("unknown key", "haircut"))],
)  # fmt: skip
def test_haircut_outside_the_unit_interval_or_unknown_key(
    run_cli: Run, tmp_path: Path, patch: dict[str, Any], needles: tuple[str, ...]
) -> None:
    from importlib import resources

    doc = json.loads(resources.files("crossmargin").joinpath("data/haircuts.json").read_text())
    house = doc["venues"]["house"]
    for key, value in patch.items():
        if isinstance(value, dict):
            house[key] = {**house[key], **value}
        else:
            house[key] = value
    bad = tmp_path / "haircuts.json"
    bad.write_text(json.dumps(doc))
    book = tmp_path / "book.csv"
    book.write_text("account,symbol,quantity\na,SPY,10\n")
    market = tmp_path / "m.json"
    res = run_cli("margin", str(book), "--haircuts", str(bad), "--model", "rules",
                  "--market", str(market))  # fmt: skip
    _one_line_error(res, str(bad), *needles)


def test_bad_cross_margin_and_unknown_book_key(run_cli: Run, tmp_path: Path) -> None:
    book = tmp_path / "book.json"
    book.write_text(json.dumps({"positions": [{"account": "a", "symbol": "SPY", "quantity": 1}],
                                "collateral": [], "crossmargin": "all"}))  # fmt: skip
    res = run_cli("margin", str(book), "--market", "unused.json")
    _one_line_error(res, str(book), "unknown key 'crossmargin'")
    good = tmp_path / "good.json"
    good.write_text(json.dumps({"positions": [{"account": "a", "symbol": "SPY", "quantity": 1}]}))
    res = run_cli("margin", str(good), "--cross-margin", "cme+occ,cme", "--market", "unused.json")
    _one_line_error(res, "--cross-margin", "'cme' is in two groups")


def test_what_if_bad_trades(run_cli: Run, sample: tuple[Path, Path]) -> None:
    book, _ = sample
    res = run_cli("what-if", str(book), "--account", "gamma-xasset", "--trade", "ESH26",
                  "--market", "unused.json")  # fmt: skip
    _one_line_error(res, "--trade 'ESH26'", "SYMBOL:QUANTITY")
    res = run_cli("what-if", str(book), "--account", "gamma-xasset", "--trade", "ESH26:one",
                  "--market", "unused.json")  # fmt: skip
    _one_line_error(res, "--trade 'ESH26:one'", "must be numbers")
    res = run_cli("what-if", str(book), "--account", "nobody", "--trade", "ESH26:1",
                  "--market", "unused.json")  # fmt: skip
    _one_line_error(res, "unknown account 'nobody'")
