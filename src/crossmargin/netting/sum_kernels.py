"""Compiled per-group totals for :func:`crossmargin.netting.sums.group_sum`.

One pass over ``(codes, values)`` gives each group's sum (added in input order from 0, as
:func:`numpy.bincount` adds them, so bit for bit the same) and whether its error bound asks
for the exact sum: what ``group_sum`` took three ``bincount`` passes and a handful of array
operations for. A tier walk calls ``group_sum`` some twenty times on a few rows each, where
those operations' fixed costs were most of the time.
"""

from __future__ import annotations

import numba
import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


@numba.njit(cache=True, nogil=True)
def group_totals(
    codes: IntArray, values: FloatArray, n: int, rtol: float, unit_roundoff: float
) -> tuple[FloatArray, npt.NDArray[np.bool_]]:  # pragma: no cover - compiled
    """``(sums, redo)``: ``values`` summed per code in ``0..n-1``, each group's terms added
    in input order from 0, and the groups of three or more terms whose error bound
    ``(k − 1)·u·Σ|x|`` exceeds ``rtol·|sum|`` (to be summed again exactly); ValueError for a
    code outside ``0..n-1``."""
    sums = np.zeros(n)
    counts = np.zeros(n, dtype=np.int64)
    magnitudes = np.zeros(n)
    for i in range(codes.shape[0]):
        c = codes[i]
        if c < 0 or c >= n:
            raise ValueError("group_sum: a code outside 0..n-1")
        v = values[i]
        sums[c] += v
        counts[c] += 1
        magnitudes[c] += abs(v)
    redo = np.zeros(n, dtype=np.bool_)
    for g in range(n):
        if counts[g] > 2:
            bound = (counts[g] - 1) * unit_roundoff * magnitudes[g]
            redo[g] = not (bound <= rtol * abs(sums[g]))
    return sums, redo


@numba.njit(cache=True, nogil=True)
def group_totals_many(
    codes: IntArray, values: FloatArray, n: int, rtol: float, unit_roundoff: float
) -> tuple[FloatArray, npt.NDArray[np.bool_], IntArray]:  # pragma: no cover - compiled
    """:func:`group_totals` of each row of ``values`` (vectors x codes) over the same
    ``codes``, in one call, and the number of codes in each group: a tier walk sums two or
    three vectors per tier over one set of codes."""
    sums = np.zeros((values.shape[0], n))
    redo = np.zeros((values.shape[0], n), dtype=np.bool_)
    for r in range(values.shape[0]):
        sums[r], redo[r] = group_totals(codes, values[r], n, rtol, unit_roundoff)
    counts = np.zeros(n, dtype=np.int64)
    for i in range(codes.shape[0]):
        counts[codes[i]] += 1  # codes checked in range by group_totals
    return sums, redo, counts


__all__ = ["group_totals", "group_totals_many"]
