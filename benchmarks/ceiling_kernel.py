"""A hand-tuned option scenario-P&L kernel: the ceiling the project's kernel is measured against.

It takes exactly the arguments of :func:`crossmargin.pricing.kernels.option_pnl_into` and
fills the same two matrices, written for speed alone, as the model-validation review did:

* ``error_model="numpy"`` (no Python-style division checks);
* indices cast to unsigned before use (no negative-index wraparound test per access);
* columns visited grouped by underlying, the scenario's factor, log factor and vol shift of
  that underlying loaded once per group;
* branch-free per cell: the call/put sign, the inverse division and the coin conversion are
  arithmetic selections, not ``if``s (only the ``σ√T₁ = 0`` intrinsic case branches, and it is
  the same branch for a whole column).

Kept in ``benchmarks/`` as a fixed reference: ``bench_option_kernel_vs_ceiling`` in
``core.py`` checks both agree to 1e-13 and prints the project kernel's speed as a fraction of
this one's.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
_SQRT_HALF = 0.7071067811865476


def grouping(uidx: IntArray) -> tuple[IntArray, IntArray]:
    """Column order grouped by underlying, and each group's start (length groups + 1)."""
    order = np.argsort(uidx, kind="stable").astype(np.int64)
    keys = uidx[order]
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]]).astype(np.int64)
    return order, np.append(starts, keys.size).astype(np.int64)


@numba.njit(parallel=True, cache=True, nogil=True, error_model="numpy")
def ceiling_option_pnl_into(
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
    order: IntArray,
    starts: IntArray,
) -> None:
    """Same output as the project kernel; ``order``/``starts`` from :func:`grouping`."""
    n_groups = starts.shape[0] - 1
    absolute = 1.0 if vol_absolute else 0.0
    for i in numba.prange(rows.shape[0]):
        s = np.uint64(rows[i])
        for g in range(n_groups):
            lo = np.uint64(starts[g])
            hi = np.uint64(starts[g + 1])
            u = np.uint64(uidx[order[lo]])
            f = factor[s, u]
            lnf = ln_factor[s, u]
            shift0 = vol_shift[s, u]
            for k in range(lo, hi):
                j = np.uint64(order[k])
                fwd = fwd_hat[j] * f
                shift = shift0 * vol_gain[j]
                v0j = vol0[j]
                vol = max(absolute * (v0j + shift) + (1.0 - absolute) * v0j * (1.0 + shift),
                          vol_min)  # fmt: skip
                sd = vol * sqrt_t1[j]
                w = omega[j]
                if sd > 0.0:
                    d1 = (ln_fwd_over_k[j] + lnf) / sd + 0.5 * sd
                    n1 = 0.5 * math.erfc(-w * d1 * _SQRT_HALF)
                    n2 = 0.5 * math.erfc(-w * (d1 - sd) * _SQRT_HALF)
                    value = w * scale[j] * (fwd * n1 - strike[j] * n2)
                else:
                    value = scale[j] * max(w * (fwd - strike[j]), 0.0)
                inv = 1.0 if inverse[j] else 0.0
                value = value * (inv / fwd + (1.0 - inv))
                sc = settle_col[j]
                conv = 1.0 if sc >= 0 else 0.0
                fx = x0[j] * (conv * factor[s, np.uint64(max(sc, 0))] + (1.0 - conv))
                c = np.uint64(cols[j])
                pnl_settle[s, c] = value - v0[j]
                pnl_report[s, c] = value * fx - v0[j] * x0[j]
