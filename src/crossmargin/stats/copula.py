"""Rank re-ordering: a new dependence between columns that keeps every column's values exactly.

Iman, R. L. and Conover, W. J. (1982), "A distribution-free approach to inducing rank
correlation among input variables", *Communications in Statistics — Simulation and
Computation* 11(3), 311–334. Given data ``X`` (n × U) and a target correlation ``C*``:

1. **scores**: ``Sᵢⱼ = Φ⁻¹(rᵢⱼ/(n + 1))``, the van der Waerden normal scores of the ordinal
   rank ``rᵢⱼ`` of ``Xᵢⱼ`` in its column (ties broken by row order, so the ranks are a
   permutation). Their sample correlation ``C = LLᵀ`` is the **normal-score correlation** of
   the data (for Gaussian data it estimates the Pearson correlation);
2. **re-mix the scores**: ``T = S·L⁻ᵀ·L*ᵀ`` with ``C* = L*L*ᵀ`` (lower-triangular factors,
   :func:`psd_cholesky`: zero pivots allowed, so a singular target such as ρ = ±1 is exact).
   The sample correlation of ``T`` is exactly ``C*``;
3. **re-order**: each column of ``X`` is permuted so that its ranks are those of the same
   column of ``T``: ``X'ᵢⱼ = X₍ₖ₎ⱼ`` with ``k`` the rank of ``Tᵢⱼ``.

Every column of ``X'`` is a permutation of the same column of ``X``: each marginal is kept
**exactly** (sorted values equal), only which rows meet changes. The dependence of ``X'`` is
the Gaussian-copula re-mix of the data's own: with ``C* = C``, ``T = S`` and nothing moves;
the first column keeps its order (``T₀ = S₀``), so rows keep their first column's date.

Iman and Conover start from independent scores (random permutations of the van der Waerden
scores). Starting from the data's own scores instead keeps whatever the target does not
change (the method's **default**). **Fallback**: when the data's score correlation is not
positive definite after the steps below, the original random-score start is used (seeded,
reported in :attr:`RankReorder.start`). Before that, a constant column (no rank information)
keeps its rows, and a column whose ranks equal or mirror an earlier column's (an exact
monotone twin) is moved by that column's permutation, so the pair stays a twin.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.linalg import solve_triangular
from scipy.stats import norm

from crossmargin.errors import InputError
from crossmargin.stats._checks import FloatArray, IntArray, as_scenario_array

#: Pivots at or below this are zero in :func:`psd_cholesky` (correlation-matrix scale).
PIVOT_TOL = 1e-10
START_DATA = "data scores"
START_RANDOM = "random scores (fallback)"


@dataclass(frozen=True, slots=True, kw_only=True)
class RankReorder:
    """Row permutations that impose a normal-score correlation (module docstring).

    ``permutation[:, j]`` gives, for each row of the output, the row of the input that
    column ``j`` takes: ``out[:, j] = x[permutation[:, j], j]``. ``achieved`` is the
    normal-score correlation of the output (NaN for constant columns); ``start`` says which
    scores were re-mixed; ``twins`` maps a twin column to the column it follows.
    """

    permutation: IntArray
    achieved: FloatArray
    start: str
    twins: dict[int, int]
    constant: tuple[int, ...]

    def apply(self, x: npt.ArrayLike) -> FloatArray:
        """The re-ordered columns of ``x`` (same shape as the drivers)."""
        arr = np.asarray(x, dtype=np.float64)
        out: FloatArray = np.take_along_axis(arr, self.permutation, axis=0)
        return out


def ranks(x: FloatArray) -> IntArray:
    """Ordinal ranks 0..n−1 of each column (ties by row order: a permutation)."""
    order = np.argsort(x, axis=0, kind="stable")
    out = np.empty_like(order)
    np.put_along_axis(out, order, np.arange(x.shape[0])[:, np.newaxis], axis=0)
    return out


def normal_scores(x: npt.ArrayLike) -> FloatArray:
    """Van der Waerden scores ``Φ⁻¹((rank + 1)/(n + 1))`` of each column (step 1)."""
    arr = as_scenario_array(x, name="x", min_rows=2)
    two = arr.reshape(arr.shape[0], -1)
    out: FloatArray = norm.ppf((ranks(two) + 1.0) / (two.shape[0] + 1.0))
    return out.reshape(arr.shape)


def _corr(s: FloatArray) -> FloatArray:
    c = s.T @ s
    d = 1.0 / np.sqrt(np.diag(c))
    out: FloatArray = c * d[:, np.newaxis] * d[np.newaxis, :]
    np.fill_diagonal(out, 1.0)
    return out


def normal_score_correlation(x: npt.ArrayLike) -> FloatArray:
    """Sample correlation of the columns' normal scores (NaN rows/columns for constants)."""
    arr = as_scenario_array(x, name="x", min_rows=2)
    two = arr.reshape(arr.shape[0], -1)
    moving = np.std(two, axis=0) > 0
    out = np.full((two.shape[1], two.shape[1]), np.nan)
    if moving.any():
        idx = np.flatnonzero(moving)
        out[np.ix_(idx, idx)] = _corr(normal_scores(two[:, idx]))
    return out


