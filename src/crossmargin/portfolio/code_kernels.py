"""Compiled first-seen codes of integer codes and of pairs of them, for large books.

:func:`crossmargin.portfolio.codes.combine` numbers tuples of codes in first-seen order. A
hash table over millions of rows (:func:`pandas.factorize`) costs a table the size of the
input; where every code lies in a small range the same numbering needs none:

* one code in ``0..n-1``: a slot per value, filled in row order (:func:`first_seen_small`);
* a pair ``(major, minor)``: the rows sorted by ``major`` (a stable counting sort), a slot
  per ``minor`` value reused within each ``major`` block, then the groups renumbered by the
  row that opens each (:func:`first_seen_pairs`);
* where each first-seen code first occurs: one pass (:func:`first_seen_opens`).

Both give exactly the codes :func:`pandas.factorize` gives (``sort=False``): the k-th
distinct value met in row order is k. Codes outside their stated range raise ``ValueError``.
"""

from __future__ import annotations

import numba
import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.int64]


@numba.njit(cache=True, nogil=True)
def first_seen_small(code: IntArray, size: int) -> IntArray:  # pragma: no cover - compiled
    """First-seen codes of ``code`` (values in ``0..size-1``)."""
    slot = np.full(size, -1, dtype=np.int64)
    out = np.empty(code.size, dtype=np.int64)
    n_ids = 0
    for i in range(code.size):
        c = code[i]
        if c < 0 or c >= size:
            raise ValueError("a code lies outside its range")
        if slot[c] < 0:
            slot[c] = n_ids
            n_ids += 1
        out[i] = slot[c]
    return out


@numba.njit(cache=True, nogil=True)
def first_seen_pairs(
    major: IntArray, n_major: int, minor: IntArray, n_minor: int
) -> IntArray:  # pragma: no cover - compiled
    """First-seen codes of the pairs ``(major[i], minor[i])`` (values in ``0..n_major-1``,
    ``0..n_minor-1``)."""
    n = major.size
    end = np.zeros(n_major + 1, dtype=np.int64)
    for i in range(n):
        a = major[i]
        if a < 0 or a >= n_major or minor[i] < 0 or minor[i] >= n_minor:
            raise ValueError("a code lies outside its range")
        end[a + 1] += 1
    for a in range(n_major):
        end[a + 1] += end[a]
    order = np.empty(n, dtype=np.int64)  # rows by major, row order within (stable)
    for i in range(n):
        a = major[i]
        order[end[a]] = i
        end[a] += 1
    slot = np.full(n_minor, -1, dtype=np.int64)
    group = np.empty(n, dtype=np.int64)
    opener = np.empty(n, dtype=np.int64)  # the first row of each group
    n_ids = 0
    lo = 0
    for a in range(n_major):
        hi = end[a]
        for k in range(lo, hi):
            i = order[k]
            s = minor[i]
            if slot[s] < 0:
                slot[s] = n_ids
                opener[n_ids] = i
                n_ids += 1
            group[i] = slot[s]
        for k in range(lo, hi):
            slot[minor[order[k]]] = -1
        lo = hi
    opens = order  # reused: the group a row opens, -1 if none
    opens[:] = -1
    for g in range(n_ids):
        opens[opener[g]] = g
    renumber = np.empty(n_ids, dtype=np.int64)
    n_seen = 0
    for i in range(n):
        if opens[i] >= 0:
            renumber[opens[i]] = n_seen
            n_seen += 1
    for i in range(n):
        group[i] = renumber[group[i]]
    return group


@numba.njit(cache=True, nogil=True)
def first_seen_opens(code: IntArray) -> tuple[bool, IntArray]:  # pragma: no cover - compiled
    """Whether ``code`` holds first-seen codes (negative: no code) and, if so, the row where
    each code first occurs, in code order."""
    opens = np.empty(code.size, dtype=np.int64)
    top = -1
    for i in range(code.size):
        c = code[i]
        if c > top:
            if c != top + 1:
                return False, opens[:0].copy()
            opens[top + 1] = i
            top = c
    return True, opens[: top + 1].copy()


__all__ = ["first_seen_opens", "first_seen_pairs", "first_seen_small"]
