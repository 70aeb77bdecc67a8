"""Correlation validation, Higham nearest correlation, stress helpers, recorrelation."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crossmargin.errors import InputError
from crossmargin.stats import (
    blend_correlations,
    flip_correlation_signs,
    nearest_correlation,
    push_correlations,
    recorrelate,
    validate_correlation,
)

HIGHAM_A = np.array([[1.0, 1.0, 0.0], [1.0, 1.0, 1.0], [0.0, 1.0, 1.0]])
# Source: Higham (2002), "Computing the nearest correlation matrix — a problem from
# finance", IMA J. Numer. Anal. 22, Section 4: nearest correlation matrix of HIGHAM_A.
HIGHAM_X = np.array([[1.0, 0.7607, 0.1573], [0.7607, 1.0, 0.7607], [0.1573, 0.7607, 1.0]])


def _is_correlation(x: np.ndarray, tol: float = 1e-10) -> bool:
    return bool(
        np.allclose(x, x.T, atol=0)
        and np.all(np.diag(x) == 1.0)
        and np.all(np.abs(x) <= 1.0)
        and np.linalg.eigvalsh(x)[0] >= -tol
    )


def _random_correlation(rng: np.random.Generator, n: int) -> np.ndarray:
    f = rng.normal(size=(n, n + 2))
    cov = f @ f.T
    d = 1 / np.sqrt(np.diag(cov))
    c = cov * d[:, None] * d[None, :]
    np.fill_diagonal(c, 1.0)
    return (c + c.T) / 2


def test_higham_published_example() -> None:
    x = nearest_correlation(HIGHAM_A)
    np.testing.assert_allclose(x, HIGHAM_X, atol=1e-4)
    assert _is_correlation(x)


def test_higham_result_is_nearer_than_other_correlation_matrices() -> None:
    # Optimality, checked independently of the algorithm: no valid correlation matrix is
    # closer to A in the Frobenius norm than the returned X.
    x = nearest_correlation(HIGHAM_A)
    best = np.linalg.norm(HIGHAM_A - x)
    rng = np.random.default_rng(0)
    for _ in range(300):
        c = _random_correlation(rng, 3)
        assert np.linalg.norm(HIGHAM_A - c) >= best - 1e-9
    # Small perturbations of X inside the set are no closer either.
    for _ in range(300):
        c = (1 - 1e-3) * x + 1e-3 * _random_correlation(rng, 3)
        assert np.linalg.norm(HIGHAM_A - c) >= best - 1e-9


def test_valid_matrix_is_a_fixed_point_and_min_eigenvalue_gives_pd() -> None:
    c = _random_correlation(np.random.default_rng(1), 5)
    np.testing.assert_allclose(nearest_correlation(c), c, atol=1e-12)
    x = nearest_correlation(HIGHAM_A, min_eigenvalue=1e-6)
    np.linalg.cholesky(x)  # positive definite
    assert np.linalg.eigvalsh(x)[0] > 0


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(2, 6),
    entries=st.lists(st.floats(-1.0, 1.0), min_size=15, max_size=15),
)
def test_property_output_is_a_correlation_matrix(n: int, entries: list[float]) -> None:
    a = np.eye(n)
    iu = np.triu_indices(n, 1)
    a[iu] = entries[: len(iu[0])]
    a = a + np.triu(a, 1).T
    x = nearest_correlation(a)
    assert _is_correlation(x)
    # Never farther than the identity, itself a correlation matrix.
    assert np.linalg.norm(a - x) <= np.linalg.norm(a - np.eye(n)) + 1e-8


def test_validate_names_the_offending_entry() -> None:
    labels = ["BTC", "ETH", "SOL"]
    c = np.eye(3)
    c[0, 2] = 0.3
    with pytest.raises(InputError, match=r"not symmetric: entry \(0, 2\) = 0.3"):
        validate_correlation(c)
    c = np.eye(3)
    c[1, 1] = 0.9
    with pytest.raises(InputError, match=r"diagonal entry \('ETH', 'ETH'\) = 0.9"):
        validate_correlation(c, labels=labels)
    c = np.eye(3)
    c[0, 1] = c[1, 0] = 1.2
    with pytest.raises(InputError, match=r"entry \('BTC', 'ETH'\) = 1.2 lies outside"):
        validate_correlation(c, labels=labels)
    # HIGHAM_A: eigenvalues 1 − √2, 1, 1 + √2 → not PSD; message points to the repair.
    with pytest.raises(InputError, match=r"smallest eigenvalue -0.414.*nearest_correlation"):
        validate_correlation(HIGHAM_A, labels=labels)
    with pytest.raises(InputError, match="square"):
        validate_correlation(np.ones((2, 3)))
    ok = _random_correlation(np.random.default_rng(2), 4)
    np.testing.assert_array_equal(validate_correlation(ok), ok)


def test_push_toward_plus_and_minus_one() -> None:
    c = np.array([[1.0, 0.2], [0.2, 1.0]])
    # (1 − 0.5)·0.2 + 0.5·1 = 0.6; toward −1: 0.5·0.2 − 0.5 = −0.4.
    up = push_correlations(c, toward=1.0, blend=0.5)
    assert up.matrix[0, 1] == pytest.approx(0.6)
    assert not up.repaired
    down = push_correlations(c, toward=-1.0, blend=0.5)
    assert down.matrix[1, 0] == pytest.approx(-0.4)
    assert push_correlations(c, toward=-1.0, blend=1.0).matrix[0, 1] == -1.0  # still valid
    # Three variables all pushed to −1 is impossible (eigenvalue 2 − 3 < 0): repaired.
    three = push_correlations(np.eye(3), toward=-1.0, blend=1.0)
    assert three.repaired
    assert three.frobenius_repair > 0
    assert _is_correlation(three.matrix)
    # Nearest correlation to all-(−1) off-diagonals is −1/2 off-diagonal (the closest
    # equicorrelation with PSD bound ρ ≥ −1/(n−1)).
    np.testing.assert_allclose(three.matrix[np.triu_indices(3, 1)], -0.5, atol=1e-6)
    # Only chosen pairs move.
    c3 = _random_correlation(np.random.default_rng(3), 3)
    one = push_correlations(c3, toward=1.0, blend=0.25, pairs=[(0, 2)])
    assert one.matrix[0, 1] == c3[0, 1]
    if not one.repaired:
        assert one.matrix[2, 0] == pytest.approx(0.75 * c3[0, 2] + 0.25)
    with pytest.raises(InputError, match="blend"):
        push_correlations(c, toward=1.0, blend=1.5)
    with pytest.raises(InputError, match="pair"):
        push_correlations(c, toward=1.0, blend=0.5, pairs=[(0, 0)])


def test_flip_and_blend() -> None:
    c = np.array([[1.0, 0.3], [0.3, 1.0]])
    flipped = flip_correlation_signs(c, [(0, 1)])
    assert flipped.matrix[0, 1] == -0.3
    assert not flipped.repaired
    # 0.9 everywhere, flip (0, 1) only: ρ01 = −0.9 with ρ02 = ρ12 = 0.9 is not PSD.
    high = np.full((3, 3), 0.9)
    np.fill_diagonal(high, 1.0)
    res = flip_correlation_signs(high, [(0, 1)])
    assert res.repaired
    assert _is_correlation(res.matrix)
    # Blend: 0.5·0.3 + 0.5·0.9 = 0.6.
    stressed = np.array([[1.0, 0.9], [0.9, 1.0]])
    assert blend_correlations(c, stressed, blend=0.5).matrix[0, 1] == pytest.approx(0.6)
    # A non-PSD stressed override is repaired after blending.
    res = blend_correlations(np.eye(3), HIGHAM_A, blend=1.0)
    assert res.repaired
    np.testing.assert_allclose(res.matrix, HIGHAM_X, atol=1e-4)


@pytest.mark.parametrize("singular", [False, True])
def test_recorrelate_hits_target_and_keeps_vols(singular: bool) -> None:
    rng = np.random.default_rng(42)
    returns = rng.standard_t(5, size=(500, 4)) @ np.diag([0.01, 0.02, 0.015, 0.03])
    returns[:, 1] += 0.5 * returns[:, 0]  # some existing correlation to remove
    if singular:
        target = np.ones((4, 4))  # rank one: perfectly correlated (eigen square root path)
    else:
        target = np.array(
            [
                [1.0, -0.6, 0.3, 0.8],
                [-0.6, 1.0, -0.2, -0.5],
                [0.3, -0.2, 1.0, 0.1],
                [0.8, -0.5, 0.1, 1.0],
            ]
        )
    out = recorrelate(returns, target)
    np.testing.assert_allclose(np.corrcoef(out, rowvar=False), target, atol=1e-10)
    np.testing.assert_allclose(out.std(axis=0, ddof=1), returns.std(axis=0, ddof=1), rtol=1e-12)
    np.testing.assert_allclose(out.mean(axis=0), returns.mean(axis=0), atol=1e-15)


def test_recorrelate_validation() -> None:
    with pytest.raises(InputError, match="more days than factors"):
        recorrelate(np.ones((2, 2)) + np.eye(2), np.eye(2))
    r = np.random.default_rng(0).normal(size=(10, 2))
    r[:, 1] = 0.0
    with pytest.raises(InputError, match="constant"):
        recorrelate(r, np.eye(2))
    with pytest.raises(InputError, match="2x2"):
        recorrelate(np.random.default_rng(0).normal(size=(10, 2)), np.eye(3))
