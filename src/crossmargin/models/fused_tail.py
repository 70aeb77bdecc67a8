"""Fused margin kernel: each row's scenario P&L reduced to its k worst on the fly.

The plain path of the ``es``/``hvar`` models builds the whole ``scenarios x rows`` P&L
matrix (:func:`crossmargin.pricing.revalue.aggregate_pnl`) and then partitions it
(:func:`crossmargin.stats.tail.var_es`): at 100,000 accounts (2.3 million tier rows) and
2,500 scenarios that matrix alone is 46 GB. The fused kernel here keeps one scenario
buffer per thread instead: for holdings row ``r`` (CSR entries ``(iₚ, qₚ)``) and scenario
``s``::

    pnl[r, s] = Σₚ qₚ · P[s, iₚ]        (summed in CSR order, as the blocked kernel sums)

and keeps only the k smallest values of ``pnl[r, ·]``, ascending (ties by scenario
index), with their scenario indices, so memory is ``rows x k``. VaR and ES then follow
from those k values exactly as :func:`crossmargin.stats.tail.var_es` takes them from the
full matrix (:func:`crossmargin.stats.tail.var_es_from_smallest`): ``k = ⌈(1 − α)·n⌉`` and
the fractional k-th weight (Acerbi & Tasche 2002). Rows with a single instrument (every
position margined alone) need no pass over the scenarios at all: their k worst are the
instrument's k worst (long) or k best (short) scaled by the quantity, precomputed once per
instrument.

The slow twin is ``var_es(aggregate_pnl(P, holdings), α)``: the tests check the two agree
exactly (same floating-point sums) on random books.
"""

from __future__ import annotations

import numba
import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from crossmargin.market.stress_windows import best_window, window_weights
from crossmargin.pricing.kernels import KERNEL_LOCK
from crossmargin.pricing.revalue import KERNEL_MIN_WORK
from crossmargin.stats.tail import TailResult, tail_count, var_es_from_smallest

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

#: Rows per parallel task: each task allocates one scenario buffer and reuses it.
_ROWS_PER_TASK = 512


@numba.njit(cache=True, nogil=True)
def _insert_smallest(
    values: FloatArray, index: IntArray, count: int, v: float, s: int
) -> int:  # pragma: no cover - compiled
    """Insert ``(v, s)`` into the ascending ``values[:count]`` (capacity ``values.size``),
    after any equal value (so earlier scenarios win ties); returns the new count."""
    k = values.shape[0]
    if count == k:
        if not v < values[k - 1]:
            return count
        j = k - 1
    else:
        j = count
        count += 1
    while j > 0 and values[j - 1] > v:
        values[j] = values[j - 1]
        index[j] = index[j - 1]
        j -= 1
    values[j] = v
    index[j] = s
    return count


@numba.njit(cache=True, nogil=True)
def _smallest_of(
    x: FloatArray, k: int, values: FloatArray, index: IntArray
) -> None:  # pragma: no cover - compiled
    """The k smallest of ``x`` into ``values``/``index`` (ascending, ties by position)."""
    count = 0
    for s in range(x.shape[0]):
        count = _insert_smallest(values, index, count, x[s], s)


@numba.njit(cache=True, nogil=True)
def _store(
    rows: IntArray,
    first: int,
    vals: FloatArray,
    idx: IntArray,
    values: FloatArray,
    index: IntArray,
) -> None:  # pragma: no cover - compiled
    """Copy a task's ``(count, k)`` results into columns ``rows[first:first + count]`` of
    the ``(k, all rows)`` outputs, one output row at a time (sequential writes)."""
    count = min(vals.shape[0], rows.shape[0] - first)
    for t in range(vals.shape[1]):
        for j in range(count):
            values[t, rows[first + j]] = vals[j, t]
            index[t, rows[first + j]] = idx[j, t]


@numba.njit(parallel=True, fastmath=True, cache=True, nogil=True)
def _fused_rows(
    indptr: IntArray,
    indices: npt.NDArray[np.int32],
    data: FloatArray,
    pnl_by_instrument: FloatArray,
    rows: IntArray,
    k: int,
    values: FloatArray,
    index: IntArray,
) -> None:  # pragma: no cover - compiled
    """For each ``r = rows[j]``: its P&L over every scenario (one buffer per task, summed as
    :func:`crossmargin.pricing.kernels.aggregate_rows` sums), reduced to its k smallest in
    column ``r`` of ``values``/``index`` (k, all rows)."""
    n_scen = pnl_by_instrument.shape[1]
    n = rows.shape[0]
    n_tasks = (n + _ROWS_PER_TASK - 1) // _ROWS_PER_TASK
    for t in numba.prange(n_tasks):
        acc = np.empty(n_scen)
        vals = np.empty((_ROWS_PER_TASK, k))
        idx = np.empty((_ROWS_PER_TASK, k), dtype=np.int64)
        first = t * _ROWS_PER_TASK
        for j in range(first, min(n, first + _ROWS_PER_TASK)):
            r = rows[j]
            acc[:] = 0.0
            for p in range(indptr[r], indptr[r + 1]):
                row = pnl_by_instrument[indices[p]]
                w = data[p]
                for s in range(n_scen):
                    acc[s] += w * row[s]
            _smallest_of(acc, k, vals[j - first], idx[j - first])
        _store(rows, first, vals, idx, values, index)


