"""EWMA volatility and FHS (METHODS §4.2)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from crossmargin.errors import InputError
from crossmargin.stats import (
    devolatilise,
    ewma_variance,
    fhs_scenarios,
    floored_vol,
    ice_blend_vol,
    revolatilise,
    rolling_vol,
    stress_vol,
    var_es,
)


def scalar_ewma(returns: list[float], lam: float, seed: float) -> tuple[list[float], float]:
    """Plain-Python twin: σ²₀ = seed; σ²ₜ = λσ²ₜ₋₁ + (1 − λ)r²ₜ₋₁; returns path and σ²_T."""
    path = [seed]
    for r in returns:
        path.append(lam * path[-1] + (1.0 - lam) * r * r)
    return path[:-1], path[-1]


def test_hand_computed_recursion() -> None:
    # λ = 0.5, r = (0.02, −0.04, 0.01), σ²₀ = 1e-4:
    # σ²₁ = 0.5·1e-4 + 0.5·4e-4 = 2.5e-4; σ²₂ = 0.5·2.5e-4 + 0.5·16e-4 = 9.25e-4;
    # σ²₃ (current) = 0.5·9.25e-4 + 0.5·1e-4 = 5.125e-4.
    res = ewma_variance([0.02, -0.04, 0.01], lam=0.5, seed_variance=1e-4)
    np.testing.assert_allclose(res.variance_by_day, [1e-4, 2.5e-4, 9.25e-4], rtol=1e-14)
    assert float(res.current_variance) == pytest.approx(5.125e-4, rel=1e-14)
    assert float(res.current_vol) == pytest.approx(math.sqrt(5.125e-4), rel=1e-14)
    # Seed from the first m = 2 returns: (0.02² + 0.04²)/2 = 1e-3.
    res = ewma_variance([0.02, -0.04, 0.01], lam=0.5, seed_window=2)
    assert float(res.seed_variance) == pytest.approx(1e-3, rel=1e-14)


@pytest.mark.parametrize("lam", [0.94, 0.97, 0.5])
def test_vectorised_matches_scalar_twin(lam: float) -> None:
    rng = np.random.default_rng(3)
    returns = rng.standard_t(4, size=(750, 5)) * np.array([0.01, 0.02, 0.005, 0.03, 0.015])
    res = ewma_variance(returns, lam=lam, seed_window=30)
    for j in range(returns.shape[1]):
        col = returns[:, j].tolist()
        seed = sum(r * r for r in col[:30]) / 30
        path, current = scalar_ewma(col, lam, seed)
        np.testing.assert_allclose(res.variance_by_day[:, j], path, rtol=1e-12)
        assert res.current_variance[j] == pytest.approx(current, rel=1e-12)
    one = ewma_variance(returns[:, 2], lam=lam)
    np.testing.assert_allclose(one.variance_by_day, res.variance_by_day[:, 2], rtol=1e-15)


def test_no_look_ahead() -> None:
    rng = np.random.default_rng(5)
    r = rng.normal(0, 0.01, 100)
    shocked = r.copy()
    shocked[-1] = 0.5
    a = ewma_variance(r, lam=0.94)
    b = ewma_variance(shocked, lam=0.94)
    np.testing.assert_array_equal(a.variance_by_day, b.variance_by_day)
    assert float(b.current_variance) > float(a.current_variance)


def test_constant_vol_filter_is_identity() -> None:
    # Scaling by σ_target/σₜ with σₜ = σ_target is exactly the identity: FHS == HS.
    rng = np.random.default_rng(9)
    r = rng.normal(0, 0.02, (300, 3))
    vol = np.full_like(r, 0.017)
    np.testing.assert_array_equal(revolatilise(r, vol, 0.017), r)
    # EWMA of ±c returns with seed c² keeps σₜ = c (up to rounding), so FHS ≈ HS and
    # their VaR/ES agree.
    c = 0.013
    signs = np.where(rng.random(500) < 0.5, -1.0, 1.0)
    hs = c * signs
    fhs = fhs_scenarios(hs, lam=0.97, seed_variance=c * c)
    np.testing.assert_allclose(fhs.ewma.vol_by_day, c, rtol=1e-13)
    np.testing.assert_allclose(fhs.scenarios_by_day, hs, rtol=1e-12)
    assert float(var_es(fhs.scenarios_by_day, 0.99).es) == pytest.approx(
        float(var_es(hs, 0.99).es), rel=1e-12
    )


def test_fhs_rescales_to_todays_vol() -> None:
    # Hand case: σ = (0.01, 0.02), target 0.04: scenarios r·4 and r·2; z = r/σ.
    r = np.array([0.01, -0.03])
    np.testing.assert_allclose(revolatilise(r, [0.01, 0.02], 0.04), [0.04, -0.06])
    np.testing.assert_allclose(devolatilise(r, [0.01, 0.02]), [1.0, -1.5])
    rng = np.random.default_rng(1)
    returns = rng.normal(0, 0.01, (400, 2))
    res = fhs_scenarios(returns, lam=0.94)
    np.testing.assert_allclose(res.target_vol, res.ewma.current_vol)
    np.testing.assert_allclose(
        res.scenarios_by_day, res.standardised_by_day * res.ewma.current_vol, rtol=1e-13
    )


def test_apc_variants_hand() -> None:
    # Floor: max(0.10, 0.15) = 0.15, max(0.30, 0.15) = 0.30.
    np.testing.assert_allclose(floored_vol([0.10, 0.30], 0.15), [0.15, 0.30])
    # ICE IRM 1: 0.75·0.20 + 0.25·0.60 = 0.30 (METHODS §4.1, V10).
    assert float(ice_blend_vol(0.20, 0.60)) == pytest.approx(0.30, rel=1e-15)
    # Zero-mean rolling vol, window 2 over (0.01, 0.03, −0.01, 0):
    # √((1e-4 + 9e-4)/2), √((9e-4 + 1e-4)/2), √(1e-4/2) → stress vol √5e-4.
    r = [0.01, 0.03, -0.01, 0.0]
    np.testing.assert_allclose(rolling_vol(r, 2), np.sqrt([5e-4, 5e-4, 0.5e-4]), rtol=1e-14)
    assert float(stress_vol(r, 2)) == pytest.approx(math.sqrt(5e-4), rel=1e-14)
    # FHS with an APC target uses it.
    res = fhs_scenarios(np.array([0.01, -0.02, 0.015, 0.0]), lam=0.9, target_vol=0.5)
    assert float(res.target_vol) == 0.5


def test_validation() -> None:
    with pytest.raises(InputError, match="lam"):
        ewma_variance([0.01, 0.02], lam=1.0)
    with pytest.raises(InputError, match="seed"):
        ewma_variance([0.0, 0.0, 0.01], lam=0.9, seed_window=2)
    with pytest.raises(InputError, match="vol_by_day"):
        devolatilise([0.01], [0.0])
    with pytest.raises(InputError, match="window"):
        rolling_vol([0.01, 0.02], 3)
