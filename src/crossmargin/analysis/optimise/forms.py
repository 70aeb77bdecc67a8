"""Each model's margin of one netting set as a convex piecewise-linear form (:mod:`.lp`).

The form is a function of the holdings ``y`` of some columns of a prepared context (the
account's instruments and the candidates of a hedge, or a venue's eligible instruments). Where
``exact`` it *is* the model's ``margin_rows`` total for every ``y`` on those columns (a test
holds it to 1e-9); otherwise ``notes`` say which piece is left out or fixed, and the optimiser
verifies its answer on the model itself.

=============  ================================================================  ===========
model          form                                                              exact
=============  ================================================================  ===========
``rules``      ``Σ long·y⁺ + short·y⁻``                                          yes
``span``       ``Σ_c ratio_c·max(ScanRisk_c, SOM_c)``: scan = max over the 16    without
               weighted scenarios of the loss, SOM on short options              spreads
``pm_grid``    ``Σ_u im_factor·max(scan + roll + shock, floor, charge)``         on its box
               (+ IM increment as tangents): see below                           (below)
``es``         ``max(ES_RU, 0)`` (× (1 + b) with the buffer; ``max`` with the     without
               10-year ES for the floor; the stressed window fixed at the         concentration
               reference holdings for stress-weight) + liquidity + basis          or a fixed
               (worst of ±δ per underlying) + funding (``|Σ qN|·f·h/365``)        window
``conservative``  ``max`` of the two forms                                       if both are
=============  ================================================================  ===========

``es`` scenarios are those of the factor set of *all* the columns' underlyings: the model
margins a row on the underlyings it holds, so the form is exact where every one is held.
``hvar`` (a quantile, not convex) and ``simm`` have no form.

``pm_grid`` per risk unit: scan = max over the weighted scenarios of ``Σ_g f_g(L_g·y)`` (per
currency group: ``f`` linear where gains count in full; ``max(L − D, 0)``, a hinge, for
Deribit's ``pnl_offset`` 0, dampened by ``D`` or not; ``max(L, c·L, −cap)`` for a partial
offset ``c`` or a cap); shock = ``rate·max(S·|Σδy| − threshold, 0)``; floor
``(a − b/2)·S·|Σδy| + (b/2)·S·Σ|δy|``; charge = ``rate·S·Σ|δy|`` at the smallest tier
multiplier; the size-based IM increment ``m·E²·S`` (quadratic) as its tangents. Exact on the
box ``|y| ≤ reach`` (the optimiser's bounds, passed as ``reach``) where: the floor has
``a ≥ b/2``; no dampener binds with a partial offset (not convex: slopes 1, 0, c) unless the
box keeps the scenario inside ``D``; the charge has one tier; the box cannot pass the delta
threshold (so the increment is 0); at most one unit of an X:PM correlation set is held.
Otherwise ``notes`` name the piece and the optimiser checks its answer on the model (the
hedge's trust-region LPs and coordinate search; the allocation reports no gap).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from crossmargin.analysis.optimise.lp import (
    Const,
    Expr,
    Hinge,
    Lin,
    Max,
    MaxRows,
    Sum,
    Tail,
    abs_sum,
    pos_neg,
)
from crossmargin.errors import ModelError
from crossmargin.models.base import MarginModel

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


@dataclass(frozen=True, slots=True, kw_only=True)
class Form:
    """A model's margin of the columns ``columns`` as ``expr`` of input ``y``."""

    expr: Expr
    columns: IntArray
    exact: bool
    notes: tuple[str, ...] = ()

    def value(self, y: FloatArray) -> FloatArray:
        """The form at holdings ``y`` (rows, len(columns))."""
        return self.expr.value({"y": np.atleast_2d(y)})


