"""First-seen codes: :func:`combine` numbers tuples as a dictionary does in first-seen order,
and :func:`first_seen_starts` finds where each code first occurs as a sort does
(``np.unique(..., return_index=True)``), or says the codes are not first-seen."""

from __future__ import annotations

from unittest.mock import patch

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import crossmargin.portfolio.codes as codes_module
from crossmargin.portfolio.code_kernels import first_seen_pairs, first_seen_small
from crossmargin.portfolio.codes import combine, first_seen_starts

#: Cardinalities of the four drawn code columns.
SIZES = (4, 1, 7, 41)


@settings(max_examples=200, deadline=None)
@given(
    rows=st.lists(
        st.tuples(st.integers(0, 3), st.integers(0, 0), st.integers(0, 6), st.integers(0, 40)),
        max_size=400,
    ),
    compiled=st.sampled_from([0, 10**9]),
)
def test_combine_numbers_tuples_in_first_seen_order(
    rows: list[tuple[int, int, int, int]], compiled: int
) -> None:
    """A dictionary's first-seen numbering, by the hash table and by the compiled slot
    tables (any row count made large enough for them)."""
    cols = [np.array([r[k] for r in rows], dtype=np.int64) for k in range(4)]
    before = [c.copy() for c in cols]
    with patch.object(codes_module, "COMPILED", compiled):
        for pick in ((0, 1, 2), (2,), (1,), (0, 3), (3, 0, 2)):
            seen: dict[tuple[int, ...], int] = {}
            expected = [seen.setdefault(tuple(r[k] for k in pick), len(seen)) for r in rows]
            got = combine(*((cols[k], SIZES[k]) for k in pick))
            assert got.tolist() == expected
    assert all(np.array_equal(a, b) for a, b in zip(cols, before, strict=True))  # inputs kept


def test_compiled_codes_refuse_codes_outside_their_range() -> None:
    with pytest.raises(ValueError, match="outside its range"):
        first_seen_small(np.array([0, 3], dtype=np.int64), 3)
    with pytest.raises(ValueError, match="outside its range"):
        first_seen_pairs(np.array([0, 1]), 2, np.array([0, -1]), 4)


@settings(max_examples=300, deadline=None)
@given(
    values=st.lists(st.integers(0, 8), max_size=300),
    missing=st.lists(st.sampled_from([0, 0, -1, -7]), max_size=300),
    recode=st.booleans(),
    compiled=st.sampled_from([0, 10**9]),
)
def test_first_seen_starts_equals_the_sorted_first_indices(
    values: list[int], missing: list[int], recode: bool, compiled: int
) -> None:
    """By the running maximum and by the compiled pass (negative codes: none)."""
    code = np.array(values, dtype=np.int64)
    if recode:  # first-seen codes, as combine gives them
        code = combine((code, 9))
    mark = np.array(missing[: code.size] + [0] * (code.size - len(missing)), dtype=np.int64)
    code = np.where(mark < 0, mark, code)
    with patch.object(codes_module, "COMPILED", compiled):
        got = first_seen_starts(code)
    order = list(dict.fromkeys(int(v) for v in code if v >= 0))  # distinct, as first met
    if order != list(range(len(order))):
        assert got is None
        return
    member = np.flatnonzero(code >= 0)
    expected = member[np.unique(code[member], return_index=True)[1]]
    assert got is not None
    assert got.tolist() == expected.tolist()


@pytest.mark.parametrize("n", [0, 1, 7, 300])  # the dictionary path and pandas' (SMALL = 256)
def test_instrument_codes_give_each_objects_column_by_equality(n: int) -> None:
    from crossmargin.instruments import parse_symbol
    from crossmargin.portfolio.codes import instrument_codes

    names = ["ESZ5", "BTC-PERPETUAL", "SPY", "ESZ25", "ETH-PERPETUAL"]  # ESZ25 == ESZ5
    made = [parse_symbol(s, reference_year=2025) for s in names]
    columns = [made[2], made[1], made[0], made[4]]
    rng = np.random.default_rng(n)
    picks = [made[int(k)] for k in rng.integers(0, len(made), n)]
    got = instrument_codes(picks, columns)
    want = [next(j for j, c in enumerate(columns) if c == p) for p in picks]
    assert got.tolist() == want
    assert got.dtype == np.int64
