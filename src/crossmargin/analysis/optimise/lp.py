"""Convex piecewise-linear forms: evaluated in batch, or compiled to one HiGHS LP/MILP.

A margin that is a sum and maximum of linear pieces is an expression tree of the nodes below,
each a function of one or more named **inputs** (a vector ``v``: an account's holdings per
instrument column, a trade per candidate, a venue's holdings). Every node is convex in its
inputs and enters with a non-negative weight, so the epigraph reformulation is exact
(Boyd & Vandenberghe, *Convex Optimization* §4.3.1, 2004):

=================  ==========================================  ================================
node               value                                       LP (new variables, rows)
=================  ==========================================  ================================
``Lin(a, c)``      ``a·v + c``                                 affine, no row
``Hinge(A, c, w)`` ``Σ_k w_k·max(A_k·v + c_k, 0)``             ``h_k ≥ 0, h_k ≥ A_k·v + c_k``
``MaxRows(L, c)``  ``max_s (L_s·v + c_s)`` (and 0 if floored)  ``t ≥ L_s·v + c_s``
``Tail(L, c, p,    ``ES``: mean of the worst mass ``q`` of the  ``ζ + Σ_s (p_s/q)·u_s``,
q)``               losses ``L_s·v + c_s`` (probabilities p)    ``u_s ≥ 0, u_s ≥ L_s·v + c_s − ζ``
``Sum``/``Max``    weighted sum / maximum of children          ``t ≥ child`` for ``Max``
=================  ==========================================  ================================

``Tail`` is the Rockafellar–Uryasev representation of expected shortfall,
``ES_q(L) = min_ζ ζ + (1/q)·E[(L − ζ)⁺]`` (Rockafellar & Uryasev, *Conditional value-at-risk
for general loss distributions*, J. Banking & Finance 26, 2002, Theorem 10): for equally
likely scenarios and ``q = (1 − α)``, its minimum is the fractional-tail ES of
:func:`crossmargin.stats.tail.var_es` (the k − 1 worst losses in full and the k-th with weight
``m − (k − 1)``, ``m = q·n``; Acerbi & Tasche 2002), so the LP's objective *is* the margin.

Inputs are bound when compiling: input ``name`` is ``v = v₀ + B·x`` with ``x`` the decision
variables (trades, allocations), so every row becomes a row in ``x``.
:func:`crossmargin.analysis.optimise.lp_solve.solve` hands the problem to
:func:`scipy.optimize.milp` (HiGHS; integrality per decision variable).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeAlias

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from crossmargin.errors import ModelError

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
Matrix: TypeAlias = FloatArray | sp.csr_matrix
Inputs: TypeAlias = Mapping[str, FloatArray]


def _apply(m: Matrix, v: FloatArray) -> FloatArray:
    """``v @ mᵀ`` for a batch ``v`` (rows, n): (rows, k)."""
    out = m @ v.T if sp.issparse(m) else v @ np.asarray(m).T
    return np.asarray(out.T if sp.issparse(m) else out, dtype=np.float64).reshape(v.shape[0], -1)


@dataclass(slots=True)
class Affine:
    """``coef·z + const`` over the LP's variables ``z`` (dense over the variables so far)."""

    coef: dict[int, float] = field(default_factory=dict)
    const: float = 0.0

    def add(self, other: Affine, weight: float = 1.0) -> Affine:
        """``self + weight·other`` (in place; returns self)."""
        for k, v in other.coef.items():
            self.coef[k] = self.coef.get(k, 0.0) + weight * v
        self.const += weight * other.const
        return self


@dataclass(frozen=True, slots=True, kw_only=True)
class Binding:
    """Input ``v = v0 + B·x`` over the decision variables ``x`` (``B``: (len(v), n_x))."""

    v0: FloatArray
    b: sp.csr_matrix


