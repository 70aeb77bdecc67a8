"""Allocation of positions across venues (accounts) with their own models, to minimise the sum
of the venues' margins.

Items are the book's net positions per instrument (``qᵢ`` contracts); venue ``v`` may hold item
``i`` where its eligibility rules allow (:mod:`.venues`) and margins what it holds as one
netting set with its model ``M_v`` (the model's netted margin of the venue account). With
``y_v`` the holdings at ``v``::

    assign:  minimise Σ_v M_v(y_v),  y_v = Σᵢ qᵢ·z_iv·eᵢ,   Σ_v z_iv = 1,  z_iv ∈ {0, 1}
    split:   minimise Σ_v M_v(y_v),  Σ_v y_iv = qᵢ,  y_iv between 0 and qᵢ (integer contracts)

Each ``M_v`` is its form (:mod:`.forms`), so both are MILPs, solved by HiGHS within a time
limit; the reported **gap** is ``(best total − bound)/best total`` with HiGHS's dual bound
(the LP relaxation's where HiGHS gives none). Two baselines run on the same forms:

* **greedy**: items in decreasing order of their cheapest standalone margin, each to the
  venue whose margin it raises least;
* **submodular**: the lazy greedy of submodular welfare maximisation (Lehmann, Lehmann &
  Nisan, *Combinatorial auctions with decreasing marginal utilities*, 2001; Minoux's lazy
  evaluation, 1978): repeatedly place the (item, venue) pair with the largest saving
  ``min_w alone_w(i) − ΔM_v(i | what v holds)``, re-evaluating a stale pair's saving only when
  it reaches the top, then move single items between venues while that lowers the total.

Every plan's total is then taken on the real models (one netting set per venue); **isolated**
is every item margined alone at its cheapest eligible venue, and the saving is isolated minus
the best plan. Collateral is not allocated; the offset tiers' caps are not applied (the
venue's netted margin is its figure).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from crossmargin.analysis.optimise.allocate_heuristics import greedy, submodular
from crossmargin.analysis.optimise.forms import Form, margin_form
from crossmargin.analysis.optimise.lp import Binding, Const, Expr, Rebind, Sum
from crossmargin.analysis.optimise.lp_solve import Problem, solve
from crossmargin.analysis.optimise.venues import Venue
from crossmargin.errors import InputError
from crossmargin.instruments import Instrument
from crossmargin.market.snapshot import MarketSnapshot
from crossmargin.models.cache import CachedModel, ContextCache
from crossmargin.portfolio import Portfolio

FloatArray = NDArray[np.float64]
METHODS = ("milp", "greedy", "submodular")


@dataclass(frozen=True, slots=True, kw_only=True)
class Plan:
    """An allocation: ``quantity[i, v]`` contracts of item ``i`` at venue ``v``; the venues'
    margins on the real models (reporting currency)."""

    method: str
    quantity: FloatArray
    margins: FloatArray
    seconds: float

    @property
    def total(self) -> float:
        """Σ venue margins."""
        return math.fsum(self.margins.tolist())


@dataclass(frozen=True, slots=True, kw_only=True)
class AllocationResult:
    """The plans found, the best one and how far it may be from optimal."""

    currency: str
    venues: tuple[Venue, ...]
    items: tuple[Instrument, ...]
    quantity: FloatArray
    split: bool
    plans: tuple[Plan, ...]
    isolated: float
    bound: float | None
    exact: bool
    notes: tuple[str, ...] = ()
    status: str = ""
    solver_gap: float | None = None
    standalone: FloatArray = field(default_factory=lambda: np.zeros(0))

    @property
    def best(self) -> Plan:
        """The plan with the smallest real total."""
        return min(self.plans, key=lambda p: p.total)

    def plan(self, method: str) -> Plan:
        """The plan of ``method``."""
        return next(p for p in self.plans if p.method == method)

    @property
    def saving(self) -> float:
        """Isolated minus the best plan's total (reporting currency)."""
        return self.isolated - self.best.total

    @property
    def gap(self) -> float | None:
        """``(best − bound)/best`` where a bound is known and the forms are exact."""
        best = self.best.total
        if self.bound is None or not self.exact or best <= 0:
            return None
        return max(best - self.bound, 0.0) / best

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, with a units block."""
        best = self.best
        ccy = self.currency
        return {
            "currency": ccy,
            "split": self.split,
            "venues": [v.to_dict() for v in self.venues],
            "best": best.method,
            "total": best.total,
            "isolated": self.isolated,
            "saving": self.saving,
            "bound": self.bound,
            "gap": self.gap,
            "solver_gap": self.solver_gap,
            "exact": self.exact,
            "status": self.status,
            "notes": list(self.notes),
            "plans": [
                {
                    "method": p.method,
                    "total": p.total,
                    "seconds": p.seconds,
                    "venue_margins": dict(
                        zip([v.name for v in self.venues], p.margins.tolist(), strict=True)
                    ),
                }
                for p in self.plans
            ],
            "allocation": [
                {
                    "symbol": inst.symbol,
                    "quantity": float(self.quantity[i]),
                    "standalone": float(self.standalone[i]) if self.standalone.size else None,
                    "venues": {
                        v.name: float(best.quantity[i, k])
                        for k, v in enumerate(self.venues)
                        if best.quantity[i, k] != 0
                    },
                }
                for i, inst in enumerate(self.items)
            ],
            "units": {
                "money": f"{ccy}: margins, totals, saving, bound, standalone",
                "quantity": "contracts",
                "gap": "relative: (best total - bound) / best total (0.01 = 1%); None where a "
                "venue's form is not its model (the bound is then the forms')",
                "solver_gap": "relative MIP gap HiGHS proved on the forms",
                "seconds": "wall-clock seconds of each method",
            },
        }


@dataclass(slots=True)
class _VenueState:
    venue: Venue
    model: CachedModel
    context: Any
    items: NDArray[np.int64]  # item index of each column
    form: Form

    def real(self, y: FloatArray) -> FloatArray:
        if self.items.size == 0:
            return np.zeros(np.atleast_2d(y).shape[0])
        rows = sp.csr_matrix(np.atleast_2d(y))
        return self.model.margin_rows(
            self.context, rows, detail=np.zeros(rows.shape[0], dtype=bool)
        ).total


def _items(
    portfolio: Portfolio, accounts: Sequence[str] | None
) -> tuple[tuple[Instrument, ...], FloatArray]:
    chosen = portfolio.subset(list(accounts)) if accounts else portfolio
    net: dict[Instrument, float] = {}
    for p in chosen.positions:
        net[p.instrument] = net.get(p.instrument, 0.0) + p.quantity
    kept = [(i, q) for i, q in net.items() if q != 0.0]
    if not kept:
        raise InputError("nothing to allocate: every instrument nets to zero")
    return tuple(i for i, _ in kept), np.array([q for _, q in kept])


def allocate(
    portfolio: Portfolio,
    market: MarketSnapshot,
    venues: Sequence[Venue],
    *,
    accounts: Sequence[str] | None = None,
    split: bool = False,
    integer: bool = True,
    time_limit: float = 30.0,
    mip_rel_gap: float = 1e-4,
    history: Any = None,
    methods: Sequence[str] = METHODS,
) -> AllocationResult:
    """Allocate the book's net positions across ``venues`` (module docstring)."""
    unknown = sorted(set(methods) - set(METHODS))
    if unknown:
        raise InputError(f"unknown allocation method(s) {unknown}: use {', '.join(METHODS)}")
    items, qty = _items(portfolio, accounts)
    n, k = len(items), len(venues)
    elig = np.array([[v.eligible(i) for v in venues] for i in items], dtype=bool)
    orphans = [items[i].symbol for i in np.flatnonzero(~elig.any(axis=1))]
    if orphans:
        raise InputError(
            f"no venue may hold {', '.join(orphans)}: widen a venue's eligible "
            "rules or drop the position"
        )
    states = []
    for j, v in enumerate(venues):
        cols = np.flatnonzero(elig[:, j]).astype(np.int64)
        built = v.build(history)
        model = CachedModel(built, ContextCache(), model_key=v.name, market_key="a")
        model.nets_collateral = built.nets_collateral
        if cols.size == 0:  # a venue that may hold none of the book: margin 0
            states.append(
                _VenueState(
                    venue=v,
                    model=model,
                    context=None,
                    items=cols,
                    form=Form(expr=Const(0.0), columns=cols, exact=True),
                )
            )
            continue
        context = model.prepare(tuple(items[i] for i in cols), market)
        form = margin_form(model, context, np.arange(cols.size), reach=np.abs(qty[cols]))
        states.append(_VenueState(venue=v, model=model, context=context, items=cols, form=form))
    alone = np.full((n, k), np.inf)
    for j, st in enumerate(states):
        y = np.diag(qty[st.items])
        alone[st.items, j] = st.real(y)
    standalone = alone.min(axis=1)
    notes = [
        f"{v.name}: {note}" for v, st in zip(venues, states, strict=True) for note in st.form.notes
    ]
    plans: list[Plan] = []
    bound: float | None = None
    solver_gap: float | None = None
    status = ""
    if "milp" in methods:
        t0 = time.perf_counter()
        x, bound, status, solver_gap = _milp(
            states, qty, elig, split, integer, time_limit, mip_rel_gap
        )
        plans.append(_real_plan("milp", x, states, t0))
    if "greedy" in methods:
        t0 = time.perf_counter()
        plans.append(_real_plan("greedy", greedy(states, qty, elig, standalone), states, t0))
    if "submodular" in methods:
        t0 = time.perf_counter()
        x = submodular(states, qty, elig, standalone)
        plans.append(_real_plan("submodular", x, states, t0))
    return AllocationResult(
        currency=market.reporting_currency,
        venues=tuple(venues),
        items=items,
        quantity=qty,
        split=split,
        plans=tuple(plans),
        isolated=math.fsum(standalone.tolist()),
        bound=bound,
        exact=all(st.form.exact for st in states),
        notes=tuple(notes),
        status=status,
        standalone=standalone,
        solver_gap=solver_gap,
    )


