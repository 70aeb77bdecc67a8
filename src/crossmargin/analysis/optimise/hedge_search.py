"""The hedge's limits as rows, their feasibility, infeasibility diagnosis and the coordinate
search (greedy baseline and polish) on the real model.

**Coordinate search** from a start ``x``: every move of one candidate by ``±2ᵏ`` contracts
(k = 0, 1, …, up to its bounds; continuous trades also by halves down to 2⁻⁶ of the largest
step) that keeps every limit is evaluated in one call of the model; the best move is taken
while it lowers the objective by more than 1e-9 (relative), at most ``max_steps`` times.
From ``x = 0`` this is the greedy baseline; from the LP's answer it polishes where the LP's
form is not the model's margin.

**Infeasible limits** are explained with small LPs: the range each banded underlying's delta
can reach within the candidates' bounds, with and without the max notional, and the notional
the bands need together; the message names the limit that binds.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from crossmargin.analysis.optimise.lp import Binding, Expr, Lin, abs_sum
from crossmargin.analysis.optimise.lp_solve import Problem, solve
from crossmargin.instruments import Instrument

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]
Evaluate = Callable[[FloatArray], FloatArray]
Feasible = Callable[[FloatArray], BoolArray]
_TOL = 1e-9


def bands(limits: Any, underlyings: tuple[str, ...]) -> dict[str, tuple[float, float]]:
    """The delta band of each underlying (``"*"`` applies to all not named)."""
    out = {}
    for u in underlyings:
        if u in limits.delta_bands:
            out[u] = limits.delta_bands[u]
        elif "*" in limits.delta_bands:
            out[u] = limits.delta_bands["*"]
    return out


def _underlyings(instruments: tuple[Instrument, ...]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(i.underlying for i in instruments))


def band_rows(
    limits: Any,
    terms: Any,
    y0: FloatArray,
    col_delta: FloatArray,
    instruments: tuple[Instrument, ...],
) -> list[tuple[str, FloatArray, float, float, float]]:
    """Per banded underlying: (name, delta per contract of each candidate, the account's
    delta now, low, high); USD per 100% move."""
    unds = np.array([i.underlying for i in instruments])
    cand_u = np.array(terms.underlying)
    out = []
    for u, (lo, hi) in bands(limits, _underlyings(instruments)).items():
        now = float((y0 * col_delta)[unds == u].sum())
        out.append((u, np.where(cand_u == u, terms.delta, 0.0), now, lo, hi))
    return out


def limit_rows(
    limits: Any,
    terms: Any,
    y0: FloatArray,
    col_delta: FloatArray,
    instruments: tuple[Instrument, ...],
) -> tuple[tuple[sp.csr_matrix, FloatArray, FloatArray, str], ...]:
    """The delta bands as rows ``lo − now ≤ δ·x ≤ hi − now``."""
    return tuple(
        (sp.csr_matrix(d[None, :]), np.array([lo - now]), np.array([hi - now]), f"delta {u}")
        for u, d, now, lo, hi in band_rows(limits, terms, y0, col_delta, instruments)
    )


def notional_constraint(limits: Any, terms: Any) -> tuple[tuple[Expr, float, str], ...]:
    """``Σ nⱼ·|xⱼ| ≤ N`` as a convex constraint on the trade ``x``."""
    if limits.max_notional is None:
        return ()
    h = terms.notional.size
    expr = abs_sum(sp.identity(h, format="csr"), np.zeros(h), terms.notional, "x")
    return ((expr, float(limits.max_notional), "max notional"),)


def feasibility(
    limits: Any,
    terms: Any,
    y0: FloatArray,
    col_delta: FloatArray,
    instruments: tuple[Instrument, ...],
) -> Feasible:
    """A test of trades (rows, candidates) against bounds, notional and delta bands."""
    rows = band_rows(limits, terms, y0, col_delta, instruments)

    def ok(x: FloatArray) -> BoolArray:
        good = np.all((x >= terms.lower - 1e-9) & (x <= terms.upper + 1e-9), axis=1)
        if limits.max_notional is not None:
            good &= np.abs(x) @ terms.notional <= limits.max_notional * (1 + 1e-12) + 1e-9
        for _, d, now, lo, hi in rows:
            delta = now + x @ d
            good &= (delta >= lo - 1e-6) & (delta <= hi + 1e-6)
        out: BoolArray = good
        return out

    return ok


def coordinate_search(
    evaluate: Evaluate,
    feasible: Feasible,
    terms: Any,
    start: FloatArray,
    integer: bool,
    max_steps: int = 60,
) -> tuple[FloatArray, float]:
    """Best single-candidate moves until none helps (module docstring)."""
    x = np.clip(np.asarray(start, dtype=np.float64), terms.lower, terms.upper)
    if integer:
        x = np.round(x)
    value = float(evaluate(x[None, :])[0])
    if not feasible(x[None, :])[0]:
        return x, float("inf")
    h = x.size
    span = float(np.max(terms.upper - terms.lower)) if h else 0.0
    top = int(np.ceil(np.log2(max(span, 1.0))))
    sizes = [2.0**k for k in range(top + 1)]
    if not integer:
        sizes = [2.0**k for k in range(-6, 0)] + sizes
    steps = np.array(sizes)
    for _ in range(max_steps):
        moves = np.concatenate([steps, -steps])
        cand = np.repeat(x[None, :], h * moves.size, axis=0)
        j = np.repeat(np.arange(h), moves.size)
        cand[np.arange(cand.shape[0]), j] += np.tile(moves, h)
        keep = feasible(cand)
        if not keep.any():
            break
        cand = cand[keep]
        values = evaluate(cand)
        best = int(np.argmin(values))
        if not values[best] < value - _TOL * max(1.0, abs(value)):
            break
        x, value = cand[best], float(values[best])
    return x, value


def _range(obj: FloatArray, terms: Any, limits: Any, with_notional: bool) -> tuple[float, float]:
    """Min and max of ``obj·x`` within bounds (and the notional limit)."""
    h = obj.size
    bind = {"x": Binding(v0=np.zeros(h), b=sp.identity(h, format="csr"))}
    le = notional_constraint(limits, terms) if with_notional else ()
    out = []
    for sign in (1.0, -1.0):
        sol = solve(
            Problem(
                objective=Lin(sign * obj, 0.0, "x"),
                bindings=bind,
                lower=terms.lower,
                upper=terms.upper,
                le=le,
            )
        )
        out.append(sign * sol.objective)
    return out[0], out[1]


def diagnose_infeasible(
    limits: Any,
    terms: Any,
    y0: FloatArray,
    col_delta: FloatArray,
    instruments: tuple[Instrument, ...],
) -> str:
    """One line naming the limit that makes the hedge infeasible (module docstring)."""
    rows = band_rows(limits, terms, y0, col_delta, instruments)
    if limits.max_notional is not None and np.any(terms.lower > 0) | np.any(terms.upper < 0):
        forced = float(
            np.sum(np.maximum(terms.lower, 0) * terms.notional)
            + np.sum(np.maximum(-terms.upper, 0) * terms.notional)
        )
        if forced > limits.max_notional:
            return (
                f"infeasible hedge: the candidates' bounds force a notional of {forced:,.0f} "
                f"USD, above the max notional {limits.max_notional:,.0f} USD"
            )
    for u, d, now, lo, hi in rows:
        free = _range(d, terms, limits, False)
        reach = (now + free[0], now + free[1])
        if reach[1] < lo or reach[0] > hi:
            return (
                f"infeasible hedge: the delta band [{lo:,.0f}, {hi:,.0f}] USD on {u} cannot "
                f"be met: from {now:,.0f} USD the candidates reach [{reach[0]:,.0f}, "
                f"{reach[1]:,.0f}] USD within their contract bounds"
            )
        if limits.max_notional is not None:
            cap = _range(d, terms, limits, True)
            capped = (now + cap[0], now + cap[1])
            if capped[1] < lo or capped[0] > hi:
                return (
                    f"infeasible hedge: the max notional {limits.max_notional:,.0f} USD "
                    f"binds: it lets the {u} delta reach only [{capped[0]:,.0f}, "
                    f"{capped[1]:,.0f}] USD, outside its band [{lo:,.0f}, {hi:,.0f}] USD"
                )
    if rows and limits.max_notional is not None:
        return (
            f"infeasible hedge: each delta band can be met alone, but not all of them within "
            f"the max notional {limits.max_notional:,.0f} USD: the notional limit binds"
        )
    if limits.integer:
        return (
            "infeasible hedge: the limits admit fractional trades only: allow continuous "
            "contracts or widen the delta bands"
        )
    return "infeasible hedge: the limits cannot be met together"


__all__ = [
    "band_rows",
    "bands",
    "coordinate_search",
    "diagnose_infeasible",
    "feasibility",
    "limit_rows",
    "notional_constraint",
]