@numba.njit(parallel=True, cache=True, nogil=True)
def _column_extremes(
    pnl_by_instrument: FloatArray,
    k: int,
    low: FloatArray,
    low_index: IntArray,
    high: FloatArray,
    high_index: IntArray,
) -> None:  # pragma: no cover - compiled
    """Per instrument: its k smallest P&Ls (ascending) and the k smallest of its negated
    P&Ls (ascending, i.e. its k largest, largest first), ties by scenario index."""
    n_scen = pnl_by_instrument.shape[1]
    for i in numba.prange(pnl_by_instrument.shape[0]):
        _smallest_of(pnl_by_instrument[i], k, low[i], low_index[i])
        neg = np.empty(n_scen)
        for s in range(n_scen):
            neg[s] = -pnl_by_instrument[i, s]
        _smallest_of(neg, k, high[i], high_index[i])


def smallest_k_rows(
    pnl_by_scenario: FloatArray, holdings: sp.csr_matrix, k: int
) -> tuple[FloatArray, IntArray]:
    """The k smallest P&Ls of each row of ``holdings`` (rows x instruments) under
    ``pnl_by_scenario`` (scenarios x instruments), ascending, and their scenario indices:
    two ``(k, rows)`` arrays. Never holds more than one scenario buffer per task."""
    q = sp.csr_matrix(holdings, dtype=np.float64, copy=True)
    q.eliminate_zeros()
    n_rows = q.shape[0]
    n_scen = pnl_by_scenario.shape[0]
    k = int(k)
    if not 1 <= k <= n_scen:
        raise ValueError(f"k = {k} must be in [1, {n_scen}]")
    by_instrument = np.ascontiguousarray(pnl_by_scenario.T, dtype=np.float64)
    values = np.empty((k, n_rows))
    index = np.empty((k, n_rows), dtype=np.int64)
    nnz = np.diff(q.indptr)
    single = np.flatnonzero(nnz == 1)
    multi = np.flatnonzero(nnz > 1)
    empty = np.flatnonzero(nnz == 0)
    if empty.size:  # no position: a P&L of zero in every scenario
        values[:, empty] = 0.0
        index[:, empty] = np.arange(k)[:, np.newaxis]
    if single.size:
        _single_rows(q, by_instrument, k, single, values, index)
    if multi.size:
        with KERNEL_LOCK:
            _fused_rows(
                q.indptr.astype(np.int64),
                q.indices.astype(np.int32),
                q.data.astype(np.float64),
                by_instrument,
                multi.astype(np.int64),
                k,
                values,
                index,
            )
    return values, index


def _single_rows(
    q: sp.csr_matrix,
    by_instrument: FloatArray,
    k: int,
    single: IntArray,
    values: FloatArray,
    index: IntArray,
) -> None:
    """Rows holding one instrument ``i`` with quantity ``x``: ``x·P[·, i]``'s k smallest are
    ``x`` times the k smallest of ``P[·, i]`` if ``x > 0``, the k largest if ``x < 0``."""
    cols = q.indices[q.indptr[single]]
    qty = q.data[q.indptr[single]]
    used, inverse = np.unique(cols, return_inverse=True)
    inverse = np.asarray(inverse).reshape(-1)
    sub = np.ascontiguousarray(by_instrument[used])
    low = np.empty((used.size, k))
    low_i = np.empty((used.size, k), dtype=np.int64)
    high = np.empty((used.size, k))
    high_i = np.empty((used.size, k), dtype=np.int64)
    with KERNEL_LOCK:
        _column_extremes(sub, k, low, low_i, high, high_i)
    _scale_tails(single, qty, inverse, low, low_i, high, high_i, values, index)


@numba.njit(cache=True, nogil=True)
def _scale_tails(
    rows: IntArray,
    qty: FloatArray,
    which: IntArray,
    low: FloatArray,
    low_index: IntArray,
    high: FloatArray,
    high_index: IntArray,
    values: FloatArray,
    index: IntArray,
) -> None:  # pragma: no cover - compiled
    """``values[:, rows[j]] = qty[j]·(k worst of its instrument)`` (the low tail if long,
    the high one if short), summed as the fused kernel sums it: ``0 + x·P`` (−0.0 becomes
    0.0). Outputs are (k, all rows)."""
    k = low.shape[1]
    for t in range(k):
        for j in range(rows.shape[0]):
            r, x, i = rows[j], qty[j], which[j]
            if x > 0:
                values[t, r] = 0.0 + x * low[i, t]
                index[t, r] = low_index[i, t]
            else:
                values[t, r] = 0.0 + x * -high[i, t]
                index[t, r] = high_index[i, t]