class Builder:
    """Variables, bounds and rows of one LP/MILP (``x`` first, auxiliaries after)."""

    def __init__(self, n_x: int, bindings: Mapping[str, Binding]) -> None:
        self.n_x = n_x
        self.bindings = dict(bindings)
        self.lb: list[float] = [-math.inf] * n_x
        self.ub: list[float] = [math.inf] * n_x
        self._rows: list[int] = []
        self._cols: list[int] = []
        self._vals: list[float] = []
        self.row_lb: list[float] = []
        self.row_ub: list[float] = []
        self.row_tags: list[str] = []

    @property
    def n_vars(self) -> int:
        """Variables so far."""
        return len(self.lb)

    def new_vars(self, k: int, lb: float = -math.inf, ub: float = math.inf) -> IntArray:
        """``k`` new auxiliary variables."""
        start = self.n_vars
        self.lb += [lb] * k
        self.ub += [ub] * k
        return np.arange(start, start + k, dtype=np.int64)

    def rows_in_x(self, name: str, m: Matrix, c: FloatArray) -> tuple[sp.csr_matrix, FloatArray]:
        """Rows ``m·v + c`` of input ``name`` as ``(M·B) x + (m·v0 + c)``."""
        if name not in self.bindings:
            raise ModelError(f"LP: input {name!r} is not bound")
        bind = self.bindings[name]
        mb = sp.csr_matrix(m) @ bind.b
        const = np.asarray(m @ bind.v0, dtype=np.float64).reshape(-1) + c
        return sp.csr_matrix(mb), const

    def add_rows(
        self,
        mx: sp.csr_matrix,
        extra: Sequence[tuple[IntArray, FloatArray]],
        lb: FloatArray,
        ub: FloatArray,
        tag: str,
    ) -> None:
        """Rows ``lb ≤ mx·x + Σ extra ≤ ub``; ``extra`` = (variable per row, coefficient)."""
        coo = sp.coo_matrix(mx)
        base = len(self.row_lb)
        self._rows += (coo.row + base).tolist()
        self._cols += coo.col.tolist()
        self._vals += coo.data.tolist()
        k = mx.shape[0]
        for var, coef in extra:
            self._rows += (np.arange(k) + base).tolist()
            self._cols += np.broadcast_to(var, (k,)).tolist()
            self._vals += np.broadcast_to(coef, (k,)).tolist()
        self.row_lb += np.broadcast_to(lb, (k,)).tolist()
        self.row_ub += np.broadcast_to(ub, (k,)).tolist()
        self.row_tags += [tag] * k

    def matrix(self) -> sp.csr_matrix:
        """The constraint matrix (rows x variables)."""
        return sp.csr_matrix(
            (self._vals, (self._rows, self._cols)), shape=(len(self.row_lb), self.n_vars)
        )


class Expr(ABC):
    """A convex piecewise-linear function of named inputs (module docstring)."""

    @abstractmethod
    def value(self, inputs: Inputs) -> FloatArray:
        """Values for a batch: each input (rows, len(v)); returns (rows,)."""

    @abstractmethod
    def emit(self, b: Builder) -> Affine:
        """Add the node's variables and rows to ``b``; return its epigraph affine form."""


def _rows(inputs: Inputs, name: str) -> FloatArray:
    try:
        v = inputs[name]
    except KeyError:
        raise ModelError(f"form input {name!r} not given") from None
    return np.atleast_2d(np.asarray(v, dtype=np.float64))


@dataclass(frozen=True, slots=True)
class Const(Expr):
    """A constant."""

    c: float

    def value(self, inputs: Inputs) -> FloatArray:
        rows = next(iter(inputs.values())).shape[0] if inputs else 1
        return np.full(rows, self.c)

    def emit(self, b: Builder) -> Affine:
        return Affine(const=self.c)


@dataclass(frozen=True, slots=True)
class Lin(Expr):
    """``a·v + c`` on input ``name``."""

    a: FloatArray
    c: float = 0.0
    name: str = "y"

    def value(self, inputs: Inputs) -> FloatArray:
        out: FloatArray = _rows(inputs, self.name) @ self.a + self.c
        return out

    def emit(self, b: Builder) -> Affine:
        mx, const = b.rows_in_x(self.name, self.a.reshape(1, -1), np.array([self.c]))
        coo = sp.coo_matrix(mx)
        return Affine(
            coef=dict(zip(coo.col.tolist(), coo.data.tolist(), strict=True)), const=float(const[0])
        )


