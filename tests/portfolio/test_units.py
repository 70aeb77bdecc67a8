"""Quantity units of book rows: usd / coin converted exactly to contracts, refused where a price
would be needed, and kept on the position so books round-trip."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from crossmargin.config import find_data_dir
from crossmargin.errors import InputError, SchemaError
from crossmargin.instruments import parse_symbol
from crossmargin.models import get_model
from crossmargin.portfolio import Portfolio, Position, load_portfolio, parse_rows, save_portfolio
from crossmargin.portfolio.units import accepted_units, to_contracts

needs_data = pytest.mark.skipif(find_data_dir() is None, reason="shared market history not found")


def _rows(*rows: tuple[str, str, float, str]) -> list[dict[str, object]]:
    return [{"account": a, "symbol": s, "quantity": q, "quantity_unit": u} for a, s, q, u in rows]


@pytest.mark.parametrize(
    ("symbol", "amount", "unit", "contracts"),
    [
        # contracts.csv: BTC-PERPETUAL is 10 USD face per contract -> 10,000 / 10
        ("BTC-PERPETUAL", 10_000.0, "usd", 1_000.0),
        # ETH-PERPETUAL is 1 USD face -> 2,500 / 1
        ("ETH-PERPETUAL", 2_500.0, "usd", 2_500.0),
        # BTC_USDC-PERPETUAL is 0.001 BTC -> 1.5 / 0.001
        ("BTC_USDC-PERPETUAL", 1.5, "coin", 1_500.0),
        # CME Micro Bitcoin is 0.1 BTC -> 0.35 / 0.1 (in floats 3.4999999999999996)
        ("MBTH6", 0.35, "coin", 3.5),
        # Deribit inverse option: 1 BTC per contract
        ("BTC-27MAR26-100000-C", -2.0, "coin", -2.0),
        # Deribit linear option: 0.01 BTC per contract -> 0.07 / 0.01 (in floats 7.000000000000001)
        ("BTC_USDC-27MAR26-100000-P", 0.07, "coin", 7.0),
        # spot BTC against USDC: 1 BTC per unit
        ("BTC_USDC", 0.3, "coin", 0.3),
        ("SPY", 100.0, "contracts", 100.0),
    ],
)
def test_exact_conversion_to_contracts(
    symbol: str, amount: float, unit: str, contracts: float
) -> None:
    book = parse_rows(_rows(("a", symbol, amount, unit)), source="t", reference_year=2026)
    (pos,) = book.raw
    assert pos.quantity == contracts  # exact, not approximately
    assert pos.booked_quantity == amount
    assert pos.quantity_unit == unit


def test_float_division_is_not_what_is_used() -> None:
    # The reason for the exact conversion: plain float division is off by an ulp here.
    assert 0.07 / 0.01 != 7.0
    assert 0.35 / 0.1 != 3.5
    inst = parse_symbol("MBTH6", reference_year=2026)
    assert to_contracts(0.35, "coin", inst) == 3.5


def test_units_follow_the_meaning_of_the_multiplier() -> None:
    units = {
        s: accepted_units(parse_symbol(s, reference_year=2026).spec)
        for s in ("BTC-PERPETUAL", "BTC-27MAR26", "BTC-27MAR26-100000-C", "BTC_USDC-PERPETUAL",
                  "MBTH6", "ESH6", "SPY", "SPY   260320P00600000")
    }  # fmt: skip
    assert units == {
        "BTC-PERPETUAL": ("contracts", "usd"),  # USD face per contract
        "BTC-27MAR26": ("contracts", "usd"),
        "BTC-27MAR26-100000-C": ("contracts", "coin"),  # coins per contract
        "BTC_USDC-PERPETUAL": ("contracts", "coin"),
        "MBTH6": ("contracts", "coin"),
        "ESH6": ("contracts",),  # 50 USD x index: USD would need the index level
        "SPY": ("contracts",),
        "SPY   260320P00600000": ("contracts",),
    }


@pytest.mark.parametrize(
    ("symbol", "unit", "accepts"),
    [
        ("BTC_USDC-PERPETUAL", "usd", "contracts, coin"),  # USD of a linear contract
        ("BTC-PERPETUAL", "coin", "contracts, usd"),  # coins of an inverse perpetual
        ("BTC-27MAR26", "coin", "contracts, usd"),  # coins of an inverse future
        ("BTC-27MAR26-100000-C", "usd", "contracts, coin"),  # USD of an inverse option
        ("SPY", "coin", "contracts"),  # an equity product
        ("ESH6", "usd", "contracts"),
    ],
)
def test_combinations_needing_a_price_are_refused(
    tmp_path: Path, symbol: str, unit: str, accepts: str
) -> None:
    path = tmp_path / "book.csv"
    path.write_text(
        f"account,symbol,quantity,quantity_unit\nok,SPY,1,\nbad,{symbol},5,{unit}\n",
        encoding="utf-8",
    )
    with pytest.raises(SchemaError) as info:
        load_portfolio(path, reference_year=2026)
    assert "nothing loaded" in str(info.value).splitlines()[0]
    (issue,) = info.value.issues
    assert (issue.source, issue.row, issue.column, issue.value) == (
        str(path),
        3,
        "quantity_unit",
        unit,
    )
    line = str(issue)
    assert "\n" not in line
    assert line.startswith(f"{path}, row 3, column 'quantity_unit': {symbol}")
    assert f"it accepts {accepts}" in line
    assert f"(value {unit!r})" in line


def test_unknown_unit_is_an_error() -> None:
    with pytest.raises(SchemaError) as info:
        parse_rows(_rows(("a", "BTC-PERPETUAL", 1.0, "lots")), source="book.json")
    (issue,) = info.value.issues
    assert issue.column == "quantity_unit"
    assert issue.value == "lots"
    assert "unknown quantity unit 'lots'; use contracts, usd, coin" in issue.reason


def test_unit_is_case_insensitive_and_blank_means_contracts() -> None:
    book = parse_rows(
        _rows(("a", "BTC-PERPETUAL", 100.0, " USD "), ("a", "SPY", 3.0, "")), source="t"
    )
    assert [(p.quantity, p.quantity_unit) for p in book.raw] == [(10.0, "usd"), (3.0, "contracts")]


def test_a_position_checks_its_conversion() -> None:
    inst = parse_symbol("BTC-PERPETUAL")
    ok = Position(account="a", instrument=inst, quantity=1000.0, input_quantity=10_000.0,
                  quantity_unit="usd")  # fmt: skip
    assert ok.booked_quantity == 10_000.0
    with pytest.raises(InputError, match="10000 usd is not 999 contracts"):
        Position(account="a", instrument=inst, quantity=999.0, input_quantity=10_000.0,
                 quantity_unit="usd")  # fmt: skip
    with pytest.raises(InputError, match="accepts contracts, usd"):
        Position(account="a", instrument=inst, quantity=1.0, input_quantity=1.0,
                 quantity_unit="coin")  # fmt: skip


def _mixed() -> Portfolio:
    rows = [
        {"account": "a", "symbol": "BTC-PERPETUAL", "quantity": 10_000.0, "quantity_unit": "usd"},
        {"account": "a", "symbol": "BTC_USDC-PERPETUAL", "quantity": 1.5, "quantity_unit": "coin",
         "trade_price": 70_000.0, "position_id": "p2"},
        {"account": "b", "symbol": "BTC-27MAR26-100000-C", "quantity": -0.7,
         "quantity_unit": "coin"},
        {"account": "b", "symbol": "ESH26", "quantity": -2.0},
        {"account": "b", "symbol": "MBTH6", "quantity": 0.35, "quantity_unit": "coin"},
    ]  # fmt: skip
    return parse_rows(rows, source="mixed", reference_year=2026)


@pytest.mark.parametrize("suffix", [".csv", ".json", ".parquet"])
def test_mixed_unit_book_round_trips(tmp_path: Path, suffix: str) -> None:
    book = _mixed()
    (path,) = save_portfolio(book, tmp_path / f"mixed{suffix}")
    back = load_portfolio(path, reference_year=2026)
    assert back.raw == book.raw  # instruments, contracts, input quantities and units
    assert [(p.booked_quantity, p.quantity_unit) for p in back.raw] == [
        (10_000.0, "usd"), (1.5, "coin"), (-0.7, "coin"), (-2.0, "contracts"), (0.35, "coin"),
    ]  # fmt: skip
    assert [p.quantity for p in back.raw] == [1_000.0, 1_500.0, -0.7, -2.0, 3.5]


def test_saved_file_states_the_unit_of_each_row(tmp_path: Path) -> None:
    (csv_file,) = save_portfolio(_mixed(), tmp_path / "mixed.csv")
    frame = pd.read_csv(csv_file)
    assert list(frame.columns) == [
        "account", "symbol", "quantity", "quantity_unit", "trade_price", "position_id", "venue",
    ]  # fmt: skip
    assert frame["quantity"].tolist() == [10_000.0, 1.5, -0.7, -2.0, 0.35]
    assert frame["quantity_unit"].tolist() == ["usd", "coin", "coin", "contracts", "coin"]
    doc = json.loads(save_portfolio(_mixed(), tmp_path / "mixed.json")[0].read_text("utf-8"))
    assert doc["positions"][0] == {
        "account": "a", "symbol": "BTC-PERPETUAL", "quantity": 10_000.0, "quantity_unit": "usd",
        "trade_price": None, "position_id": None, "venue": None,
    }  # fmt: skip


def test_rows_of_several_units_net_in_contracts() -> None:
    book = parse_rows(
        _rows(("a", "BTC-PERPETUAL", 10_000.0, "usd"), ("a", "BTC-PERPETUAL", 500.0, "contracts")),
        source="t",
    )
    (net,) = book.positions
    assert (net.quantity, net.quantity_unit, net.input_quantity) == (1_500.0, "contracts", None)


@needs_data
@pytest.mark.parametrize("model", ["rules", "span", "pm_grid", "es", "hvar"])
def test_usd_face_margins_as_the_same_contracts_under_every_model(model: str) -> None:
    from crossmargin import api

    in_usd = parse_rows(_rows(("a", "BTC-PERPETUAL", 10_000.0, "usd")), source="usd")
    in_contracts = parse_rows(_rows(("a", "BTC-PERPETUAL", 1_000.0, "contracts")), source="c")
    market = api.market_for(in_contracts, asof="2026-02-11")
    chosen = get_model(model)
    usd = chosen.compute(in_usd, market).to_dict()
    contracts = chosen.compute(in_contracts, market).to_dict()
    assert usd["total"] > 0
    assert usd["total"] == contracts["total"]
    assert usd["accounts"] == contracts["accounts"]
    assert usd["positions"][0]["quantity"] == 1_000.0
    assert usd["positions"][0]["quantity_unit"] == "contracts"