def psd_cholesky(matrix: npt.ArrayLike, *, tol: float = PIVOT_TOL) -> FloatArray:
    """Lower-triangular ``L`` with ``LLᵀ = A`` for a PSD ``A``, zero pivots allowed.

    The outer-product Cholesky algorithm; a pivot ``≤ tol`` (a direction the matrix does
    not span) gives a zero column, so a singular correlation (ρ = 1 between two columns)
    has an exact factor: the second column's row equals the first's.
    """
    a = np.asarray(matrix, dtype=np.float64)
    n = a.shape[0]
    low = np.zeros_like(a)
    for j in range(n):
        pivot = a[j, j] - float(low[j, :j] @ low[j, :j])
        if pivot > tol:
            low[j, j] = np.sqrt(pivot)
            low[j + 1 :, j] = (a[j + 1 :, j] - low[j + 1 :, :j] @ low[j, :j]) / low[j, j]
    return low


def _twins(r: IntArray, free: list[int], c: int) -> int | None:
    n = r.shape[0]
    for f in free:
        if np.array_equal(r[:, c], r[:, f]) or np.array_equal(r[:, c], n - 1 - r[:, f]):
            return f
    return None


def rank_reorder(
    drivers: npt.ArrayLike, target: npt.ArrayLike, *, seed: int = 19820101
) -> RankReorder:
    """Permutations of the rows of each column of ``drivers`` (n × U) that give them the
    normal-score correlation ``target`` (U × U, PSD, unit diagonal; entries of constant
    columns are ignored). See the module docstring for the steps and the fallback."""
    x = as_scenario_array(drivers, name="drivers", min_rows=2)
    x = x.reshape(x.shape[0], -1)
    n, u = x.shape
    c_star = np.asarray(target, dtype=np.float64)
    if c_star.shape != (u, u):
        raise InputError(f"target must be {u}x{u} for {u} driver columns, got {c_star.shape}")
    r = ranks(x)
    constant = tuple(int(j) for j in np.flatnonzero(np.std(x, axis=0) == 0))
    free: list[int] = []
    twins: dict[int, int] = {}
    for j in range(u):
        if j in constant:
            continue
        rep = _twins(r, free, j)
        if rep is None:
            free.append(j)
        else:
            twins[j] = rep
    perm = np.repeat(np.arange(n)[:, np.newaxis], u, axis=1)
    start = START_DATA
    if free:
        if n <= len(free):
            raise InputError(
                f"need more rows than moving columns to re-order: {n} rows, {len(free)} columns"
            )
        scores = norm.ppf((r[:, free] + 1.0) / (n + 1.0))
        current = _corr(scores)
        wanted = c_star[np.ix_(free, free)]
        if not np.allclose(wanted, current, rtol=0.0, atol=1e-12):
            if np.linalg.eigvalsh(current)[0] > PIVOT_TOL:
                low = np.linalg.cholesky(current)
            else:
                start = START_RANDOM
                rng = np.random.default_rng(seed)
                base = norm.ppf(np.arange(1, n + 1) / (n + 1.0))
                scores = np.column_stack([rng.permutation(base) for _ in free])
                low = np.linalg.cholesky(_corr(scores))
            remixed = solve_triangular(low, scores.T, lower=True).T @ psd_cholesky(wanted).T
            order_x = np.argsort(x[:, free], axis=0, kind="stable")
            new_rank = ranks(remixed)
            perm[:, free] = np.take_along_axis(order_x, new_rank, axis=0)
    for j, rep in twins.items():
        perm[:, j] = perm[:, rep]
    out = np.take_along_axis(x, perm, axis=0)
    return RankReorder(
        permutation=perm,
        achieved=normal_score_correlation(out),
        start=start,
        twins=twins,
        constant=constant,
    )


__all__ = [
    "PIVOT_TOL",
    "RankReorder",
    "normal_score_correlation",
    "normal_scores",
    "psd_cholesky",
    "rank_reorder",
    "ranks",
]
