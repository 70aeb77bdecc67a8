"""The margin-minimising hedge of one account, as the optimisation it is.

With ``y₀`` the account's netting-set holdings (its positions and the collateral that offsets
them), ``x`` the trade in each candidate (contracts) and ``y = y₀ + B·x``::

    minimise    M(y)                                     objective "margin"
                M(y)·r·H/365 + Σⱼ (bⱼ·xⱼ⁺ + sⱼ·xⱼ⁻) + r·H/365·Σⱼ pⱼ·xⱼ   "margin+cost"
    subject to  loⱼ ≤ xⱼ ≤ hiⱼ,   xⱼ integer (unless continuous)
                Σⱼ nⱼ·|xⱼ| ≤ N                                  (max notional, USD)
                L_u ≤ Δ_u(y) ≤ U_u for each banded underlying  (delta band, USD delta)

``M`` is the model's form (:mod:`.forms`: scenario maxima, Rockafellar–Uryasev ES), so the
problem is an LP, and with integer contracts a MILP, solved by HiGHS
(:func:`scipy.optimize.milp`). ``bⱼ``/``sⱼ`` are the costs of buying/selling one contract
against the engine's fair value (from a quoted bid/ask, a half spread of the notional, or by
default the es liquidity half spreads ``s·|Δ| + h·|ν|`` of ``es.json``), ``pⱼ`` the premium
per contract (cash paid for options and spot, funded at the rate ``r`` over ``H`` days), ``nⱼ``
the notional per contract (``m·S``; inverse futures and perpetuals their USD face), ``Δ`` the
dollar delta ``∂V/∂ln S`` (USD per 100% move, linearised). Without bounds in the universe a
candidate may trade up to twice the account's gross dollar delta (at least one contract).

The answer is then **verified**: the trades go through :func:`crossmargin.api.what_if`
(the real model, the account's tiers and equity), and the promised netting-set margin is
compared with the model's. Where the form is not exact (SPAN spreads, a fixed ES stressed
window, the ES concentration add-on, a factor set that changes because an underlying is
closed out) sequential LPs (the model's residual over the form linearised at the answer, in a
trust region) and a coordinate search on the real model polish it; the verified figure is the
one reported. A greedy baseline (single-candidate moves of 1, 2, 4 … contracts on the
real model) runs alongside; the best of the two is returned, so the optimiser is never worse
than greedy. Infeasible limits are diagnosed (:mod:`.hedge_search`).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from crossmargin.analysis.optimise.forms import Form, margin_form
from crossmargin.analysis.optimise.hedge_search import (
    coordinate_search,
    diagnose_infeasible,
    feasibility,
    limit_rows,
    notional_constraint,
)
from crossmargin.analysis.optimise.hedge_terms import (
    OBJECTIVES,
    CandidateTerms,
    CostModel,
    HedgeLimits,
    HedgeResult,
    Trade,
    candidate_terms,
)
from crossmargin.analysis.optimise.lp import Binding, Expr, Lin, Sum, pos_neg
from crossmargin.analysis.optimise.lp_solve import Problem, solve
from crossmargin.analysis.optimise.universe import Candidate, default_universe
from crossmargin.errors import InputError
from crossmargin.instruments import Instrument
from crossmargin.instruments.instrument import in_canonical_order
from crossmargin.market.snapshot import MarketSnapshot
from crossmargin.models.base import MarginModel
from crossmargin.models.cache import CachedModel, ContextCache
from crossmargin.netting.core import tier_layout
from crossmargin.portfolio import Portfolio

FloatArray = NDArray[np.float64]


@dataclass(frozen=True, slots=True, kw_only=True)
class _Setup:
    """The account's netting set, the candidates' columns and the model's form."""

    book: Portfolio
    instruments: tuple[Instrument, ...]
    y0: FloatArray
    b: sp.csr_matrix
    model: CachedModel
    context: Any
    form: Form
    col_delta: FloatArray
    terms: CandidateTerms


