"""Euler contributions of the historical ``es`` and ``hvar`` models.

A row is margined on its own factor set (:mod:`crossmargin.models.var`); with ``Pₛᵢ`` the
P&L of one long contract of instrument ``i`` in lookback scenario ``s`` and the row's tail
scenarios ``s₁ … s_k`` worst first::

    ES:   ∂core/∂qᵢ = −Σⱼ wⱼ·P_{sⱼ i},  w = 1/m for j < k and (m − (k − 1))/m for j = k
          (the fractional tail weights of crossmargin.stats.tail.tail_weights, m = (1 − α)n)
    VaR:  ∂core/∂qᵢ = −P_{s_k i}

so ``Σᵢ qᵢ·∂core/∂qᵢ = core``: each position's P&L in the tail, averaged as the margin is.
The anti-procyclicality term follows the same rule on its own tail (``buffer``: ``b·core``;
``floor``: the 10-year measure's tail where it binds; ``stress-weight``: the weighted tail of
the lookback and stressed-window scenarios). Liquidity (``sᵢ·|Δᵢqᵢ|``, ``hᵢ·|νᵢqᵢ|``), basis
(per underlying, the binding carry shift) and funding (``|Σ qN|·f·h/365``) are homogeneous of
degree 1 and get their exact gradients.

**Concentration** ``f = core·(√(max(h, D)/h) − 1)``, with ``D`` (days to liquidate) degree 1,
is not homogeneous: it is allocated by Aumann–Shapley along the ray ``t·q``
(:mod:`crossmargin.analysis.optimise.euler`). With ``a = h/D < 1`` where it binds::

    cᵢ = qᵢ·∂core/∂qᵢ·[⅔·√(D/h)·(1 − a^{3/2}) − (1 − a)]
       + qᵢ·∂D/∂qᵢ·core·(1 − a^{3/2})/(3·√(D·h))

which sums to ``core·(√(D/h) − 1) = f`` exactly (core and D are degree 1); ``∂D/∂qᵢ =
sign(E*)·xᵢ/K*`` on the binding bucket's delta or vega. The marginal margin is the plain
gradient ``∂core·(√(D/h) − 1) + core·∂D/(2√(D·h))``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from crossmargin.analysis.optimise.euler import EulerRows, finish, register_euler, row_of_data
from crossmargin.market.stress_windows import window_by_dates, worst_windows
from crossmargin.pricing.revalue import aggregate_pnl
from crossmargin.stats.tail import tail_count, tail_mass, tail_weights, var_es

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]
_TOL = 1e-12  # relative tolerance of the weighted quantile, as crossmargin.stats.tail


def _held(context: Any, h: sp.csr_matrix) -> BoolArray:
    n_inst, n_und = len(context.instruments), len(context.underlyings)
    exposure = sp.csr_matrix(
        (np.ones(n_inst), (np.arange(n_inst), context.und_index)), shape=(n_inst, n_und)
    )
    binary = sp.csr_matrix((np.ones(h.nnz), h.indices, h.indptr), shape=h.shape)
    out: BoolArray = np.asarray((binary @ exposure).toarray() > 0, dtype=bool)
    return out


def _uniform_weights(confidence: float, n: int, measure: str) -> tuple[int, FloatArray]:
    """Tail count and weights (worst first) of the ES (or VaR: all on the k-th)."""
    k = tail_count(confidence, n)
    if measure == "var":
        w = np.zeros(k)
        w[-1] = 1.0
        return k, w
    whole = tail_mass(confidence, n) == k
    return k, (np.full(k, 1.0 / k) if whole else tail_weights(confidence, n))


def _tail_gradient(
    source: FloatArray,
    pnl: FloatArray,
    confidence: float,
    measure: str,
    lr: IntArray,
    lc: IntArray,
) -> tuple[FloatArray, FloatArray]:
    """Measure per row (loss-positive, not floored) and ``∂measure/∂q`` per stored element
    (``source``: scenarios x used columns; ``pnl``: scenarios x rows)."""
    tail = var_es(pnl, confidence)
    k, w = _uniform_weights(confidence, pnl.shape[0], measure)
    if tail.tail_indices is None:  # var_es keeps them; only the fused kernel does not
        raise AssertionError("var_es returned no tail indices")
    idx = np.asarray(tail.tail_indices, dtype=np.int64).reshape(k, -1)
    value = np.asarray(tail.es if measure == "es" else tail.var, dtype=np.float64).reshape(-1)
    g = -(w[:, None] * source[idx[:, lr], lc[None, :]]).sum(axis=0)
    return value, g


def _weighted_tail(
    pnl: FloatArray, weights: FloatArray, confidence: float, measure: str
) -> tuple[FloatArray, FloatArray]:
    """Measure per row with scenario ``weights`` and each scenario's weight in it, per row
    (scenarios x rows; columns sum to 1): the tail takes the smallest P&Ls up to mass
    ``q = 1 − α``, the boundary scenario the weight that completes it (as ``var_es`` with
    weights, :mod:`crossmargin.stats.tail`)."""
    q = float(1.0 - confidence)
    order = np.argsort(pnl, axis=0, kind="stable")
    w_sorted = weights[order]
    cum = np.cumsum(w_sorted, axis=0)
    j_star = np.argmax(cum >= q * (1 - _TOL), axis=0)
    pos = np.arange(pnl.shape[0])[:, None]
    tail_w = np.where((pos <= j_star) & (w_sorted > 0), w_sorted, 0.0)
    cols = np.arange(pnl.shape[1])
    tail_w[j_star, cols] = np.maximum(q - (cum[j_star, cols] - w_sorted[j_star, cols]), 0.0)
    if measure == "var":
        tail_w = np.zeros_like(tail_w)
        tail_w[j_star, cols] = 1.0
    tail_w = tail_w / tail_w.sum(axis=0)
    dense = np.zeros_like(tail_w)
    np.put_along_axis(dense, order, tail_w, axis=0)
    value: FloatArray = -(dense * pnl).sum(axis=0)
    return value, dense


def var_gradient(
    model: Any, context: Any, h: sp.csr_matrix
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """``(total per row, ∂total/∂q, Aumann–Shapley concentration contribution)`` per stored
    element (module docstring)."""
    rows = h.shape[0]
    r_nz, c_nz = row_of_data(h), h.indices.astype(np.int64)
    held = _held(context, h)
    keys, inverse = np.unique(np.packbits(held, axis=1), axis=0, return_inverse=True)
    inverse = np.asarray(inverse).reshape(-1)
    core, apc, horizon = np.zeros(rows), np.zeros(rows), np.zeros(rows)
    g_core, g_apc = np.zeros(h.nnz), np.zeros(h.nnz)
    group_nz = inverse[r_nz]
    local_row = np.zeros(rows, dtype=np.int64)
    for g in range(keys.shape[0]):
        grp = np.flatnonzero(inverse == g)
        unds = context.factor_set_of(held[grp[0]])
        if not unds:
            continue
        fs = context.factor_set(unds)
        cal = context.calendar_pnl(fs.calendar)
        sel = np.flatnonzero(group_nz == g)
        used = np.unique(c_nz[sel])
        local_row[grp] = np.arange(grp.size)
        lr, lc = local_row[r_nz[sel]], np.searchsorted(used, c_nz[sel])
        sub = sp.csr_matrix(h[grp][:, used])
        cols = cal.columns[used]
        src = (cal.fhs if cal.fhs is not None else cal.hs)[np.ix_(fs.lookback, cols)]
        pnl = aggregate_pnl(src, sub)
        value, grad = _tail_gradient(src, pnl, model.confidence, model.measure, lr, lc)
        c0 = np.maximum(value, 0.0)
        gc = np.where(value[lr] > 0, grad, 0.0)
        a_val, a_grad = _apc(model, context, fs, cal, cols, sub, pnl, src, c0, gc, lr, lc)
        core[grp], apc[grp] = c0, a_val
        g_core[sel], g_apc[sel] = gc, a_grad
        horizon[grp] = float(fs.facts["mpor_calendar_days"]["mean"])
    base = core + apc
    total = np.maximum(base, 0.0)
    grad = np.where(base[r_nz] > 0, g_core + g_apc, 0.0)
    extra = np.zeros(h.nnz)
    q = h.data
    if context.addons is not None:
        ad = context.addons
        liq_d, liq_v = ad.liquidity(h)
        total = total + liq_d + liq_v
        grad = grad + np.sign(q) * (
            ad.half_spread[c_nz] * np.abs(ad.dollar_delta[c_nz])
            + ad.vol_half_spread[c_nz] * np.abs(ad.vega[c_nz])
        )
        conc, g_conc, as_conc = _concentration(ad, h, core, g_core, horizon, r_nz, c_nz)
        total = total + conc
        grad = grad + g_conc
        extra = as_conc - q * g_conc  # Aumann–Shapley in place of q·∂f for this piece
    if context.basis is not None:
        b_val, b_grad = _basis(context.basis, h, horizon, r_nz, c_nz)
        total = total + b_val
        grad = grad + b_grad
    return total, grad, extra


def _apc(
    model: Any,
    context: Any,
    fs: Any,
    cal: Any,
    cols: IntArray,
    sub: sp.csr_matrix,
    pnl: FloatArray,
    src: FloatArray,
    core: FloatArray,
    g_core: FloatArray,
    lr: IntArray,
    lc: IntArray,
) -> tuple[FloatArray, FloatArray]:
    """The anti-procyclicality term per row and its gradient (``model.apc``)."""
    n = core.size
    if model.apc == "buffer":
        b = model._n["apc_buffer"]
        return b * core, b * g_core
    if model.apc == "floor" and fs.floor is not None:
        fsrc = cal.hs[np.ix_(fs.floor, cols)]
        value, grad = _tail_gradient(
            fsrc, aggregate_pnl(fsrc, sub), model.confidence, model.measure, lr, lc
        )
        floor = np.maximum(value, 0.0)
        apc = np.maximum(floor - core, 0.0)
        g_floor = np.where(value[lr] > 0, grad, 0.0)
        return apc, np.where(apc[lr] > 0, g_floor - g_core, 0.0)
    if model.apc == "stress-weight":
        hsrc = cal.hs[np.ix_(fs.history, cols)]
        hist = aggregate_pnl(hsrc, sub)
        length = min(fs.stress_length, fs.history.size)
        if context.stress_dates is not None:
            lo, hi = window_by_dates([cal.names[i] for i in fs.history], *context.stress_dates)
            starts = np.full(n, lo, dtype=np.int64)
            length = hi - lo
        else:
            starts, _ = worst_windows(hist, length, model.confidence, measure=model.measure)
        take = starts[np.newaxis, :] + np.arange(length)[:, np.newaxis]
        s_pnl = np.take_along_axis(hist, take, axis=0)
        w = model._n["apc_stress_weight"]
        n_core, n_str = pnl.shape[0], s_pnl.shape[0]
        weights = np.concatenate([np.full(n_core, (1 - w) / n_core), np.full(n_str, w / n_str)])
        stacked = np.vstack([pnl, s_pnl])
        # the stressed rows of each position differ per row: gather their per-contract P&L
        s_rows = take[:, lr]  # (n_str, nnz) rows of hsrc for each stored element
        per_nz = np.vstack([src[:, lc], hsrc[s_rows, lc[None, :]]])
        value, dense = _weighted_tail(stacked, weights, model.confidence, model.measure)
        grad = -np.einsum("sn,sn->n", dense[:, lr], per_nz)
        mixed = np.maximum(value, 0.0)
        g_mixed = np.where(value[lr] > 0, grad, 0.0)
        return mixed - core, g_mixed - g_core
    return np.zeros(n), np.zeros(lr.size)


def _concentration(
    ad: Any,
    h: sp.csr_matrix,
    core: FloatArray,
    g_core: FloatArray,
    horizon: FloatArray,
    r_nz: IntArray,
    c_nz: IntArray,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Concentration per row, its gradient and its Aumann–Shapley contributions."""
    rows = h.shape[0]
    n_b = len(ad.buckets)
    zero = np.zeros(h.nnz)
    if not n_b:
        return np.zeros(rows), zero, zero
    exp_d = sp.csr_matrix(
        (ad.dollar_delta, (np.arange(ad.bucket_index.size), ad.bucket_index)),
        shape=(ad.bucket_index.size, n_b),
    )
    exp_v = sp.csr_matrix(
        (ad.vega, (np.arange(ad.bucket_index.size), ad.bucket_index)),
        shape=(ad.bucket_index.size, n_b),
    )
    net_d = np.asarray((h @ exp_d).todense())
    net_v = np.asarray((h @ exp_v).todense())
    with np.errstate(divide="ignore", invalid="ignore"):
        days_d = np.nan_to_num(np.abs(net_d) / ad.delta_capacity, nan=0.0)
        days_v = np.nan_to_num(np.abs(net_v) / ad.vega_capacity, nan=0.0)
    both = np.concatenate([days_d, days_v], axis=1)  # (rows, 2B)
    pick = np.argmax(both, axis=1)
    days = both[np.arange(rows), pick]
    live = (horizon > 0) & (days > horizon)
    ratio = np.ones(rows)
    ratio[horizon > 0] = np.maximum(horizon[horizon > 0], days[horizon > 0]) / horizon[horizon > 0]
    conc = core * (np.sqrt(ratio) - 1.0)
    # ∂D/∂q on the binding bucket and measure
    b_star, is_vega = pick % n_b, pick >= n_b
    rb, vb = b_star[r_nz], is_vega[r_nz]
    in_b = ad.bucket_index[c_nz] == rb
    net = np.where(vb, net_v[r_nz, rb], net_d[r_nz, rb])
    cap = np.where(vb, ad.vega_capacity[rb], ad.delta_capacity[rb])
    x = np.where(vb, ad.vega[c_nz], ad.dollar_delta[c_nz])
    g_days = np.where(in_b, np.sign(net) * x / cap, 0.0)
    hz, dd, cr = horizon[r_nz], days[r_nz], core[r_nz]
    on = live[r_nz]
    safe_d = np.where(on, dd, 1.0)
    safe_h = np.where(on, hz, 1.0)
    g = np.where(
        on,
        g_core * (np.sqrt(safe_d / safe_h) - 1.0) + cr * g_days / (2.0 * np.sqrt(safe_d * safe_h)),
        0.0,
    )
    a = safe_h / safe_d
    i1 = (2.0 / 3.0) * np.sqrt(safe_d / safe_h) * (1.0 - a**1.5) - (1.0 - a)
    i2 = cr * (1.0 - a**1.5) / (3.0 * np.sqrt(safe_d * safe_h))
    q = h.data
    as_c = np.where(on, q * g_core * i1 + q * g_days * i2, 0.0)
    return conc, g, as_c


