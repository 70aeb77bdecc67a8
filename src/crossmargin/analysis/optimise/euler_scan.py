"""Euler contributions of the scanning models: ``span`` and ``pm_grid``.

Both are positively homogeneous of degree 1 in the holdings (every scan loss, spread count,
short option minimum, roll shock and delta floor scales with ``q``; the weighted price risk
is degree 0), so the exact gradient of the active pieces gives ``Σᵢ qᵢ·∂M/∂qᵢ = M``.

**span** (per row and combined commodity ``c``; :mod:`crossmargin.models.span_core`)::

    ∂ScanRisk_c/∂qᵢ   = w_c[j_w]·RAᵢ[j_w]                    the binding scenario's loss
    ∂Price_c/∂qᵢ      = (w RAᵢ[j_w] + w RAᵢ[pair(j_w)])/2 − mean_T w RAᵢ
    ∂Intra_c/∂qᵢ      = δᵢ·Σ_s rate_s·∂n_s/∂D_{tier(i)}      spreads formed, forward mode
                        (each formed spread n_s = |D'|/r of the leg that limited it, D' the
                        leg's delta left by the spreads formed before it)
    Credit_c          = WPR_c·K_c,  K_c = Σ_{s ∋ c} n_s·ratio·rate,  WPR = max(Price, 0)/|Δ_c|
    ∂Credit/∂qᵢ       = K_c·∂WPR_c/∂qᵢ + WPR_c·∂K_c/∂Δ·δᵢ   (∂n_s/∂Δ by forward mode)
    ∂SOM_c/∂qᵢ        = −sᵢ for short options (GROSS; MAX: the larger side's shorts)
    Req_c = max(Scan + Intra − Credit, SOM, 0);  M = Σ_c ratio_c·Req_c

**pm_grid** (per risk unit ``u``; :mod:`crossmargin.models.pm_grid`)::

    ∂scan/∂qᵢ  = −w_s*·ΔVᵢ(s*)  (s* the worst weighted scenario)      ∂roll/∂qᵢ = sign(qᵢ)·rollᵢ
    ∂floor/∂qᵢ = S·(a·sign(N)·δᵢ + (b/2)·(sign(qᵢ)·|δᵢ| − sign(N)·δᵢ)),   N = Σ qδ
    IM_u = max(scan + roll, floor)
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from crossmargin.analysis.optimise.euler import EulerRows, finish, register_euler, row_of_data
from crossmargin.errors import ModelError
from crossmargin.models.span_core import SpanArrays, Spread

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


def span_gradient(arrays: SpanArrays, h: sp.csr_matrix) -> tuple[FloatArray, FloatArray]:
    """``(total per row, ∂total/∂q per stored element)`` of SPAN initial margin (docstring)."""
    rows, n = h.shape
    m, s = len(arrays.cc_names), arrays.n_scenarios
    r_nz, c_nz = row_of_data(h), h.indices.astype(np.int64)
    cc_nz = arrays.cc_of[c_nz]
    wloss = arrays.loss * arrays.weights[arrays.cc_of].T  # (s, n) weighted loss per long
    by_col = h.tocsc()
    j_w = np.zeros((rows, m), dtype=np.int64)
    l_w, scan, price = np.zeros((rows, m)), np.zeros((rows, m)), np.zeros((rows, m))
    for c in range(m):
        cols = np.flatnonzero(arrays.cc_of == c)
        if cols.size == 0:
            continue
        loss = np.asarray(by_col[:, cols].tocsr() @ wloss[:, cols].T).reshape(rows, s)
        jw = np.argmax(loss, axis=1)
        lw = loss[np.arange(rows), jw]
        lp = loss[np.arange(rows), arrays.pair[jw]]
        j_w[:, c], l_w[:, c] = jw, lw
        scan[:, c] = np.maximum(lw, 0.0)
        price[:, c] = (lw + lp) / 2.0 - loss[:, arrays.time_scenarios].mean(axis=1)
    jw_nz = j_w[r_nz, cc_nz]
    g_scan = wloss[jw_nz, c_nz] * (l_w[r_nz, cc_nz] > 0.0)
    t_mean = wloss[arrays.time_scenarios].mean(axis=0)
    g_price = (wloss[jw_nz, c_nz] + wloss[arrays.pair[jw_nz], c_nz]) / 2.0 - t_mean[c_nz]
    k = arrays.tier_cc.shape[0]
    to_tier = sp.csr_matrix((arrays.composite_delta, (np.arange(n), arrays.tier_of)), shape=(n, k))
    tier_delta = np.asarray((h @ to_tier).toarray()).reshape(rows, k)
    tier_to_cc = np.zeros((k, m))
    tier_to_cc[np.arange(k), arrays.tier_cc] = 1.0
    cc_delta = tier_delta @ tier_to_cc
    intra, g_tier = _intra(arrays, tier_delta, m)
    k_credit, formed = _inter_counts(arrays.inter_spreads, cc_delta)
    abs_delta = np.abs(cc_delta)
    live = abs_delta > 0
    wpr = np.divide(np.maximum(price, 0.0), abs_delta, out=np.zeros_like(price), where=live)
    credit = wpr * k_credit
    calls, puts, g_som = _som(arrays, h, rows, m, r_nz, c_nz, cc_nz)
    gross = np.ones(m, dtype=bool) if arrays.som_gross is None else arrays.som_gross
    som = np.where(gross, calls + puts, np.maximum(calls, puts))
    main = scan + intra - credit
    is_main = main >= som
    requirement = np.maximum(np.where(is_main, main, som), 0.0)
    ratio = np.ones(m) if arrays.im_ratio is None else arrays.im_ratio
    total = requirement @ ratio
    mu = ratio * is_main
    sigma = ratio * ~is_main
    g_delta = np.zeros((rows, m))  # ∂M/∂Δ_c through the inter spreads' counts
    for spread, grad_n in formed:
        coef = spread.rate * (
            mu[:, spread.a] * wpr[:, spread.a] * spread.ratio_a
            + mu[:, spread.b] * wpr[:, spread.b] * spread.ratio_b
        )
        g_delta -= coef[:, None] * grad_n
    delta = arrays.composite_delta[c_nz]
    at = (r_nz, cc_nz)
    own = price[at] > 0.0
    g_wpr = np.where(
        own & live[at],
        (g_price - wpr[at] * np.sign(cc_delta[at]) * delta)
        / np.where(live[at], abs_delta[at], 1.0),
        0.0,
    )
    g = (
        mu[at] * (g_scan + g_tier[r_nz, arrays.tier_of[c_nz]] * delta - k_credit[at] * g_wpr)
        + g_delta[at] * delta
        + sigma[at] * g_som
    )
    return total, g


def _intra(arrays: SpanArrays, tier_delta: FloatArray, m: int) -> tuple[FloatArray, FloatArray]:
    """Intra-commodity charge per (row, CC) and its gradient per (row, tier) (forward mode)."""
    rows, k = tier_delta.shape
    intra, g_tier = np.zeros((rows, m)), np.zeros((rows, k))
    by_cc: dict[int, list[Spread]] = {}
    for spread in arrays.intra_spreads:
        by_cc.setdefault(int(arrays.tier_cc[spread.a]), []).append(spread)
    for c, spreads in by_cc.items():
        tiers = np.flatnonzero(arrays.tier_cc == c)
        local = {int(t): j for j, t in enumerate(tiers)}
        cur = tier_delta[:, tiers].copy()
        jac = np.broadcast_to(np.eye(tiers.size), (rows, tiers.size, tiers.size)).copy()
        grad = np.zeros((rows, tiers.size))
        for spread in spreads:
            a, b = local[spread.a], local[spread.b]
            n, grad_n = _form(cur, jac, a, b, spread)
            intra[:, c] += n * spread.rate
            grad += spread.rate * grad_n
        g_tier[:, tiers] = grad
    return intra, g_tier


def _form(
    cur: FloatArray, jac: FloatArray, a: int, b: int, spread: Spread
) -> tuple[FloatArray, FloatArray]:
    """Form one spread on ``cur`` (rows, legs) in place, tracking ``jac`` = ∂cur/∂original;
    returns the spreads formed per row and their gradient with respect to the originals."""
    da, db = cur[:, a].copy(), cur[:, b].copy()
    sa, sb = np.sign(da), np.sign(db)
    offset = sa * sb < 0
    na, nb = np.abs(da) / spread.ratio_a, np.abs(db) / spread.ratio_b
    a_binds = na <= nb
    n = np.where(offset, np.minimum(na, nb), 0.0)
    grad_n = np.where(
        offset[:, None],
        np.where(
            a_binds[:, None],
            (sa / spread.ratio_a)[:, None] * jac[:, a, :],
            (sb / spread.ratio_b)[:, None] * jac[:, b, :],
        ),
        0.0,
    )
    cur[:, a] = da - sa * n * spread.ratio_a
    cur[:, b] = db - sb * n * spread.ratio_b
    jac[:, a, :] -= (sa * spread.ratio_a)[:, None] * grad_n
    jac[:, b, :] -= (sb * spread.ratio_b)[:, None] * grad_n
    return n, grad_n


def _inter_counts(
    spreads: tuple[Spread, ...], cc_delta: FloatArray
) -> tuple[FloatArray, list[tuple[Spread, FloatArray]]]:
    """``K_c = Σ_{s∋c} n_s·ratio·rate`` per (row, CC), and each spread's ``∂n_s/∂Δ``
    (rows, CCs), forming spreads in priority order on a copy of the CC deltas."""
    rows, m = cc_delta.shape
    k_credit = np.zeros((rows, m))
    formed: list[tuple[Spread, FloatArray]] = []
    if not spreads:
        return k_credit, formed
    cur = cc_delta.copy()
    jac = np.broadcast_to(np.eye(m), (rows, m, m)).copy()
    for spread in spreads:
        n, grad_n = _form(cur, jac, spread.a, spread.b, spread)
        k_credit[:, spread.a] += n * spread.ratio_a * spread.rate
        k_credit[:, spread.b] += n * spread.ratio_b * spread.rate
        formed.append((spread, grad_n))
    return k_credit, formed


def _som(
    arrays: SpanArrays,
    h: sp.csr_matrix,
    rows: int,
    m: int,
    r_nz: IntArray,
    c_nz: IntArray,
    cc_nz: IntArray,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Short calls and short puts SOM per (row, CC), and ∂SOM/∂q per stored element."""
    if arrays.som_per_short is None or arrays.is_call is None or arrays.is_put is None:
        zero = np.zeros((rows, m))
        return zero, zero.copy(), np.zeros(c_nz.size)
    short = h.data < 0
    per = arrays.som_per_short[c_nz] * short
    is_call, is_put = arrays.is_call[c_nz], arrays.is_put[c_nz]
    calls, puts = np.zeros((rows, m)), np.zeros((rows, m))
    np.add.at(calls, (r_nz, cc_nz), -h.data * per * is_call)
    np.add.at(puts, (r_nz, cc_nz), -h.data * per * is_put)
    gross = np.ones(m, dtype=bool) if arrays.som_gross is None else arrays.som_gross
    call_side = calls[r_nz, cc_nz] >= puts[r_nz, cc_nz]
    use = np.where(gross[cc_nz], is_call | is_put, np.where(call_side, is_call, is_put))
    return calls, puts, np.where(use, -per, 0.0)