@dataclass(frozen=True, slots=True)
class Hinge(Expr):
    """``Σ_k w_k·max(A_k·v + c_k, 0)`` (``w ≥ 0``) on input ``name``."""

    a: Matrix
    c: FloatArray
    w: FloatArray
    name: str = "y"

    def __post_init__(self) -> None:
        if np.any(np.asarray(self.w) < 0):
            raise ModelError("Hinge weights must be >= 0 (convexity)")

    def value(self, inputs: Inputs) -> FloatArray:
        z = _apply(self.a, _rows(inputs, self.name)) + self.c
        out: FloatArray = np.maximum(z, 0.0) @ self.w
        return out

    def emit(self, b: Builder) -> Affine:
        keep = np.flatnonzero(self.w > 0)
        if keep.size == 0:
            return Affine()
        a = sp.csr_matrix(self.a)[keep]
        mx, const = b.rows_in_x(self.name, a, self.c[keep])
        h = b.new_vars(keep.size, lb=0.0)
        b.add_rows(mx, [(h, -np.ones(keep.size))], np.full(keep.size, -np.inf), -const, "hinge")
        return Affine(coef=dict(zip(h.tolist(), self.w[keep].tolist(), strict=True)))


def abs_sum(a: Matrix, c: FloatArray, w: FloatArray, name: str = "y") -> Hinge:
    """``Σ_k w_k·|A_k·v + c_k|`` as a :class:`Hinge` of both signs."""
    stacked = sp.vstack([sp.csr_matrix(a), -sp.csr_matrix(a)]).tocsr()
    return Hinge(stacked, np.concatenate([c, -c]), np.concatenate([w, w]), name)


def pos_neg(long: FloatArray, short: FloatArray, name: str = "y") -> Expr:
    """``Σ_j long_j·v_j⁺ + short_j·v_j⁻`` (needs ``long + short ≥ 0``):
    ``long·v + (long + short)·max(−v, 0)``."""
    both = np.asarray(long) + np.asarray(short)
    if np.any(both < -1e-12):
        raise ModelError("a long/short charge is convex only where long + short >= 0")
    n = both.size
    keep = np.flatnonzero(both > 0)
    ident = sp.csr_matrix((-np.ones(keep.size), (np.arange(keep.size), keep)), shape=(keep.size, n))
    return Sum(
        (
            (1.0, Lin(np.asarray(long, dtype=np.float64), 0.0, name)),
            (1.0, Hinge(ident, np.zeros(keep.size), both[keep], name)),
        )
    )


@dataclass(frozen=True, slots=True)
class MaxRows(Expr):
    """``max_s (L_s·v + c_s)``, with 0 among the candidates when ``floor`` (a loss)."""

    loss: Matrix
    c: FloatArray
    floor: bool = True
    name: str = "y"

    def value(self, inputs: Inputs) -> FloatArray:
        z = _apply(self.loss, _rows(inputs, self.name)) + self.c
        out: FloatArray = z.max(axis=1) if z.shape[1] else np.zeros(z.shape[0])
        return np.maximum(out, 0.0) if self.floor else out

    def emit(self, b: Builder) -> Affine:
        t = b.new_vars(1, lb=0.0 if self.floor else -math.inf)
        k = self.c.size
        if k:
            mx, const = b.rows_in_x(self.name, self.loss, self.c)
            b.add_rows(mx, [(t, -np.ones(k))], np.full(k, -np.inf), -const, "scenario")
        return Affine(coef={int(t[0]): 1.0})


