"""The partition by netting set (no market data needed): whole accounts, factor-set order,
chunk sizes, parts equal to the book's subsets; date ranges; merging diagnostics; and the
comparison helper the other distributed tests rely on."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from same import differences

from crossmargin import api
from crossmargin.analysis.stress.common import netting_set_groups
from crossmargin.collateral.holdings import CollateralHolding
from crossmargin.distributed.backtest import MIN_DAYS_PER_TASK, day_ranges
from crossmargin.distributed.margin import merge_diagnostics
from crossmargin.distributed.partition import (
    MAX_CHUNK_POSITIONS,
    MIN_TASK_SECONDS,
    SECONDS_PER_POSITION,
    account_chunks,
    chunk_positions,
    split_book,
    split_columns,
)
from crossmargin.errors import InputError
from crossmargin.portfolio import Portfolio, Position, parse_rows
from crossmargin.portfolio.columns import parse_columns, raw_rows


def _book(accounts: list[list[tuple[int, int]]]) -> Portfolio:
    instruments = api.sample_book().instruments
    return Portfolio.from_positions(
        Position(account=f"a{a}", instrument=instruments[i % len(instruments)], quantity=float(q))
        for a, legs in enumerate(accounts)
        for i, q in legs
    ).with_collateral([CollateralHolding(account="a0", asset="BTC", amount=1.0),
                       CollateralHolding(account="a1", asset="USD", amount=5.0)])  # fmt: skip


def test_chunk_size_bounds() -> None:
    least = math.ceil(MIN_TASK_SECONDS / SECONDS_PER_POSITION)
    assert chunk_positions(10, 2) == least  # a small book: one task of >= 100 ms of work
    assert chunk_positions(24 * least, 2) == 3 * least  # four chunks per worker
    assert chunk_positions(10_000_000, 2) == MAX_CHUNK_POSITIONS  # memory bound per task
    assert chunk_positions(10_000_000, 10_000) == least


LEGS = st.lists(st.tuples(st.integers(0, 16), st.integers(1, 9)), min_size=1, max_size=6)


@settings(max_examples=40, deadline=None)
@given(accounts=st.lists(LEGS, min_size=1, max_size=12), size=st.integers(1, 20))
def test_parts_are_whole_accounts_in_factor_set_order(accounts: list, size: int) -> None:  # type: ignore[type-arg]
    book = _book(accounts)
    chunks = account_chunks(book, size)
    flat = [a for c in chunks for a in c]
    assert sorted(flat) == sorted(book.accounts)
    assert len(flat) == len(set(flat))
    groups = list(netting_set_groups(book).values())
    assert flat == [a for g in groups for a in g]  # factor sets in first-seen order
    count = {a: sum(1 for p in book.positions if p.account == a) for a in book.accounts}
    for c in chunks[:-1]:  # each chunk reaches the size with its last account, not before
        held = [count[a] for a in c]
        assert sum(held) >= size
        assert sum(held[:-1]) < size
    parts = split_book(book, size)
    assert [p.accounts for p in parts] == chunks
    for part in parts:
        alone = book.subset(part.accounts)
        assert part.portfolio().raw == alone.raw
        assert part.portfolio().positions == alone.positions
        assert part.portfolio().collateral == alone.collateral


def test_a_chunk_needs_a_positive_size() -> None:
    with pytest.raises(InputError, match="at least one position"):
        account_chunks(_book([[(0, 1)]]), 0)


@given(n=st.integers(0, 400), workers=st.integers(1, 8), size=st.none() | st.integers(1, 50))
def test_day_ranges_are_contiguous_and_cover(n: int, workers: int, size: int | None) -> None:
    days = list(range(3, 3 + n))
    ranges = day_ranges(days, workers, size)
    assert [d for r in ranges for d in r] == days
    want = size if size is not None else max(MIN_DAYS_PER_TASK, math.ceil(n / (4 * workers)))
    assert all(len(r) == want for r in ranges[:-1])


def test_merge_diagnostics_unites_the_parts_netting_sets() -> None:
    a = {"netting_sets": {"BTC": {"x": 1}}, "note": "first"}
    b = {"netting_sets": {"BTC": {"x": 2}, "SPX": {"x": 3}}, "note": "second"}
    assert merge_diagnostics([a, b]) == {
        "netting_sets": {"BTC": {"x": 1}, "SPX": {"x": 3}},
        "note": "first",
    }
    assert merge_diagnostics([{}, {}]) == {}


def test_the_comparison_helper_can_fail() -> None:
    assert differences({"a": [1.0, float("nan"), 0.0]}, {"a": [1.0, float("nan"), -0.0]}) == []
    assert len(differences({"a": 1.0}, {"a": 1.0 + 2.0**-52})) == 1  # one ulp
    assert len(differences({"a": 1.0}, {"b": 1.0})) == 1
    assert len(differences([1.0, 2.0], [1.0])) == 1
    assert len(differences({"s": "x"}, {"s": "y"})) == 1


ROWS = st.lists(
    st.tuples(
        st.integers(0, 7),  # account
        st.sampled_from(["SPY", "ESZ5", "ESZ25", "BTC-PERPETUAL", "BTC_USDC", "QQQ"]),
        st.integers(-9, 9),
        st.sampled_from(["", "", "cme", "deribit"]),  # venue
        st.sampled_from([None, "p"]),  # position id stem
    ),
    min_size=1,
    max_size=30,
)


@settings(max_examples=60, deadline=None)
@given(rows=ROWS, size=st.integers(1, 12))
def test_columns_split_as_the_portfolio_splits(rows: list, size: int) -> None:  # type: ignore[type-arg]
    """The dataset path (checked columns -> parts, no position objects) gives the parts the
    in-memory path gives (portfolio -> parts): same accounts per chunk, same positions, equal
    instruments spelled apart (``ESZ5``/``ESZ25``) netted together, venues kept apart."""
    records = [
        {"account": f"a{a}", "symbol": s, "quantity": float(q), "venue": v,
         "position_id": None if pid is None else f"{pid}{k}"}
        for k, (a, s, q, v, pid) in enumerate(rows)
    ]  # fmt: skip
    columns = parse_columns(raw_rows(records), source="mem", reference_year=2025)
    book = columns.portfolio()
    assert book.raw == parse_rows(records, source="mem", reference_year=2025).raw
    by_columns, by_book = split_columns(columns, size), split_book(book, size)
    assert [p.accounts for p in by_columns] == [p.accounts for p in by_book]
    assert [p.accounts for p in by_book] == account_chunks(book, size)
    for fast, slow in zip(by_columns, by_book, strict=True):
        assert fast.portfolio().raw == slow.portfolio().raw == book.subset(fast.accounts).raw
        assert fast.portfolio().positions == book.subset(fast.accounts).positions
        assert [p.symbol for p in fast.raw] == [p.symbol for p in book.subset(fast.accounts).raw]