def _real_plan(method: str, x: FloatArray, states: list[_VenueState], t0: float) -> Plan:
    margins = np.array([float(st.real(x[st.items, j])[0]) for j, st in enumerate(states)])
    return Plan(method=method, quantity=x, margins=margins, seconds=time.perf_counter() - t0)


def _milp(
    states: list[_VenueState],
    qty: FloatArray,
    elig: NDArray[np.bool_],
    split: bool,
    integer: bool,
    time_limit: float,
    mip_rel_gap: float,
) -> tuple[FloatArray, float | None, str, float | None]:
    """The MILP (module docstring): the allocation, a lower bound, HiGHS's status and gap."""
    n, k = elig.shape
    pairs = np.argwhere(elig)  # (item, venue) per variable
    nv = pairs.shape[0]
    bindings = {}
    terms: list[tuple[float, Expr]] = []
    for j, st in enumerate(states):
        col = {int(i): c for c, i in enumerate(st.items)}
        var = np.flatnonzero(pairs[:, 1] == j)
        at = [col[int(pairs[t, 0])] for t in var]
        scale = np.ones(var.size) if split else qty[pairs[var, 0]]
        b = sp.csr_matrix((scale, (at, var)), shape=(st.items.size, nv))
        name = f"v{j}"
        bindings[name] = Binding(v0=np.zeros(st.items.size), b=b)
        terms.append((1.0, Rebind(st.form.expr, name)))
    one = sp.csr_matrix((np.ones(nv), (pairs[:, 0], np.arange(nv))), shape=(n, nv))
    if split:
        lo = np.minimum(qty[pairs[:, 0]], 0.0)
        hi = np.maximum(qty[pairs[:, 0]], 0.0)
        rows = ((one, qty, qty, "each position allocated in full"),)
        is_int = np.full(nv, integer)
    else:
        lo, hi = np.zeros(nv), np.ones(nv)
        rows = ((one, np.ones(n), np.ones(n), "each position to one venue"),)
        is_int = np.ones(nv, dtype=bool)
    problem = Problem(
        objective=Sum(tuple(terms)),
        bindings=bindings,
        lower=lo,
        upper=hi,
        integer=is_int,
        rows=rows,
    )
    sol = solve(problem, time_limit=time_limit, mip_rel_gap=mip_rel_gap)
    bound = sol.dual_bound
    if not np.all(np.isfinite(sol.x)):
        relaxed = solve(
            Problem(objective=problem.objective, bindings=bindings, lower=lo, upper=hi, rows=rows),
            time_limit=time_limit,
        )
        x = _round_assignment(relaxed.x, pairs, qty, n, k, split)
        status = f"MILP found no integer answer in time ({sol.message}); LP relaxation rounded"
        return x, relaxed.objective, status, None
    out = np.zeros((n, k))
    values = np.round(sol.x) if (not split or integer) else sol.x
    out[pairs[:, 0], pairs[:, 1]] = values if split else values * qty[pairs[:, 0]]
    return out, bound, sol.message, sol.gap


def _round_assignment(
    x: FloatArray, pairs: NDArray[np.int64], qty: FloatArray, n: int, k: int, split: bool
) -> FloatArray:
    out = np.zeros((n, k))
    frac = np.zeros((n, k))
    frac[pairs[:, 0], pairs[:, 1]] = np.abs(x) / (np.abs(qty[pairs[:, 0]]) if split else 1.0)
    frac[frac == 0] = -1.0
    best = np.argmax(frac, axis=1)
    out[np.arange(n), best] = qty
    return out


__all__ = ["METHODS", "AllocationResult", "Plan", "allocate"]