def margin_form(
    model: MarginModel,
    context: Any,
    columns: IntArray,
    *,
    reference: FloatArray | None = None,
    reach: FloatArray | None = None,
) -> Form:
    """The form of ``model``'s margin of ``columns`` (indices of the context's instruments).

    ``reference`` (holdings on ``columns``) fixes what depends on the holdings and is not
    convex (the ES stressed window). ``reach`` (aligned with ``columns``: the largest ``|y|``
    the optimiser can give each) lets a piece that is 0 on that box drop out (the
    ``pm_grid`` IM increment below its delta threshold): the form is then exact on the box.
    """
    from crossmargin.models.cache import CachedModel
    from crossmargin.models.conservative import ConservativeModel
    from crossmargin.models.pm_grid import PMGridModel
    from crossmargin.models.rules import RulesModel
    from crossmargin.models.span import SpanModel
    from crossmargin.models.var import HistoricalVaRModel

    cols = np.asarray(columns, dtype=np.int64)
    if isinstance(model, CachedModel):
        return _remap(
            margin_form(
                model.model,
                context.context,
                np.asarray(context.columns)[cols],
                reference=reference,
                reach=reach,
            ),
            cols,
        )
    if isinstance(model, ConservativeModel):
        a = margin_form(model.first, context[0], cols, reference=reference, reach=reach)
        b = margin_form(model.second, context[1], cols, reference=reference, reach=reach)
        return Form(
            expr=Max((a.expr, b.expr)),
            columns=cols,
            exact=a.exact and b.exact,
            notes=a.notes + b.notes,
        )
    if isinstance(model, RulesModel):
        return Form(
            expr=pos_neg(context.long_im[cols], context.short_im[cols]), columns=cols, exact=True
        )
    if isinstance(model, SpanModel):
        return _span(context.arrays, cols)
    if isinstance(model, PMGridModel):
        return _pm_grid(context, cols, reach, model.mode == "cross")
    if isinstance(model, HistoricalVaRModel):
        if model.measure != "es":
            raise ModelError(
                f"{model.name}: a VaR quantile is not convex in the holdings, so it has no LP "
                "form; optimise under es (the same scenarios, the tail mean) instead"
            )
        return _es(model, context, cols, reference)
    raise ModelError(
        f"{model.name} has no LP form: the optimiser supports rules, span, pm_grid, es and "
        "conservative combinations of them"
    )


def _remap(form: Form, cols: IntArray) -> Form:
    return Form(expr=form.expr, columns=cols, exact=form.exact, notes=form.notes)


def _span(arrays: Any, cols: IntArray) -> Form:
    n = cols.size
    cc_of = arrays.cc_of[cols]
    wloss = arrays.loss[:, cols] * arrays.weights[cc_of].T
    ratio = np.ones(len(arrays.cc_names)) if arrays.im_ratio is None else arrays.im_ratio
    gross = np.ones(len(arrays.cc_names), bool) if arrays.som_gross is None else arrays.som_gross
    terms: list[tuple[float, Expr]] = []
    notes = []
    ccs = sorted(set(cc_of.tolist()))
    for c in ccs:
        mask = cc_of == c
        scan = MaxRows(np.where(mask[None, :], wloss, 0.0), np.zeros(wloss.shape[0]))
        pieces: list[Expr] = [scan]
        if arrays.som_per_short is not None and arrays.is_call is not None:
            som = arrays.som_per_short[cols] * mask
            calls = pos_neg(np.zeros(n), som * arrays.is_call[cols])
            puts = pos_neg(np.zeros(n), som * arrays.is_put[cols])
            pieces.append(Sum(((1.0, calls), (1.0, puts))) if gross[c] else Max((calls, puts)))
        terms.append((float(ratio[c]), Max(tuple(pieces))))
        tiers = set(arrays.tier_of[cols[mask]].tolist())
        if len(tiers) > 1 and any(arrays.tier_cc[s.a] == c for s in arrays.intra_spreads):
            notes.append(
                f"span: {arrays.cc_names[c]} intra-commodity spread charges are not in the LP"
            )
    present = set(ccs)
    for s in arrays.inter_spreads:
        if s.a in present and s.b in present:
            notes.append(
                f"span: the {arrays.cc_names[s.a]}/{arrays.cc_names[s.b]} "
                "inter-commodity credit is not in the LP"
            )
    return Form(expr=Sum(tuple(terms)), columns=cols, exact=not notes, notes=tuple(notes))