def _basis(
    basis: Any, h: sp.csr_matrix, horizon: FloatArray, r_nz: IntArray, c_nz: IntArray
) -> tuple[FloatArray, FloatArray]:
    """Basis and funding charges per row and their gradients."""
    n_u = len(basis.underlyings)
    u_nz = basis.underlying_index[c_nz]
    by_u = [
        sp.csr_matrix((v, (np.arange(basis.size), basis.underlying_index)), shape=(basis.size, n_u))
        for v in (basis.basis_pnl_up, basis.basis_pnl_down, basis.perpetual_notional)
    ]
    up = np.asarray((h @ by_u[0]).todense())
    down = np.asarray((h @ by_u[1]).todense())
    net = np.asarray((h @ by_u[2]).todense())
    worst = np.maximum(-np.minimum(up, down), 0.0)
    scale = np.sqrt(horizon / basis.reference_days)
    fund_scale = horizon / 365.0
    value = worst.sum(axis=1) * scale + (np.abs(net) @ basis.funding_shock) * fund_scale
    at = (r_nz, u_nz)
    up_binds = up[at] <= down[at]
    g_basis = np.where(
        worst[at] > 0,
        -np.where(up_binds, basis.basis_pnl_up[c_nz], basis.basis_pnl_down[c_nz]),
        0.0,
    )
    g_fund = np.sign(net[at]) * basis.perpetual_notional[c_nz] * basis.funding_shock[u_nz]
    return value, g_basis * scale[r_nz] + g_fund * fund_scale[r_nz]


def _var(model: Any, context: Any, h: sp.csr_matrix) -> EulerRows:
    total, g, extra = var_gradient(model, context, h)
    tail = "k-th scenario" if model.measure == "var" else "fractional tail weights"
    return finish(
        h, total, g, f"euler ({model.name}: {tail}); concentration by Aumann-Shapley", extra
    )


def _register() -> None:
    from crossmargin.models.var import HistoricalVaRModel

    register_euler(HistoricalVaRModel)(_var)


_register()

__all__ = ["var_gradient"]