def _span(model: Any, context: Any, h: sp.csr_matrix) -> EulerRows:
    total, g = span_gradient(context.arrays, h)
    return finish(h, total, g, "euler (span: binding scenario, spreads formed; degree 1)")


# ------------------------------------------------------------------------------ pm_grid
def pm_grid_gradient(context: Any, h: sp.csr_matrix) -> tuple[FloatArray, FloatArray]:
    """``(IM per row, ∂IM/∂q per stored element)`` of ``pm_grid`` (module docstring)."""
    rows = h.shape[0]
    r_nz, c_nz = row_of_data(h), h.indices.astype(np.int64)
    unit_of = np.full(h.shape[1], -1, dtype=np.int64)
    local = np.zeros(h.shape[1], dtype=np.int64)
    for u, unit in enumerate(context.units):
        unit_of[unit.cols] = u
        local[unit.cols] = np.arange(unit.cols.size)
    if np.any(unit_of[c_nz] < 0):
        raise ModelError("pm_grid: holdings name an instrument outside every risk unit")
    total = np.zeros(rows)
    g = np.zeros(c_nz.size)
    q = h.data
    for u, unit in enumerate(context.units):
        hu = sp.csr_matrix(h[:, unit.cols])
        weighted = np.asarray(hu @ unit.pnl.T) * unit.weights
        worst = np.argmin(weighted, axis=1) if weighted.shape[1] else np.zeros(rows, np.int64)
        scan = np.maximum(-weighted[np.arange(rows), worst], 0.0)
        roll = np.asarray(abs(hu) @ unit.roll).reshape(rows)
        net = np.asarray(hu @ unit.delta).reshape(rows)
        gross = np.asarray(abs(hu) @ np.abs(unit.delta)).reshape(rows)
        a, b = unit.grid.min_delta_net_rate, unit.grid.min_delta_hedged_rate
        floor = (a * np.abs(net) + b * np.maximum((gross - np.abs(net)) / 2.0, 0.0)) * unit.spot
        risk = scan + roll
        total += np.maximum(risk, floor)
        sel = unit_of[c_nz] == u
        rr, jj, qq = r_nz[sel], local[c_nz[sel]], q[sel]
        g_scan = np.where(scan[rr] > 0, -unit.weights[worst[rr]] * unit.pnl[worst[rr], jj], 0.0)
        g_roll = np.sign(qq) * unit.roll[jj]
        d, sn = unit.delta[jj], np.sign(net[rr])
        g_floor = unit.spot * (a * sn * d + b / 2.0 * (np.sign(qq) * np.abs(d) - sn * d))
        g[sel] = np.where(risk[rr] >= floor[rr], g_scan + g_roll, g_floor)
    return total, g


def _pm_grid(model: Any, context: Any, h: sp.csr_matrix) -> EulerRows:
    total, g = pm_grid_gradient(context, h)
    return finish(h, total, g, "euler (pm_grid: worst scenario, roll, delta floor; degree 1)")


def _register() -> None:
    from crossmargin.models.pm_grid import PMGridModel
    from crossmargin.models.span import SpanModel

    register_euler(SpanModel)(_span)
    register_euler(PMGridModel)(_pm_grid)


_register()

__all__ = ["pm_grid_gradient", "span_gradient"]
