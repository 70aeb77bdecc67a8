"""Euler contributions of the scanning models: ``span`` and ``pm_grid``.

``span`` is positively homogeneous of degree 1 in the holdings (every scan loss, spread count
and short option minimum scales with ``q``; the weighted price risk is degree 0), so the exact
gradient of the active pieces gives ``Σᵢ qᵢ·∂M/∂qᵢ = M``; ``pm_grid`` is where its venue has
no add-ons (below).

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

**pm_grid** (per risk unit ``u``; :mod:`crossmargin.models.pm_grid`), at the model's own
worst scenario ``s*`` and per currency group ``g`` of the unit (``p_g`` its weighted P&L at
``s*``, ``D`` the extended dampener there, ``N = Σ qδ``, ``E = max(|N| − threshold/S, 0)``)::

    ∂scan/∂qᵢ   = −w_s*·ΔVᵢ(s*)·[|p_g| > D]·(1 if dampened p_g < 0, else pnl_offset below the
                  cap, 0 at the cap)
    ∂roll/∂qᵢ   = sign(qᵢ)·rollᵢ           ∂shock/∂qᵢ = [E > 0]·max_delta_shock·S·sign(N)·δᵢ
    ∂floor/∂qᵢ  = S·(a·sign(N)·δᵢ + (b/2)·(sign(qᵢ)·|δᵢ| − sign(N)·δᵢ))
    ∂charge/∂qᵢ = tier multiplier at the raw charge · min_charge_rate·S·sign(qᵢ)·|δᵢ|
    ∂IM/∂qᵢ     = im_factor·∂(binding of risk, floor, charge)/∂qᵢ + 2·m_inc·E·S·sign(N)·δᵢ

Without the venue add-ons (Paradex, or Deribit below the delta threshold, no dampened or
capped scenario binding) every piece is degree 1 and ``Σ q·∂IM/∂q = IM`` exactly. The
extended dampener, a gain cap, the delta-shock threshold, the size-based IM increment and
a tiered minimum charge are not homogeneous: the gradient stays exact (the marginal margin)
and the residual ``IM − Σ q·∂IM/∂q`` is allocated pro rata to ``|qᵢ·∂IM/∂qᵢ|``
(:func:`.euler.pro_rata`, labelled in ``method``). Rows holding two or more units of an X:PM
correlation set (joint scan, shares of the contingency) are attributed by central
differences of the model (:func:`.euler.numerical_rows`, also labelled).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from crossmargin.analysis.optimise.euler import (
    EulerRows,
    canonical_copy,
    finish,
    numerical_rows,
    pro_rata,
    register_euler,
    row_of_data,
)
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
def pm_grid_gradient(
    model: Any, context: Any, h: sp.csr_matrix
) -> tuple[FloatArray, FloatArray, NDArray[np.bool_]]:
    """``(IM per row, ∂IM/∂q per stored element, rows in an active correlation set)`` of
    ``pm_grid`` (module docstring). The per-unit figures (worst scenario, scan, add-ons, base)
    are the model's own (:meth:`PMGridModel.unit_margins`); this adds their gradients."""
    rows = h.shape[0]
    r_nz, c_nz = row_of_data(h), h.indices.astype(np.int64)
    unit_of = np.full(h.shape[1], -1, dtype=np.int64)
    local = np.zeros(h.shape[1], dtype=np.int64)
    for u, unit in enumerate(context.units):
        unit_of[unit.cols] = u
        local[unit.cols] = np.arange(unit.cols.size)
    if np.any(unit_of[c_nz] < 0):
        raise ModelError("pm_grid: holdings name an instrument outside every risk unit")
    per = model.unit_margins(context, h)
    total = np.sum(per.initial, axis=0) if per.initial else np.zeros(rows)
    g = np.zeros(c_nz.size)
    q = h.data
    members = np.zeros(rows, dtype=np.int64)
    for u, unit in enumerate(context.units):
        sel = unit_of[c_nz] == u
        rr, jj, qq = r_nz[sel], local[c_nz[sel]], q[sel]
        grid = unit.grid
        if model.mode == "cross" and grid.correlation_set:
            members += np.bincount(rr, minlength=rows) > 0
        w_row = np.where(
            per.worst_scenario[u] >= 0, per.worst_scenario[u] - unit.scenario_offset, -1
        )
        s_row = np.maximum(w_row, 0)
        worst, s = w_row[rr], s_row[rr]
        w = unit.weights[s]
        g_scan = np.zeros(rr.size)
        for group in unit.groups:
            ing = np.isin(jj, group.cols)
            # the group's weighted P&L at the row's worst scenario, before dampening
            p = unit.weights[s_row] * np.bincount(
                rr[ing], weights=qq[ing] * unit.pnl[s[ing], jj[ing]], minlength=rows
            )
            d = group.allowance[s]
            slope = np.where(d > 0, np.abs(p[rr]) > d, True).astype(np.float64)
            damp = np.sign(p[rr]) * np.maximum(np.abs(p[rr]) - d, 0.0)
            t = group.terms
            kept = np.where(t.pnl_offset * damp < t.max_offsetable_pnl, t.pnl_offset, 0.0)
            slope *= np.where(damp < 0, 1.0, kept)
            g_scan += np.where(ing & (worst >= 0), -w * unit.pnl[s, jj] * slope, 0.0)
        net = np.asarray(sp.csr_matrix(h[:, unit.cols]) @ unit.delta).reshape(rows)
        dj, sn = unit.delta[jj], np.sign(net[rr])
        excess = np.abs(net) - grid.delta_shock_threshold / unit.spot > 0
        on = excess[rr]
        e = np.maximum(np.abs(net) - grid.delta_shock_threshold / unit.spot, 0.0)[rr]
        g_shock = np.where(on, grid.max_delta_shock * unit.spot * sn * dj, 0.0)
        g_inc = np.where(on, 2.0 * grid.im_increment_rate * e * unit.spot * sn * dj, 0.0)
        g_risk = g_scan + np.sign(qq) * unit.roll[jj] + g_shock
        a, b = grid.min_delta_net_rate, grid.min_delta_hedged_rate
        g_floor = unit.spot * (a * sn * dj + b / 2.0 * (np.sign(qq) * np.abs(dj) - sn * dj))
        gross = np.asarray(abs(sp.csr_matrix(h[:, unit.cols])) @ np.abs(unit.delta)).reshape(rows)
        mult = _tier_slope(grid.min_charge_rate * gross * unit.spot, grid.min_charge_tiers)[rr]
        g_charge = mult * grid.min_charge_rate * unit.spot * np.sign(qq) * np.abs(dj)
        risk, floor, charge = per.risk[u][rr], per.floor[u][rr], per.min_charge[u][rr]
        g_base = np.where(
            (risk >= floor) & (risk >= charge), g_risk, np.where(floor >= charge, g_floor, g_charge)
        )
        g[sel] = grid.im_factor * g_base + g_inc
    return total, g, members >= 2


