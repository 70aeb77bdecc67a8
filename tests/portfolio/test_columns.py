"""The columnar book loader against the row-by-row twin (``rowwise.py``): the same positions
from good books, the same issues (file, row, column, value, reason; same order) from bad
ones, in every file format and from row mappings of mixed types."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rowwise import parse_rows_slowly

from crossmargin import api
from crossmargin.errors import InputError, SchemaError
from crossmargin.portfolio import Portfolio, load_portfolio, parse_rows, save_portfolio
from crossmargin.portfolio.columns import distinct, parse_columns, raw_rows
from crossmargin.portfolio.io import read_book, read_records


def _positions(book: Portfolio) -> list[tuple[Any, ...]]:
    """Every field of every raw position (the symbol as spelled too)."""
    return [
        (p.account, p.symbol, p.instrument, p.quantity, p.trade_price, p.position_id, p.venue,
         p.input_quantity, p.quantity_unit)
        for p in book.raw
    ]  # fmt: skip


def _outcome(load: Any) -> tuple[str, Any]:
    """What a loader gives: its positions, or its issues (values by repr: NaN is a value)."""
    try:
        book = load()
    except SchemaError as bad:
        return "issues", (
            [(i.source, i.row, i.column, i.reason, repr(i.value)) for i in bad.issues],
            str(bad),
        )
    except InputError as bad:
        return "error", str(bad)
    return "book", (_positions(book), book.positions == book.positions)


def _both(path: Path) -> tuple[tuple[str, Any], tuple[str, Any]]:
    """(columnar loader, row twin on the row records) of a book file."""

    def slow() -> Portfolio:
        rows, numbers = read_records(path)
        return parse_rows_slowly(rows, source=str(path), row_numbers=numbers, reference_year=2025)

    return _outcome(lambda: load_portfolio(path, reference_year=2025)), _outcome(slow)


@pytest.mark.parametrize("suffix", [".csv", ".json", ".parquet"])
def test_sample_book_loads_as_the_row_loader_loads_it(tmp_path: Path, suffix: str) -> None:
    (path,) = save_portfolio(api.sample_book().without_collateral(), tmp_path / f"b{suffix}")
    fast, slow = _both(path)
    assert fast[0] == "book"
    assert fast == slow
    rows, numbers = read_records(path)
    book = load_portfolio(path, reference_year=2025)
    twin = parse_rows_slowly(rows, source=str(path), row_numbers=numbers, reference_year=2025)
    assert book.positions == twin.positions
    assert book.accounts == twin.accounts
    assert book.instruments == twin.instruments


# cells a book might hold, good and bad, per column
ACCOUNTS = ["A", " B ", "acc 3", "", "  ", None, 7, 0]
SYMBOLS = ["SPY", "ESZ5", "ESZ25", "BTC-PERPETUAL", "BTC-27MAR26-100000-C", "BTC_USDC",
           "NOPE-PERPETUAL", "ZZZZZZZ", "", None, 0]  # fmt: skip
QUANTITIES = [1.0, -2.5, 3, "4", " 7 ", "1e3", "ten", "inf", "nan", "", None, 2e12, -0.0, True]
PRICES = [None, 600.0, 0.05, 0.0, -1.0, 2e12, "abc", "", "nan"]
UNITS = [None, "", "contracts", "usd", "USD ", "coin", "lots"]
IDS = [None, "", "p1", "p2", " p1 ", "p3", 5]
VENUES = [None, "", "deribit", " cme "]
_row = st.fixed_dictionaries(
    {
        "account": st.sampled_from(ACCOUNTS),
        "symbol": st.sampled_from(SYMBOLS),
        "quantity": st.sampled_from(QUANTITIES),
    },
    optional={
        "trade_price": st.sampled_from(PRICES),
        "quantity_unit": st.sampled_from(UNITS),
        "position_id": st.sampled_from(IDS),
        "venue": st.sampled_from(VENUES),
        "Quantity": st.sampled_from(QUANTITIES),  # a case variant: refused
        "desk": st.just("x"),  # unknown: refused
    },
)
# mostly good rows: books that load must be drawn too
_good = st.fixed_dictionaries(
    {
        "account": st.sampled_from(["A", "B", " C"]),
        "symbol": st.sampled_from(["SPY", "ESZ5", "ESZ25", "BTC-PERPETUAL", "BTC_USDC"]),
        "quantity": st.sampled_from([1.0, -2.0, 3, "4.5"]),
        "trade_price": st.sampled_from([None, 600.0, 12.5]),
        "position_id": st.sampled_from([None, "x", "y", "z"]),
        "venue": st.sampled_from(["", "cme"]),
    }
)
_rows = st.lists(_row | _good | _good, min_size=1, max_size=14)
_settings = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@_settings
@given(rows=_rows)
def test_row_mappings_give_the_twins_outcome(rows: list[dict[str, Any]]) -> None:
    fast = _outcome(lambda: parse_rows(rows, source="mem", reference_year=2025))
    slow = _outcome(lambda: parse_rows_slowly(rows, source="mem", reference_year=2025))
    assert fast == slow


def _uniform(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows with the first row's columns (a file has one header)."""
    keys = list(rows[0])
    return [{k: r.get(k) for k in keys} for r in rows]