def _setup(
    portfolio: Portfolio,
    account: str,
    market: MarketSnapshot,
    model: MarginModel,
    candidates: Sequence[Candidate] | None,
) -> _Setup:
    from crossmargin.models.var_addons import dollar_deltas

    portfolio.account(account)  # InputError naming the accounts if unknown
    book = portfolio.subset([account])
    layout = tier_layout(book, nets_collateral=model.nets_collateral)
    y_acc = np.asarray(layout.holdings[layout.offsets_of["netting-set"]].toarray()).reshape(-1)
    held = tuple(dict.fromkeys(i.underlying for i in book.instruments))
    cands = tuple(candidates) if candidates is not None else default_universe(held, market)
    if not cands:
        raise InputError(f"no hedge candidates for account {account}")
    # the book's and the candidates' instruments in canonical order, as a layout lists them:
    # the margin of any trade is then summed as the what-if of that trade sums it
    instruments = in_canonical_order([*layout.instruments, *(c.instrument for c in cands)])
    where = {inst: j for j, inst in enumerate(instruments)}
    n, h = len(instruments), len(cands)
    y0 = np.zeros(n)
    y0[[where[i] for i in layout.instruments]] = y_acc
    cols = np.array([where[c.instrument] for c in cands], dtype=np.int64)
    b = sp.csr_matrix((np.ones(h), (cols, np.arange(h))), shape=(n, h))
    cached = CachedModel(model, ContextCache(), model_key=model.name, market_key="hedge")
    cached.nets_collateral = model.nets_collateral  # the wrapper nets as the model does
    context = cached.prepare(instruments, market)
    col_delta = dollar_deltas(instruments, market, bump=0.01)
    gross = float(np.abs(y0 * col_delta).sum()) or float(np.abs(y0).sum()) or 1.0
    terms = candidate_terms(cands, market, gross_delta=gross)
    # the largest |holding| a trade within the candidates' limits can reach, per column
    reach = np.abs(y0) + b @ np.maximum(np.abs(terms.lower), np.abs(terms.upper))
    form = margin_form(cached, context, np.arange(n), reference=y0, reach=reach)
    return _Setup(
        book=book,
        instruments=instruments,
        y0=y0,
        b=b,
        model=cached,
        context=context,
        form=form,
        col_delta=col_delta,
        terms=terms,
    )


def _objective(margin: Expr, terms: CandidateTerms, costs: CostModel) -> Expr:
    if costs.objective == "margin":
        return margin
    return Sum(
        (
            (costs.carry, margin),
            (1.0, pos_neg(terms.buy, terms.sell, "x")),
            (1.0, Lin(costs.carry * terms.premium, 0.0, "x")),
        )
    )


def _extra_cost(x: FloatArray, terms: CandidateTerms, costs: CostModel) -> FloatArray:
    """Trading cost plus premium funding of trades ``x`` (rows, candidates)."""
    out: FloatArray = (
        np.maximum(x, 0) @ terms.buy
        + np.maximum(-x, 0) @ terms.sell
        + costs.carry * (x @ terms.premium)
    )
    return out


def _margins(s: _Setup, x: FloatArray) -> FloatArray:
    """The model's netting-set margin at trades ``x`` (rows, candidates)."""
    rows = sp.csr_matrix(s.y0[None, :] + np.asarray(x) @ s.b.T.toarray())
    quiet = np.zeros(rows.shape[0], dtype=bool)  # totals only: no informational figures
    return s.model.margin_rows(s.context, rows, detail=quiet).total


def _trades(x: FloatArray, terms: CandidateTerms) -> tuple[Trade, ...]:
    out = []
    for j in np.flatnonzero(np.abs(x) > 1e-9):
        q = float(x[j])
        out.append(
            Trade(
                symbol=terms.candidates[j].symbol,
                quantity=q,
                cost=max(q, 0) * float(terms.buy[j]) + max(-q, 0) * float(terms.sell[j]),
                premium=q * float(terms.premium[j]),
            )
        )
    return tuple(out)


