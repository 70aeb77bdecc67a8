"""Vectorised European option pricing: the generalised Black-Scholes-Merton model.

One kernel covers the cases the engine needs through the cost-of-carry ``b``
(Haug, *The Complete Guide to Option Pricing Formulas*, 2nd ed., 2007, sect. 1.1.6)::

    d1 = (ln(S/K) + (b + σ²/2)·T) / (σ·√T),   d2 = d1 − σ·√T
    call = S·e^{(b−r)T}·N(d1) − K·e^{−rT}·N(d2)
    put  = K·e^{−rT}·N(−d2) − S·e^{(b−r)T}·N(−d1)

``b = r`` gives Black-Scholes (1973) on a non-dividend stock, ``b = r − q`` Merton (1973),
``b = 0`` Black (1976) on a forward or future (then ``S`` is the forward ``F``).

Units: ``S`` and ``K`` in the quote currency per unit of underlying, ``T`` in years,
``r``, ``b`` and ``σ`` as decimals per year. Greeks are per unit of underlying:
delta ∂V/∂S, gamma ∂²V/∂S², vega ∂V/∂σ (per 1.00 of vol, i.e. per 100 vol points),
theta ∂V/∂t = −∂V/∂T (per year, calendar time, with S, r, b and σ held fixed).

Expired (``T <= 0``) or zero-vol inputs return the discounted intrinsic value on the
forward, ``e^{−rT}·max(±(F − K), 0)`` with ``F = S·e^{bT}``, and the matching limits of
the Greeks (delta a step function, gamma and vega zero).

All functions broadcast their arguments with NumPy; ``is_call`` is a boolean array.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import ndtr

FloatArray = NDArray[np.float64]

_INV_SQRT_2PI = 0.3989422804014327


def _npdf(x: FloatArray) -> FloatArray:
    return _INV_SQRT_2PI * np.exp(-0.5 * x * x)


@dataclass(frozen=True, slots=True)
class _Inputs:
    """Broadcast float inputs and the quantities both the price and the Greeks need."""

    s: FloatArray
    k: FloatArray
    t: FloatArray
    sigma: FloatArray
    r: FloatArray
    b: FloatArray
    sign: FloatArray  # +1 call, −1 put
    d1: FloatArray
    d2: FloatArray
    vol_sqrt_t: FloatArray
    live: NDArray[np.bool_]  # T > 0 and σ√T > 0; else intrinsic on the forward
    carry_df: FloatArray  # e^{(b−r)T}
    df: FloatArray  # e^{−rT}


def _inputs(
    s: ArrayLike, k: ArrayLike, t: ArrayLike, sigma: ArrayLike, r: ArrayLike, b: ArrayLike,
    is_call: ArrayLike,
) -> _Inputs:  # fmt: skip
    s_, k_, t_, sig_, r_, b_ = (np.asarray(x, dtype=np.float64) for x in (s, k, t, sigma, r, b))
    d1, d2, vol_sqrt_t, live = _d1_d2(s_, k_, t_, sig_, b_)
    t_pos = np.maximum(t_, 0.0)
    return _Inputs(
        s=s_, k=k_, t=t_, sigma=sig_, r=r_, b=b_,
        sign=np.where(np.asarray(is_call, dtype=bool), 1.0, -1.0),
        d1=d1, d2=d2, vol_sqrt_t=vol_sqrt_t, live=live,
        carry_df=np.exp((b_ - r_) * t_pos), df=np.exp(-r_ * t_pos),
    )  # fmt: skip


def _d1_d2(
    s: FloatArray, k: FloatArray, t: FloatArray, sigma: FloatArray, b: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray, NDArray[np.bool_]]:
    with np.errstate(invalid="ignore"):
        live = (t > 0.0) & (sigma > 0.0) & (sigma * np.sqrt(np.maximum(t, 0.0)) > 0.0)
    t_safe = np.where(live, t, 1.0)
    sig_safe = np.where(live, sigma, 1.0)
    vol_sqrt_t = sig_safe * np.sqrt(t_safe)
    d1 = (np.log(s / k) + (b + 0.5 * sig_safe * sig_safe) * t_safe) / vol_sqrt_t
    return d1, d1 - vol_sqrt_t, vol_sqrt_t, live


def gbs_price(
    s: ArrayLike,
    k: ArrayLike,
    t: ArrayLike,
    sigma: ArrayLike,
    r: ArrayLike,
    b: ArrayLike,
    is_call: ArrayLike,
) -> FloatArray:
    """Generalised Black-Scholes-Merton price of a European option (see module docstring)."""
    x = _inputs(s, k, t, sigma, r, b, is_call)
    carry = x.s * x.carry_df  # S·e^{(b−r)T}: discounted forward
    strike_pv = x.k * x.df
    live_value = x.sign * (carry * ndtr(x.sign * x.d1) - strike_pv * ndtr(x.sign * x.d2))
    intrinsic = np.maximum(x.sign * (carry - strike_pv), 0.0)
    out: FloatArray = np.where(x.live, live_value, intrinsic)
    return out


@dataclass(frozen=True, slots=True, kw_only=True)
class Greeks:
    """Price and first/second-order sensitivities (units in the module docstring)."""

    price: FloatArray
    delta: FloatArray
    gamma: FloatArray
    vega: FloatArray
    theta: FloatArray


def gbs_greeks(
    s: ArrayLike,
    k: ArrayLike,
    t: ArrayLike,
    sigma: ArrayLike,
    r: ArrayLike,
    b: ArrayLike,
    is_call: ArrayLike,
) -> Greeks:
    """Analytic price, delta, gamma, vega and theta (Haug 2007, sect. 2.1)."""
    x = _inputs(s, k, t, sigma, r, b, is_call)
    s_, k_, t_, sig_, r_, b_ = x.s, x.k, x.t, x.sigma, x.r, x.b
    sign, live, carry_df, df = x.sign, x.live, x.carry_df, x.df
    t_pos = np.maximum(t_, 0.0)
    n_d1 = ndtr(sign * x.d1)
    n_d2 = ndtr(sign * x.d2)
    pdf_d1 = _npdf(x.d1)
    vol_sqrt_t = x.vol_sqrt_t
    price = sign * (s_ * carry_df * n_d1 - k_ * df * n_d2)
    delta = sign * carry_df * n_d1
    gamma = carry_df * pdf_d1 / (s_ * vol_sqrt_t)
    vega = s_ * carry_df * pdf_d1 * np.sqrt(np.where(live, t_, 1.0))
    theta = (
        -s_
        * carry_df
        * pdf_d1
        * np.where(live, sig_, 1.0)
        / (2.0 * np.sqrt(np.where(live, t_, 1.0)))
        - sign * (b_ - r_) * s_ * carry_df * n_d1
        - sign * r_ * k_ * df * n_d2
    )
    # Expired or zero vol: intrinsic on the forward and its limits.
    fwd = s_ * np.exp(b_ * t_pos)
    itm = sign * (fwd - k_) > 0.0
    dead_price = np.where(itm, sign * (s_ * carry_df - k_ * df), 0.0)
    dead_delta = np.where(itm, sign * carry_df, 0.0)
    dead_theta = np.where(itm, -sign * ((b_ - r_) * s_ * carry_df + r_ * k_ * df), 0.0)
    zero = np.zeros_like(price)
    return Greeks(
        price=np.where(live, price, dead_price),
        delta=np.where(live, delta, dead_delta),
        gamma=np.where(live, gamma, zero),
        vega=np.where(live, vega, zero),
        theta=np.where(live, theta, dead_theta),
    )