def _pm_grid(context: Any, cols: IntArray, reach: FloatArray | None, cross: bool) -> Form:
    """``Σ_u im_factor·max(scan + roll + shock, floor, charge) + increment`` (module docstring)."""
    n = cols.size
    where = {int(c): k for k, c in enumerate(cols)}
    terms: list[tuple[float, Expr]] = []
    notes: list[str] = []
    correlated = []
    for unit in context.units:
        pick = [(k, where[int(c)]) for k, c in enumerate(unit.cols) if int(c) in where]
        if not pick:
            continue
        local = np.array([p[0] for p in pick], dtype=np.int64)
        at = np.array([p[1] for p in pick], dtype=np.int64)
        g = unit.grid
        name = (
            unit.underlying
            if unit.currency in ("USD", unit.underlying)
            else (f"{unit.underlying}/{unit.currency}")
        )
        if cross and g.correlation_set:
            correlated.append(name)
        roll, delta = np.zeros(n), np.zeros(n)
        roll[at], delta[at] = unit.roll[local], unit.delta[local]
        shock: list[tuple[float, Expr]] = []
        if g.max_delta_shock > 0 and np.isfinite(g.delta_shock_threshold):
            # rate·max(S·|N| − threshold, 0): a hinge of both signs of the net delta
            rows = np.vstack([delta, -delta]) * g.max_delta_shock * unit.spot
            c = np.full(2, -g.max_delta_shock * g.delta_shock_threshold)
            shock.append((1.0, MaxRows(rows, c)))
        risk = Sum(
            (
                (1.0, _pm_grid_scan(unit, local, at, n, reach, name, notes)),
                (1.0, pos_neg(roll, roll)),
                *shock,
            )
        )
        pieces: list[Expr] = [risk]
        a, b = g.min_delta_net_rate, g.min_delta_hedged_rate
        if a >= b / 2.0 and (a > 0 or b > 0):
            half = 0.5 * b * unit.spot * np.abs(delta)
            net = abs_sum(delta[None, :], np.zeros(1), np.array([(a - b / 2.0) * unit.spot]))
            pieces.append(Sum(((1.0, net), (1.0, pos_neg(half, half)))))
        elif a > 0 or b > 0:
            notes.append(
                f"pm_grid: the {name} delta floor (net rate < hedged/2) is not convex and is "
                "not in the LP"
            )
        if g.min_charge_rate > 0:
            # raw = rate·S·Σ|δy|; tiered: the smallest multiplier is a lower bound
            mults = [m for _, m in g.min_charge_tiers] or [1.0]
            per = min(mults) * g.min_charge_rate * unit.spot * np.abs(delta)
            pieces.append(pos_neg(per, per))
            if len(set(mults)) > 1:
                notes.append(
                    f"pm_grid: the {name} tiered minimum charge enters the LP at its smallest "
                    "multiplier (a lower bound); the answer is checked on the model"
                )
        base = Max(tuple(pieces)) if len(pieces) > 1 else risk
        terms.append((g.im_factor, base))
        terms += _pm_grid_increment(unit, delta, reach, name, notes)
    if len(correlated) > 1:
        notes.append(
            f"pm_grid: the correlation contingency of {', '.join(correlated)} is not in the LP "
            "(each unit scanned on its own); the answer is checked on the model"
        )
    return Form(expr=Sum(tuple(terms)), columns=cols, exact=not notes, notes=tuple(notes))


