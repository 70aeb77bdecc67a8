"""Book files: CSV/JSON/Parquet round trips and one SchemaError listing every bad row."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crossmargin.errors import InputError, SchemaError
from crossmargin.instruments import parse_symbol
from crossmargin.portfolio import (
    Portfolio,
    Position,
    load_portfolio,
    parse_rows,
    portfolio_records,
    save_portfolio,
)

SYMBOLS = (
    "SPY",
    "ESZ25",
    "BTC-PERPETUAL",
    "BTC-27MAR26-100000-C",
    "SPY   260320P00600000",
    "ESZ25 C6000",
    "BTC_USDC",
)


def _book() -> Portfolio:
    rows = [
        ("acc-1", "SPY", 100.0, 598.25, "t1"),
        ("acc-1", "ESZ25", -2.0, 6012.5, None),
        ("acc 2", "BTC-27MAR26-100000-C", 1.5, 0.0425, "t3"),
        ("acc 2", "SPY   260320P00600000", -10.0, None, "t4"),
        ("acc-1", "SPY", -40.0, 601.0, "t5"),
        ("acc3", "BTC-PERPETUAL", 12345.0, None, None),
    ]
    return Portfolio.from_positions(
        Position(
            account=a,
            instrument=parse_symbol(s, reference_year=2025),
            quantity=q,
            trade_price=p,
            position_id=i,
        )
        for a, s, q, p, i in rows
    )


def _key(book: Portfolio) -> list[tuple]:
    return [(r["account"], r["symbol"], r["quantity"], r["trade_price"], r["position_id"])
            for r in portfolio_records(book)]  # fmt: skip


# --------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("suffix", [".csv", ".json", ".parquet", ".pq"])
def test_round_trip(tmp_path: Path, suffix: str) -> None:
    book = _book()
    (path,) = save_portfolio(book, tmp_path / f"book{suffix}")
    back = load_portfolio(path, reference_year=2025)
    assert _key(back) == _key(book)
    assert back.raw == book.raw  # the instruments resolve identically too
    assert back.positions == book.positions
    assert back.source == str(path)


_qty = st.floats(-1e9, 1e9, allow_nan=False, allow_infinity=False)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rows=st.lists(
        st.tuples(st.sampled_from(["a", "b", "c"]), st.sampled_from(SYMBOLS), _qty),
        min_size=1,
        max_size=10,
    ),
    suffix=st.sampled_from([".csv", ".json", ".parquet"]),
)
def test_round_trip_keeps_every_float(
    tmp_path: Path, rows: list[tuple[str, str, float]], suffix: str
) -> None:
    book = Portfolio.from_positions(
        Position(account=a, instrument=parse_symbol(s, reference_year=2025), quantity=q)
        for a, s, q in rows
    )
    (path,) = save_portfolio(book, tmp_path / f"h{suffix}")
    assert [p.quantity for p in load_portfolio(path, reference_year=2025).raw] == [
        q for _, _, q in rows
    ]


def test_records_netted_view() -> None:
    recs = portfolio_records(_book(), raw=False)
    assert (recs[0]["account"], recs[0]["symbol"], recs[0]["quantity"]) == ("acc-1", "SPY", 60.0)
    assert len(recs) == 5  # six raw rows, the two SPY rows of acc-1 netted
    assert recs[0]["position_id"] == "t1+t5"


def test_json_list_form_and_columns_case_insensitive(tmp_path: Path) -> None:
    path = tmp_path / "b.json"
    rows = [
        {"Account": "A", "SYMBOL": "spy", "Quantity": "3"},
        {"Account": "A", "SYMBOL": "SPY", "Quantity": 2},
    ]
    path.write_text(json.dumps(rows), encoding="utf-8")
    book = load_portfolio(path)
    assert [(p.account, p.symbol, p.quantity) for p in book.positions] == [("A", "SPY", 5.0)]


def test_csv_spaces_and_case(tmp_path: Path) -> None:
    path = tmp_path / "b.csv"
    path.write_text(
        "Account, Symbol, Quantity, Trade_Price\nA, ESZ5 C6000, -1, 12.5\n", encoding="utf-8"
    )
    (p,) = load_portfolio(path, reference_year=2025).raw
    assert (p.account, p.symbol, p.quantity, p.trade_price) == ("A", "ESZ5 C6000", -1.0, 12.5)
    assert p.instrument.strike == 6000.0


def test_unknown_and_case_variant_columns_are_errors(tmp_path: Path) -> None:
    """A misspelt column would silently drop its values; a column given twice would be read
    once: both are refused, naming file, row and column, and nothing is loaded."""
    typo = tmp_path / "typo.csv"
    typo.write_text("account,symbol,quantity,trade_prce\nA,SPY,10,500\nA,QQQ,1,400\n")
    with pytest.raises(SchemaError) as err:
        load_portfolio(typo)
    (issue,) = err.value.issues
    assert (issue.source, issue.row, issue.column) == (str(typo), 2, "trade_prce")
    assert "unknown column" in issue.reason
    twice = tmp_path / "twice.json"
    twice.write_text(json.dumps([{"account": "A", "symbol": "SPY", "quantity": 1, "Quantity": 2}]))
    with pytest.raises(SchemaError, match=r"column given 2 times \('quantity', 'Quantity'\)"):
        load_portfolio(twice)


# --------------------------------------------------------------------------- every bad row

BAD_CSV = """account,symbol,quantity,trade_price,position_id
A,SPY,10,,p1
A,SPY,ten,,p2
A,NOPE-PERPETUAL,1,,p3
A,SPY,1,,p1
,SPY,1,,p5
B,SPY,,abc,p6
B,SPY,5,600,p7
"""


def test_every_bad_row_in_one_schema_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(BAD_CSV, encoding="utf-8")
    with pytest.raises(SchemaError) as info:
        load_portfolio(path)
    err = info.value
    found = [(i.row, i.column, i.value) for i in err.issues]
    # CSV header is row 1, so the first data row is row 2.
    assert found == [
        (3, "quantity", "ten"),  # non-numeric quantity
        (4, "symbol", "NOPE-PERPETUAL"),  # unknown root
        (5, "position_id", "p1"),  # duplicate id (first used on row 2)
        (6, "account", None),  # empty account
        (7, "trade_price", "abc"),  # non-numeric trade price
        (7, "quantity", ""),  # missing quantity
    ]
    assert all(i.source == str(path) for i in err.issues)
    assert "first used on row 2" in err.issues[2].reason
    assert "no deribit perpetual with root 'NOPE'" in err.issues[1].reason
    text = str(err)
    assert text.startswith(f"6 bad entries in {path}; nothing loaded:")
    assert f"{path}, row 3, column 'quantity': not a number (value 'ten')" in text
    assert isinstance(err, InputError)


def test_bad_rows_in_json_and_parquet_count_from_one(tmp_path: Path) -> None:
    rows = [
        {"account": "A", "symbol": "SPY", "quantity": 1},
        {"account": "A", "symbol": "SPY", "quantity": "x"},
        {"account": "A", "symbol": "ZZZZZZZ", "quantity": 1},
    ]
    jpath = tmp_path / "b.json"
    jpath.write_text(json.dumps({"positions": rows}), encoding="utf-8")
    with pytest.raises(SchemaError) as info:
        load_portfolio(jpath)
    assert [(i.row, i.column) for i in info.value.issues] == [(2, "quantity"), (3, "symbol")]
    ppath = tmp_path / "b.parquet"
    pd.DataFrame({k: [str(r[k]) for r in rows] for k in rows[0]}).to_parquet(ppath)
    with pytest.raises(SchemaError) as info:
        load_portfolio(ppath)
    assert [(i.row, i.column) for i in info.value.issues] == [(2, "quantity"), (3, "symbol")]


@pytest.mark.parametrize(
    ("value", "bad"),
    [(True, True), ("inf", True), ("nan", True), ([1], True), ("1e3", False), (" 7 ", False)],
)
def test_quantity_values(tmp_path: Path, value: object, bad: bool) -> None:
    rows = [{"account": "A", "symbol": "SPY", "quantity": value}]
    if bad:
        with pytest.raises(SchemaError, match=r"not a (finite )?number"):
            parse_rows(rows, source="mem")
    else:
        assert parse_rows(rows, source="mem").raw[0].quantity == float(str(value))


def test_missing_columns_reported_together(tmp_path: Path) -> None:
    path = tmp_path / "b.csv"
    path.write_text("acct,symbol\nA,SPY\n", encoding="utf-8")
    with pytest.raises(SchemaError) as info:
        load_portfolio(path)
    assert [(i.column, i.reason) for i in info.value.issues] == [
        ("account", "required column is missing"),
        ("quantity", "required column is missing"),
    ]
    assert all(i.row is None for i in info.value.issues)


def test_good_rows_not_loaded_when_any_row_is_bad() -> None:
    rows = [{"account": "A", "symbol": "SPY", "quantity": 1}] * 3 + [
        {"account": "A", "symbol": "SPY", "quantity": "?"}
    ]
    with pytest.raises(SchemaError, match="1 bad entry in mem; nothing loaded"):
        parse_rows(rows, source="mem")


def test_row_numbers_survive_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "b.csv"
    path.write_text("account,symbol,quantity\nA,SPY,1\n\nA,XXXXXXX,1\n", encoding="utf-8")
    with pytest.raises(SchemaError) as info:
        load_portfolio(path)
    assert info.value.issues[0].row == 4  # the bad line is line 4 of the file


def test_numeric_account_zero_is_not_empty() -> None:
    book = parse_rows([{"account": 0, "symbol": "SPY", "quantity": 1}], source="mem")
    assert book.accounts == ("0",)


# --------------------------------------------------------------------------- file-level errors


def test_file_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"unsupported file type \.xlsx"):
        load_portfolio(tmp_path / "b.xlsx")
    with pytest.raises(InputError, match="not found"):
        load_portfolio(tmp_path / "missing.csv")
    empty = tmp_path / "empty.csv"
    empty.write_text("", encoding="utf-8")
    with pytest.raises(InputError, match="is empty"):
        load_portfolio(empty)
    header_only = tmp_path / "header.csv"
    header_only.write_text("account,symbol,quantity\n", encoding="utf-8")
    with pytest.raises(InputError, match="the book has no positions"):
        load_portfolio(header_only)
    bad_json = tmp_path / "b.json"
    bad_json.write_text("{not json", encoding="utf-8")
    with pytest.raises(InputError, match="not valid JSON"):
        load_portfolio(bad_json)
    shape = tmp_path / "s.json"
    shape.write_text(json.dumps({"rows": []}), encoding="utf-8")
    with pytest.raises(InputError, match="expected a list of position objects"):
        load_portfolio(shape)
    bad_pq = tmp_path / "b.parquet"
    bad_pq.write_bytes(b"not parquet")
    with pytest.raises(InputError, match="cannot read as Parquet"):
        load_portfolio(bad_pq)
    with pytest.raises(InputError, match="unsupported file type"):
        save_portfolio(_book(), tmp_path / "out.txt")
