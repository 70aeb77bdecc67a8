"""Correlation matrices: validation, nearest-correlation repair, stress and re-correlation.

Nearest correlation matrix (Higham, N. J. 2002, "Computing the nearest correlation matrix —
a problem from finance", *IMA J. Numer. Anal.* 22, 329–343, Algorithm 3.3, W = I): find
``X = argmin ‖A − X‖_F`` over symmetric PSD matrices with unit diagonal by alternating
projections with Dykstra's correction::

    ΔS₀ = 0, Y₀ = A
    Rₖ = Yₖ₋₁ − ΔSₖ₋₁;  Xₖ = P_S(Rₖ);  ΔSₖ = Xₖ − Rₖ;  Yₖ = P_U(Xₖ)

``P_S`` clips eigenvalues below ``min_eigenvalue`` (0 gives the PSD cone, Higham's P_S);
``P_U`` sets the diagonal to 1. Converges (linearly) to the unique nearest matrix. A final
clip-and-rescale makes the returned matrix exactly unit-diagonal and PSD up to rounding.

Stress helpers (METHODS §8 "correlation breakdown") return a :class:`CorrelationAdjustment`
whose matrix is always a valid correlation matrix, repaired with the nearest-correlation
algorithm when the adjusted matrix is not PSD.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.linalg import solve_triangular

from crossmargin.errors import InputError
from crossmargin.stats._checks import FloatArray, as_scenario_array

#: Default tolerance for symmetry, unit diagonal and the PSD check (smallest eigenvalue).
CORRELATION_TOL = 1e-10

Pair = tuple[int, int]


@dataclass(frozen=True, slots=True, kw_only=True)
class CorrelationAdjustment:
    """A stressed or repaired correlation matrix and what repair it needed.

    ``frobenius_repair`` is ``‖adjusted − matrix‖_F``: 0 when no repair was needed.
    """

    matrix: FloatArray
    repaired: bool
    frobenius_repair: float


def _square(matrix: npt.ArrayLike, name: str) -> FloatArray:
    arr = as_scenario_array(matrix, name=name)
    if arr.ndim != 2 or arr.shape[0] != arr.shape[1]:
        raise InputError(f"{name} must be a square matrix, got shape {arr.shape}")
    return arr


def _label(labels: Sequence[str] | None, i: int) -> str:
    return repr(labels[i]) if labels is not None else str(i)


def validate_correlation(
    matrix: npt.ArrayLike,
    *,
    tol: float = CORRELATION_TOL,
    labels: Sequence[str] | None = None,
    name: str = "correlation matrix",
) -> FloatArray:
    """Check a correlation matrix (or an override) and return it as a float array.

    Checks, in order: square and finite; symmetric (``|cᵢⱼ − cⱼᵢ| ≤ tol``); unit diagonal
    (``|cᵢᵢ − 1| ≤ tol``); entries in ``[−1, 1]`` (± tol); PSD (smallest eigenvalue
    ``≥ −tol``). Raises :class:`~crossmargin.errors.InputError` naming the first offending
    entry ``(i, j)`` (by ``labels`` when given) or, for PSD, the eigenvalue and the
    variables that dominate its eigenvector.
    """
    c = _square(matrix, name)
    n = c.shape[0]
    if labels is not None and len(labels) != n:
        raise InputError(f"{len(labels)} labels given for a {n}x{n} {name}")

    def at(i: int, j: int) -> str:
        return f"({_label(labels, i)}, {_label(labels, j)})"

    asym = np.abs(c - c.T) > tol
    if asym.any():
        i, j = (int(v) for v in np.argwhere(asym)[0])
        raise InputError(
            f"{name} is not symmetric: entry {at(i, j)} = {float(c[i, j])!r} but {at(j, i)} = "
            f"{float(c[j, i])!r}; set both to the same value"
        )
    bad_diag = np.abs(np.diag(c) - 1.0) > tol
    if bad_diag.any():
        i = int(np.argmax(bad_diag))
        raise InputError(f"{name} diagonal entry {at(i, i)} = {float(c[i, i])!r}; it must be 1")
    out = np.abs(c) > 1.0 + tol
    if out.any():
        i, j = (int(v) for v in np.argwhere(out)[0])
        raise InputError(
            f"{name} entry {at(i, j)} = {float(c[i, j])!r} lies outside [-1, 1]; correlations must"
            " be between -1 and 1"
        )
    eigvals, eigvecs = np.linalg.eigh((c + c.T) / 2.0)
    if eigvals[0] < -tol:
        top = np.argsort(-np.abs(eigvecs[:, 0]))[: min(3, n)]
        names = ", ".join(_label(labels, int(i)) for i in top)
        raise InputError(
            f"{name} is not positive semi-definite: smallest eigenvalue {eigvals[0]:.3g} "
            f"(entries among {names} are inconsistent); repair it with "
            "crossmargin.stats.nearest_correlation"
        )
    return c


def _project_psd(a: FloatArray, floor: float) -> FloatArray:
    eigvals, eigvecs = np.linalg.eigh((a + a.T) / 2.0)
    x = (eigvecs * np.maximum(eigvals, floor)) @ eigvecs.T
    return np.asarray((x + x.T) / 2.0, dtype=np.float64)


def nearest_correlation(
    matrix: npt.ArrayLike,
    *,
    tol: float = 1e-12,
    max_iter: int = 10_000,
    min_eigenvalue: float = 0.0,
) -> FloatArray:
    """Nearest correlation matrix in the Frobenius norm (Higham 2002, Algorithm 3.3).

    Parameters
    ----------
    matrix:
        Symmetric (or nearly) square matrix with finite entries.
    tol:
        Stop when ``‖Yₖ − Yₖ₋₁‖_F / ‖Yₖ‖_F < tol`` and ``‖Xₖ − Yₖ‖_F / ‖Yₖ‖_F < tol``.
    max_iter:
        Iteration cap; :class:`~crossmargin.errors.InputError` if not converged.
    min_eigenvalue:
        Eigenvalue floor δ ≥ 0 of the PSD projection; δ > 0 (e.g. 1e-8) yields a positive
        definite result suitable for a Cholesky factorisation.

    Returns
    -------
    numpy.ndarray
        Symmetric, unit diagonal, smallest eigenvalue ``≥ −1e-12`` (≥ ~δ/max diag when δ > 0).
    """
    a = _square(matrix, "matrix")
    if min_eigenvalue < 0 or min_eigenvalue >= 1:
        raise InputError(f"min_eigenvalue must be in [0, 1), got {min_eigenvalue}")
    a = (a + a.T) / 2.0
    y = a.copy()
    ds = np.zeros_like(a)
    for _ in range(max_iter):
        r = y - ds
        x = _project_psd(r, min_eigenvalue)
        ds = x - r
        y_prev = y
        y = x.copy()
        np.fill_diagonal(y, 1.0)
        scale = max(float(np.linalg.norm(y)), 1.0)
        if np.linalg.norm(y - y_prev) / scale < tol and np.linalg.norm(x - y) / scale < tol:
            break
    else:
        raise InputError(
            f"nearest_correlation did not converge in {max_iter} iterations; "
            "raise max_iter or loosen tol"
        )
    # Final clean-up: PSD by eigenvalue clipping, then rescale to unit diagonal (a
    # congruence, so PSD is kept) and force exact symmetry and diagonal.
    z = _project_psd(y, min_eigenvalue)
    d = 1.0 / np.sqrt(np.diag(z))
    z = z * d[:, np.newaxis] * d[np.newaxis, :]
    z = np.clip((z + z.T) / 2.0, -1.0, 1.0)
    np.fill_diagonal(z, 1.0)
    return np.asarray(z, dtype=np.float64)


def _repair(adjusted: FloatArray) -> CorrelationAdjustment:
    try:
        validate_correlation(adjusted)
    except InputError:
        fixed = nearest_correlation(adjusted)
        return CorrelationAdjustment(
            matrix=fixed,
            repaired=True,
            frobenius_repair=float(np.linalg.norm(adjusted - fixed)),
        )
    return CorrelationAdjustment(matrix=adjusted, repaired=False, frobenius_repair=0.0)


def _pair_mask(n: int, pairs: Sequence[Pair] | None) -> npt.NDArray[np.bool_]:
    if pairs is None:
        return ~np.eye(n, dtype=np.bool_)
    mask = np.zeros((n, n), dtype=np.bool_)
    for pair in pairs:
        i, j = pair
        if not (0 <= i < n and 0 <= j < n) or i == j:
            raise InputError(f"pair {pair!r} must name two different indices in 0..{n - 1}")
        mask[i, j] = mask[j, i] = True
    return mask


def _check_blend(blend: float) -> float:
    if not 0.0 <= blend <= 1.0:
        raise InputError(f"blend must be in [0, 1], got {blend}")
    return float(blend)


def push_correlations(
    corr: npt.ArrayLike,
    *,
    toward: float,
    blend: float,
    pairs: Sequence[Pair] | None = None,
) -> CorrelationAdjustment:
    """Move off-diagonal correlations toward ``toward`` (+1 or −1, or any value in [−1, 1]).

    ``ρ' = (1 − b)·ρ + b·toward`` for the chosen ``pairs`` (all off-diagonal pairs when
    ``None``); repaired to the nearest correlation matrix if needed.
    """
    c = validate_correlation(corr)
    if not -1.0 <= toward <= 1.0:
        raise InputError(f"toward must be in [-1, 1], got {toward}")
    b = _check_blend(blend)
    mask = _pair_mask(c.shape[0], pairs)
    return _repair(np.where(mask, (1.0 - b) * c + b * toward, c))


def flip_correlation_signs(corr: npt.ArrayLike, pairs: Sequence[Pair]) -> CorrelationAdjustment:
    """Negate ``ρᵢⱼ`` (and ``ρⱼᵢ``) for each chosen pair; repaired if needed."""
    c = validate_correlation(corr)
    mask = _pair_mask(c.shape[0], pairs)
    return _repair(np.where(mask, -c, c))


def blend_correlations(
    corr: npt.ArrayLike, stressed: npt.ArrayLike, *, blend: float
) -> CorrelationAdjustment:
    """``(1 − b)·C + b·C_stress``; ``C_stress`` may be a non-PSD override (then repaired)."""
    c = validate_correlation(corr)
    s = _square(stressed, "stressed")
    if s.shape != c.shape:
        raise InputError(f"stressed has shape {s.shape} but corr has {c.shape}")
    b = _check_blend(blend)
    return _repair((1.0 - b) * c + b * s)


def _sqrt_factor(c: FloatArray) -> FloatArray:
    """Cholesky factor L (C = L Lᵀ), or a symmetric eigen square root if C is singular."""
    try:
        return np.asarray(np.linalg.cholesky(c), dtype=np.float64)
    except np.linalg.LinAlgError:
        eigvals, eigvecs = np.linalg.eigh(c)
        return np.asarray(eigvecs * np.sqrt(np.maximum(eigvals, 0.0)), dtype=np.float64)


def recorrelate(returns_by_day: npt.ArrayLike, target_corr: npt.ArrayLike) -> FloatArray:
    """Impose a target correlation on historical returns, keeping each column's mean and vol.

    With ``Z`` the standardised returns (column mean 0, sample std 1), ``C = ZᵀZ/(T−1) = LLᵀ``
    their sample correlation and ``C* = L*L*ᵀ`` the target::

        W = Z·L⁻ᵀ          (sample correlation of W is I)
        Y = W·L*ᵀ          (sample correlation of Y is C*)
        out = mean + Y·std

    The output's sample correlation equals ``target_corr`` up to rounding. A singular
    (PSD) target uses a symmetric eigen square root instead of its Cholesky factor.
    Needs more days than columns and a non-singular sample correlation.
    """
    r = as_scenario_array(returns_by_day, name="returns_by_day")
    if r.ndim != 2:
        raise InputError("returns_by_day must have shape (n_days, n_factors)")
    t, n = r.shape
    target = validate_correlation(target_corr, name="target_corr")
    if target.shape != (n, n):
        raise InputError(f"target_corr must be {n}x{n} for {n} return columns")
    if t <= n:
        raise InputError(f"need more days than factors to recorrelate; got {t} days, {n} factors")
    mean = r.mean(axis=0)
    std = r.std(axis=0, ddof=1)
    if (std <= 0).any():
        i = int(np.argmax(std <= 0))
        raise InputError(f"return column {i} is constant; it has no correlation to change")
    z = (r - mean) / std
    sample = z.T @ z / (t - 1)
    try:
        chol = np.linalg.cholesky(sample)
    except np.linalg.LinAlgError as exc:
        raise InputError(
            "the sample correlation of returns_by_day is singular (collinear columns); "
            "drop redundant factors before recorrelating"
        ) from exc
    w = solve_triangular(chol, z.T, lower=True).T  # W = Z L^{-T}
    y = w @ _sqrt_factor(target).T
    return np.asarray(mean + y * std, dtype=np.float64)


__all__ = [
    "CORRELATION_TOL",
    "CorrelationAdjustment",
    "blend_correlations",
    "flip_correlation_signs",
    "nearest_correlation",
    "push_correlations",
    "recorrelate",
    "validate_correlation",
]