def _pm_grid_scan(
    unit: Any,
    local: IntArray,
    at: IntArray,
    n: int,
    reach: FloatArray | None,
    name: str,
    notes: list[str],
) -> Expr:
    """``max(0, max_s Σ_g f_g(L_g,s·y))``, ``L`` the group's weighted loss per contract and
    ``f(L) = −offset(dampen(−L))`` (:mod:`crossmargin.models.pm_grid_addons`):

    * gains in full, no dampener: ``f(L) = L`` (linear);
    * ``pnl_offset`` 0 (Deribit's BTC): ``f(L) = max(L − D, 0)`` (a hinge), dampened or not;
    * ``0 < pnl_offset < 1`` or a cap, no dampener: ``f(L) = max(L, c·L, −cap)`` (slopes 1, c,
      0: convex);
    * a dampener ``D > 0`` otherwise makes ``f`` not convex (slopes 1, 0, c): exact only where
      the box ``|y| ≤ reach`` keeps ``|L·y| ≤ D`` (then ``f = 0``); else the undampened ``f``
      (noted; the answer is checked on the model).
    """
    k = unit.pnl.shape[0]
    linear = np.zeros((k, n))
    hinge: list[tuple[FloatArray, FloatArray]] = []  # (loss (k, n), −D (k,))
    kinked: list[tuple[FloatArray, float, float, NDArray[np.bool_]]] = []  # loss, c, cap, zero
    for group in unit.groups:
        mine = np.isin(local, group.cols)
        loss = np.zeros((k, n))
        loss[:, at[mine]] = -unit.weights[:, None] * unit.pnl[:, local[mine]]
        t, d = group.terms, group.allowance
        if t.pnl_offset == 0.0:
            hinge.append((loss, -d))
            continue
        bound = np.abs(loss) @ reach if reach is not None else np.full(k, np.inf)
        zero = (d > 0) & (bound <= d)  # dampened to 0 everywhere on the box
        if np.any((d > 0) & ~zero):
            notes.append(
                f"pm_grid: the {name} {group.currency} extended dampener with gains counted at "
                f"{t.pnl_offset:g} is not convex: the LP takes those scenarios undampened; the "
                "answer is checked on the model"
            )
        if t.pnl_offset >= 1.0 and np.isinf(t.max_offsetable_pnl):
            linear += np.where(zero[:, None], 0.0, loss)
        else:
            kinked.append((loss, min(t.pnl_offset, 1.0), t.max_offsetable_pnl, zero))
    if not hinge and not kinked:
        return MaxRows(linear, np.zeros(k))
    if len(hinge) == 1 and not kinked and not linear.any():
        return MaxRows(hinge[0][0], hinge[0][1])  # max_s max(L_s − D_s, 0)
    children: list[Expr] = [Const(0.0)]
    for s in range(k):
        parts: list[tuple[float, Expr]] = [(1.0, Lin(linear[s], 0.0))]
        if hinge:
            a = sp.csr_matrix(np.vstack([h[0][s] for h in hinge]))
            parts.append((1.0, Hinge(a, np.array([h[1][s] for h in hinge]), np.ones(len(hinge)))))
        for loss, c, cap, zero in kinked:
            if zero[s]:
                continue
            rows, consts = [loss[s], c * loss[s]], [0.0, 0.0]
            if np.isfinite(cap):
                rows.append(np.zeros(n))
                consts.append(-cap)
            parts.append((1.0, MaxRows(np.vstack(rows), np.array(consts), floor=False)))
        children.append(Sum(tuple(parts)))
    return Max(tuple(children))


def _pm_grid_increment(
    unit: Any, delta: FloatArray, reach: FloatArray | None, name: str, notes: list[str]
) -> list[tuple[float, Expr]]:
    """The size-based IM increment ``m·E²·S``, ``E = max(|N| − threshold/S, 0)`` coins: 0 on
    the optimiser's box ``|y| ≤ reach`` where ``S·Σ reach·|δ|`` stays under the threshold;
    otherwise the maximum of its tangents at ``E_k = threshold/S·2^k`` (k = −3..6), which is
    convex and below it (the answer is then checked on the model)."""
    g = unit.grid
    if g.im_increment_rate <= 0 or not np.isfinite(g.delta_shock_threshold):
        return []
    t = g.delta_shock_threshold / unit.spot
    if reach is not None and float(np.abs(delta) @ reach) <= t:
        return []
    notes.append(
        f"pm_grid: the {name} size-based IM increment (quadratic above the delta threshold) "
        "enters the LP as its tangents (a lower bound); the answer is checked on the model"
    )
    e = t * 2.0 ** np.arange(-3, 7)
    m, s = g.im_increment_rate, unit.spot
    # tangent at E_k: m·S·(2E_k·E − E_k²) = max over ±N of m·S·(2E_k·(±N − t) − E_k²)
    rows = np.vstack([np.outer(2 * m * s * e, delta), np.outer(2 * m * s * e, -delta)])
    c = np.concatenate([m * s * (-2 * e * t - e * e)] * 2)
    return [(1.0, MaxRows(rows, c))]