def _tier_slope(raw: FloatArray, tiers: tuple[tuple[float, float], ...]) -> FloatArray:
    """``d tiered(x)/dx``: the multiplier of the tier holding ``x`` (1 without tiers)."""
    if not tiers:
        return np.ones_like(raw)
    bounds = np.array([hi for hi, _ in tiers])
    mults = np.array([m for _, m in tiers])
    k = np.minimum(np.searchsorted(bounds, raw, side="left"), len(tiers) - 1)
    out: FloatArray = mults[k]
    return out


PM_GRID_METHOD = "euler (pm_grid: worst scenario, roll, delta shock, floor, charge, im_factor)"


def _pm_grid(model: Any, context: Any, h: sp.csr_matrix) -> EulerRows:
    total, g, correlated = pm_grid_gradient(model, context, h)
    raw = finish(h, total, g, PM_GRID_METHOD)
    scale = np.maximum(1.0, np.abs(total))
    homogeneous = bool(np.all(np.abs(raw.residual) <= 1e-9 * scale))
    out = (
        raw
        if homogeneous
        else pro_rata(raw, PM_GRID_METHOD + "; non-homogeneous add-ons' residual pro rata |c|")
    )
    if not correlated.any():
        return out
    # rows scanning a correlation set jointly: central differences of the model, row by row
    picked = np.flatnonzero(correlated)
    num = numerical_rows(model, context, canonical_copy(h[picked]))
    r = row_of_data(h)
    mask = np.isin(r, picked)
    contribution, marginal = out.contribution.copy(), out.marginal.copy()
    contribution[mask], marginal[mask] = num.contribution, num.marginal
    residual = out.residual.copy()
    residual[picked] = num.residual
    return EulerRows(
        holdings=h,
        total=total,
        contribution=contribution,
        marginal=marginal,
        residual=residual,
        method=out.method + "; rows in a correlation set: " + num.method,
    )


def _register() -> None:
    from crossmargin.models.pm_grid import PMGridModel
    from crossmargin.models.span import SpanModel

    register_euler(SpanModel)(_span)
    register_euler(PMGridModel)(_pm_grid)


_register()

__all__ = ["pm_grid_gradient", "span_gradient"]
