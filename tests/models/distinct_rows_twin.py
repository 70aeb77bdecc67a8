"""The distinct-row search as it was before it went into compiled loops: a slow twin, for
tests only (tests/models/test_distinct_rows.py holds the compiled one equal to it).

Array at a time: a 64-bit key per row from every entry's mix summed with
``np.add.reduceat``, ``np.unique`` for the first row of each key, and an element-wise
comparison of every entry with its twin's.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

IntArray = npt.NDArray[np.int64]

_MIX = np.uint64(0x9E3779B97F4A7C15)


def _scramble(x: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """splitmix64's finaliser (Steele, Lea & Flood 2014): a well-spread 64-bit mix."""
    with np.errstate(over="ignore"):
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        out: npt.NDArray[np.uint64] = x ^ (x >> np.uint64(31))
    return out


def distinct_rows_twin(holdings: sp.csr_matrix) -> tuple[IntArray, IntArray]:
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
