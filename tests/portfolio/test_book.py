"""Positions, netting per account and the accounts x instruments quantity matrix."""

from __future__ import annotations

import copy
import math
import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crossmargin.errors import InputError
from crossmargin.instruments import parse_symbol
from crossmargin.portfolio import Portfolio, Position

SYMBOLS = ("SPY", "ESZ5", "BTC-PERPETUAL", "BTC-27MAR26-100000-C", "SPY   260320P00600000")


def _pos(account: str, symbol: str, qty: float, price: float | None = None, pid: str | None = None):
    return Position(
        account=account,
        instrument=parse_symbol(symbol, reference_year=2025),
        quantity=qty,
        trade_price=price,
        position_id=pid,
    )


def _as_dict(book: Portfolio) -> dict[tuple[str, str], float]:
    """The quantity matrix as {(account, symbol): qty}, independent of row/column order."""
    q = book.quantity_matrix().toarray()
    return {
        (a, inst.symbol): float(q[i, j])
        for i, a in enumerate(book.accounts)
        for j, inst in enumerate(book.instruments)
        if q[i, j] != 0.0
    }


def test_netting_within_account_not_across() -> None:
    book = Portfolio.from_positions(
        [
            _pos("A", "SPY", 10),
            _pos("B", "SPY", 5),
            _pos("A", "ESZ5", -2),
            _pos("A", "SPY", -3),
            _pos("B", "SPY", 1),
        ]
    )
    assert len(book.raw) == 5
    assert [(p.account, p.symbol, p.quantity) for p in book.positions] == [
        ("A", "SPY", 7.0),  # 10 − 3
        ("B", "SPY", 6.0),  # 5 + 1, kept apart from A
        ("A", "ESZ5", -2.0),
    ]
    assert len(book) == 3
    assert book.accounts == ("A", "B")
    assert [i.symbol for i in book.instruments] == ["SPY", "ESZ5"]
    assert book.underlyings == ("SPY", "SPX")
    np.testing.assert_array_equal(book.quantity_matrix().toarray(), [[7.0, -2.0], [6.0, 0.0]])
    np.testing.assert_array_equal(book.net_quantities(), [13.0, -2.0])
    np.testing.assert_array_equal(book.row_positions(), [0, 1, 2, 0, 1])  # each row's position
    alone = Portfolio.from_positions([_pos("A", "SPY", 1), _pos("A", "ESZ5", 1)])
    np.testing.assert_array_equal(alone.row_positions(), [0, 1])  # nothing nets
    spelled = Portfolio.from_positions([_pos("A", "ESZ5", 3), _pos("B", "SPY", 1),
                                        _pos("A", "ESZ25", -1)])  # fmt: skip
    np.testing.assert_array_equal(spelled.row_positions(), [0, 1, 0])


def test_netting_to_zero_keeps_the_instrument() -> None:
    book = Portfolio.from_positions([_pos("A", "SPY", 4), _pos("A", "SPY", -4)])
    assert [p.quantity for p in book.positions] == [0.0]
    np.testing.assert_array_equal(book.quantity_matrix().toarray(), [[0.0]])
    assert book.quantity_matrix().shape == (1, 1)


def test_netted_trade_price_is_quantity_weighted_on_one_side() -> None:
    book = Portfolio.from_positions(
        [_pos("A", "SPY", 10, 500.0, "p1"), _pos("A", "SPY", 30, 520.0, "p2")]
    )
    (net,) = book.positions
    assert net.trade_price == pytest.approx((10 * 500 + 30 * 520) / 40)  # 515
    assert net.position_id == "p1+p2"


def test_netted_trade_price_of_subnormal_quantities_is_their_average() -> None:
    """Rows of the smallest quantities net to their weighted price, not to the 0.0 their
    underflowing products would give (a valid book that failed to load: found by
    ``tests/portfolio/test_loader_keeps_rows.py``)."""
    tiny = 5e-324  # the smallest subnormal float: tiny * 0.01 underflows to 0.0
    book = Portfolio.from_positions([_pos("A", "SPY", tiny, 0.01), _pos("A", "SPY", tiny, 0.01)])
    (net,) = book.positions
    assert net.quantity == 2 * tiny
    assert net.trade_price == 0.01  # both rows at 0.01: the average is 0.01 exactly
    short = Portfolio.from_positions(
        [_pos("A", "SPY", -tiny, 0.02), _pos("A", "SPY", -3 * tiny, 0.04)]
    )
    assert short.positions[0].trade_price == pytest.approx((0.02 + 3 * 0.04) / 4, rel=1e-15)


