"""Rows parsed once (:class:`crossmargin.portfolio.parsed_rows.ParsedRows`) against
:func:`crossmargin.portfolio.parse_rows` on the whole book: the same positions, field for
field and type for type, from good books, and the same error (every issue, each on its row
of the whole book) from bad ones, for a stream of books that share rows."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crossmargin.errors import InputError, SchemaError
from crossmargin.instruments import contract_table
from crossmargin.portfolio import Portfolio, parse_rows
from crossmargin.portfolio.parsed_rows import ParsedRows

_SYMBOLS = ("BTC-PERPETUAL", "ETH-PERPETUAL", "BTC-27MAR26-80000-C", "ESH6", "NOPE-XYZ", "")
_QUANTITIES = (1.0, -2.5, 3, 1e30, float("nan"), "4", "x")
_UNITS = ("contracts", "usd", "coin", "lots")
_PRICES = (None, 100.0, -1.0)
_IDS = (None, "p1", "p2", " p1 ")
_VENUES = (None, "deribit", "")

_any_rows = st.fixed_dictionaries(
    {
        "account": st.sampled_from(("A", "B", "")),
        "symbol": st.sampled_from(_SYMBOLS),
        "quantity": st.sampled_from(_QUANTITIES),
        "quantity_unit": st.sampled_from(_UNITS),
        "trade_price": st.sampled_from(_PRICES),
        "position_id": st.sampled_from(_IDS),
        "venue": st.sampled_from(_VENUES),
    }
)
_good_rows = st.fixed_dictionaries(
    {
        "account": st.sampled_from(("A", "B")),
        "symbol": st.sampled_from(_SYMBOLS[:4]),
        "quantity": st.sampled_from(_QUANTITIES[:3]),
        "quantity_unit": st.just("contracts"),
        "trade_price": st.sampled_from(_PRICES[:2]),
        "position_id": st.sampled_from(_IDS),
        "venue": st.sampled_from(_VENUES),
    }
)
_rows = st.one_of(_good_rows, _good_rows, _good_rows, _any_rows)  # mostly good books


def _key(row: Mapping[str, Any]) -> tuple[Any, ...]:
    """The row's exact terms (``3`` and ``3.0`` kept apart, as the service keys them)."""
    return tuple((k, type(v), repr(v)) for k, v in row.items())


def _outcome(load: Any) -> tuple[str, Any]:
    try:
        book: Portfolio = load()
    except SchemaError as bad:
        return "issues", ([(i.row, i.column, i.reason, repr(i.value)) for i in bad.issues],
                          str(bad))  # fmt: skip
    except InputError as bad:
        return "error", str(bad)
    fields = [
        (p.account, p.instrument, p.quantity, type(p.quantity), p.trade_price, p.position_id,
         p.venue, p.input_quantity, p.quantity_unit)
        for p in book.raw
    ]  # fmt: skip
    return "book", (fields, book.source, book.positions, book.accounts)


def _parsed(kept: ParsedRows, rows: list[dict[str, Any]]) -> Portfolio:
    table = contract_table()
    return kept.portfolio([_key(r) for r in rows], lambda i: rows[i], source="request",
                          table=table, table_key="shipped")  # fmt: skip


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_rows, min_size=1, max_size=8), st.data())
def test_books_sharing_rows_parse_as_whole_books(pool: list[dict[str, Any]], data: Any) -> None:
    kept = ParsedRows()
    table = contract_table()
    picks = st.lists(st.integers(0, len(pool) - 1), min_size=0, max_size=7)
    for _ in range(5):  # books drawn from one pool of rows: most rows were seen before
        rows = [dict(pool[i]) for i in data.draw(picks)]
        whole = _outcome(lambda r=rows: parse_rows(r, source="request", table=table))
        assert _outcome(lambda r=rows: _parsed(kept, r)) == whole


