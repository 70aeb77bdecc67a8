"""Vol surfaces: grid look-ups, total-variance interpolation, extrapolation, parameters, JSON."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crossmargin.errors import MarketDataError
from crossmargin.market import VolSurface

T = (0.1, 0.5, 1.0, 2.0)
K = (-0.5, -0.1, 0.0, 0.2, 0.6)
V = (
    (0.80, 0.62, 0.60, 0.63, 0.75),
    (0.70, 0.57, 0.55, 0.56, 0.66),
    (0.65, 0.53, 0.50, 0.52, 0.60),
    (0.60, 0.50, 0.48, 0.49, 0.55),
)
SURFACE = VolSurface(expiries=T, moneyness=K, vols=V)


def test_flat_surface_returns_its_vol_everywhere() -> None:
    flat = VolSurface.flat(0.42)
    t = np.array([[0.0, 0.01, 1.0, 30.0]])
    k = np.array([[-3.0], [0.0], [2.5]])
    out = flat.vol(t, k)
    assert out.shape == (3, 4)
    np.testing.assert_array_equal(out, 0.42)


def test_grid_points_reproduced() -> None:
    tt, kk = np.meshgrid(T, K, indexing="ij")
    np.testing.assert_allclose(SURFACE.vol(tt, kk), np.array(V), rtol=1e-14)


def test_scalar_lookup_shape() -> None:
    assert np.shape(SURFACE.vol(0.5, 0.0)) == ()
    assert float(SURFACE.vol(0.5, 0.0)) == pytest.approx(0.55, rel=1e-14)


@settings(max_examples=80, deadline=None)
@given(i=st.integers(0, len(T) - 2), j=st.integers(0, len(K) - 1), w=st.floats(0.0, 1.0))
def test_total_variance_linear_in_t_at_grid_moneyness(i: int, j: int, w: float) -> None:
    t = T[i] + w * (T[i + 1] - T[i])
    expected_w = (1 - w) * V[i][j] ** 2 * T[i] + w * V[i + 1][j] ** 2 * T[i + 1]
    got = float(SURFACE.vol(t, K[j]))
    assert got**2 * t == pytest.approx(expected_w, rel=1e-12)


@settings(max_examples=80, deadline=None)
@given(i=st.integers(0, len(T) - 1), j=st.integers(0, len(K) - 2), a=st.floats(0.0, 1.0))
def test_linear_in_moneyness_on_a_slice(i: int, j: int, a: float) -> None:
    # The module docstring: total variance linear in T, then linear in k. On a slice
    # (fixed T) total variance linear in k is sigma² linear in k.
    k = K[j] + a * (K[j + 1] - K[j])
    expected = math.sqrt((1 - a) * V[i][j] ** 2 + a * V[i][j + 1] ** 2)
    assert float(SURFACE.vol(T[i], k)) == pytest.approx(expected, rel=1e-12)


def test_bilinear_in_total_variance_off_grid() -> None:
    # Half-way in T between 0.5 and 1.0 and half-way in k between 0.0 and 0.2.
    t, k = 0.75, 0.1
    w = 0.25 * (0.55**2 * 0.5 + 0.56**2 * 0.5 + 0.50**2 * 1.0 + 0.52**2 * 1.0)
    assert float(SURFACE.vol(t, k)) == pytest.approx(math.sqrt(w / t), rel=1e-12)


@pytest.mark.parametrize("k", [-0.5, -0.05, 0.0, 0.4])
def test_flat_extrapolation_in_expiry(k: float) -> None:
    first, last = float(SURFACE.vol(T[0], k)), float(SURFACE.vol(T[-1], k))
    for t in (0.0, 1e-6, 0.05, T[0]):
        assert float(SURFACE.vol(t, k)) == pytest.approx(first, rel=1e-14)
    for t in (T[-1], 3.0, 50.0):
        assert float(SURFACE.vol(t, k)) == pytest.approx(last, rel=1e-14)


@pytest.mark.parametrize("t", [0.05, 0.1, 0.3, 1.0, 5.0])
def test_flat_extrapolation_in_moneyness(t: float) -> None:
    assert float(SURFACE.vol(t, -3.0)) == pytest.approx(float(SURFACE.vol(t, K[0])), rel=1e-14)
    assert float(SURFACE.vol(t, 9.0)) == pytest.approx(float(SURFACE.vol(t, K[-1])), rel=1e-14)


def test_single_expiry_smile() -> None:
    s = VolSurface(expiries=(0.5,), moneyness=(-0.2, 0.2), vols=((0.6, 0.4),))
    np.testing.assert_allclose(s.vol([0.1, 0.5, 3.0], 0.2), 0.4, rtol=1e-14)
    assert float(s.vol(2.0, 0.0)) == pytest.approx(math.sqrt((0.36 + 0.16) / 2), rel=1e-14)


def test_from_parameters_formula() -> None:
    atm = (0.5, 0.45, 0.4)
    exp = (0.25, 0.5, 1.0)
    mny = (-1.0, -0.3, 0.0, 0.3, 1.0)
    s = VolSurface.from_parameters(
        atm_vol=atm, skew=-0.2, smile=0.1, expiries=exp, moneyness=mny, min_vol=0.35
    )
    assert s.expiries == exp
    assert s.moneyness == mny
    for i, a in enumerate(atm):
        for j, k in enumerate(mny):
            # e.g. atm 0.4, k = 0.3: 0.4 − 0.06 + 0.009 = 0.349, floored at 0.35.
            assert s.vols[i][j] == pytest.approx(max(a - 0.2 * k + 0.1 * k * k, 0.35), abs=1e-15)
    assert s.vols[2][3] == 0.35


def test_from_parameters_defaults_and_scalar_atm() -> None:
    s = VolSurface.from_parameters(atm_vol=0.3)
    assert s.expiries[0] == pytest.approx(7 / 365)
    assert 0.0 in s.moneyness
    np.testing.assert_allclose(np.array(s.vols), 0.3)


def test_json_round_trip() -> None:
    back = VolSurface.from_dict(json.loads(json.dumps(SURFACE.to_dict())))
    assert back == SURFACE
    grid = np.linspace(0.0, 3.0, 7), np.linspace(-1.0, 1.0, 7)
    np.testing.assert_array_equal(back.vol(*grid), SURFACE.vol(*grid))


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"expiries": (0.5, 0.1, 1.0, 2.0)}, "positive and increasing"),
        ({"expiries": (0.0, 0.5, 1.0, 2.0)}, "positive and increasing"),
        ({"expiries": ()}, "positive and increasing"),
        ({"moneyness": (0.0, -0.1, 0.1, 0.2, 0.6)}, "moneyness grid must be increasing"),
        ({"vols": V[:3]}, r"grid has shape \(3, 5\), expected \(4, 5\)"),
        ({"vols": ((0.5,) * 5,) * 3 + ((0.5, 0.5, 0.0, 0.5, 0.5),)}, "finite and > 0"),
        ({"vols": ((0.5,) * 5,) * 3 + ((0.5, 0.5, math.nan, 0.5, 0.5),)}, "finite and > 0"),
    ],
)
def test_validation(kwargs: dict[str, object], pattern: str) -> None:
    args: dict[str, object] = {"expiries": T, "moneyness": K, "vols": V, **kwargs}
    with pytest.raises(MarketDataError, match=pattern):
        VolSurface(**args)  # type: ignore[arg-type]
