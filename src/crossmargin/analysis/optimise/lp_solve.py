"""Solving a :class:`Problem` built from :mod:`.lp` forms with HiGHS (:func:`scipy.optimize.milp`).

:func:`solve` compiles the objective's epigraph (:mod:`.lp`), adds the problem's rows and convex
``≤`` constraints and hands everything to HiGHS with integrality per decision variable; HiGHS's
stray C-level prints are kept off stdout (a JSON consumer reads it).
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray
from scipy.optimize import Bounds, LinearConstraint, milp

from crossmargin.analysis.optimise.lp import Binding, Builder, Expr, FloatArray
from crossmargin.errors import ModelError


@dataclass(frozen=True, slots=True, kw_only=True)
class Solution:
    """A solved problem: decision variables, objective, status and the MIP gap."""

    x: FloatArray
    objective: float
    status: int
    message: str
    gap: float | None
    dual_bound: float | None
    optimal: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class Problem:
    """``min expr`` over ``x`` within bounds, rows ``lo ≤ A·x ≤ hi``, convex constraints
    ``expr ≤ bound`` (``le``; exact by the same epigraph argument) and integrality."""

    objective: Expr
    bindings: Mapping[str, Binding]
    lower: FloatArray
    upper: FloatArray
    integer: NDArray[np.bool_] | None = None
    rows: tuple[tuple[sp.csr_matrix, FloatArray, FloatArray, str], ...] = ()
    le: tuple[tuple[Expr, float, str], ...] = ()

    @property
    def n_x(self) -> int:
        """Decision variables."""
        return int(self.lower.size)


def solve(
    problem: Problem, *, time_limit: float | None = None, mip_rel_gap: float = 1e-6
) -> Solution:
    """Compile and solve with HiGHS (:func:`scipy.optimize.milp`)."""
    n_x = problem.n_x
    b = Builder(n_x, problem.bindings)
    b.lb[:n_x] = problem.lower.tolist()
    b.ub[:n_x] = problem.upper.tolist()
    aff = problem.objective.emit(b)
    for mx, lo, hi, tag in problem.rows:
        b.add_rows(sp.csr_matrix(mx), [], lo, hi, tag)
    for expr, bound, tag in problem.le:
        cons = expr.emit(b)
        cols = np.array(list(cons.coef), dtype=np.int64)
        vals = np.array([cons.coef[c] for c in cols.tolist()])
        row = sp.csr_matrix((vals, (np.zeros(cols.size), cols)), shape=(1, b.n_vars))
        b.add_rows(row, [], np.array([-np.inf]), np.array([bound - cons.const]), tag)
    n = b.n_vars
    c = np.zeros(n)
    for k, v in aff.coef.items():
        c[k] += v
    integrality = np.zeros(n)
    if problem.integer is not None:
        integrality[:n_x] = problem.integer.astype(float)
    constraints = []
    if b.row_lb:
        a = b.matrix()
        a.resize((a.shape[0], n))
        constraints.append(LinearConstraint(a, np.array(b.row_lb), np.array(b.row_ub)))
    options: dict[str, float | bool] = {"disp": False, "mip_rel_gap": mip_rel_gap}
    if time_limit is not None:
        options["time_limit"] = float(time_limit)
    with _quiet_stdout():
        res = milp(
            c,
            constraints=constraints,
            integrality=integrality,
            bounds=Bounds(np.array(b.lb), np.array(b.ub)),
            options=options,
        )
    found = res.x is not None
    x = np.asarray(res.x[:n_x], dtype=np.float64) if found else np.full(n_x, np.nan)
    gap = getattr(res, "mip_gap", None)
    dual = getattr(res, "mip_dual_bound", None)
    return Solution(
        x=x,
        objective=float(res.fun + aff.const) if found else math.nan,
        status=int(res.status),
        message=str(res.message),
        gap=None if gap is None or not np.isfinite(gap) else float(gap),
        dual_bound=None if dual is None or not np.isfinite(dual) else float(dual + aff.const),
        optimal=int(res.status) == 0,
    )


_STDOUT_LOCK = threading.Lock()


@contextlib.contextmanager
def _quiet_stdout() -> Iterator[None]:
    """Silence the C-level standard output while HiGHS runs: with ``disp`` off it still
    prints a few diagnostic lines on some MIPs, which would corrupt JSON on stdout."""
    with _STDOUT_LOCK:
        try:
            fd = sys.stdout.fileno()
        except (AttributeError, OSError, ValueError):
            yield  # no real file descriptor (captured): nothing reaches a terminal anyway
            return
        sys.stdout.flush()
        saved = os.dup(fd)
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, fd)
            yield
        finally:
            os.dup2(saved, fd)
            os.close(saved)
            os.close(devnull)


def require_found(sol: Solution, what: str) -> Solution:
    """The solution, or ModelError when HiGHS found none for a reason other than infeasibility
    (the caller diagnoses infeasibility itself)."""
    if not np.all(np.isfinite(sol.x)) and sol.status != 2:
        raise ModelError(f"{what}: HiGHS found no solution ({sol.message})")
    return sol


__all__ = ["Problem", "Solution", "require_found", "solve"]