def _integer_solve(
    problem: Problem,
    s: _Setup,
    limits: HedgeLimits,
    feasible: Any,
    time_limit: float,
    mip_rel_gap: float,
) -> tuple[FloatArray, float, float | None, str]:
    """``(x, objective, gap, status)``: the LP relaxation; with integer contracts its rounding
    (polished by a coordinate search on the form) where that is proven within ``mip_rel_gap``
    of the relaxation's bound, else the MILP (HiGHS branch and bound)."""
    relaxed = solve(replace(problem, integer=None), time_limit=time_limit)
    if relaxed.status == 2 or not np.all(np.isfinite(relaxed.x)):
        raise InputError(diagnose_infeasible(limits, s.terms, s.y0, s.col_delta, s.instruments))
    if not limits.integer:
        return relaxed.x, relaxed.objective, 0.0, f"LP optimal ({relaxed.message})"
    h = relaxed.x.size

    def on_form(x: FloatArray) -> FloatArray:
        return problem.objective.value({"y": s.y0[None, :] + x @ s.b.T.toarray(), "x": x})

    rounded, value = coordinate_search(on_form, feasible, s.terms, np.round(relaxed.x), True)
    bound = relaxed.objective
    if np.isfinite(value) and value - bound <= mip_rel_gap * max(abs(value), 1e-12):
        gap = max(value - bound, 0.0) / max(abs(value), 1e-12)
        return rounded, value, gap, "LP relaxation rounded, within the gap of its bound"
    sol = solve(problem, time_limit=time_limit, mip_rel_gap=mip_rel_gap)
    if sol.status == 2 or not np.all(np.isfinite(sol.x)):
        raise InputError(diagnose_infeasible(limits, s.terms, s.y0, s.col_delta, s.instruments))
    del h
    return np.round(sol.x), sol.objective, sol.gap, sol.message


def _sequential_lp(
    problem: Problem,
    s: _Setup,
    costs: CostModel,
    evaluate: Any,
    feasible: Any,
    x: FloatArray,
    value: float,
    integer: bool,
    time_limit: float,
    rounds: int = 6,
) -> tuple[FloatArray, float]:
    """Where the form is not the model: add the model's residual over the form, linearised at
    the current answer by central differences of both (one contract, or 1e-3 of the range),
    and re-solve within a trust region that halves when a step does not help (sequential
    linear programming; Nocedal & Wright, *Numerical Optimization*, 2006, ch. 18)."""
    h = x.size
    lo, hi = s.terms.lower, s.terms.upper
    radius = np.maximum(0.25 * (hi - lo), 1.0)
    step = np.ones(h) if integer else np.maximum(1e-3 * (hi - lo), 1e-6)
    scale = 1.0 if costs.objective == "margin" else costs.carry
    best_x, best = x.copy(), value
    for _ in range(rounds):
        probe = np.vstack([best_x + np.diag(step), best_x - np.diag(step)])
        model = _margins(s, probe)
        form = s.form.value(s.y0[None, :] + probe @ s.b.T.toarray())
        here = float(_margins(s, best_x[None, :])[0])
        here_form = float(s.form.value((s.y0 + s.b @ best_x)[None, :])[0])
        grad = ((model[:h] - model[h:]) - (form[:h] - form[h:])) / (2.0 * step)
        residual = Lin(scale * grad, scale * (here - here_form - float(grad @ best_x)), "x")
        trial = replace(
            problem,
            objective=Sum(((1.0, problem.objective), (1.0, residual))),
            lower=np.maximum(lo, best_x - radius),
            upper=np.minimum(hi, best_x + radius),
            integer=None,
        )
        sol = solve(trial, time_limit=time_limit)
        if not np.all(np.isfinite(sol.x)):
            break
        cand = np.round(sol.x) if integer else sol.x
        got = float(evaluate(cand[None, :])[0]) if feasible(cand[None, :])[0] else np.inf
        if got < best - 1e-9 * max(1.0, abs(best)):
            best_x, best = cand, got
        else:
            radius = np.maximum(radius / 2.0, step)
    return best_x, best


