"""The holdings matrix built straight as CSR equals the one scipy builds from COO entries.

The reference lists every entry in the order the per-position walk makes them (each
position: its own row, then its group in each tier; then each offsetting collateral item's
groups from ``underlying`` on) and hands them to ``scipy.sparse`` as COO, as the layout did
before. Row pointer, column indices and index dtype equal that matrix's exactly. Entries
that share a row and column are summed left to right in walk order: the data equal, bit for
bit, scipy's conversion of the same entries pre-sorted stably by (row, column) (scipy then
keeps their order), and equal its conversion of the unsorted entries on every row where
that one's order is defined too (its in-row sort is not stable beyond 16 entries, which only
matters where three or more entries share a column). Books: random positions over the sample
book's contracts (crypto, equity, spot SPY) with declared venues that map onto the
contract's own venue, repeated instruments, fractional quantities, and coin, security and
fiat collateral at several venues.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crossmargin.api import sample_book
from crossmargin.collateral.holdings import CollateralHolding
from crossmargin.netting.columnar import columnar_layout
from crossmargin.netting.holdings import holdings_csr
from crossmargin.netting.layout import TierLayout, tier_layout
from crossmargin.netting.tiers import TIERS
from crossmargin.portfolio import Portfolio, Position

# "" and the contract's own family name the same venue; "prime-x" another one
VENUES = ("", "deribit", "cme", "occ", "equities", "prime-x")
COLLATERAL = ("BTC", "ETH", "SPY", "USD", "USDC")
COLL_VENUES = ("deribit", "cme", "equities", "prime-x", "")


def _coo(
    n_pos: int,
    column: npt.NDArray[np.int64],
    quantity: npt.NDArray[np.float64],
    groups: list[npt.NDArray[np.int64]],
    start: list[int],
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """(row, column, value) of every entry in walk order (positions first, each its own row
    then a group per tier; then each later item's groups)."""
    rows, cols, vals = [], [], []
    for i in range(column.size):
        own = [i] if i < n_pos else []
        in_groups = [s + int(g[i]) for g, s in zip(groups, start, strict=True) if g[i] >= 0]
        for r in own + in_groups:
            rows.append(r)
            cols.append(int(column[i]))
            vals.append(float(quantity[i]))
    return np.array(rows, dtype=np.int64), np.array(cols, dtype=np.int64), np.array(vals)


def _assert_same_as_coo(
    found: sp.csr_matrix,
    entries: tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float64]],
    shape: tuple[int, int],
) -> None:
    rows, cols, vals = entries
    plain = sp.csr_matrix((vals, (rows, cols)), shape=shape)
    order = np.lexsort((cols, rows))  # stable: walk order kept among equal (row, column)
    stable = sp.csr_matrix((vals[order], (rows[order], cols[order])), shape=shape)
    assert found.shape == plain.shape
    assert found.indptr.dtype == plain.indptr.dtype
    assert found.indices.dtype == plain.indices.dtype
    assert found.has_canonical_format
    np.testing.assert_array_equal(found.indptr, plain.indptr)
    np.testing.assert_array_equal(found.indices, plain.indices)
    np.testing.assert_array_equal(found.indptr, stable.indptr)
    np.testing.assert_array_equal(found.indices, stable.indices)
    assert found.data.tobytes() == stable.data.tobytes()  # bit for bit, -0.0 included
    # where scipy's own order is walk order (<= 16 entries a row, or no column thrice)
    per_row = np.bincount(rows, minlength=shape[0])
    thrice = np.zeros(shape[0], dtype=bool)
    key, count = np.unique(rows * shape[1] + cols, return_counts=True)
    thrice[key[count >= 3] // shape[1]] = True
    defined = np.repeat((per_row <= 16) | ~thrice, np.diff(plain.indptr))
    assert found.data[defined].tobytes() == plain.data[defined].tobytes()


def _layout_entries(
    layout: TierLayout,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    return _coo(
        layout.n_positions,
        layout.instrument,
        layout.quantity,
        [layout.group_of[t] for t in TIERS],
        [layout.offsets_of[t] for t in TIERS],
    )


@st.composite
def _books(draw: st.DrawFn) -> Portfolio:
    universe = sample_book().instruments
    n_acc = draw(st.integers(1, 4))
    quantity = st.one_of(
        st.integers(-40, 40).map(float),
        st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False, allow_subnormal=False),
        st.sampled_from([0.1, 0.2, 0.3, 1e-9, 3.3e7, -0.7, -0.0]),
    )
    rows = draw(
        st.lists(
            st.tuples(
                st.integers(0, n_acc - 1),
                st.integers(0, len(universe) - 1),
                quantity,
                st.sampled_from(VENUES),
            ),
            min_size=1,
            max_size=60,
        )
    )
    held = draw(
        st.lists(
            st.tuples(
                st.integers(0, n_acc),  # the last account holds no position
                st.sampled_from(COLLATERAL),
                st.floats(-5.0, 500.0, allow_nan=False, allow_infinity=False),
                st.sampled_from(COLL_VENUES),
            ),
            max_size=25,
        )
    )
    return Portfolio.from_positions(
        (
            Position(account=f"a{a}", instrument=universe[i], quantity=q, venue=v)
            for a, i, q, v in rows
        ),
        collateral=[
            CollateralHolding(account=f"a{a}", asset=c, amount=x, venue=v) for a, c, x, v in held
        ],
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(book=_books())
def test_layout_holdings_equal_the_coo_built_matrix(book: Portfolio) -> None:
    for nets in (True, False):
        layout = tier_layout(book, nets_collateral=nets)
        _assert_same_as_coo(layout.holdings, _layout_entries(layout), layout.holdings.shape)


def test_books_hold_shared_columns_in_groups() -> None:
    """The generated kind of book does reach the folding: the same spot instrument under two
    declared venues of one venue, and coin collateral beside it, in one group row."""
    universe = sample_book().instruments
    spy = next(i for i in universe if i.spec.product == "spot_spy")
    book = Portfolio.from_positions(
        [
            Position(account="a", instrument=spy, quantity=0.1, venue=""),
            Position(account="a", instrument=spy, quantity=0.2, venue="equities"),
            Position(account="a", instrument=spy, quantity=0.3, venue="prime-x"),
        ],
        collateral=[CollateralHolding(account="a", asset="SPY", amount=0.7, venue="equities")],
    )
    layout = tier_layout(book)
    entries = _layout_entries(layout)
    assert entries[0].size > layout.holdings.nnz  # some entries share (row, column)
    _assert_same_as_coo(layout.holdings, entries, layout.holdings.shape)
    row = layout.holdings[layout.account_rows()[0]]
    col = layout.instrument[0]
    # the netting-set row: every SPY item of the account, left to right in walk order
    spy_items = [float(q) for c, q in zip(layout.instrument, layout.quantity, strict=True)
                 if c == col]  # fmt: skip
    total = spy_items[0]
    for q in spy_items[1:]:
        total += q
    assert len(spy_items) >= 3
    assert row[0, col] == total


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_direct_csr_equals_the_coo_built_matrix_on_long_rows(data: st.DataObject) -> None:
    """Random items and groups, rows past the insertion-sort size, many shared columns."""
    n_items = data.draw(st.integers(1, 300))
    n_pos = data.draw(st.integers(0, n_items))
    n_cols = data.draw(st.integers(1, 12))
    column = np.array(
        data.draw(st.lists(st.integers(0, n_cols - 1), min_size=n_items, max_size=n_items)),
        dtype=np.int64,
    )
    values = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False, allow_subnormal=False)
    quantity = np.array(data.draw(st.lists(values, min_size=n_items, max_size=n_items)))
    groups, start, n_rows = [], [], n_pos
    for _ in range(data.draw(st.integers(1, 4))):
        n_groups = data.draw(st.integers(1, 5))
        g = np.array(
            data.draw(st.lists(st.integers(-1, n_groups - 1), min_size=n_items, max_size=n_items)),
            dtype=np.int64,
        )
        used = np.unique(g[g >= 0])
        remap = np.full(n_groups, -1, dtype=np.int64)
        remap[used] = np.arange(used.size)  # every group code occurs
        g = np.where(g >= 0, remap[np.maximum(g, 0)], -1)
        groups.append(g)
        start.append(n_rows)
        n_rows += int(used.size)
    shape = (n_rows, n_cols)
    found = holdings_csr(n_pos, column, quantity, groups, start, shape)
    _assert_same_as_coo(found, _coo(n_pos, column, quantity, groups, start), shape)


def test_columnar_layout_without_netting_or_venues_equals_tier_layout() -> None:
    """Every row distinct, no venue column: the layout of the Portfolio of the same rows."""
    rng = np.random.default_rng(5)
    universe = sample_book().instruments
    acc = [f"acc-{k // len(universe)}" for k in range(3 * len(universe))]
    idx = np.tile(rng.permutation(len(universe)), 3)
    qty = rng.uniform(-30, 30, idx.size)
    qty[4] = -0.0
    fast = columnar_layout(acc, universe, idx, qty)
    slow = tier_layout(
        Portfolio.from_positions(
            Position(account=a, instrument=universe[int(i)], quantity=float(q))
            for a, i, q in zip(acc, idx, qty, strict=True)
        )
    )
    assert fast.n_positions == idx.size
    assert fast.quantity.tobytes() == (qty + 0.0).tobytes()  # -0.0 nets to 0.0, as fsum
    assert fast.instruments == slow.instruments  # canonical order, not the caller's
    np.testing.assert_array_equal(fast.instrument, slow.instrument)
    assert [fast.instruments[j] for j in fast.instrument] == [universe[i] for i in idx]
    assert fast.offsets_of == slow.offsets_of
    for t in TIERS:
        np.testing.assert_array_equal(fast.group_of[t], slow.group_of[t])
        np.testing.assert_array_equal(fast.group_first[t], slow.group_first[t])
    _assert_same_as_coo(fast.holdings, _layout_entries(fast), fast.holdings.shape)


def test_a_group_past_the_rows_is_refused() -> None:
    with pytest.raises(ValueError, match="past the matrix's rows"):
        holdings_csr(1, np.array([0, 1]), np.array([1.0, 2.0]), [np.array([0, 1])], [1], (2, 2))
