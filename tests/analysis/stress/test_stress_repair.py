"""PSD repair of a broken correlation: the nearest valid correlation matrix (Higham 2002)."""

from __future__ import annotations

import numpy as np
import pytest

from crossmargin.analysis.stress.correlation import break_correlation
from crossmargin.stats.correlation import nearest_correlation, validate_correlation

LABELS = ("A", "B", "C")
VALID = np.array([[1.0, 0.8, 0.6], [0.8, 1.0, 0.7], [0.6, 0.7, 1.0]])


def test_flip_of_one_sign_is_repaired_to_the_nearest_correlation_matrix() -> None:
    flipped = VALID.copy()
    flipped[0, 1] = flipped[1, 0] = -0.8
    assert np.linalg.eigvalsh(flipped)[0] < -0.1  # the flipped matrix is not a correlation
    broken = break_correlation(VALID, LABELS, "flip", [("A", "B")])
    m = broken.matrix
    assert broken.repaired
    validate_correlation(m)  # symmetric, unit diagonal, in [-1, 1], PSD
    np.testing.assert_allclose(np.diag(m), 1.0, atol=0)
    assert np.linalg.eigvalsh(m)[0] >= -1e-10
    np.testing.assert_allclose(m, nearest_correlation(flipped), atol=1e-8)
    best = np.linalg.norm(flipped - m)
    assert broken.frobenius_repair == pytest.approx(best, abs=1e-12)
    # no other valid correlation matrix tried is closer to the flipped one
    rng = np.random.default_rng(3)
    tried = []
    for _ in range(3000):  # random valid matrices: normalised Gram matrices
        f = rng.standard_normal((3, rng.integers(1, 4)))
        g = f @ f.T
        d = 1.0 / np.sqrt(np.diag(g))
        tried.append(g * d[:, None] * d[None, :])
    for _ in range(3000):  # and valid matrices close to the answer
        e = rng.normal(scale=0.02, size=(3, 3))
        tried.append(nearest_correlation(m + (e + e.T) / 2))
    for x in tried:
        validate_correlation(x, tol=1e-8)
        assert np.linalg.norm(flipped - x) >= best - 1e-9
    # the answer keeps the flipped sign's direction
    assert m[0, 1] < 0


def test_minus_one_for_three_assets_is_repaired() -> None:
    broken = break_correlation(VALID, LABELS, "minus", [("A", "B"), ("A", "C"), ("B", "C")])
    assert broken.repaired  # three assets cannot be pairwise -1
    validate_correlation(broken.matrix)
    np.testing.assert_allclose(broken.matrix[np.triu_indices(3, 1)], -0.5, atol=1e-6)