def test_netted_trade_price_dropped_when_sides_or_prices_mix() -> None:
    mixed = Portfolio.from_positions([_pos("A", "SPY", 10, 500.0), _pos("A", "SPY", -3, 510.0)])
    assert mixed.positions[0].trade_price is None
    assert mixed.raw[1].trade_price == 510.0  # raw rows keep theirs
    partial = Portfolio.from_positions([_pos("A", "SPY", 10, 500.0), _pos("A", "SPY", 3)])
    assert partial.positions[0].trade_price is None
    single = Portfolio.from_positions([_pos("A", "SPY", 10, 500.0, "x")])
    assert single.positions[0].trade_price == 500.0
    assert single.positions[0].position_id == "x"


_rows = st.lists(
    st.tuples(
        st.sampled_from(["a1", "a2", "a3"]),
        st.sampled_from(SYMBOLS),
        st.integers(-100, 100).map(float),
    ),
    min_size=1,
    max_size=30,
)


@settings(max_examples=60, deadline=None)
@given(rows=_rows, data=st.data())
def test_quantity_matrix_invariant_to_row_order(
    rows: list[tuple[str, str, float]], data: st.DataObject
) -> None:
    shuffled = data.draw(st.permutations(rows))
    a = Portfolio.from_positions(_pos(*r) for r in rows)
    b = Portfolio.from_positions(_pos(*r) for r in shuffled)
    assert _as_dict(a) == _as_dict(b)
    assert set(a.accounts) == set(b.accounts)
    assert set(a.instruments) == set(b.instruments)
    # Independent reference: sum the raw rows by (account, symbol) by hand.
    expected: dict[tuple[str, str], float] = {}
    for acc, sym, q in rows:
        key = (acc, parse_symbol(sym, reference_year=2025).symbol)
        expected[key] = expected.get(key, 0.0) + q
    assert _as_dict(a) == {k: v for k, v in expected.items() if v != 0.0}


@settings(max_examples=40, deadline=None)
@given(qty=st.integers(-1000, 1000), cuts=st.lists(st.integers(-1000, 1000), max_size=5))
def test_splitting_a_position_does_not_change_the_matrix(qty: int, cuts: list[int]) -> None:
    pieces = [*cuts, qty - sum(cuts)]  # sums to qty exactly (integers)
    whole = Portfolio.from_positions([_pos("A", "ESZ5", float(qty))])
    split = Portfolio.from_positions(_pos("A", "ESZ5", float(p)) for p in pieces)
    np.testing.assert_array_equal(
        whole.quantity_matrix().toarray(), split.quantity_matrix().toarray()
    )


def test_same_contract_spelled_two_ways_nets() -> None:
    book = Portfolio.from_positions([_pos("A", "ESZ5", 3), _pos("A", "ESZ25", -1)])
    assert len(book.instruments) == 1
    assert [p.quantity for p in book.positions] == [2.0]


def test_account_lookup_and_subset() -> None:
    book = Portfolio.from_positions(
        [_pos("A", "SPY", 1), _pos("B", "ESZ5", 2), _pos("A", "ESZ5", 3), _pos("C", "SPY", 4)]
    )
    acc = book.account("A")
    assert acc.account_id == "A"
    assert [(p.symbol, p.quantity) for p in acc.positions] == [("SPY", 1.0), ("ESZ5", 3.0)]
    with pytest.raises(InputError, match=r"unknown account 'Z' \(accounts: A, B, C\)"):
        book.account("Z")
    sub = book.subset(["A", "C"])
    assert sub.accounts == ("A", "C")
    assert [p.account for p in sub.raw] == ["A", "A", "C"]


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"account": ""}, "needs an account id"),
        ({"quantity": math.nan}, "quantity must be finite"),
        ({"quantity": math.inf}, "quantity must be finite"),
        ({"trade_price": math.nan}, "trade price nan: not a finite number"),
        ({"trade_price": 0.0}, "a trade price must be positive"),  # 1/P of an inverse future
    ],
)
def test_position_validation(kwargs: dict[str, object], pattern: str) -> None:
    base: dict[str, object] = {
        "account": "A",
        "instrument": parse_symbol("SPY"),
        "quantity": 1.0,
    }
    with pytest.raises(InputError, match=pattern):
        Position(**{**base, **kwargs})  # type: ignore[arg-type]


def test_empty_portfolio() -> None:
    book = Portfolio(raw=())
    assert len(book) == 0
    assert book.quantity_matrix().shape == (0, 0)


