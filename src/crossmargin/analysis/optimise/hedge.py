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

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
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
from crossmargin.analysis.optimise.lp import Binding, Expr, Lin, Problem, Sum, pos_neg, solve
from crossmargin.analysis.optimise.universe import Candidate, default_universe
from crossmargin.errors import InputError
from crossmargin.instruments import Instrument
from crossmargin.market.snapshot import MarketSnapshot
from crossmargin.models.base import MarginModel
from crossmargin.models.cache import CachedModel, ContextCache
from crossmargin.netting.core import tier_layout
from crossmargin.portfolio import Portfolio, parse_rows

FloatArray = NDArray[np.float64]
OBJECTIVES = ("margin", "margin+cost")


@dataclass(frozen=True, slots=True, kw_only=True)
class HedgeLimits:
    """Limits of a hedge (module docstring): USD notional, USD delta bands per underlying
    (``"*"`` for every underlying of the problem), integer contracts."""

    max_notional: float | None = None
    delta_bands: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    integer: bool = True

    def __post_init__(self) -> None:
        if self.max_notional is not None and not (
            math.isfinite(self.max_notional) and self.max_notional >= 0
        ):
            raise InputError(f"max notional must be a finite amount >= 0, got {self.max_notional}")
        for u, (lo, hi) in self.delta_bands.items():
            if not (lo <= hi):
                raise InputError(f"delta band of {u}: low {lo:g} exceeds high {hi:g}")


@dataclass(frozen=True, slots=True, kw_only=True)
class CostModel:
    """What trading costs: ``objective`` (``margin`` or ``margin+cost``), the funding rate
    (decimal per year) and the horizon (calendar days) over which margin and premium are
    funded."""

    objective: str = "margin"
    rate: float = 0.0
    horizon_days: float = 365.0

    def __post_init__(self) -> None:
        if self.objective not in OBJECTIVES:
            raise InputError(f"unknown objective {self.objective!r}: use {', '.join(OBJECTIVES)}")
        if not (math.isfinite(self.rate) and -1.0 < self.rate < 1.0):
            raise InputError(f"funding rate must be a decimal per year (0.0365), got {self.rate}")
        if not (math.isfinite(self.horizon_days) and self.horizon_days > 0):
            raise InputError(f"horizon must be > 0 days, got {self.horizon_days}")

    @property
    def carry(self) -> float:
        """``r·H/365``: funding cost of one unit of money over the horizon."""
        return self.rate * self.horizon_days / 365.0