def test_a_new_fill_parses_one_row_and_a_bad_one_names_its_row() -> None:
    kept = ParsedRows()
    base = [
        {"account": "A", "symbol": "BTC-PERPETUAL", "quantity": 1000.0, "quantity_unit": "usd"},
        {"account": "A", "symbol": "ESH6", "quantity": 2.0, "position_id": "e1"},
        {"account": "B", "symbol": "BTC-27MAR26-80000-C", "quantity": -1.0},
    ]
    first = _parsed(kept, base)
    assert len(kept) == 3
    fill = [*base[:2], {**base[2], "quantity": -2.0}]
    again = _parsed(kept, fill)
    assert len(kept) == 4  # only the new row was parsed and kept
    assert again.raw[:2] == first.raw[:2]
    assert again.raw[2].quantity == -2.0
    assert again == parse_rows(fill, source="request")
    bad = [*base, {"account": "B", "symbol": "NOPE-XYZ", "quantity": 1.0}]
    with pytest.raises(SchemaError) as error:
        _parsed(kept, bad)
    assert [(i.row, i.column) for i in error.value.issues] == [(4, "symbol")]
    repeated = [*base, {"account": "B", "symbol": "ESH6", "quantity": 1.0, "position_id": "e1"}]
    with pytest.raises(SchemaError, match="first used on row 2") as error:
        _parsed(kept, repeated)
    assert [(i.row, i.column) for i in error.value.issues] == [(4, "position_id")]


_CELLS = (1.0, -2.5, 3, 0.0, -0.0, 1e12, -1e12, 1e12 + 1e-3 * 2**40, 2**70, 1e30, float("nan"),
          float("inf"), "4", " 5 ", "1e3", "", "x", None, True, 7.25)  # fmt: skip


def _sized(row: Mapping[str, Any]) -> tuple[Any, ...]:
    """The row's exact terms but its quantity cell."""
    return tuple((k, type(v), repr(v)) for k, v in row.items() if k != "quantity")


def _parsed_sized(kept: ParsedRows, rows: list[dict[str, Any]]) -> Portfolio:
    table = contract_table()
    return kept.portfolio([_key(r) for r in rows], lambda i: rows[i], source="request",
                          table=table, table_key="shipped",
                          sized=lambda i: _sized(rows[i]))  # fmt: skip


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_rows, min_size=1, max_size=6), st.data())
def test_rows_of_known_terms_at_new_quantities_parse_as_whole_books(
    pool: list[dict[str, Any]], data: Any
) -> None:
    # a row whose terms but its quantity were parsed before takes that position at its own
    # quantity: every book gives what the parser gives the whole book (fields, types, bits
    # of -0.0, errors and their rows), whatever the quantity cell
    kept = ParsedRows()
    table = contract_table()
    picks = st.lists(
        st.tuples(st.integers(0, len(pool) - 1), st.sampled_from(_CELLS)), min_size=0, max_size=6
    )
    for _ in range(6):
        rows = [{**pool[i], "quantity": cell} for i, cell in data.draw(picks)]
        whole = _outcome(lambda r=rows: parse_rows(r, source="request", table=table))
        got = _outcome(lambda r=rows: _parsed_sized(kept, r))
        assert got == whole
        if got[0] == "book":  # the sign of a zero quantity too
            parsed = parse_rows(rows, source="request", table=table).raw
            signs = [math.copysign(1.0, p.quantity) for p in parsed]
            assert [math.copysign(1.0, p.quantity) for p in _parsed_sized(kept, rows).raw] == signs


def test_a_new_size_of_a_known_row_is_not_parsed_again(monkeypatch: pytest.MonkeyPatch) -> None:
    from crossmargin.portfolio import parsed_rows

    kept = ParsedRows()
    base = [
        {"account": "A", "symbol": "BTC-PERPETUAL", "quantity": 1000.0, "quantity_unit": "usd"},
        {"account": "A", "symbol": "BTC-27MAR26-80000-C", "quantity": -1.0, "trade_price": 0.05},
    ]
    _parsed_sized(kept, base)
    calls: list[int] = []
    real = parsed_rows.parse_rows

    def counted(rows: Any, **kwargs: Any) -> Portfolio:
        calls.append(len(rows))
        return real(rows, **kwargs)

    monkeypatch.setattr(parsed_rows, "parse_rows", counted)
    resized = [{**base[0], "quantity": 2500.0}, {**base[1], "quantity": -3.5}]
    got = _parsed_sized(kept, resized)
    assert calls == []  # both rows taken from the rows of their terms
    want = real(resized, source="request", table=contract_table())
    assert got == want
    assert got.raw[0].input_quantity == 2500.0
    assert got.raw[0].quantity == want.raw[0].quantity  # USD face converted to contracts
    bad = [{**base[0], "quantity": "lots"}]
    with pytest.raises(SchemaError) as error:  # not a number: the parser reports the row
        _parsed_sized(kept, bad)
    assert calls == [1]
    assert [(i.row, i.column) for i in error.value.issues] == [(1, "quantity")]
