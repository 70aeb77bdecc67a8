"""Margin each distinct holdings row once.

The tier rows of a book repeat themselves: an account with one asset class has the same
holdings in its ``asset-class`` and ``netting-set`` rows, an underlying traded through one
product the same in its ``product`` and ``underlying`` rows, a product held once the same as
the position alone; and across accounts the same position (instrument and quantity) recurs.
On random books of 20 positions half the multi-position rows are repeats
(``benchmarks/bench_fused.py``). A row's margin depends on its own holdings only (the
netting-set rule, ``tests/test_netting_set_isolation.py``), so :func:`margin_distinct_rows`
margins the distinct rows and gives every row its twin's figures.

Rows are equal when their stored columns and quantities are equal bit for bit (after
summing duplicate entries and sorting the columns): a 64-bit hash per row proposes the
twin, an exact comparison of every entry confirms it (a collision keeps the row on its own).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from crossmargin.models.base import MarginModel, RowMargins

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

_MIX = np.uint64(0x9E3779B97F4A7C15)
#: Rows below which :func:`margin_distinct_rows` margins every row as it comes.
DISTINCT_MIN_ROWS = 2_000


def _scramble(x: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """splitmix64's finaliser (Steele, Lea & Flood 2014): a well-spread 64-bit mix."""
    with np.errstate(over="ignore"):
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        out: npt.NDArray[np.uint64] = x ^ (x >> np.uint64(31))
    return out


def distinct_rows(holdings: sp.csr_matrix) -> tuple[IntArray, IntArray]:
    """``(first, inverse)``: the first row of each distinct row of ``holdings`` (ascending)
    and, for every row, the position of its twin in ``first`` (module docstring)."""
    h = sp.csr_matrix(holdings, dtype=np.float64, copy=True)
    h.sum_duplicates()  # also sorts each row's columns
    n = h.shape[0]
    if n == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    nnz = np.diff(h.indptr).astype(np.int64)
    row_of = np.repeat(np.arange(n, dtype=np.int64), nnz)
    bits = np.ascontiguousarray(h.data).view(np.uint64)
    with np.errstate(over="ignore"):
        entry = _scramble(h.indices.astype(np.uint64) * _MIX + bits) + _scramble(bits)
        key = _scramble(nnz.astype(np.uint64) + _MIX)
        sums = np.zeros(n, dtype=np.uint64)
        held = np.flatnonzero(nnz)
        if held.size:
            sums[held] = np.add.reduceat(entry, h.indptr[held])
        key = key + _scramble(sums)
    _, first_of_key, which = np.unique(key, return_index=True, return_inverse=True)
    twin = first_of_key[np.asarray(which).reshape(-1)].astype(np.int64)
    # confirm: same entry count and every entry equal to the twin's, bit for bit
    same = nnz == nnz[twin]
    offset = np.arange(h.nnz, dtype=np.int64) - np.repeat(h.indptr[:-1].astype(np.int64), nnz)
    partner = h.indptr[twin[row_of]].astype(np.int64) + offset
    ok = same[row_of]
    partner = np.where(ok, partner, np.arange(h.nnz, dtype=np.int64))
    equal = (h.indices == h.indices[partner]) & (bits == bits[partner]) & ok
    mismatched = np.zeros(n, dtype=bool)
    mismatched[row_of[~equal]] = True
    twin = np.where(same & ~mismatched, twin, np.arange(n, dtype=np.int64))
    first = np.flatnonzero(twin == np.arange(n)).astype(np.int64)
    position = np.full(n, -1, dtype=np.int64)
    position[first] = np.arange(first.size, dtype=np.int64)
    return first, position[twin]


def margin_distinct_rows(
    model: MarginModel,
    context: object,
    holdings: sp.csr_matrix,
    *,
    detail: BoolArray | None = None,
) -> RowMargins:
    """``model.margin_rows(context, holdings, detail=detail)``, each distinct row margined
    once (a row is reported in detail if any of its twins is asked for in detail)."""
    n = holdings.shape[0]
    if n < DISTINCT_MIN_ROWS:  # a small book (a what-if): the search costs more than it saves
        return model.margin_rows(context, holdings, detail=detail)
    first, inverse = distinct_rows(holdings)
    if first.size == n:
        return model.margin_rows(context, holdings, detail=detail)
    want = None
    if detail is not None:
        want = np.zeros(first.size, dtype=bool)
        want[inverse[np.asarray(detail, dtype=bool)]] = True
    rows = model.margin_rows(context, sp.csr_matrix(holdings)[first], detail=want)
    return rows.take(inverse)


__all__ = ["distinct_rows", "margin_distinct_rows"]
