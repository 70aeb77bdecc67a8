"""Compiled hot path: option scenario P&L, fused into one pass (numba, parallel).

For option column ``j`` on underlying ``u`` and scenario ``s`` (rows sharing one time
step, so per-column ``T₁``, ``√T₁``, ``e^{bT₁}`` and ``e^{−rT₁}`` are precomputed)::

    F   = F̂_j · f[s,u]                 F̂_j = S₀·e^{b·T₁}
    σ   = max(σ₀ + x·g_j, σ_min)  or  max(σ₀·(1 + x·g_j), σ_min)     x = vol shock[s,u]
    d1  = (ln(F̂_j/K) + ln f[s,u])/(σ√T₁) + σ√T₁/2,  d2 = d1 − σ√T₁
    V   = m·e^{−rT₁}·ω·(F·N(ω·d1) − K·N(ω·d2))      ω = ±1 (call/put), ÷ F if inverse
    P&L (settlement) = V − V₀;   P&L (reporting) = V·X₀·f[s, c_j] − V₀·X₀   (c_j: coin column)

Cells with ``σ√T₁ = 0`` take the discounted intrinsic value on the forward. The plain
NumPy kernel :func:`crossmargin.pricing.black.gbs_price` (through
:func:`crossmargin.pricing.valuation.settlement_value`) is the reference twin; the tests
check that both agree.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import numba
import numpy as np
from numpy.typing import NDArray

# Threading layer: ``workqueue`` is fork-safe (backtests fork worker processes; GNU OpenMP
# aborts on fork) but not thread-safe, so every launch of a parallel kernel holds
# ``KERNEL_LOCK`` (a service answering in several threads stays safe; a kernel already uses
# every core). A layer chosen through NUMBA_THREADING_LAYER is respected.
if "NUMBA_THREADING_LAYER" not in os.environ:
    numba.config.THREADING_LAYER = "workqueue"  # type: ignore[attr-defined]
KERNEL_LOCK = threading.Lock()
_F = TypeVar("_F", bound=Callable[..., Any])


def _locked(kernel: _F) -> _F:
    def call(*args: Any) -> Any:
        with KERNEL_LOCK:
            return kernel(*args)

    return call  # type: ignore[return-value]


FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
_SQRT_HALF = 0.7071067811865476


@_locked
@numba.njit(parallel=True, cache=True, nogil=True)
def option_pnl_into(
    rows: IntArray,
    cols: IntArray,
    fwd_hat: FloatArray,
    ln_fwd_over_k: FloatArray,
    strike: FloatArray,
    omega: FloatArray,
    scale: FloatArray,
    inverse: NDArray[np.bool_],
    uidx: IntArray,
    settle_col: IntArray,
    factor: FloatArray,
    ln_factor: FloatArray,
    sqrt_t1: FloatArray,
    vol0: FloatArray,
    vol_gain: FloatArray,
    vol_shift: FloatArray,
    vol_absolute: bool,
    vol_min: float,
    v0: FloatArray,
    x0: FloatArray,
    pnl_settle: FloatArray,
    pnl_report: FloatArray,
) -> None:
    """Fill ``pnl_settle[rows, cols]`` and ``pnl_report[rows, cols]`` (see module docstring).

    ``scale`` is ``m·e^{−rT₁}``; ``factor``/``ln_factor``/``vol_shift`` are indexed
    ``[s, u]`` for ``s`` in ``rows``; ``settle_col[j] < 0`` means no coin conversion.
    """
    for i in numba.prange(rows.shape[0]):
        s = rows[i]
        for j in range(cols.shape[0]):
            u = uidx[j]
            f = factor[s, u]
            fwd = fwd_hat[j] * f
            shift = vol_shift[s, u] * vol_gain[j]
            vol = vol0[j] + shift if vol_absolute else vol0[j] * (1.0 + shift)
            vol = max(vol, vol_min)
            sd = vol * sqrt_t1[j]
            w = omega[j]
            if sd > 0.0:
                d1 = (ln_fwd_over_k[j] + ln_factor[s, u]) / sd + 0.5 * sd
                d2 = d1 - sd
                n1 = 0.5 * math.erfc(-w * d1 * _SQRT_HALF)
                n2 = 0.5 * math.erfc(-w * d2 * _SQRT_HALF)
                value = w * scale[j] * (fwd * n1 - strike[j] * n2)
            else:
                value = scale[j] * max(w * (fwd - strike[j]), 0.0)
            if inverse[j]:
                value /= fwd
            c = cols[j]
            pnl_settle[s, c] = value - v0[j]
            fx = x0[j] * factor[s, settle_col[j]] if settle_col[j] >= 0 else x0[j]
            pnl_report[s, c] = value * fx - v0[j] * x0[j]


@_locked
@numba.njit(parallel=True, cache=True, nogil=True)  # no fastmath: see models.fused_tail
def _aggregate_block(
    indptr: IntArray,
    indices: NDArray[np.int32],
    data: FloatArray,
    block: FloatArray,
    out: FloatArray,
    first: int,
) -> None:
    width = block.shape[1]
    for a in numba.prange(indptr.shape[0] - 1):
        target = out[a, first : first + width]  # a view: no allocation per account
        target[:] = 0.0
        for p in range(indptr[a], indptr[a + 1]):
            row = block[indices[p]]
            w = data[p]
            for s in range(width):
                target[s] += w * row[s]


#: Rows summed together by :func:`rows_block_into` (each instrument read once per block).
ROW_BLOCK = 16


@numba.njit(cache=True, nogil=True)
def scenario_run(scenarios: IntArray) -> tuple[int, bool]:  # pragma: no cover - compiled
    """``(first, run)``: the first scenario and whether ``scenarios`` are ``first, first + 1,
    ...`` (a lookback, a history), which :func:`rows_block_into` then reads as one stream."""
    n_scenarios = scenarios.shape[0]
    first = scenarios[0] if n_scenarios else 0
    for s in range(n_scenarios):
        if scenarios[s] != first + s:
            return first, False
    return first, True


@numba.njit(cache=True, nogil=True)  # no fastmath: the same sums as _aggregate_block
def rows_block_into(
    indptr: IntArray,
    indices: IntArray,
    data: FloatArray,
    by_instrument: FloatArray,
    scenarios: IntArray,
    columns: IntArray,
    first: int,
    run: bool,
    r0: int,
    out: FloatArray,
    head: IntArray,
) -> None:  # pragma: no cover - compiled
    """Rows ``r0 .. r0 + len(out) - 1`` of :func:`rows_at_into` into ``out`` (``first``,
    ``run``: :func:`scenario_run` of ``scenarios``), each instrument's scenarios read once for
    all the rows of the block that hold it: the rows' entries are taken column by column, the
    smallest column at the head of any row first (``head``: scratch, one entry per row). Each
    row still adds its own entries in storage order, one after another from 0, per scenario
    ``0 + q₁·p₁ + q₂·p₂ + …``. Rows of one netting set share most instruments (a position's
    row, its group's, its account's), so a block reads each instrument's history once instead
    of once per row; that reading, not the arithmetic, is most of a small book's time. A run
    of scenarios is read as one slice: an index per element would be checked for wrap-around
    one by one, which keeps the loop from vectorising (3-5x slower). The per-row tail kernels
    (:mod:`crossmargin.models.row_tails`) sum through here too."""
    n_rows = out.shape[0]
    n = scenarios.shape[0]
    for j in range(n_rows):
        out[j, :] = 0.0
        head[j] = indptr[r0 + j]
    while True:
        c = -1
        for j in range(n_rows):
            if head[j] < indptr[r0 + j + 1]:
                col = indices[head[j]]
                if c < 0 or col < c:
                    c = col
        if c < 0:
            return
        series = by_instrument[columns[c]]
        for j in range(n_rows):
            p = head[j]
            if p < indptr[r0 + j + 1] and indices[p] == c:
                w = data[p]
                target = out[j]
                if run:
                    stream = series[first : first + n]
                    for s in range(n):
                        target[s] += w * stream[s]
                else:
                    for s in range(n):
                        target[s] += w * series[scenarios[s]]
                head[j] = p + 1


@numba.njit(cache=True, nogil=True)  # no fastmath: the same sums as _aggregate_block
def rows_at_into(
    indptr: IntArray,
    indices: IntArray,
    data: FloatArray,
    by_instrument: FloatArray,
    scenarios: IntArray,
    columns: IntArray,
    out: FloatArray,
) -> None:  # pragma: no cover - compiled
    """``out = Q @ P[scenarios][:, columns].T`` for CSR ``Q`` (``indptr``, ``indices``,
    ``data``: rows x ``columns``; ``out`` rows x scenarios) and the per-contract P&L ``P``
    given instrument by instrument (``by_instrument = P.T``, C order: one instrument's
    scenarios side by side), without gathering the block: per row and scenario
    ``0 + q₁·p₁ + q₂·p₂ + …`` over the row's entries in storage order, the sums
    :func:`aggregate_rows` (and the fused tail kernel) take. A row's sums do not depend on
    the other rows of the call (a BLAS product's summation order depends on the shape). The
    reference twin is SciPy's ``Q @ block.T``.

    The entries are the outer loop and the scenarios the inner one (:func:`rows_block_into`,
    in blocks of :data:`ROW_BLOCK` rows): each scenario's sum still takes the row's entries
    one after another from 0 (the same figures, bit for bit), but the scenarios' sums are
    independent, so the processor overlaps them. An instrument's scenarios lie side by side,
    and where ``scenarios`` is a run of consecutive rows (a lookback, a history) the inner
    loop reads them in one stream, which the compiler vectorises; reading ``P``
    scenario-major instead took one cache line per term (4-5x slower on a what-if's rows)."""
    first, run = scenario_run(scenarios)
    head = np.empty(ROW_BLOCK, dtype=np.int64)
    for r0 in range(0, out.shape[0], ROW_BLOCK):
        rows_block_into(indptr, indices, data, by_instrument, scenarios, columns, first, run,
                        r0, out[r0 : r0 + ROW_BLOCK], head)  # fmt: skip


@numba.njit(cache=True, nogil=True)
def dense_rows(dense: FloatArray) -> tuple[IntArray, IntArray, FloatArray]:  # pragma: no cover
    """``(indptr, indices, data)`` of the entries of ``dense`` (rows x columns) that are not
    0 (NaN counts), row by row, columns ascending: ``r, indices = np.nonzero(dense)``,
    ``data = dense[r, indices]`` and ``indptr`` the running count of ``r`` (the NumPy twin,
    :func:`crossmargin.pricing.revalue.row_kernel_inputs`'s until it; a request's few rows
    took eight array calls)."""
    n_rows, n_cols = dense.shape
    nnz = 0
    for i in range(n_rows):
        for j in range(n_cols):
            if dense[i, j] != 0.0:
                nnz += 1
    indptr = np.empty(n_rows + 1, dtype=np.int64)
    indices = np.empty(nnz, dtype=np.int64)
    data = np.empty(nnz)
    k = 0
    for i in range(n_rows):
        indptr[i] = k
        for j in range(n_cols):
            v = dense[i, j]
            if v != 0.0:
                indices[k] = j
                data[k] = v
                k += 1
    indptr[n_rows] = k
    return indptr, indices, data


def aggregate_rows(
    indptr: IntArray,
    indices: IntArray,
    data: FloatArray,
    pnl_by_instrument: FloatArray,
    *,
    block: int = 64,
) -> FloatArray:
    """``Q @ P`` for a CSR matrix ``Q`` (rows x instruments) and dense ``P`` (instruments x
    scenarios), in blocks of ``block`` scenarios so each block of ``P`` stays in cache
    (64 was fastest here for 10,000 instruments; int32 column indices halve the index
    traffic that every block re-reads).

    Returns (rows, scenarios). The reference twin is SciPy's ``Q @ P``.
    """
    n_rows = indptr.shape[0] - 1
    n_scen = pnl_by_instrument.shape[1]
    out = np.empty((n_rows, n_scen))
    cols = indices.astype(np.int32)
    ptr = indptr.astype(np.int64)
    for first in range(0, n_scen, block):
        chunk = np.ascontiguousarray(pnl_by_instrument[:, first : first + block])
        _aggregate_block(ptr, cols, data, chunk, out, first)
    return out