@_settings
@given(rows=_rows, suffix=st.sampled_from([".csv", ".json", ".parquet"]))
def test_files_give_the_twins_outcome(
    tmp_path: Path, rows: list[dict[str, Any]], suffix: str
) -> None:
    rows = _uniform(rows)
    path = tmp_path / f"book{suffix}"
    if suffix == ".json":
        path.write_text(json.dumps(rows), encoding="utf-8")
    else:  # text cells, as a spreadsheet would write them
        text = pd.DataFrame([{k: None if v is None else str(v) for k, v in r.items()}
                             for r in rows])  # fmt: skip
        text.to_csv(path, index=False) if suffix == ".csv" else text.to_parquet(path)
    fast, slow = _both(path)
    assert fast == slow


_typed_quantity = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, -0.0, 1e12, 1.0000001e12, -3.0]),
)


@_settings
@given(
    quantity=st.lists(_typed_quantity, min_size=1, max_size=8),
    as_int=st.booleans(),
    null_at=st.none() | st.integers(0, 7),
    account_int=st.booleans(),
)
def test_typed_parquet_columns_give_the_twins_outcome(
    tmp_path: Path, quantity: list[float], as_int: bool, null_at: int | None, account_int: bool
) -> None:
    """Typed columns (float with NaN and infinities, integers, integers with a null) read as
    pandas reads them: NaN is missing, an integer column with a null is a float column."""
    n = len(quantity)
    q: pa.Array
    if as_int:
        ints = [None if k == null_at else int(np.clip(np.nan_to_num(x), -2e12, 2e12))
                for k, x in enumerate(quantity)]  # fmt: skip
        q = pa.array(ints, pa.int64())
    else:
        q = pa.array(quantity, pa.float64())
    accounts = [None if account_int and k == null_at else k % 3 for k in range(n)]
    table = pa.table(
        {
            "account": pa.array(accounts, pa.int64()) if account_int else pa.array(["a"] * n),
            "symbol": pa.array(["SPY", "BTC-PERPETUAL"] * (n // 2) + ["ESZ5"] * (n % 2)),
            "quantity": q,
            "trade_price": pa.array([None if k % 2 else 10.0 * k for k in range(n)], pa.float64()),
        }
    )
    path = tmp_path / "typed.parquet"
    pq.write_table(table, path)
    fast, slow = _both(path)
    assert fast == slow


def test_dictionary_and_odd_parquet_types_read_as_pandas_reads_them(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "account": pd.Categorical(["x", "y", "x"]),
            "symbol": pd.Categorical(["SPY", "SPY", "ESZ5"]),
            "quantity": [1, 2, 3],
            "position_id": pd.to_datetime(["2025-01-01", "2025-01-02", None]),
        },
        index=[5, 6, 9],  # stored as a column by pandas: not a book column
    )
    path = tmp_path / "odd.parquet"
    frame.to_parquet(path)
    fast, slow = _both(path)
    assert fast[0] == "book"
    assert fast == slow
    assert load_portfolio(path).raw[0].position_id == "2025-01-01 00:00:00"


def test_a_mixed_column_keeps_values_python_calls_equal_apart() -> None:
    """``1``, ``1.0`` and ``True`` are equal keys to a dict, not to the rules."""
    codes, values = distinct([1, 1.0, True, 1, -0.0, 0.0, None, [1], [1]])
    assert codes.tolist() == [0, 1, 2, 0, 3, 4, 5, 6, 7]
    assert [type(v).__name__ for v in values] == ["int", "float", "bool", "float", "float",
                                                  "NoneType", "list", "list"]  # fmt: skip
    with pytest.raises(SchemaError) as info:
        parse_rows([{"account": 1, "symbol": "SPY", "quantity": q} for q in (1, True, 1.0)],
                   source="mem")  # fmt: skip
    ((issue),) = info.value.issues
    assert (issue.row, issue.column, issue.value, issue.reason) == (
        2, "quantity", True, "not a number")  # fmt: skip


def test_rows_with_different_columns_flag_each_column_at_its_first_row() -> None:
    rows = [
        {"account": "A", "symbol": "SPY", "quantity": 1},
        {"account": "A", "symbol": "SPY", "quantity": 1, "desk": "x"},
        {"account": "A", "symbol": "SPY", "Quantity": 2, "quantity": 1, "desk": "y"},
        {"account": "A", "symbol": "SPY", "quantity": 1, "Desk": "z"},
    ]
    with pytest.raises(SchemaError) as info:
        parse_rows(rows, source="mem")
    assert [(i.row, i.column, i.reason.split(" (")[0]) for i in info.value.issues] == [
        (2, "desk", "unknown column"),
        (3, "quantity", "column given 2 times"),
    ]
    raw = raw_rows(rows)
    assert [k for k, _ in raw.layouts] == [0, 1, 2, 3]
    again = raw_rows([rows[0], rows[1], rows[0], rows[1], rows[3], rows[3]])
    assert [k for k, _ in again.layouts] == [0, 1, 4]  # a layout's first row, layouts repeat
    assert [len(names) for _, names in again.layouts] == [3, 4, 4]


def test_units_are_converted_and_kept_as_booked() -> None:
    rows = [
        {"account": "A", "symbol": "BTC-PERPETUAL", "quantity": 1000, "quantity_unit": "USD"},
        {"account": "A", "symbol": "BTC_USDC-PERPETUAL", "quantity": 1.5, "quantity_unit": "coin"},
        {"account": "A", "symbol": "SPY", "quantity": 3},
    ]
    book = parse_columns(raw_rows(rows), source="mem")
    # contracts.csv: BTC-PERPETUAL is 10 USD face per contract, BTC_USDC-PERPETUAL 0.001 BTC
    assert book.quantity.tolist() == [100.0, 1500.0, 3.0]
    assert book.booked.tolist() == [1000.0, 1.5, 3.0]
    (a, b, c) = book.positions()
    assert (a.quantity_unit, a.input_quantity) == ("usd", 1000.0)
    assert (c.quantity_unit, c.input_quantity) == ("contracts", None)
    assert parse_rows_slowly(rows, source="mem").raw == (a, b, c)


def test_read_book_skips_blank_csv_lines_but_counts_them(tmp_path: Path) -> None:
    path = tmp_path / "b.csv"
    path.write_text("account,symbol,quantity\nA,SPY,1\n , ,\nB,SPY,2\n", encoding="utf-8")
    raw = read_book(path)
    assert raw.size == 2
    assert raw.rows.tolist() == [2, 4]
    assert math.isclose(sum(p.quantity for p in load_portfolio(path).raw), 3.0)
