"""Generalised Black-Scholes-Merton: textbook values, parity, Greeks vs finite differences.

Every expected number is either a published value (source in the comment) or is
recomputed here with a plain ``math`` implementation, never copied from the code.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crossmargin.pricing import gbs_greeks, gbs_price


def _cdf(x: float) -> float:
    # Standard normal CDF through erfc (accurate in both tails).
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


def _pdf(x: float) -> float:
    return math.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)


def ref_price(s: float, k: float, t: float, sigma: float, r: float, b: float, call: bool) -> float:
    """Haug (2007) sect. 1.1.6, written out with ``math`` only."""
    d1 = (math.log(s / k) + (b + 0.5 * sigma * sigma) * t) / (sigma * math.sqrt(t))
    d2 = d1 - sigma * math.sqrt(t)
    if call:
        return s * math.exp((b - r) * t) * _cdf(d1) - k * math.exp(-r * t) * _cdf(d2)
    return k * math.exp(-r * t) * _cdf(-d2) - s * math.exp((b - r) * t) * _cdf(-d1)


def _one(x: np.ndarray) -> float:
    return float(np.asarray(x).reshape(()))


# --------------------------------------------------------------------------- textbook prices


def test_hull_example_15_6_call_and_put() -> None:
    # Hull, Options, Futures and Other Derivatives, 8th/9th ed., Example 15.6:
    # S=42, K=40, r=10%, sigma=20%, T=0.5 (non-dividend stock, b=r) -> c=4.76, p=0.81.
    call = _one(gbs_price(42.0, 40.0, 0.5, 0.20, 0.10, 0.10, True))
    put = _one(gbs_price(42.0, 40.0, 0.5, 0.20, 0.10, 0.10, False))
    assert call == pytest.approx(4.76, abs=0.005)
    assert put == pytest.approx(0.81, abs=0.005)


@pytest.mark.parametrize(
    ("s", "k", "t", "r", "b", "sigma", "expected", "source"),
    [
        # Haug, The Complete Guide to Option Pricing Formulas, 2nd ed., sect. 1.1.6
        # (generalised BSM): put, S=75, K=70, T=0.5, r=10%, b=5%, sigma=35% -> 4.0870.
        (75.0, 70.0, 0.5, 0.10, 0.05, 0.35, 4.0870, "Haug 1.1.6 generalised BSM"),
        # Haug 2nd ed., Black (1976) example: put on a future F=19, K=19, T=0.75,
        # r=10%, sigma=28% (b=0) -> 1.7011.
        (19.0, 19.0, 0.75, 0.10, 0.0, 0.28, 1.7011, "Haug Black-76"),
        # Haug 2nd ed., Merton (1973) example: put, S=100, K=95, T=0.5, r=10%,
        # q=5% (b=r-q=5%), sigma=20% -> 2.4648.
        (100.0, 95.0, 0.5, 0.10, 0.05, 0.20, 2.4648, "Haug Merton-73"),
    ],
)
def test_haug_put_prices(
    s: float, k: float, t: float, r: float, b: float, sigma: float, expected: float, source: str
) -> None:
    got = _one(gbs_price(s, k, t, sigma, r, b, False))
    assert got == pytest.approx(expected, abs=5e-5), source
    # And the same with the hand formula, so a wrong reference would be visible too.
    assert ref_price(s, k, t, sigma, r, b, False) == pytest.approx(expected, abs=5e-5)


def test_haug_delta_example() -> None:
    # Haug 2nd ed., ch. 2 (delta): futures option S=105, K=100, T=0.5, r=10%, b=0,
    # sigma=36% -> call delta 0.5946, put delta -0.3566.
    g = gbs_greeks(105.0, 100.0, 0.5, 0.36, 0.10, 0.0, np.array([True, False]))
    assert g.delta[0] == pytest.approx(0.5946, abs=5e-5)
    assert g.delta[1] == pytest.approx(-0.3566, abs=5e-5)


def test_haug_gamma_example() -> None:
    # Haug 2nd ed., ch. 2 (gamma): S=55, K=60, T=0.75, r=10%, b=10%, sigma=30% -> 0.0278.
    g = gbs_greeks(55.0, 60.0, 0.75, 0.30, 0.10, 0.10, True)
    assert _one(g.gamma) == pytest.approx(0.0278, abs=5e-5)


def test_haug_vega_value_is_for_r_equal_b_ten_percent() -> None:
    # Haug 2nd ed., ch. 2 quotes vega 18.9358 (per 1.00 of vol). With r=10.5%, b=6.95%
    # the hand formula S·e^{(b-r)T}·n(d1)·√T gives 18.5027, not 18.9358; 18.9358 is the
    # vega of S=55, K=60, T=0.75, r=b=10%, sigma=30% (the gamma example's option):
    # d1 = (ln(55/60) + 0.145·0.75)/(0.3·√0.75) = 0.0837, n(d1) = 0.39755,
    # 55·0.39755·0.86603 = 18.936. The code matches the hand formula in both cases.
    g = gbs_greeks(55.0, 60.0, 0.75, 0.30, 0.10, 0.10, True)
    assert _one(g.vega) == pytest.approx(18.9358, abs=5e-4)
    s, k, t, r, b, sig = 55.0, 60.0, 0.75, 0.105, 0.0695, 0.30
    d1 = (math.log(s / k) + (b + 0.5 * sig * sig) * t) / (sig * math.sqrt(t))
    hand = s * math.exp((b - r) * t) * _pdf(d1) * math.sqrt(t)
    assert hand == pytest.approx(18.5027, abs=5e-4)
    assert _one(gbs_greeks(s, k, t, sig, r, b, True).vega) == pytest.approx(hand, rel=1e-12)


def test_haug_put_theta_example() -> None:
    # Haug 2nd ed., ch. 2 (theta): index put S=430, K=405, T=0.0833, r=7%, b=2%,
    # sigma=20% -> theta -31.1924 per year (-0.0855 per calendar day).
    g = gbs_greeks(430.0, 405.0, 0.0833, 0.20, 0.07, 0.02, False)
    assert _one(g.theta) == pytest.approx(-31.1924, abs=5e-4)


def test_greeks_price_equals_gbs_price() -> None:
    s = np.array([80.0, 100.0, 120.0])
    g = gbs_greeks(s, 100.0, 0.7, 0.25, 0.03, 0.01, np.array([True, False, True]))
    p = gbs_price(s, 100.0, 0.7, 0.25, 0.03, 0.01, np.array([True, False, True]))
    np.testing.assert_allclose(g.price, p, rtol=1e-13)


# --------------------------------------------------------------------------- put-call parity

_spot = st.floats(1.0, 1e5)
_log_m = st.floats(-1.0, 1.0)
_t = st.floats(1e-3, 5.0)
_sigma = st.floats(0.01, 2.0)
_rate = st.floats(-0.05, 0.2)
_carry = st.floats(-0.2, 0.3)


@settings(max_examples=100, deadline=None)
@given(s=_spot, lm=_log_m, t=_t, sigma=_sigma, r=_rate, b=_carry)
def test_put_call_parity(s: float, lm: float, t: float, sigma: float, r: float, b: float) -> None:
    k = s * math.exp(lm)
    c = _one(gbs_price(s, k, t, sigma, r, b, True))
    p = _one(gbs_price(s, k, t, sigma, r, b, False))
    rhs = s * math.exp((b - r) * t) - k * math.exp(-r * t)
    assert c - p == pytest.approx(rhs, rel=1e-9, abs=1e-11 * max(s, k))
    assert c >= 0.0
    assert p >= 0.0


# --------------------------------------------------------------------------- Greeks vs FD

_live = {
    "s": st.floats(10.0, 1000.0),
    "z": st.floats(-2.0, 2.0),  # log-moneyness in standard deviations: ln(K/S) = z·σ√T
    "t": st.floats(0.1, 2.0),
    "sigma": st.floats(0.1, 0.8),
    "r": st.floats(0.0, 0.1),
    "b": st.floats(-0.05, 0.1),
    "call": st.booleans(),
}


@settings(max_examples=100, deadline=None)
@given(**_live)
def test_greeks_equal_central_differences(
    s: float, z: float, t: float, sigma: float, r: float, b: float, call: bool
) -> None:
    # Differences of the independent math-only price, not of the code's own price.
    # Strikes within two standard deviations keep the Greeks away from underflow.
    k = s * math.exp(z * sigma * math.sqrt(t))
    g = gbs_greeks(s, k, t, sigma, r, b, call)

    def v(s_: float = s, t_: float = t, sig_: float = sigma) -> float:
        return ref_price(s_, k, t_, sig_, r, b, call)

    # Central differences with Richardson extrapolation (truncation error O(h^4)); the
    # spot step scales with the standard deviation σ√T so narrow distributions work too.
    def rich(d: Callable[[float], float], h: float) -> float:
        return (4 * d(h / 2) - d(h)) / 3

    sd = sigma * math.sqrt(t)
    delta = rich(lambda h: (v(s_=s + h) - v(s_=s - h)) / (2 * h), 2e-3 * s * sd)
    gamma = rich(lambda h: (v(s_=s + h) - 2 * v() + v(s_=s - h)) / (h * h), 2e-2 * s * sd)
    vega = rich(lambda h: (v(sig_=sigma + h) - v(sig_=sigma - h)) / (2 * h), 1e-3 * sigma)
    theta = rich(lambda h: -(v(t_=t + h) - v(t_=t - h)) / (2 * h), 1e-3 * t)
    assert _one(g.delta) == pytest.approx(delta, rel=1e-6, abs=1e-9)
    assert _one(g.gamma) == pytest.approx(gamma, rel=1e-6)
    assert _one(g.vega) == pytest.approx(vega, rel=1e-6)
    assert _one(g.theta) == pytest.approx(theta, rel=1e-6, abs=1e-8 * s)


# --------------------------------------------------------------------------- degenerate limits


@pytest.mark.parametrize("t", [0.0, -0.25])
def test_expired_price_is_intrinsic(t: float) -> None:
    s = np.array([90.0, 110.0, 90.0, 110.0])
    call = np.array([True, True, False, False])
    got = gbs_price(s, 100.0, t, 0.3, 0.05, 0.02, call)
    np.testing.assert_array_equal(got, [0.0, 10.0, 10.0, 0.0])
    g = gbs_greeks(s, 100.0, t, 0.3, 0.05, 0.02, call)
    np.testing.assert_array_equal(g.price, [0.0, 10.0, 10.0, 0.0])
    np.testing.assert_array_equal(g.delta, [0.0, 1.0, -1.0, 0.0])
    np.testing.assert_array_equal(g.gamma, 0.0)
    np.testing.assert_array_equal(g.vega, 0.0)


def test_zero_vol_is_discounted_intrinsic_on_forward() -> None:
    s, k, t, r, b = 100.0, 100.0, 0.5, 0.05, 0.03
    fwd = s * math.exp(b * t)  # 101.511..., so the call is in the money and the put is not
    call = _one(gbs_price(s, k, t, 0.0, r, b, True))
    put = _one(gbs_price(s, k, t, 0.0, r, b, False))
    assert call == pytest.approx(math.exp(-r * t) * (fwd - k), rel=1e-14)
    assert put == 0.0
    g = gbs_greeks(s, k, t, 0.0, r, b, np.array([True, False]))
    assert g.delta[0] == pytest.approx(math.exp((b - r) * t), rel=1e-14)
    assert g.delta[1] == 0.0
    np.testing.assert_array_equal(g.gamma, 0.0)
    np.testing.assert_array_equal(g.vega, 0.0)
    # theta = -d/dT [S·e^{(b-r)T} - K·e^{-rT}] for the in-the-money call.
    theta = -((b - r) * s * math.exp((b - r) * t) + r * k * math.exp(-r * t))
    assert g.theta[0] == pytest.approx(theta, rel=1e-12)
    assert g.theta[1] == 0.0


def test_tiny_vol_approaches_zero_vol_limit() -> None:
    args = (100.0, 95.0, 0.5)
    tiny = _one(gbs_price(*args, 1e-8, 0.05, 0.03, True))
    zero = _one(gbs_price(*args, 0.0, 0.05, 0.03, True))
    assert tiny == pytest.approx(zero, rel=1e-12)


def test_broadcasting_shapes() -> None:
    s = np.linspace(80, 120, 5)[:, None]
    k = np.array([90.0, 100.0, 110.0])[None, :]
    out = gbs_price(s, k, 1.0, 0.2, 0.01, 0.01, True)
    assert out.shape == (5, 3)
    assert out[2, 1] == pytest.approx(ref_price(100.0, 100.0, 1.0, 0.2, 0.01, 0.01, True))
