"""Per-row tails of the books the fused kernel leaves: each row's P&L in one buffer.

The ``es``/``hvar`` models margin a large book with the fused kernel
(:mod:`crossmargin.models.fused_tail`); a smaller book (a what-if, a service request, a
netting set of a few accounts) took the plain path: the ``scenarios x rows`` P&L matrix
(:func:`crossmargin.pricing.revalue.row_pnl`), then :func:`crossmargin.stats.tail.var_es`
on it, and for the stressed window :func:`crossmargin.market.stress_windows.worst_windows`
on the history's matrix, a slice of it and ``var_es`` again. On a what-if's few rows those
are a dozen NumPy calls each of a few microseconds around little arithmetic.

Here one compiled call does it per row ``r`` (CSR entries ``(iₚ, qₚ)``), reading the
per-contract P&L instrument by instrument (``P.T``) where the caller keeps it::

    pnl[r, s] = 0 + Σₚ qₚ · P[s, iₚ]     (summed in entry order, as row_pnl sums)

the rows taken in blocks of :data:`~crossmargin.pricing.kernels.ROW_BLOCK`, each
instrument's scenarios read once for every row of the block that holds it
(:func:`crossmargin.pricing.kernels.rows_block_into`: the rows of one netting set share most
instruments, and on a what-if the reading, not the arithmetic, was most of the time: 156 ->
115 us a request for the lookback sums). It then keeps the k smallest (ascending, ties to
the earlier scenario; the fused kernel's rule) and takes VaR, ES and the worst scenario from
them as ``var_es`` does (``k = ⌈(1 − α)·n⌉``, the fractional k-th weight of Acerbi &
Tasche 2002, summed worst first). The stressed window: the row's P&L over the history, its
best window (:func:`crossmargin.market.stress_windows.best_window`, the function
``worst_windows`` calls) and the measures of that window.

The slow twins are the plain path's calls themselves; the tests check both give the same
figures bit for bit (the P&L sums are the same code, the k smallest the same values in the
same order). Rows whose worst P&L is tied take the earlier scenario as the worst, as the
fused kernel does, so a row reports the same worst scenario on every path.
"""

from __future__ import annotations

import math

import numba
import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from crossmargin.errors import InputError
from crossmargin.market.stress_windows import best_window, search_scratch, window_weights
from crossmargin.models.fused_tail import _measures, _result, _smallest_of, _tail_terms
from crossmargin.pricing.kernels import ROW_BLOCK, rows_block_into, scenario_run
from crossmargin.pricing.revalue import row_kernel_inputs
from crossmargin.stats.tail import TailResult

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@numba.njit(cache=True, nogil=True)
def _first_bad(acc: FloatArray) -> int:  # pragma: no cover - compiled
    """Position of the first non-finite value of ``acc``, or -1."""
    for s in range(acc.shape[0]):
        if not math.isfinite(acc[s]):
            return s
    return -1


@numba.njit(cache=True, nogil=True)  # no fastmath: see fused_tail
def _row_tails(
    indptr: IntArray,
    indices: IntArray,
    data: FloatArray,
    by_instrument: FloatArray,
    scenarios: IntArray,
    columns: IntArray,
    window: int,
    search_weights: FloatArray,
    var_search: bool,
    k: int,
    weights: FloatArray,
    whole: bool,
    starts: IntArray,
    var: FloatArray,
    es: FloatArray,
    worst: IntArray,
    bad: IntArray,
) -> None:  # pragma: no cover - compiled
    """Per row: its P&L over ``scenarios``; with ``window`` > 0 the start of its worst
    window of that many scenarios (``starts``), else all of them; then the k smallest there
    and the row's VaR, ES and worst scenario (within the window). The rows in blocks of
    :data:`ROW_BLOCK` (:func:`~crossmargin.pricing.kernels.rows_block_into`). ``bad = (row,
    scenario)`` of the first non-finite P&L, the rows from there left."""
    first, run = scenario_run(scenarios)
    n_rows = indptr.shape[0] - 1
    acc = np.empty((min(ROW_BLOCK, max(n_rows, 1)), scenarios.shape[0]))
    head = np.empty(acc.shape[0], dtype=np.int64)
    cand, cand_index = search_scratch(max(search_weights.shape[0], 1))
    vals = np.empty(k)
    idx = np.empty(k, dtype=np.int64)
    for r0 in range(0, n_rows, ROW_BLOCK):
        m = min(ROW_BLOCK, n_rows - r0)
        rows_block_into(indptr, indices, data, by_instrument, scenarios, columns, first, run,
                        r0, acc[:m], head)  # fmt: skip
        for j in range(m):
            s = _first_bad(acc[j])
            if s >= 0:
                bad[0], bad[1] = r0 + j, s
                return
            pnl = acc[j]
            if window > 0:
                start, _ = best_window(pnl, window, search_weights, var_search, cand, cand_index)
                starts[r0 + j] = start
                pnl = pnl[start : start + window]
            _smallest_of(pnl, k, vals, idx)
            _measures(vals, idx, weights, whole, r0 + j, var, es, worst)