@numba.njit(parallel=True, fastmath=True, cache=True, nogil=True)
def _fused_windows(
    indptr: IntArray,
    indices: npt.NDArray[np.int32],
    data: FloatArray,
    pnl_by_instrument: FloatArray,
    window: int,
    weights: FloatArray,
    var: bool,
    k: int,
    starts: IntArray,
    order: IntArray,
    values: FloatArray,
    index: IntArray,
) -> None:  # pragma: no cover - compiled
    """Per row (``order``: ``0 … rows − 1``): its P&L over the whole history (summed as
    the blocked kernel sums it), the start of its worst window
    (:func:`crossmargin.market.stress_windows.best_window`, compiled without fast-math) and
    the k smallest P&Ls of that window (indices within the window), into (k, rows)."""
    n_scen = pnl_by_instrument.shape[1]
    n = indptr.shape[0] - 1
    kw = weights.shape[0]
    n_tasks = (n + _ROWS_PER_TASK - 1) // _ROWS_PER_TASK
    for t in numba.prange(n_tasks):
        acc = np.empty(n_scen)
        prefix = np.empty((n_scen, kw))
        suffix = np.empty((n_scen, kw))
        buf = np.empty(kw)
        merged = np.empty(kw)
        vals = np.empty((_ROWS_PER_TASK, k))
        idx = np.empty((_ROWS_PER_TASK, k), dtype=np.int64)
        first = t * _ROWS_PER_TASK
        for r in range(first, min(n, first + _ROWS_PER_TASK)):
            acc[:] = 0.0
            for p in range(indptr[r], indptr[r + 1]):
                row = pnl_by_instrument[indices[p]]
                w = data[p]
                for s in range(n_scen):
                    acc[s] += w * row[s]
            start, _ = best_window(acc, window, weights, var, prefix, suffix, buf, merged)
            starts[r] = start
            _smallest_of(acc[start : start + window], k, vals[r - first], idx[r - first])
        _store(order, first, vals, idx, values, index)


def fused_worst_windows(
    pnl_by_scenario: FloatArray,
    holdings: sp.csr_matrix,
    window: int,
    confidence: float,
    *,
    measure: str = "es",
) -> tuple[IntArray, TailResult]:
    """Each row's stressed window and the VaR/ES over it, without the rows x history
    matrix: equal to ``starts = worst_windows(P, window, α)[0]`` on
    ``P = aggregate_pnl(pnl_by_scenario, holdings)`` (scenarios in date order) and
    ``var_es`` of each row's P&L over ``[start, start + window)``."""
    q = sp.csr_matrix(holdings, dtype=np.float64)
    n_scen = pnl_by_scenario.shape[0]
    w = min(int(window), n_scen)
    k = tail_count(confidence, w)
    starts = np.zeros(q.shape[0], dtype=np.int64)
    values = np.empty((k, q.shape[0]))
    index = np.empty((k, q.shape[0]), dtype=np.int64)
    with KERNEL_LOCK:
        _fused_windows(
            q.indptr.astype(np.int64),
            q.indices.astype(np.int32),
            q.data.astype(np.float64),
            np.ascontiguousarray(pnl_by_scenario.T, dtype=np.float64),
            w,
            window_weights(w, confidence, measure),
            measure == "var",
            k,
            starts,
            np.arange(q.shape[0], dtype=np.int64),
            values,
            index,
        )
    tail = var_es_from_smallest(values, index, w, confidence)
    return starts, tail


def fuses(holdings: sp.csr_matrix | FloatArray, n_scenarios: int) -> bool:
    """Whether the fused kernel takes ``holdings``: sparse books large enough that
    :func:`~crossmargin.pricing.revalue.aggregate_pnl` sums them with the compiled kernel
    (so the fused sums are the same floating-point sums); small books keep the plain path."""
    if not sp.issparse(holdings):
        return False
    return bool(sp.csr_matrix(holdings).nnz * n_scenarios >= KERNEL_MIN_WORK)


def fused_var_es(
    pnl_by_scenario: FloatArray, holdings: sp.csr_matrix, confidence: float
) -> TailResult:
    """``var_es(aggregate_pnl(pnl_by_scenario, holdings), confidence)`` without the
    ``scenarios x rows`` matrix (see the module docstring)."""
    n = pnl_by_scenario.shape[0]
    k = tail_count(confidence, n)
    values, index = smallest_k_rows(pnl_by_scenario, holdings, k)
    return var_es_from_smallest(values, index, n, confidence)


__all__ = ["fused_var_es", "fused_worst_windows", "fuses", "smallest_k_rows"]
