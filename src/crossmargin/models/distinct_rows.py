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

from typing import Any

import numba
import numpy as np
import numpy.typing as npt
import pandas as pd
import scipy.sparse as sp

from crossmargin.models.base import MarginModel, RowMargins
from crossmargin.portfolio.codes import first_seen_starts

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

_MIX = np.uint64(0x9E3779B97F4A7C15)
#: Rows below which :func:`margin_distinct_rows` margins every row as it comes.
DISTINCT_MIN_ROWS = 2_000


@numba.njit(cache=True, nogil=True)
def _scramble(x: np.uint64) -> np.uint64:  # pragma: no cover - compiled
    """splitmix64's finaliser (Steele, Lea & Flood 2014): a well-spread 64-bit mix."""
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


@numba.njit(cache=True, nogil=True)
def _row_keys(
    indptr: npt.NDArray[np.signedinteger[Any]],
    indices: npt.NDArray[np.signedinteger[Any]],
    bits: npt.NDArray[np.uint64],
) -> npt.NDArray[np.uint64]:  # pragma: no cover - compiled
    """Per row ``mix(nnz + M) + mix(Σ mix(column·M + bits) + mix(bits))`` (sums modulo 2⁶⁴:
    the order of the entries does not matter)."""
    n = indptr.size - 1
    key = np.empty(n, dtype=np.uint64)
    for r in range(n):
        total = np.uint64(0)
        for k in range(indptr[r], indptr[r + 1]):
            b = bits[k]
            total += _scramble(np.uint64(indices[k]) * _MIX + b) + _scramble(b)
        key[r] = _scramble(np.uint64(indptr[r + 1] - indptr[r]) + _MIX) + _scramble(total)
    return key


@numba.njit(cache=True, nogil=True)
def _confirm(
    indptr: npt.NDArray[np.signedinteger[Any]],
    indices: npt.NDArray[np.signedinteger[Any]],
    bits: npt.NDArray[np.uint64],
    twin: IntArray,
) -> tuple[IntArray, IntArray]:  # pragma: no cover - compiled
    """Keep each proposed twin (an earlier row, or the row itself) whose entries are the
    row's, bit for bit; ``(first, inverse)`` of the rows so grouped."""
    n = twin.size
    position = np.empty(n, dtype=np.int64)
    first = np.empty(n, dtype=np.int64)
    inverse = np.empty(n, dtype=np.int64)
    count = 0
    for r in range(n):
        t = twin[r]
        if t != r:
            lo, t_lo = indptr[r], indptr[t]
            size = indptr[r + 1] - lo
            same = size == indptr[t + 1] - t_lo
            k = 0
            while same and k < size:
                same = indices[lo + k] == indices[t_lo + k] and bits[lo + k] == bits[t_lo + k]
                k += 1
            if not same:  # a hash collision: the row stays on its own
                t = r
        if t == r:
            position[r] = count
            first[count] = r
            count += 1
        inverse[r] = position[t]
    return first[:count].copy(), inverse


def distinct_rows(holdings: sp.csr_matrix) -> tuple[IntArray, IntArray]:
    """``(first, inverse)``: the first row of each distinct row of ``holdings`` (ascending)
    and, for every row, the position of its twin in ``first`` (module docstring). A 64-bit
    key per row (:func:`_row_keys`) proposes the first earlier row with the same key; the
    entries confirm it."""
    h = holdings
    if not (h.dtype == np.float64 and h.has_canonical_format):
        h = sp.csr_matrix(holdings, dtype=np.float64, copy=True)
        h.sum_duplicates()  # also sorts each row's columns
    n = h.shape[0]
    if n == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    bits = np.ascontiguousarray(h.data).view(np.uint64)
    indices = np.ascontiguousarray(h.indices)
    indptr = np.ascontiguousarray(h.indptr)
    code = np.asarray(pd.factorize(_row_keys(indptr, indices, bits), sort=False)[0], np.int64)
    starts = first_seen_starts(code)
    assert starts is not None  # factorize gives first-seen codes
    return _confirm(indptr, indices, bits, starts[code])


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