def optimise_hedge(
    portfolio: Portfolio,
    account: str,
    market: MarketSnapshot,
    model: MarginModel,
    *,
    candidates: Sequence[Candidate] | None = None,
    limits: HedgeLimits | None = None,
    costs: CostModel | None = None,
    offsets: Any = None,
    cap: float | None = None,
    greedy: bool = True,
    time_limit: float = 10.0,
    mip_rel_gap: float = 1e-3,
) -> HedgeResult:
    """The hedge of ``account`` under ``model`` (module docstring). ``mip_rel_gap`` is the
    relative optimality gap at which HiGHS may stop (reported with the answer)."""
    from crossmargin import api

    started = time.perf_counter()
    limits = limits or HedgeLimits()
    costs = costs or CostModel()
    s = _setup(portfolio, account, market, model, candidates)
    terms, h = s.terms, s.b.shape[1]
    problem = Problem(
        objective=_objective(s.form.expr, terms, costs),
        bindings={
            "y": Binding(v0=s.y0, b=s.b),
            "x": Binding(v0=np.zeros(h), b=sp.identity(h, format="csr")),
        },
        lower=terms.lower,
        upper=terms.upper,
        integer=np.full(h, limits.integer),
        rows=limit_rows(limits, terms, s.y0, s.col_delta, s.instruments),
        le=notional_constraint(limits, terms),
    )
    feasible = feasibility(limits, terms, s.y0, s.col_delta, s.instruments)
    x, sol_value, gap, status = _integer_solve(
        problem, s, limits, feasible, time_limit, mip_rel_gap
    )

    def evaluate(x: FloatArray) -> FloatArray:
        m = _margins(s, x)
        return m if costs.objective == "margin" else costs.carry * m + _extra_cost(x, terms, costs)

    value = float(evaluate(x[None, :])[0])
    notes = list(s.form.notes)
    method = (
        "LP (HiGHS)"
        if not limits.integer
        else "LP relaxation (HiGHS), rounded"
        if status.startswith("LP relaxation")
        else "MILP (HiGHS)"
    )
    if not s.form.exact or abs(value - sol_value) > 1e-6 * max(1.0, abs(value)):
        notes.append(
            f"the LP promised {sol_value:,.2f} and the model gives {value:,.2f} "
            "on its answer; sequential LPs and a coordinate search on the model follow"
        )
        stepped, stepped_value = _sequential_lp(
            problem, s, costs, evaluate, feasible, x, value, limits.integer, time_limit
        )
        if stepped_value < value - 1e-9 * max(1.0, abs(value)):
            x, value, method = stepped, stepped_value, method + " + sequential LP"
        polished, better = coordinate_search(evaluate, feasible, terms, x, limits.integer)
        if better < value - 1e-9 * max(1.0, abs(value)):
            x, value, method = polished, better, method + " + coordinate search"
    greedy_x: FloatArray | None = None
    greedy_value: float | None = None
    if greedy and not feasible(np.zeros((1, h)))[0]:
        notes.append("greedy baseline not run: no trade at all already breaks the limits")
    elif greedy:
        greedy_x, greedy_value = coordinate_search(evaluate, feasible, terms, np.zeros(h), True)
        if greedy_value < value - 1e-9 * max(1.0, abs(value)):
            notes.append(
                "greedy beat the optimiser's answer, which is not exact here; greedy's is returned"
            )
            x, value, method = greedy_x, greedy_value, "greedy"
    trades = _trades(x, terms)
    before = s.model.compute(s.book, market, offsets=offsets, cap=cap)
    after = None
    if trades:
        rows = [{"symbol": t.symbol, "quantity": t.quantity} for t in trades]
        after = api.what_if(
            portfolio, account, rows, market, s.model, offsets=offsets, cap=cap, before=before
        )
    verified = after.after.accounts[0].netted if after else before.accounts[0].netted
    return HedgeResult(
        account=account,
        model=model.name,
        currency=market.reporting_currency,
        objective=costs.objective,
        trades=trades,
        margin_before=before.accounts[0].netted,
        requirement_before=before.total,
        promised=float(s.form.value((s.y0 + s.b @ x)[None, :])[0]),
        verified=float(verified),
        requirement_after=after.after_total if after else before.total,
        objective_value=value,
        greedy=None if greedy_x is None else float(_margins(s, greedy_x[None, :])[0]),
        greedy_objective=greedy_value,
        greedy_trades=() if greedy_x is None else _trades(greedy_x, terms),
        method=method,
        exact=s.form.exact,
        notes=tuple(notes),
        status=status,
        gap=gap,
        seconds=time.perf_counter() - started,
        candidates=h,
        rate=costs.rate,
        horizon_days=costs.horizon_days,
        what_if=after,
    )


__all__ = [
    "OBJECTIVES",
    "CandidateTerms",
    "CostModel",
    "HedgeLimits",
    "HedgeResult",
    "Trade",
    "candidate_terms",
    "optimise_hedge",
]