def _es(model: Any, context: Any, cols: IntArray, reference: FloatArray | None) -> Form:
    from crossmargin.market.stress_windows import window_by_dates, worst_windows

    n = cols.size
    mask = np.zeros(len(context.underlyings), dtype=bool)
    mask[context.und_index[cols]] = True
    fs = context.factor_set(context.factor_set_of(mask))
    cal = context.calendar_pnl(fs.calendar)
    ccols = cal.columns[cols]
    src = (cal.fhs if cal.fhs is not None else cal.hs)[np.ix_(fs.lookback, ccols)]
    q = float(1.0 - model.confidence)
    s = src.shape[0]
    tail: Expr = Tail(-src, np.zeros(s), np.full(s, 1.0 / s), q)
    notes = [
        "es: the concentration add-on is not in the LP (zero until a bucket needs more "
        "than the MPOR to close); the answer is checked on the model"
    ]
    exact = True
    if model.apc == "floor" and fs.floor is not None:
        fsrc = cal.hs[np.ix_(fs.floor, ccols)]
        ten = Tail(-fsrc, np.zeros(fsrc.shape[0]), np.full(fsrc.shape[0], 1 / fsrc.shape[0]), q)
        core: Expr = Max((tail, ten, Const(0.0)))
    elif model.apc == "stress-weight":
        hsrc = cal.hs[np.ix_(fs.history, ccols)]
        ref = np.zeros(n) if reference is None else reference
        length = min(fs.stress_length, fs.history.size)
        if context.stress_dates is not None:
            lo, hi = window_by_dates([cal.names[i] for i in fs.history], *context.stress_dates)
            start, length = lo, hi - lo
        else:
            starts, _ = worst_windows(
                (hsrc @ ref)[:, None], length, model.confidence, measure=model.measure
            )
            start = int(starts[0])
            exact = False
            notes.append("es: the stressed window is fixed at the reference holdings' window")
        w = model._n["apc_stress_weight"]
        stacked = np.vstack([src, hsrc[start : start + length]])
        p = np.concatenate([np.full(s, (1 - w) / s), np.full(length, w / length)])
        core = Max((Tail(-stacked, np.zeros(stacked.shape[0]), p, q), Const(0.0)))
    else:
        scale = 1.0 + (model._n["apc_buffer"] if model.apc == "buffer" else 0.0)
        core = Sum(((scale, Max((tail, Const(0.0)))),))
    terms: list[tuple[float, Expr]] = [(1.0, core)]
    horizon = float(fs.facts["mpor_calendar_days"]["mean"])
    if context.addons is not None:
        ad = context.addons
        liq = ad.half_spread[cols] * np.abs(ad.dollar_delta[cols]) + ad.vol_half_spread[
            cols
        ] * np.abs(ad.vega[cols])
        terms.append((1.0, pos_neg(liq, liq)))
    if context.basis is not None:
        terms += _basis_terms(context.basis, cols, horizon)
    return Form(expr=Sum(tuple(terms)), columns=cols, exact=exact, notes=tuple(notes))


def _basis_terms(basis: Any, cols: IntArray, horizon: float) -> list[tuple[float, Expr]]:
    n = cols.size
    out: list[tuple[float, Expr]] = []
    und = basis.underlying_index[cols]
    scale = float(np.sqrt(horizon / basis.reference_days))
    for u in sorted(set(und.tolist())):
        on = und == u
        shifts = -np.vstack(
            [
                np.where(on, basis.basis_pnl_up[cols], 0.0),
                np.where(on, basis.basis_pnl_down[cols], 0.0),
            ]
        )
        if np.any(shifts):
            out.append((scale, MaxRows(shifts, np.zeros(2))))
        notional = np.where(on, basis.perpetual_notional[cols], 0.0)
        f = float(basis.funding_shock[u]) * horizon / 365.0
        if np.any(notional) and f > 0:
            out.append((1.0, abs_sum(notional[None, :], np.zeros(1), np.array([f]))))
    del n
    return out


def form_of_rows(form: Form, holdings: sp.spmatrix) -> FloatArray:
    """The form at each row of ``holdings`` (rows x the context's instruments)."""
    h = sp.csr_matrix(holdings)
    return form.value(np.asarray(h[:, form.columns].toarray()))


__all__ = ["Form", "form_of_rows", "margin_form"]
