"""Rank re-ordering (Iman & Conover 1982 from the data's own scores): marginals kept exactly."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import norm, spearmanr

from crossmargin.errors import InputError
from crossmargin.stats import (
    normal_score_correlation,
    normal_scores,
    psd_cholesky,
    rank_reorder,
)
from crossmargin.stats.copula import START_DATA, START_RANDOM


@pytest.fixture(scope="module")
def heavy() -> np.ndarray:
    """Three dependent, non-Gaussian columns: t(3), a skewed lognormal and a discrete one."""
    rng = np.random.default_rng(11)
    z = rng.multivariate_normal([0, 0, 0], [[1, 0.5, 0.2], [0.5, 1, 0.4], [0.2, 0.4, 1]], 4000)
    return np.column_stack(
        [z[:, 0] / np.sqrt(rng.chisquare(3, 4000) / 3), np.exp(z[:, 1]), np.round(3 * z[:, 2])]
    )


def test_normal_scores_are_van_der_waerden() -> None:
    x = np.array([[3.0, 1.0], [1.0, 1.0], [2.0, 0.0]])
    s = normal_scores(x)
    # ranks (2, 0, 1) and, ties by row order, (1, 2, 0): Φ⁻¹(r/4) for r = 1..3
    np.testing.assert_allclose(s[:, 0], norm.ppf([3 / 4, 1 / 4, 2 / 4]))
    np.testing.assert_allclose(s[:, 1], norm.ppf([2 / 4, 3 / 4, 1 / 4]))


def test_marginals_are_kept_exactly_and_the_target_is_reached(heavy: np.ndarray) -> None:
    before = normal_score_correlation(heavy)
    target = before.copy()
    target[0, 1] = target[1, 0] = -0.6
    out = rank_reorder(heavy, target)
    after = out.apply(heavy)
    for j in range(3):
        assert np.array_equal(np.sort(after[:, j]), np.sort(heavy[:, j]))  # sorted values equal
    assert out.start == START_DATA
    assert out.achieved[0, 1] == pytest.approx(-0.6, abs=0.01)
    # the first column keeps its rows (T₀ = S₀), so each row keeps its first column's date
    assert np.array_equal(out.permutation[:, 0], np.arange(heavy.shape[0]))
    # the normal-score correlation of the output is what the kernel reports
    np.testing.assert_allclose(normal_score_correlation(after), out.achieved, atol=1e-12)


def test_no_change_asked_means_no_row_moves(heavy: np.ndarray) -> None:
    out = rank_reorder(heavy, normal_score_correlation(heavy))
    assert np.array_equal(out.permutation, np.repeat(np.arange(4000)[:, None], 3, axis=1))


@pytest.mark.parametrize("rho", [1.0, -1.0])
def test_plus_and_minus_one_are_comonotone_and_countermonotone(
    heavy: np.ndarray, rho: float
) -> None:
    target = normal_score_correlation(heavy[:, :2])
    target[0, 1] = target[1, 0] = rho
    after = rank_reorder(heavy[:, :2], target).apply(heavy[:, :2])
    assert spearmanr(after[:, 0], after[:, 1]).statistic == pytest.approx(rho, abs=1e-9)


def test_constant_columns_stay_and_exact_twins_follow() -> None:
    rng = np.random.default_rng(2)
    x = rng.standard_normal((300, 2))
    twin = np.exp(2.0 * x[:, 0])  # an increasing function of column 0: the same ranks
    data = np.column_stack([x, twin, np.zeros(300)])
    target = np.eye(4)
    target[0, 2] = target[2, 0] = 1.0
    target[0, 1] = target[1, 0] = 0.9
    out = rank_reorder(data, target)
    after = out.apply(data)
    assert out.twins == {2: 0}
    assert out.constant == (3,)
    np.testing.assert_array_equal(after[:, 2], np.exp(2.0 * after[:, 0]))  # still a twin
    assert np.array_equal(after[:, 3], data[:, 3])
    assert np.isnan(out.achieved[3, 0])


def test_singular_data_scores_fall_back_to_random_scores() -> None:
    # Ranks (0,1,2,3), (0,2,1,3), (1,0,3,2): their van der Waerden scores are linearly
    # dependent (found by exhaustive search over n = 4), so the data's own scores cannot
    # be re-mixed; the Iman-Conover random-score start is used, and the marginals still hold.
    data = np.array([[0.0, 0.0, 1.0], [1.0, 2.0, 0.0], [2.0, 1.0, 3.0], [3.0, 3.0, 2.0]])
    data = data * np.array([1.0, 10.0, 100.0])
    assert np.linalg.eigvalsh(np.corrcoef(normal_scores(data).T))[0] < 1e-12
    target = np.eye(3)
    target[0, 1] = target[1, 0] = -0.5
    out = rank_reorder(data, target, seed=5)
    assert out.start == START_RANDOM
    after = out.apply(data)
    for j in range(3):
        assert np.array_equal(np.sort(after[:, j]), np.sort(data[:, j]))


def test_psd_cholesky_handles_singular_targets() -> None:
    c = np.array([[1.0, 1.0, 0.3], [1.0, 1.0, 0.3], [0.3, 0.3, 1.0]])
    low = psd_cholesky(c)
    np.testing.assert_allclose(low @ low.T, c, atol=1e-12)
    assert np.allclose(np.triu(low, 1), 0.0)
    np.testing.assert_allclose(low[1], low[0])  # ρ = 1: the second row is the first
    full = np.array([[1.0, 0.4], [0.4, 1.0]])
    np.testing.assert_allclose(psd_cholesky(full), np.linalg.cholesky(full))


def test_bad_inputs() -> None:
    with pytest.raises(InputError, match="2x2"):
        rank_reorder(np.ones((10, 2)) * np.arange(10)[:, None], np.eye(3))
    with pytest.raises(InputError, match="more rows than moving columns"):
        rank_reorder(np.array([[1.0, 2.0, 3.0], [2.0, 3.0, 1.0], [3.0, 1.0, 2.0]]), np.eye(3))
