"""Fused margin kernel: each row's scenario P&L reduced to its k worst on the fly.

The plain path of the ``es``/``hvar`` models builds the whole ``scenarios x rows`` P&L
matrix (:func:`crossmargin.pricing.revalue.aggregate_pnl`) and then partitions it
(:func:`crossmargin.stats.tail.var_es`): at 100,000 accounts (2.3 million tier rows) and
2,500 scenarios that matrix alone is 46 GB. The fused kernel here keeps one scenario
buffer per thread instead: for holdings row ``r`` (CSR entries ``(iₚ, qₚ)``) and scenario
``s``::

    pnl[r, s] = Σₚ qₚ · P[s, iₚ]        (summed in CSR order, as the blocked kernel sums)

and keeps only the k smallest values of ``pnl[r, ·]``, ascending (ties by scenario
index), in a per-task buffer; VaR, ES and the worst scenario follow from those k values at
once, exactly as :func:`crossmargin.stats.tail.var_es` takes them from the full matrix
(``k = ⌈(1 − α)·n⌉``, the fractional k-th weight of Acerbi & Tasche 2002, the sums taken
worst first), so memory is three numbers per row (:func:`smallest_k_rows` keeps the
``k x rows`` tails where they are wanted themselves). Rows with a single instrument (every
position margined alone) need no pass over the scenarios at all: their k worst are the
instrument's k worst (long) or k best (short) scaled by the quantity, precomputed once per
instrument.

The slow twin is ``var_es(aggregate_pnl(P, holdings), α)``: the tests check the two agree
exactly (same floating-point sums) on random books.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numba
import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from crossmargin.market.stress_windows import best_window, search_scratch, window_weights
from crossmargin.pricing.kernels import KERNEL_LOCK
from crossmargin.pricing.revalue import KERNEL_MIN_WORK
from crossmargin.stats.tail import TailResult, tail_count, tail_mass, tail_weights

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


@numba.njit(cache=True, nogil=True)
def _measures(
    vals: FloatArray,
    idx: IntArray,
    weights: FloatArray,
    whole: bool,
    r: int,
    var: FloatArray,
    es: FloatArray,
    worst: IntArray,
) -> None:  # pragma: no cover - compiled
    """VaR, ES and worst scenario of row ``r`` from its k smallest ``vals`` (ascending),
    summed worst first as :func:`crossmargin.stats.tail.var_es` sums them (``Σ y_t / k``,
    or ``Σ w_t·y_t`` with a fractional k-th weight)."""
    k = vals.shape[0]
    var[r] = -vals[k - 1]
    if whole:
        total = vals[0]
        for t in range(1, k):
            total += vals[t]
        es[r] = -(total / k)
    else:
        total = 0.0
        for t in range(k):
            total += weights[t] * vals[t]
        es[r] = -total
    worst[r] = idx[0]


@numba.njit(parallel=True, cache=True, nogil=True)  # no fastmath: see _fused_windows
def _fused_rows(
    indptr: IntArray,
    indices: npt.NDArray[np.int32],
    data: FloatArray,
    pnl_by_instrument: FloatArray,
    rows: IntArray,
    k: int,
    weights: FloatArray,
    whole: bool,
    var: FloatArray,
    es: FloatArray,
    worst: IntArray,
    values: FloatArray,
    index: IntArray,
) -> None:  # pragma: no cover - compiled
    """For each ``r = rows[j]``: its P&L over every scenario (one buffer per task, summed as
    :func:`crossmargin.pricing.kernels.aggregate_rows` sums), reduced to its k smallest,
    then to ``var``/``es``/``worst`` [r] (:func:`_measures`); the k smallest themselves go
    to column ``r`` of ``values``/``index`` (k, all rows) unless those have no columns."""
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
            _measures(vals[j - first], idx[j - first], weights, whole, r, var, es, worst)
        if values.shape[1]:
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


@dataclass(frozen=True, slots=True)
class _Tails:
    """Per row: VaR, ES, worst scenario; and, when kept, the k smallest ``(k, rows)``."""

    var: FloatArray
    es: FloatArray
    worst: IntArray
    values: FloatArray
    index: IntArray


def _row_tails(
    pnl_by_scenario: FloatArray,
    holdings: sp.csr_matrix,
    k: int,
    weights: FloatArray,
    whole: bool,
    keep: bool,
) -> _Tails:
    """Each row's k smallest P&Ls reduced to its measures (and kept with ``keep``); one
    scenario buffer per task, never ``rows x scenarios``."""
    q = sp.csr_matrix(holdings, dtype=np.float64, copy=True)
    q.eliminate_zeros()
    n_rows = q.shape[0]
    n_scen = pnl_by_scenario.shape[0]
    k = int(k)
    if not 1 <= k <= n_scen:
        raise ValueError(f"k = {k} must be in [1, {n_scen}]")
    by_instrument = np.ascontiguousarray(pnl_by_scenario.T, dtype=np.float64)
    out = _Tails(
        var=np.empty(n_rows),
        es=np.empty(n_rows),
        worst=np.empty(n_rows, dtype=np.int64),
        values=np.empty((k, n_rows if keep else 0)),
        index=np.empty((k, n_rows if keep else 0), dtype=np.int64),
    )
    nnz = np.diff(q.indptr)
    single = np.flatnonzero(nnz == 1)
    multi = np.flatnonzero(nnz > 1)
    empty = np.flatnonzero(nnz == 0)
    if empty.size:  # no position: a P&L of zero in every scenario
        out.var[empty], out.es[empty], out.worst[empty] = -0.0, -0.0, 0
        if keep:
            out.values[:, empty] = 0.0
            out.index[:, empty] = np.arange(k)[:, np.newaxis]
    if single.size:
        _single_rows(q, by_instrument, k, single, weights, whole, out)
    if multi.size:
        with KERNEL_LOCK:
            _fused_rows(
                q.indptr.astype(np.int64),
                q.indices.astype(np.int32),
                q.data.astype(np.float64),
                by_instrument,
                multi.astype(np.int64),
                k,
                weights,
                whole,
                out.var,
                out.es,
                out.worst,
                out.values,
                out.index,
            )
    return out


def smallest_k_rows(
    pnl_by_scenario: FloatArray, holdings: sp.csr_matrix, k: int
) -> tuple[FloatArray, IntArray]:
    """The k smallest P&Ls of each row of ``holdings`` (rows x instruments) under
    ``pnl_by_scenario`` (scenarios x instruments), ascending, and their scenario indices:
    two ``(k, rows)`` arrays. Never holds more than one scenario buffer per task."""
    tails = _row_tails(pnl_by_scenario, holdings, k, np.zeros(int(k)), True, True)
    return tails.values, tails.index


def _single_rows(
    q: sp.csr_matrix,
    by_instrument: FloatArray,
    k: int,
    single: IntArray,
    weights: FloatArray,
    whole: bool,
    out: _Tails,
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
    _scale_tails(single, qty, inverse.astype(np.int64), low, low_i, high, high_i, weights,
                 whole, out.var, out.es, out.worst, out.values, out.index)  # fmt: skip


@numba.njit(cache=True, nogil=True)
def _scale_tails(
    rows: IntArray,
    qty: FloatArray,
    which: IntArray,
    low: FloatArray,
    low_index: IntArray,
    high: FloatArray,
    high_index: IntArray,
    weights: FloatArray,
    whole: bool,
    var: FloatArray,
    es: FloatArray,
    worst: IntArray,
    values: FloatArray,
    index: IntArray,
) -> None:  # pragma: no cover - compiled
    """Row ``rows[j]``'s k smallest are ``qty[j]·(k worst of its instrument)`` (the low tail
    if long, the high one if short), summed as the fused kernel sums it: ``0 + x·P`` (−0.0
    becomes 0.0); then its measures (:func:`_measures`), and the k smallest into columns of
    ``values``/``index`` (k, all rows) unless those have no columns."""
    k = low.shape[1]
    keep = values.shape[1] > 0
    vals = np.empty(k)
    idx = np.empty(k, dtype=np.int64)
    for j in range(rows.shape[0]):
        r, x, i = rows[j], qty[j], which[j]
        for t in range(k):
            if x > 0:
                vals[t] = 0.0 + x * low[i, t]
                idx[t] = low_index[i, t]
            else:
                vals[t] = 0.0 + x * -high[i, t]
                idx[t] = high_index[i, t]
        _measures(vals, idx, weights, whole, r, var, es, worst)
        if keep:
            for t in range(k):
                values[t, r] = vals[t]
                index[t, r] = idx[t]


# No fastmath here or in _fused_rows: the helpers they call (_smallest_of, _measures,
# stress_windows.best_window) are compiled once per signature and cached, and a helper
# first compiled inside a fastmath kernel kept its fast-math code for every later caller,
# the plain path included (its sums then differed in the last bit, depending on which ran
# first; tests/models/test_fastmath_isolation.py).
@numba.njit(parallel=True, cache=True, nogil=True)
def _fused_windows(
    indptr: IntArray,
    indices: npt.NDArray[np.int32],
    data: FloatArray,
    pnl_by_instrument: FloatArray,
    window: int,
    weights: FloatArray,
    var: bool,
    k: int,
    tail_w: FloatArray,
    whole: bool,
    starts: IntArray,
    out_var: FloatArray,
    out_es: FloatArray,
    out_worst: IntArray,
) -> None:  # pragma: no cover - compiled
    """Per row: its P&L over the whole history (summed as the blocked kernel sums it), the
    start of its worst window (:func:`crossmargin.market.stress_windows.best_window`,
    compiled without fast-math) and the VaR, ES and worst scenario (an index within the
    window) of that window (:func:`_measures` with the ES weights ``tail_w``)."""
    n_scen = pnl_by_instrument.shape[1]
    n = indptr.shape[0] - 1
    kw = weights.shape[0]
    n_tasks = (n + _ROWS_PER_TASK - 1) // _ROWS_PER_TASK
    for t in numba.prange(n_tasks):
        acc = np.empty(n_scen)
        cand, cand_index = search_scratch(kw)
        vals = np.empty(k)
        idx = np.empty(k, dtype=np.int64)
        first = t * _ROWS_PER_TASK
        for r in range(first, min(n, first + _ROWS_PER_TASK)):
            acc[:] = 0.0
            for p in range(indptr[r], indptr[r + 1]):
                row = pnl_by_instrument[indices[p]]
                w = data[p]
                for s in range(n_scen):
                    acc[s] += w * row[s]
            start, _ = best_window(acc, window, weights, var, cand, cand_index)
            starts[r] = start
            _smallest_of(acc[start : start + window], k, vals, idx)
            _measures(vals, idx, tail_w, whole, r, out_var, out_es, out_worst)


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
    k, tail_w, whole = _tail_terms(confidence, w)
    n_rows = q.shape[0]
    starts = np.zeros(n_rows, dtype=np.int64)
    var, es, worst = np.empty(n_rows), np.empty(n_rows), np.empty(n_rows, dtype=np.int64)
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
            tail_w,
            whole,
            starts,
            var,
            es,
            worst,
        )
    return starts, _result(var, es, worst, k, confidence)


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
    k, weights, whole = _tail_terms(confidence, pnl_by_scenario.shape[0])
    tails = _row_tails(pnl_by_scenario, holdings, k, weights, whole, False)
    return _result(tails.var, tails.es, tails.worst, k, confidence)


def _tail_terms(confidence: float, n: int) -> tuple[int, FloatArray, bool]:
    """``k = ⌈(1 − α)·n⌉``, the ES weights of the k worst, and whether the tail mass is
    whole (then ES is their plain mean, as :func:`crossmargin.stats.tail.var_es` takes it)."""
    k, whole = _count_whole(confidence, n)
    return k, tail_weights(confidence, n), whole


@functools.lru_cache(maxsize=256, typed=True)  # typed: as stats.tail.tail_count
def _count_whole(confidence: float, n: int) -> tuple[int, bool]:
    """``k`` and whether the tail mass is whole, once per ``(α, n)`` (exact fractions)."""
    k = tail_count(confidence, n)
    return k, bool(tail_mass(confidence, n) == k)


def _result(
    var: FloatArray, es: FloatArray, worst: IntArray, k: int, confidence: float
) -> TailResult:
    """The measures as a :class:`TailResult` (the tail indices are not kept)."""
    return TailResult(
        var=var,
        es=es,
        k=np.full(var.shape, k, dtype=np.intp),
        worst_index=worst.astype(np.intp),
        tail_indices=None,
        confidence=float(confidence),
    )


__all__ = ["fused_var_es", "fused_worst_windows", "fuses", "smallest_k_rows"]
