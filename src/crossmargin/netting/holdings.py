"""The holdings matrix of a tier layout, built straight in CSR form.

Rows (:mod:`crossmargin.netting.layout`): every netted position alone (row ``p`` holds item
``p`` only), then the groups of each tier, row ``start[t] + g`` holding every item ``i``
with ``group[t][i] == g`` (``-1``: in no group of that tier). Each item puts ``quantity[i]``
into column ``column[i]``. Canonical CSR: within a row the columns ascend, and items of one
row that share a column (the same instrument under two declared venues that map to one
venue, or coin collateral beside a spot position) are summed left to right in item order::

    holdings[r, j] = ((q₁ + q₂) + q₃) + …      (the items of row r in column j, item order)

which is the order the per-position walk lists them and the order ``scipy.sparse``'s COO to
CSR conversion sums them wherever its (unstable) in-row sort keeps equal columns in input
order (rows of up to 16 entries always; sums of integer contract counts in any order).

Per tier the row pointer is a count of group codes and the entries a stable counting-sort
scatter by group; each group row is then sorted by column (insertion sort, merge sort above
:data:`_INSERTION_MAX` entries, both stable) and its duplicates folded. No ``(row, column)``
pair list of every entry is made, and nothing is sorted across rows. Index arrays are
``int32`` where the entry count, rows and columns fit (as scipy picks), else ``int64``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numba
import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from crossmargin.netting.csr import INT32_MAX, csr_of

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
#: ``int32`` or ``int64`` (CSR index arrays).
IndexArray = npt.NDArray[np.signedinteger[Any]]

#: Rows up to this many entries are sorted by insertion, longer ones by merge sort.
_INSERTION_MAX = 32


@numba.njit(cache=True, nogil=True)
def _sort_row(indices: IndexArray, data: FloatArray, lo: int, hi: int) -> None:  # pragma: no cover
    """Stable sort of ``indices[lo:hi]`` ascending, ``data`` alongside."""
    if hi - lo <= _INSERTION_MAX:
        for k in range(lo + 1, hi):
            c = indices[k]
            v = data[k]
            j = k
            while j > lo and indices[j - 1] > c:
                indices[j] = indices[j - 1]
                data[j] = data[j - 1]
                j -= 1
            indices[j] = c
            data[j] = v
        return
    order = np.argsort(indices[lo:hi], kind="mergesort")
    cols = indices[lo:hi].copy()
    vals = data[lo:hi].copy()
    for k in range(order.size):
        indices[lo + k] = cols[order[k]]
        data[lo + k] = vals[order[k]]


@numba.njit(cache=True, nogil=True)
def _fill_rows(
    n_pos: int,
    column: IntArray,
    quantity: FloatArray,
    groups: tuple[IntArray, ...],
    start: IntArray,
    indptr: IndexArray,
    indices: IndexArray,
    data: FloatArray,
) -> int:  # pragma: no cover - compiled
    """Fill ``indptr`` (rows + 1), ``indices`` and ``data`` (capacity: every item's entries)
    as the module docstring lays them out; returns the entry count after folding."""
    n_rows = indptr.size - 1
    indptr[:] = 0
    for p in range(n_pos):
        indptr[p + 1] = 1
    for t in range(len(groups)):
        g = groups[t]
        s = start[t]
        for i in range(g.size):
            if g[i] >= 0:
                if s + g[i] >= n_rows:
                    raise ValueError("a group code lies past the matrix's rows")
                indptr[s + g[i] + 1] += 1
    for r in range(n_rows):
        indptr[r + 1] += indptr[r]
    # scatter in item order: indptr[r] walks to the end of row r
    for p in range(n_pos):
        k = indptr[p]
        indices[k] = column[p]
        data[k] = quantity[p]
        indptr[p] = k + 1
    for t in range(len(groups)):
        g = groups[t]
        s = start[t]
        for i in range(g.size):
            if g[i] >= 0:
                r = s + g[i]
                k = indptr[r]
                indices[k] = column[i]
                data[k] = quantity[i]
                indptr[r] = k + 1
    # sort each group row by column, fold equal columns, close the gaps
    out = 0
    lo = 0
    for r in range(n_rows):
        hi = indptr[r]
        if hi - lo > 1:
            _sort_row(indices, data, lo, hi)
        first = out
        for k in range(lo, hi):
            c = indices[k]
            if out > first and indices[out - 1] == c:
                data[out - 1] += data[k]
            else:
                indices[out] = c
                data[out] = data[k]
                out += 1
        indptr[r] = first
        lo = hi
    indptr[n_rows] = out
    return out


def entries_at_most(n_positions: int, groups: Sequence[IntArray]) -> int:
    """The holdings matrix's entries before equal columns fold: a row per position, and
    each item once per tier it has a group in."""
    return n_positions + sum(int(np.count_nonzero(g >= 0)) for g in groups)


def holdings_csr(
    n_positions: int,
    column: IntArray,
    quantity: FloatArray,
    groups: Sequence[IntArray],
    start: Sequence[int],
    shape: tuple[int, int],
    *,
    capacity: int | None = None,
) -> sp.csr_matrix:
    """The (rows x instruments) holdings matrix of the module docstring: ``column`` and
    ``quantity`` per item (the first ``n_positions`` items have a row each), ``groups[t]``
    each item's group in tier ``t`` (``-1``: none) and ``start[t]`` its first row.
    ``capacity`` may pass :func:`entries_at_most` of these already counted."""
    n_rows, n_cols = shape
    if capacity is None:
        capacity = entries_at_most(n_positions, groups)
    fits = max(capacity, n_rows, n_cols) <= INT32_MAX
    index_dtype = np.int32 if fits else np.int64
    indptr: IndexArray = np.empty(n_rows + 1, dtype=index_dtype)
    indices: IndexArray = np.empty(capacity, dtype=index_dtype)
    data = np.empty(capacity, dtype=np.float64)
    nnz = _fill_rows(
        n_positions,
        np.asarray(column, dtype=np.int64),
        np.asarray(quantity, dtype=np.float64),
        tuple(np.asarray(g, dtype=np.int64) for g in groups),
        np.asarray(start, dtype=np.int64),
        indptr,
        indices,
        data,
    )
    if nnz < capacity:  # equal columns folded: keep only the entries
        indices, data = indices[:nnz].copy(), data[:nnz].copy()
    holdings = csr_of(data, indices, indptr, shape)
    holdings.has_canonical_format = True  # columns ascend, none repeats within a row
    return holdings


__all__ = ["entries_at_most", "holdings_csr"]
