"""Fused ``pm_grid`` scan: each row's grid P&L reduced to its worst scenario on the fly.

The plain path (:func:`crossmargin.models.pm_grid_units.dense_agg`, the slow twin) builds,
per risk unit, the dense ``(held rows x scenarios)`` matrix of aggregated P&L and takes its
row minima: at 1,001 scenarios per underlying that is 8 kB per row and unit, 560 MB for the
BTC unit of 10,000 accounts' tier rows, most of a run's time spent writing and re-reading
it. The fused kernel keeps one ``(currency groups x scenarios)`` buffer per task instead.
For holdings row ``r`` with CSR entries ``(jₚ, qₚ)`` over the unit's columns, scenario
``s`` of weight ``w_s`` and currency group ``g`` [formulas: :mod:`.pm_grid_addons`]::

    P_g(r, s) = w_s · Σ_{p : group(jₚ) = g} qₚ · pnl[s, jₚ]          (summed in CSR order)
    V_g(r, s) = sign(P_g) · max(|P_g| − D_g(s), 0)     extended s, group with a dampener
    V_g(r, s) = min(V_g, 0) + min(o_g · max(V_g, 0), cap_g)   unless o_g ≥ 1 and cap_g = ∞
    A(r, s)   = Σ_g V_g(r, s)                                  (groups in unit order)
    worst(r)  = the first s with A(r, s) = min_s A(r, s);   scan(r) = max(−A(r, worst), 0)

which is the twin's arithmetic operation for operation (the sums may differ in the last
bit where the twin's sparse product adds a row's entries in another order; the tests hold
the two to 1e-12 and the worst scenario equal). Memory is ``rows`` scan values and indices,
whatever the number of scenarios.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba
import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from crossmargin.pricing.kernels import KERNEL_LOCK

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

#: Rows per parallel task: each task allocates one (groups x scenarios) buffer and reuses it.
_ROWS_PER_TASK = 256


def _scan_rows_py(
    indptr: IntArray,
    indices: IntArray,
    data: FloatArray,
    by_column: FloatArray,
    group_of: IntArray,
    weights: FloatArray,
    allowance: FloatArray,
    dampened: npt.NDArray[np.bool_],
    offset: FloatArray,
    cap: FloatArray,
    plain: npt.NDArray[np.bool_],
    scan: FloatArray,
    worst: IntArray,
) -> None:  # pragma: no cover - compiled
    """Worst scenario and scan loss of every row of the CSR ``(indptr, indices, data)``
    (module docstring); ``by_column`` is (columns, scenarios), ``allowance`` (groups,
    scenarios) with 0 outside the extended scenarios.

    Each group's pass over the scenarios is one of four branch-free loops (dampened or not,
    offset and capped or not), so the compiler vectorises it; ``d = 0`` leaves ``V`` as it is
    (``|v| − 0 = |v|``), so the dampened loop needs no test for the extended scenarios."""
    n = indptr.shape[0] - 1
    n_groups = allowance.shape[0]
    n_scen = by_column.shape[1]
    n_tasks = (n + _ROWS_PER_TASK - 1) // _ROWS_PER_TASK
    for t in numba.prange(n_tasks):
        acc = np.empty((n_groups, n_scen))
        total = np.empty(n_scen)
        first = t * _ROWS_PER_TASK
        for r in range(first, min(n, first + _ROWS_PER_TASK)):
            acc[:, :] = 0.0
            for p in range(indptr[r], indptr[r + 1]):
                row = by_column[indices[p]]
                q = data[p]
                a = acc[group_of[indices[p]]]
                for s in range(n_scen):
                    a[s] += q * row[s]
            total[:] = 0.0
            for g in range(n_groups):
                a = acc[g]
                d = allowance[g]
                o = offset[g]
                c = cap[g]
                if dampened[g] and not plain[g]:
                    for s in range(n_scen):
                        v = a[s] * weights[s]
                        cut = max(abs(v) - d[s], 0.0)
                        v = cut if v > 0.0 else (-cut if v < 0.0 else v)
                        total[s] += min(v, 0.0) + min(o * max(v, 0.0), c)
                elif dampened[g]:
                    for s in range(n_scen):
                        v = a[s] * weights[s]
                        cut = max(abs(v) - d[s], 0.0)
                        total[s] += cut if v > 0.0 else (-cut if v < 0.0 else v)
                elif not plain[g]:
                    for s in range(n_scen):
                        v = a[s] * weights[s]
                        total[s] += min(v, 0.0) + min(o * max(v, 0.0), c)
                else:
                    for s in range(n_scen):
                        total[s] += a[s] * weights[s]
            at = _first_minimum(total)
            worst[r] = at
            scan[r] = max(-total[at], 0.0) if n_scen else 0.0


@numba.njit(cache=True, nogil=True, inline="always")
def _first_minimum(values: FloatArray) -> int:  # pragma: no cover - compiled
    """The first index of the smallest of ``values`` (0 if empty), NaN never chosen: the
    minimum over eight interleaved lanes (vectorised), then the first entry equal to it."""
    n = values.shape[0]
    lanes = np.full(8, math.inf)
    full = n - n % 8
    for s0 in range(0, full, 8):
        for k in range(8):
            v = values[s0 + k]
            lanes[k] = v if v < lanes[k] else lanes[k]
    best = math.inf
    for k in range(8):
        best = lanes[k] if lanes[k] < best else best
    for s in range(full, n):
        best = values[s] if values[s] < best else best
    for s in range(n):
        if values[s] == best:
            return s
    return 0


# one source, compiled twice: threads pay off on large books only (a small book, a what-if,
# would spend more starting the thread pool than scanning)
_scan_rows = numba.njit(parallel=True, cache=True, nogil=True)(_scan_rows_py)
_scan_rows_serial = numba.njit(cache=True, nogil=True)(_scan_rows_py)
#: Entries x scenarios above which the threaded kernel runs.
PARALLEL_MIN_WORK = 2_000_000


@dataclass(frozen=True, slots=True)
class ScanTerms:
    """A unit's scan terms as the kernel reads them, converted once: the scenario
    ``weights``; each column's currency group ``group_of``; each group's dampener per
    scenario ``allowance`` (USD, 0 off the extended table) and whether it has any
    (``dampened``); each group's gain ``offset``, its ``cap``, and whether both leave gains
    as they are (``plain``: offset >= 1 and no cap)."""

    weights: FloatArray
    group_of: IntArray
    allowance: FloatArray
    dampened: npt.NDArray[np.bool_]
    offset: FloatArray
    cap: FloatArray
    plain: npt.NDArray[np.bool_]

    @classmethod
    def of(
        cls,
        weights: npt.ArrayLike,
        group_of: npt.ArrayLike,
        allowance: npt.ArrayLike,
        offset: npt.ArrayLike,
        cap: npt.ArrayLike,
    ) -> ScanTerms:
        allow = np.ascontiguousarray(allowance, dtype=np.float64)
        off = np.asarray(offset, dtype=np.float64)
        top = np.asarray(cap, dtype=np.float64)
        return cls(
            weights=np.asarray(weights, dtype=np.float64),
            group_of=np.asarray(group_of, dtype=np.int64),
            allowance=allow,
            dampened=np.asarray(allow.any(axis=1)),
            offset=off,
            cap=top,
            plain=(off >= 1.0) & np.isinf(top),
        )


def fused_scan(
    holdings: sp.csr_matrix | tuple[npt.ArrayLike, npt.ArrayLike, FloatArray],
    pnl: FloatArray,
    weights: FloatArray,
    group_of: IntArray,
    allowance: FloatArray,
    offset: FloatArray,
    cap: FloatArray,
) -> tuple[FloatArray, IntArray]:
    """``(scan, worst)`` of every row of ``holdings`` (rows x the unit's columns: a CSR
    matrix, or its ``(indptr, indices, data)`` arrays, so that a what-if's few rows are
    scanned without a matrix object) under the unit's ``pnl`` (scenarios x columns, before
    the weights); ``group_of`` gives each column's currency group, ``allowance`` each group's
    dampener per scenario (USD, 0 off the extended table), ``offset``/``cap`` each group's
    gain offset and its cap. :func:`scan_rows` with the terms a unit keeps converted."""
    return scan_rows(holdings, pnl, ScanTerms.of(weights, group_of, allowance, offset, cap))


def scan_rows(
    holdings: sp.csr_matrix | tuple[npt.ArrayLike, npt.ArrayLike, FloatArray],
    pnl: FloatArray,
    terms: ScanTerms,
) -> tuple[FloatArray, IntArray]:
    """:func:`fused_scan` on a unit's converted :class:`ScanTerms`."""
    if isinstance(holdings, tuple):
        indptr, indices, data = holdings
    else:
        h = sp.csr_matrix(holdings, dtype=np.float64)
        indptr, indices, data = h.indptr, h.indices, h.data
    indptr = np.asarray(indptr, dtype=np.int64)
    n = indptr.shape[0] - 1
    scan = np.zeros(n)
    worst = np.zeros(n, dtype=np.int64)
    if n == 0 or pnl.shape[0] == 0:
        return scan, worst
    data = np.asarray(data, dtype=np.float64)
    # only the columns the rows hold are laid out by column (a what-if holds a few of a
    # context's hundreds); renumbering keeps each row's entries in their order
    columns = np.asarray(indices, dtype=np.int64).reshape(-1)
    held = np.zeros(pnl.shape[1], dtype=bool)
    held[columns] = True
    used = held.nonzero()[0]  # as np.unique: ascending, each once
    place = np.cumsum(held) - 1  # a held column's place in ``used``
    local = place[columns]
    kernel = _scan_rows if data.size * pnl.shape[0] >= PARALLEL_MIN_WORK else _scan_rows_serial
    with KERNEL_LOCK:
        kernel(
            indptr,
            local,
            data,
            np.ascontiguousarray(pnl[:, used].T, dtype=np.float64),
            terms.group_of[used],
            terms.weights,
            terms.allowance,
            terms.dampened,
            terms.offset,
            terms.cap,
            terms.plain,
            scan,
            worst,
        )
    return scan, worst


