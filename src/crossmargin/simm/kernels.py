"""Vectorised aggregation kernels shared by the SIMM delta, vega and curvature margins.

Notation of the ISDA SIMM Methodology (v2.5+, sections B and C): weighted sensitivities
``WS_k`` of the risk factors ``k`` of one bucket ``b``, concentration factors ``CR``,
correlations ``ρ_kl`` within a bucket and ``γ_bc`` across buckets.

Within a bucket::

    K_b = √( Σ_k WS_k² + Σ_{k≠l} ρ_kl · f_kl · WS_k · WS_l ),   f_kl = min(CR_k,CR_l)/max(CR_k,CR_l)

Across buckets::

    M = √( Σ_b K_b² + Σ_{b≠c} γ_bc · g_bc · S_b · S_c ),   S_b = max(min(Σ_k WS_k, K_b), −K_b)

:func:`bucket_constant_corr` evaluates ``K_b`` without building the ``n × n`` matrix when
``ρ`` takes one value within an issuer/qualifier and another across them (credit, equity,
commodity, FX vega, every curvature bucket): sorting the qualifiers by ``CR`` turns the
``f``-weighted cross sum into a prefix sum, O(n log n).  The plain double loop it replaces
lives in the tests as its twin.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.intp]


def concentration_factor(net_sensitivity: FloatArray, threshold: float) -> FloatArray:
    """``CR = max(1, √(|Σ s| / T))``; all ones when ``T`` is infinite (concentration off)."""
    if math.isinf(threshold):
        return np.ones_like(net_sensitivity, dtype=np.float64)
    return np.maximum(1.0, np.sqrt(np.abs(net_sensitivity) / threshold))


def ratio_cross_sum(totals: FloatArray, cr: FloatArray) -> float:
    """``Σ_{q≠r} min(CR_q,CR_r)/max(CR_q,CR_r) · Q_q · Q_r`` in O(m log m).

    With the groups sorted by ``CR`` ascending, each unordered pair ``q < r`` contributes
    ``(CR_q / CR_r) · Q_q · Q_r``, so the sum is ``2 Σ_r (Q_r / CR_r) · Σ_{q<r} CR_q Q_q``.
    """
    if totals.size < 2:
        return 0.0
    order = np.argsort(cr, kind="stable")
    q = totals[order]
    c = cr[order]
    weighted = c * q
    before = np.cumsum(weighted) - weighted
    return float(2.0 * np.sum(q / c * before))


def grouped_ratio_cross_sum(totals: FloatArray, cr: FloatArray, group: IntArray) -> float:
    """:func:`ratio_cross_sum` restricted to pairs inside the same ``group``, summed."""
    if totals.size < 2:
        return 0.0
    order = np.lexsort((cr, group))
    q, c, g = totals[order], cr[order], group[order]
    weighted = c * q
    running = np.cumsum(weighted)
    starts = np.flatnonzero(np.r_[True, g[1:] != g[:-1]])
    offset = np.repeat(running[starts] - weighted[starts], np.diff(np.r_[starts, g.size]))
    before = running - offset - weighted
    return float(2.0 * np.sum(q / c * before))


def bucket_constant_corr(
    ws: FloatArray,
    cell: IntArray,
    cr_by_cell: FloatArray,
    rho_same: float,
    rho_diff: float,
    corr_group_by_cell: IntArray | None = None,
) -> float:
    """``K_b`` when ``ρ`` is ``rho_same`` inside a correlation group and ``rho_diff`` across.

    Parameters
    ----------
    ws:
        Weighted sensitivities of the bucket's risk factors.
    cell:
        Index ``0 … m−1`` of each factor's cell: the factors of one qualifier (sharing one
        concentration factor) within one correlation group.
    cr_by_cell:
        Concentration factor of each cell (of its qualifier); ``f`` is 1 within a cell.
    corr_group_by_cell:
        Correlation group of each cell (credit: the issuer, or for CreditNonQ the Label2
        group name); default: each cell is its own group.

    Notes
    -----
    With ``Q_c`` the cell totals::

        Σ_{k≠l} ρ_kl f_kl WS_k WS_l = ρ_same · [Σ_c (Q_c² − Σ_{k∈c} WS_k²) + X_group]
                                    + ρ_diff · (X_all − X_group)

    where ``X`` is :func:`ratio_cross_sum` over all cells or inside each group.
    """
    m = cr_by_cell.size
    totals = np.asarray(np.bincount(cell, weights=ws, minlength=m), dtype=np.float64)
    squares = np.asarray(np.bincount(cell, weights=ws * ws, minlength=m), dtype=np.float64)
    diagonal = float(np.sum(squares))
    within = float(np.sum(totals * totals - squares))
    across = ratio_cross_sum(totals, cr_by_cell)
    in_group = 0.0
    if corr_group_by_cell is not None:
        in_group = grouped_ratio_cross_sum(totals, cr_by_cell, corr_group_by_cell)
    k2 = diagonal + rho_same * (within + in_group) + rho_diff * (across - in_group)
    return math.sqrt(max(k2, 0.0))


def bucket_dense(ws: FloatArray, corr: FloatArray) -> float:
    """``K_b = √(wsᵀ · C · ws)`` for a small bucket with an explicit correlation matrix."""
    k2 = float(ws @ corr @ ws)
    return math.sqrt(max(k2, 0.0))


def ratio_matrix(cr: FloatArray) -> FloatArray:
    """``min(CR_k,CR_l)/max(CR_k,CR_l)`` for every pair."""
    return np.minimum.outer(cr, cr) / np.maximum.outer(cr, cr)


def across_buckets(k: FloatArray, s: FloatArray, gamma: FloatArray) -> float:
    """``√(Σ K_b² + Σ_{b≠c} γ_bc · S_b · S_c)``; ``gamma`` already holds any ``g_bc`` factor.

    The diagonal of ``gamma`` is ignored.
    """
    if k.size == 0:
        return 0.0
    off = gamma.copy()
    np.fill_diagonal(off, 0.0)
    total = float(np.sum(k * k) + s @ off @ s)
    return math.sqrt(max(total, 0.0))


def clamp(total: float, k: float) -> float:
    """``S_b = max(min(Σ WS, K_b), −K_b)``."""
    return max(min(total, k), -k)


__all__ = [
    "across_buckets",
    "bucket_constant_corr",
    "bucket_dense",
    "clamp",
    "concentration_factor",
    "grouped_ratio_cross_sum",
    "ratio_cross_sum",
    "ratio_matrix",
]