def test_collateral_swapped_keeps_the_netting_a_fresh_book_gives() -> None:
    # with_collateral / without_collateral reuse the rows' netting: the result equals a
    # book built from the same rows and holdings, field by field (netted rows included).
    from dataclasses import fields

    from crossmargin import api
    from crossmargin.collateral import CollateralHolding

    book = api.sample_book()
    doubled = Portfolio(raw=book.raw + book.raw, source=book.source, collateral=book.collateral)
    cash = (CollateralHolding(account="alpha-crypto", asset="USD", amount=5.0),)
    for have, want in (
        (doubled.with_collateral(cash), Portfolio(raw=doubled.raw, source=doubled.source,
                                                  collateral=doubled.collateral + cash)),
        (doubled.without_collateral(), Portfolio(raw=doubled.raw, source=doubled.source)),
    ):  # fmt: skip
        for f in fields(Portfolio):
            if f.name == "_row_position":  # an array: each row's netted position
                np.testing.assert_array_equal(have.row_positions(), want.row_positions())
                continue
            assert getattr(have, f.name) == getattr(want, f.name), f.name
        assert have == want
        assert have.positions[0].quantity == 2 * book.positions[0].quantity


_ROW = st.tuples(
    st.sampled_from(("a", "b")),
    st.sampled_from(SYMBOLS),
    st.integers(-3, 3),
    st.sampled_from((None, 100.0, 250.0)),
    st.sampled_from(("", "X")),
    st.booleans(),  # the row's own instrument object (equal to, not the same as, the others)
)


def _rows(drawn: list[tuple], shared: dict[str, object], start: int) -> tuple[Position, ...]:
    out = []
    for k, (account, symbol, qty, price, venue, own) in enumerate(drawn):
        inst = copy.copy(shared[symbol]) if own else shared[symbol]
        out.append(Position(account=account, instrument=inst, quantity=float(qty),
                            trade_price=price, position_id=f"p{start + k}" if k % 3 else None,
                            venue=venue))  # fmt: skip
    return tuple(out)


def _same_book(got: Portfolio, want: Portfolio) -> None:
    """Field for field, and the same objects where the netting keeps them."""
    assert got.raw == want.raw
    assert all(a is b for a, b in zip(got.raw, want.raw, strict=True))
    assert (got.source, got.collateral) == (want.source, want.collateral)
    assert got.positions == want.positions
    assert all(
        a.instrument is b.instrument for a, b in zip(got.positions, want.positions, strict=True)
    )
    assert len(got.instruments) == len(want.instruments)
    assert all(a is b for a, b in zip(got.instruments, want.instruments, strict=True))
    assert got.accounts == want.accounts
    assert (got._row_position is None) == (want._row_position is None)
    np.testing.assert_array_equal(got.row_positions(), want.row_positions())


@settings(max_examples=300, deadline=None)
@given(
    st.lists(_ROW, max_size=8), st.lists(_ROW, max_size=3), st.lists(_ROW, max_size=3),
)  # fmt: skip
def test_an_extended_book_is_the_book_of_all_its_rows(
    mine: list[tuple], added: list[tuple], more: list[tuple]
) -> None:
    """``extended`` nets only the added rows, and gives what a book of every row gives:
    positions, first instrument objects, accounts and each row's netted position, also when
    extended again and when the same book is extended twice (its kept keys reused)."""
    from crossmargin.collateral.holdings import CollateralHolding

    shared = {s: parse_symbol(s, reference_year=2025) for s in SYMBOLS}
    book = Portfolio(raw=_rows(mine, shared, 0), source="book")
    rows, later = _rows(added, shared, 100), _rows(more, shared, 200)
    cash = (CollateralHolding(account="a", asset="USD", amount=5.0),)
    whole = Portfolio(raw=book.raw + rows, source="book", collateral=cash)
    _same_book(book.extended(rows, cash), whole)
    _same_book(book.extended(rows, cash), whole)  # the keys kept by the first call
    _same_book(book.with_collateral(cash).extended(rows, cash), whole)
    again = Portfolio(raw=book.raw + rows + later, source="book")
    _same_book(book.extended(rows).extended(later), again)
    # the book's kept keys are not changed by what it was extended with before
    _same_book(book.extended(later), Portfolio(raw=book.raw + later, source="book"))
    # the kept keys hold object ids: a pickled book (a distributed worker's) leaves them
    shipped = pickle.loads(pickle.dumps(book))
    assert book._keys
    assert shipped._keys == []
    assert shipped == book
    _same_book(shipped.extended(rows, cash),
               Portfolio(raw=shipped.raw + rows, source="book", collateral=cash))  # fmt: skip
