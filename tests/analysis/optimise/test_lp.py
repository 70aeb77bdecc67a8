"""The convex piecewise-linear forms: values by hand, and the HiGHS optimum against brute
force over every integer point of small grids."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from crossmargin.analysis.optimise.lp import (
    Binding,
    Hinge,
    Lin,
    Max,
    MaxRows,
    Sum,
    Tail,
    abs_sum,
    pos_neg,
    tail_mean,
)
from crossmargin.analysis.optimise.lp_solve import Problem, solve
from crossmargin.errors import ModelError


def test_tail_mean_is_the_fractional_es_by_hand() -> None:
    # n = 250 at 99%: m = 2.5 -> the two worst losses in full and half of the third
    # (Acerbi & Tasche 2002; METHODS §4 convention), averaged over m.
    losses = np.zeros(250)
    losses[:3] = [10.0, 8.0, 6.0]
    got = tail_mean(losses[None, :], np.full(250, 1 / 250), 0.01)[0]
    assert got == pytest.approx((10.0 + 8.0 + 0.5 * 6.0) / 2.5, rel=1e-12)


def test_tail_mean_with_weights_takes_mass_in_order() -> None:
    losses = np.array([[5.0, 1.0, 3.0]])
    p = np.array([0.1, 0.6, 0.3])
    # mass 0.25: 0.1 of the loss 5 and 0.15 of the loss 3
    assert tail_mean(losses, p, 0.25)[0] == pytest.approx((0.1 * 5 + 0.15 * 3) / 0.25)


def test_node_values_by_formula() -> None:
    y = np.array([[1.0, -2.0], [0.5, 3.0]])
    a = np.array([[1.0, 1.0], [2.0, -1.0]])
    assert np.allclose(
        Hinge(a, np.array([0.0, -1.0]), np.array([2.0, 1.0])).value({"y": y}),
        [2 * 0 + 3.0, 2 * 3.5 + 0.0],
    )
    assert np.allclose(abs_sum(a, np.zeros(2), np.ones(2)).value({"y": y}), [1 + 4, 3.5 + 2])
    assert np.allclose(
        pos_neg(np.array([1.0, 2.0]), np.array([3.0, 5.0])).value({"y": y}), [1 + 2 * 5, 0.5 + 6]
    )
    assert np.allclose(MaxRows(a, np.array([0.0, 0.0])).value({"y": y}), [4.0, 3.5])
    assert np.allclose(MaxRows(-a, np.zeros(2), floor=False).value({"y": y}), [1.0, 2.0])


def test_convexity_guards() -> None:
    with pytest.raises(ModelError, match="convex"):
        pos_neg(np.array([1.0]), np.array([-2.0]))
    with pytest.raises(ModelError, match="Hinge"):
        Hinge(np.eye(1), np.zeros(1), np.array([-1.0]))


def _grid_min(expr, q, b, lo, hi):  # type: ignore[no-untyped-def]
    grid = np.array(list(itertools.product(range(lo, hi + 1), repeat=b.shape[1])), float)
    values = expr.value({"y": q + grid @ b.T})
    return float(values.min()), grid[int(values.argmin())]


SEEDS = st.integers(0, 10_000)


@settings(max_examples=15, deadline=None)
@given(seed=SEEDS, kind=st.sampled_from(["max", "tail", "mixed"]))
def test_milp_equals_brute_force(seed: int, kind: str) -> None:
    rng = np.random.default_rng(seed)
    s, n, k = 40, 5, 3
    loss = rng.normal(size=(s, n))
    q = np.concatenate([rng.integers(-4, 5, n - k), np.zeros(k)]).astype(float)
    b = np.vstack([np.zeros((n - k, k)), np.eye(k)])
    tail = Tail(loss, np.zeros(s), np.full(s, 1 / s), 0.06)
    expr = {
        "max": MaxRows(loss, np.zeros(s)),
        "tail": tail,
        "mixed": Sum(
            (
                (1.0, Max((tail, MaxRows(0.5 * loss, np.ones(s))))),
                (0.3, pos_neg(np.ones(n), np.full(n, 0.5))),
                (1.0, Lin(rng.normal(size=n) * 0.01)),
            )
        ),
    }[kind]
    problem = Problem(
        objective=expr,
        bindings={"y": Binding(v0=q, b=sp.csr_matrix(b))},
        lower=np.full(k, -3.0),
        upper=np.full(k, 3.0),
        integer=np.ones(k, dtype=bool),
    )
    sol = solve(problem)
    best, _ = _grid_min(expr, q, b, -3, 3)
    assert sol.optimal
    assert sol.objective == pytest.approx(best, rel=1e-7, abs=1e-7)
    assert expr.value({"y": (q + b @ sol.x)[None, :]})[0] == pytest.approx(best, rel=1e-7, abs=1e-7)
    relaxed = solve(
        Problem(objective=expr, bindings=problem.bindings, lower=problem.lower, upper=problem.upper)
    )
    assert relaxed.objective <= best + 1e-7  # the LP relaxation bounds the integer optimum
    x = q + b @ relaxed.x
    assert expr.value({"y": x[None, :]})[0] == pytest.approx(relaxed.objective, rel=1e-7, abs=1e-7)


def test_rows_constraint_and_infeasible_status() -> None:
    loss = np.array([[1.0], [-1.0]])
    bind = {"y": Binding(v0=np.zeros(1), b=sp.csr_matrix(np.eye(1)))}
    row = (sp.csr_matrix(np.ones((1, 1))), np.array([2.0]), np.array([5.0]), "min trade")
    sol = solve(
        Problem(
            objective=MaxRows(loss, np.zeros(2)),
            bindings=bind,
            lower=np.array([-10.0]),
            upper=np.array([10.0]),
            rows=(row,),
        )
    )
    assert sol.x[0] == pytest.approx(2.0)
    assert sol.objective == pytest.approx(2.0)
    bad = (sp.csr_matrix(np.ones((1, 1))), np.array([20.0]), np.array([25.0]), "too big")
    sol = solve(
        Problem(
            objective=MaxRows(loss, np.zeros(2)),
            bindings=bind,
            lower=np.array([-10.0]),
            upper=np.array([10.0]),
            rows=(bad,),
        )
    )
    assert sol.status == 2
    assert not sol.optimal