@numba.njit(cache=True, nogil=True)
def unit_entries(
    indptr: IntArray,
    indices: IntArray,
    data: FloatArray,
    local_of: IntArray,
    delta: FloatArray,
    roll: FloatArray,
) -> tuple[IntArray, FloatArray, IntArray, IntArray, FloatArray, FloatArray, FloatArray]:
    """One pass over a canonical CSR matrix's entries (``indptr``, ``indices``, ``data``:
    rows x instruments) picking those in one unit's columns (``local_of[column]`` >= 0: the
    column's place in the unit; columns past its end are not the unit's), in CSR order.

    Returns each picked entry's ``local`` column and ``quantity``; the rows holding
    any (``held``, ascending; a stored zero counts) and their pointers over the entries; and
    per row ``net = Σ q·δ``, ``gross = Σ |q|·|δ|`` and ``roll = Σ |q|·roll`` over its entries,
    each added in CSR order from 0: the sparse products' sums, bit for bit (``δ``, ``roll``
    per unit column)."""  # pragma: no cover - compiled
    n = indptr.shape[0] - 1
    size = local_of.shape[0]
    count = 0
    for p in range(indptr[0], indptr[n]):
        if indices[p] < size and local_of[indices[p]] >= 0:
            count += 1
    local = np.empty(count, dtype=np.int64)
    quantity = np.empty(count)
    per_row = np.zeros(n, dtype=np.int64)
    net, gross, rolled = np.zeros(n), np.zeros(n), np.zeros(n)
    k = 0
    for r in range(n):
        for p in range(indptr[r], indptr[r + 1]):
            c = indices[p]
            if c >= size or local_of[c] < 0:
                continue
            j = local_of[c]
            q = data[p]
            local[k], quantity[k] = j, q
            k += 1
            per_row[r] += 1
            net[r] += q * delta[j]
            gross[r] += abs(q) * abs(delta[j])
            rolled[r] += abs(q) * roll[j]
    n_held = 0
    for r in range(n):
        if per_row[r] > 0:
            n_held += 1
    held = np.empty(n_held, dtype=np.int64)
    pointers = np.zeros(n_held + 1, dtype=np.int64)
    h = 0
    for r in range(n):
        if per_row[r] > 0:
            held[h] = r
            pointers[h + 1] = pointers[h] + per_row[r]
            h += 1
    return local, quantity, held, pointers, net, gross, rolled


__all__ = ["ScanTerms", "fused_scan", "scan_rows", "unit_entries"]