@dataclass(frozen=True, slots=True, kw_only=True)
class CandidateTerms:
    """Per candidate, in the reporting currency: bounds (contracts), buy/sell cost and premium
    per contract, notional per contract and dollar delta per contract (USD per 100% move)."""

    candidates: tuple[Candidate, ...]
    lower: FloatArray
    upper: FloatArray
    buy: FloatArray
    sell: FloatArray
    premium: FloatArray
    notional: FloatArray
    delta: FloatArray
    underlying: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Trade:
    """A trade of the answer (contracts; money in the reporting currency)."""

    symbol: str
    quantity: float
    cost: float
    premium: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "symbol": self.symbol,
            "quantity": self.quantity,
            "cost": self.cost,
            "premium": self.premium,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class HedgeResult:
    """The hedge found, its promise and its verification (module docstring)."""

    account: str
    model: str
    currency: str
    objective: str
    trades: tuple[Trade, ...]
    margin_before: float
    requirement_before: float
    promised: float
    verified: float
    requirement_after: float
    objective_value: float
    greedy: float | None
    greedy_objective: float | None
    greedy_trades: tuple[Trade, ...]
    method: str
    exact: bool
    notes: tuple[str, ...]
    status: str
    gap: float | None
    seconds: float
    candidates: int
    rate: float
    horizon_days: float
    what_if: Any = None

    @property
    def saving(self) -> float:
        """Requirement before minus after (reporting currency; > 0 frees capital)."""
        return self.requirement_before - self.requirement_after

    @property
    def trading_cost(self) -> float:
        """Σ cost of the trades against fair value."""
        return math.fsum(t.cost for t in self.trades)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, with a units block."""
        ccy = self.currency
        return {
            "account": self.account,
            "model": self.model,
            "currency": ccy,
            "objective": self.objective,
            "trades": [t.to_dict() for t in self.trades],
            "margin_before": self.margin_before,
            "requirement_before": self.requirement_before,
            "promised": self.promised,
            "verified": self.verified,
            "requirement_after": self.requirement_after,
            "saving": self.saving,
            "trading_cost": self.trading_cost,
            "objective_value": self.objective_value,
            "greedy": self.greedy,
            "greedy_objective": self.greedy_objective,
            "greedy_trades": [t.to_dict() for t in self.greedy_trades],
            "method": self.method,
            "exact": self.exact,
            "notes": list(self.notes),
            "status": self.status,
            "gap": self.gap,
            "seconds": self.seconds,
            "candidates": self.candidates,
            "rate": self.rate,
            "horizon_days": self.horizon_days,
            "units": {
                "money": f"{ccy}: margins, requirements, saving, costs, premiums",
                "promised/verified": f"{ccy}: the model's margin of the account's netting set "
                "(the LP's figure and the model's on the answer)",
                "objective_value": f"{ccy}: margin (objective margin) or funding of the margin "
                "over the horizon plus trading cost and premium funding (margin+cost)",
                "requirement": f"{ccy}: what the account must hold after the offset tiers",
                "quantity": "contracts",
                "rate": "decimal per year",
                "horizon_days": "calendar days",
                "seconds": "wall-clock seconds of the optimiser",
                "gap": "relative MIP gap HiGHS proved (0.0001 = 0.01%)",
            },
        }


def candidate_terms(
    candidates: Sequence[Candidate],
    market: MarketSnapshot,
    *,
    gross_delta: float,
) -> CandidateTerms:
    """Bounds, costs, premium, notional and delta of each candidate (module docstring)."""
    from crossmargin.models.params import load_parameters
    from crossmargin.models.var_addon_params import bucket_parameters
    from crossmargin.models.var_addons import dollar_deltas, vegas
    from crossmargin.pricing.mtm import position_mtm
    from crossmargin.pricing.terms import instrument_terms
    from crossmargin.pricing.valuation import base_fx, base_values

    insts = tuple(c.instrument for c in candidates)
    terms = instrument_terms(insts, market)
    value = base_values(terms) * base_fx(terms)
    delta = dollar_deltas(insts, market, bump=0.01)
    vega = vegas(insts, market, bump=0.01)
    quote = np.array([market.fx_rate(i.spec.quote_currency) for i in insts])
    face = terms.inverse & np.isin(terms.kind, _face_kinds())  # USD face per contract
    notional = np.where(face, terms.multiplier, terms.multiplier * terms.spot) * quote
    es = load_parameters("es")
    buy, sell = np.zeros(len(insts)), np.zeros(len(insts))
    for j, c in enumerate(candidates):
        if c.bid is not None and c.ask is not None:
            rows = parse_rows(
                [
                    {"account": "q", "symbol": c.symbol, "quantity": 1.0, "trade_price": c.ask},
                    {"account": "s", "symbol": c.symbol, "quantity": -1.0, "trade_price": c.bid},
                ],
                source="quotes",
            )
            _, unrealised = position_mtm(rows, market)
            buy[j], sell[j] = -unrealised[0], -unrealised[1]
        elif c.half_spread is not None:
            buy[j] = sell[j] = c.half_spread * abs(notional[j])
        else:
            bp = bucket_parameters(es, c.instrument.underlying, c.instrument.spec.style)
            buy[j] = sell[j] = bp.half_spread * abs(delta[j]) + bp.vol_half_spread * abs(vega[j])
    premium = np.where(np.isin(terms.kind, _paid_kinds()), value, 0.0)
    bound = np.where(
        np.abs(delta) > 0, np.ceil(2.0 * gross_delta / np.maximum(np.abs(delta), 1e-12)), 1.0
    )
    bound = np.clip(np.maximum(bound, 1.0), 1.0, 1e9)
    lower = np.array(
        [-b if c.lower is None else c.lower for c, b in zip(candidates, bound, strict=True)]
    )
    upper = np.array(
        [b if c.upper is None else c.upper for c, b in zip(candidates, bound, strict=True)]
    )
    return CandidateTerms(
        candidates=tuple(candidates),
        lower=lower,
        upper=upper,
        buy=buy,
        sell=sell,
        premium=premium,
        notional=np.abs(notional),
        delta=delta,
        underlying=tuple(i.underlying for i in insts),
    )


def _paid_kinds() -> tuple[int, ...]:
    from crossmargin.pricing.terms import OPTION, SPOT

    return (OPTION, SPOT)


def _face_kinds() -> tuple[int, ...]:
    from crossmargin.pricing.terms import FUTURE, PERPETUAL

    return (FUTURE, PERPETUAL)


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
    layout = tier_layout(book)
    y_acc = np.asarray(layout.holdings[layout.offsets_of["netting-set"]].toarray()).reshape(-1)
    held = tuple(dict.fromkeys(i.underlying for i in book.instruments))
    cands = tuple(candidates) if candidates is not None else default_universe(held, market)
    if not cands:
        raise InputError(f"no hedge candidates for account {account}")
    instruments = tuple(dict.fromkeys([*layout.instruments, *(c.instrument for c in cands)]))
    where = {inst: j for j, inst in enumerate(instruments)}
    n, h = len(instruments), len(cands)
    y0 = np.zeros(n)
    y0[: y_acc.size] = y_acc
    cols = np.array([where[c.instrument] for c in cands], dtype=np.int64)
    b = sp.csr_matrix((np.ones(h), (cols, np.arange(h))), shape=(n, h))
    cached = CachedModel(model, ContextCache(), model_key=model.name, market_key="hedge")
    context = cached.prepare(instruments, market)
    form = margin_form(cached, context, np.arange(n), reference=y0)
    col_delta = dollar_deltas(instruments, market, bump=0.01)
    gross = float(np.abs(y0 * col_delta).sum()) or float(np.abs(y0).sum()) or 1.0
    terms = candidate_terms(cands, market, gross_delta=gross)
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