@dataclass(frozen=True, slots=True)
class Tail(Expr):
    """Expected shortfall of the losses ``L_s·v + c_s`` at tail mass ``q`` (probabilities
    ``p``, summing to 1): exact weighted tail mean, and Rockafellar–Uryasev in the LP."""

    loss: Matrix
    c: FloatArray
    p: FloatArray
    q: float
    name: str = "y"

    def __post_init__(self) -> None:
        if not 0.0 < self.q <= 1.0:
            raise ModelError(f"tail mass must be in (0, 1], got {self.q}")

    def value(self, inputs: Inputs) -> FloatArray:
        z = _apply(self.loss, _rows(inputs, self.name)) + self.c  # (rows, S) losses
        return tail_mean(z, self.p, self.q)

    def emit(self, b: Builder) -> Affine:
        k = self.c.size
        zeta = b.new_vars(1)
        u = b.new_vars(k, lb=0.0)
        mx, const = b.rows_in_x(self.name, self.loss, self.c)
        b.add_rows(mx, [(zeta, -np.ones(k)), (u, -np.ones(k))], np.full(k, -np.inf), -const, "tail")
        out = Affine(coef={int(zeta[0]): 1.0})
        for j, pj in zip(u.tolist(), (self.p / self.q).tolist(), strict=True):
            out.coef[j] = pj
        return out


def tail_mean(losses: FloatArray, p: FloatArray, q: float) -> FloatArray:
    """Per row, the mean of the worst mass ``q`` of ``losses`` (rows, S) under probabilities
    ``p``: the largest losses in full, the boundary one with the weight completing ``q``."""
    order = np.argsort(-losses, axis=1, kind="stable")
    worst = np.take_along_axis(losses, order, axis=1)
    w = p[order]
    before = np.cumsum(w, axis=1) - w
    take = np.clip(q - before, 0.0, w)
    out: FloatArray = np.sum(take * worst, axis=1) / q
    return out


@dataclass(frozen=True, slots=True)
class Sum(Expr):
    """``Σ weight·child`` (weights ≥ 0)."""

    terms: tuple[tuple[float, Expr], ...]

    def value(self, inputs: Inputs) -> FloatArray:
        out = np.zeros(next(iter(inputs.values())).shape[0]) if inputs else np.zeros(1)
        for w, e in self.terms:
            out = out + w * e.value(inputs)
        return out

    def emit(self, b: Builder) -> Affine:
        out = Affine()
        for w, e in self.terms:
            if w < 0:
                raise ModelError("a Sum weight must be >= 0 (convexity)")
            out.add(e.emit(b), w)
        return out


@dataclass(frozen=True, slots=True)
class Max(Expr):
    """``max`` of children."""

    children: tuple[Expr, ...]

    def value(self, inputs: Inputs) -> FloatArray:
        out: FloatArray = np.max(np.vstack([c.value(inputs) for c in self.children]), axis=0)
        return out

    def emit(self, b: Builder) -> Affine:
        t = int(b.new_vars(1)[0])
        for child in self.children:
            aff = child.emit(b)
            coef = dict(aff.coef)
            coef[t] = coef.get(t, 0.0) - 1.0
            cols = np.array(list(coef), dtype=np.int64)
            vals = np.array([coef[c] for c in cols])
            row = sp.csr_matrix((vals, (np.zeros(cols.size), cols)), shape=(1, b.n_vars))
            b.add_rows(row, [], np.array([-np.inf]), np.array([-aff.const]), "max")
        return Affine(coef={t: 1.0})


@dataclass(frozen=True, slots=True)
class Rebind(Expr):
    """``child`` reading input ``name`` where it reads ``y`` (one form per venue)."""

    child: Expr
    name: str

    def value(self, inputs: Inputs) -> FloatArray:
        return self.child.value({**inputs, "y": _rows(inputs, self.name)})

    def emit(self, b: Builder) -> Affine:
        saved = b.bindings.get("y")
        b.bindings["y"] = b.bindings[self.name]
        try:
            return self.child.emit(b)
        finally:
            if saved is None:
                del b.bindings["y"]
            else:
                b.bindings["y"] = saved


__all__ = [
    "Affine",
    "Binding",
    "Builder",
    "Const",
    "Expr",
    "Hinge",
    "Lin",
    "Max",
    "MaxRows",
    "Rebind",
    "Sum",
    "Tail",
    "abs_sum",
    "pos_neg",
    "tail_mean",
]
