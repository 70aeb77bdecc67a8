"""First-seen codes: :func:`combine` numbers tuples as a dictionary does in first-seen order,
and :func:`first_seen_starts` finds where each code first occurs as a sort does
(``np.unique(..., return_index=True)``), or says the codes are not first-seen."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from crossmargin.portfolio.codes import combine, first_seen_starts


@settings(max_examples=200, deadline=None)
@given(
    rows=st.lists(st.tuples(st.integers(0, 3), st.integers(0, 0), st.integers(0, 6)), max_size=400)
)
def test_combine_numbers_tuples_in_first_seen_order(rows: list[tuple[int, int, int]]) -> None:
    seen: dict[tuple[int, int, int], int] = {}
    expected = [seen.setdefault(r, len(seen)) for r in rows]
    cols = [np.array([r[k] for r in rows], dtype=np.int64) for k in range(3)]
    got = combine((cols[0], 4), (cols[1], 1), (cols[2], 7))
    assert got.tolist() == expected
    before = [c.copy() for c in cols]
    assert all(np.array_equal(a, b) for a, b in zip(cols, before, strict=True))  # inputs kept


@settings(max_examples=300, deadline=None)
@given(
    values=st.lists(st.integers(0, 8), max_size=300),
    missing=st.lists(st.booleans(), max_size=300),
    recode=st.booleans(),
)
def test_first_seen_starts_equals_the_sorted_first_indices(
    values: list[int], missing: list[bool], recode: bool
) -> None:
    code = np.array(values, dtype=np.int64)
    if recode:  # first-seen codes, as combine gives them
        code = combine((code, 9))
    code[np.array(missing[: code.size] + [False] * (code.size - len(missing)), dtype=bool)] = -1
    got = first_seen_starts(code)
    order = list(dict.fromkeys(int(v) for v in code if v >= 0))  # distinct, as first met
    if order != list(range(len(order))):
        assert got is None
        return
    member = np.flatnonzero(code >= 0)
    expected = member[np.unique(code[member], return_index=True)[1]]
    assert got is not None
    assert got.tolist() == expected.tolist()