def _tails(
    source: FloatArray,
    scenarios: npt.ArrayLike,
    columns: npt.ArrayLike,
    quantities: sp.spmatrix | FloatArray,
    confidence: float,
    by_instrument: FloatArray | None,
    window: int,
    measure: str,
) -> tuple[IntArray, TailResult]:
    """:func:`_row_tails` on the arguments of :func:`row_pnl
    <crossmargin.pricing.revalue.row_pnl>` (``window`` 0: no search); InputError if a row's
    P&L is not finite."""
    indptr, indices, data, by_inst, scen, cols = row_kernel_inputs(
        source, scenarios, columns, quantities, by_instrument=by_instrument
    )
    if scen.size == 0:
        raise InputError("no scenarios to take VaR/ES over, or to search a window in")
    w = min(int(window), scen.size)
    k, weights, whole = _tail_terms(confidence, w if w > 0 else scen.size)
    search = window_weights(w, confidence, measure) if w > 0 else np.zeros(0)
    n_rows = indptr.size - 1
    starts = np.zeros(n_rows, dtype=np.int64)
    var, es = np.empty(n_rows), np.empty(n_rows)
    worst, bad = np.empty(n_rows, dtype=np.int64), np.full(2, -1, dtype=np.int64)
    _row_tails(indptr, indices, data, by_inst, scen, cols, w, search, measure == "var", k,
               weights, whole, starts, var, es, worst, bad)  # fmt: skip
    if bad[0] >= 0:
        raise InputError(
            f"the scenario P&L of row {int(bad[0])} is not finite at scenario {int(bad[1])}; "
            "remove or fill missing data before calling"
        )
    return starts, _result(var, es, worst, k, confidence)


def row_var_es(
    source: FloatArray,
    scenarios: npt.ArrayLike,
    columns: npt.ArrayLike,
    quantities: sp.spmatrix | FloatArray,
    confidence: float,
    *,
    by_instrument: FloatArray | None = None,
) -> TailResult:
    """``var_es(row_pnl(source, scenarios, columns, quantities, by_instrument=...), α)``
    without the ``scenarios x rows`` matrix (module docstring); ``tail_indices`` are not
    kept. InputError if a row's P&L is not finite."""
    return _tails(source, scenarios, columns, quantities, confidence, by_instrument, 0, "es")[1]


def row_worst_windows(
    source: FloatArray,
    scenarios: npt.ArrayLike,
    columns: npt.ArrayLike,
    quantities: sp.spmatrix | FloatArray,
    window: int,
    confidence: float,
    *,
    measure: str = "es",
    by_instrument: FloatArray | None = None,
) -> tuple[IntArray, TailResult]:
    """Each row's stressed window over the history ``scenarios`` (in date order) and the
    VaR/ES there: equal to ``starts = worst_windows(P, window, α, measure=...)[0]`` on
    ``P = row_pnl(source, scenarios, columns, quantities)`` and ``var_es`` of each row's P&L
    over ``[start, start + window)`` (``window`` taken at most the history's length)."""
    if measure not in ("es", "var"):
        raise InputError(f"unknown measure {measure!r}: use 'es' or 'var'")
    if window < 1:
        raise InputError(f"the stressed window must be >= 1 scenario, got {window}")
    return _tails(source, scenarios, columns, quantities, confidence, by_instrument, window,
                  measure)  # fmt: skip


__all__ = ["row_var_es", "row_worst_windows"]
