"""MPOR aggregation: overlapping sums and √h scaling (METHODS §4.2 step 3)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.signal import lfilter
from scipy.stats import norm

from crossmargin.errors import InputError
from crossmargin.stats import overlapping_sums, sqrt_time_scale


def test_overlapping_sums_hand() -> None:
    # (1, 2, 3, 4, 5), h = 2 → 1+2, 2+3, 3+4, 4+5 = 3, 5, 7, 9; 4 windows, 2 independent.
    res = overlapping_sums([1.0, 2.0, 3.0, 4.0, 5.0], 2)
    assert res.returns_by_window.tolist() == [3.0, 5.0, 7.0, 9.0]
    assert (res.n_samples, res.n_independent, res.h) == (4, 2, 2)
    assert overlapping_sums([1.0, 2.0], 1).returns_by_window.tolist() == [1.0, 2.0]


def test_overlapping_sums_matches_loop_per_column() -> None:
    rng = np.random.default_rng(2)
    r = rng.normal(0, 0.01, (60, 3))
    res = overlapping_sums(r, 10)
    loop = np.array([[sum(r[t : t + 10, j]) for j in range(3)] for t in range(51)])
    np.testing.assert_allclose(res.returns_by_window, loop, rtol=1e-13, atol=1e-16)


def test_sqrt_time_scale_hand() -> None:
    assert float(sqrt_time_scale(0.02, 4)) == pytest.approx(0.04)
    np.testing.assert_allclose(sqrt_time_scale([0.01, -0.03], 9), [0.03, -0.09])
    with pytest.raises(InputError, match="positive"):
        sqrt_time_scale(0.01, 0)
    with pytest.raises(InputError, match="at least h"):
        overlapping_sums([0.01], 2)


def test_iid_normal_quantiles_agree() -> None:
    # Fixed seed, T = 200,000 i.i.d. N(0, 1%²) daily log returns, h = 10.
    # Tolerance: the empirical 99% quantile has standard error ≈ √(q(1−q)/n)/φ(z₀.₉₉)
    # = √(0.0099/20,000)/0.0267 ≈ 0.026σ_h, about 1.1% of z₀.₉₉ = 2.326, with the effective
    # sample of overlapping 10-day sums taken as T/h = 20,000. 5% ≈ 4.5 standard errors.
    sigma, h, t = 0.01, 10, 200_000
    rng = np.random.default_rng(20240601)
    r = rng.normal(0.0, sigma, t)
    overlapping_q = np.quantile(-overlapping_sums(r, h).returns_by_window, 0.99)
    scaled_q = np.quantile(-sqrt_time_scale(r, h), 0.99)
    exact = norm.ppf(0.99) * sigma * math.sqrt(h)  # 0.0735…
    assert overlapping_q == pytest.approx(scaled_q, rel=0.05)
    assert overlapping_q == pytest.approx(exact, rel=0.05)
    assert scaled_q == pytest.approx(exact, rel=0.05)


def test_autocorrelated_returns_make_them_differ() -> None:
    # The test above can fail: with AR(1) returns rₜ = 0.3·rₜ₋₁ + εₜ the variance of a 10-day
    # sum is about (1 + φ)/(1 − φ) ≈ 1.86 times 10·var(r) for long horizons, so the overlapping
    # quantile exceeds the √h-scaled one by well over 5% (≈ 30% here).
    rng = np.random.default_rng(4)
    eps = rng.normal(0.0, 0.01, 100_000)
    r = lfilter([1.0], [1.0, -0.3], eps)
    overlapping_q = np.quantile(-overlapping_sums(r, 10).returns_by_window, 0.99)
    scaled_q = np.quantile(-sqrt_time_scale(r, 10), 0.99)
    assert overlapping_q / scaled_q - 1 > 0.15
