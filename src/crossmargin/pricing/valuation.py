"""Per-contract values in settlement currency, vectorised over instruments and scenarios.

Value ``V`` of one contract, in its settlement currency, as a function of the underlying
spot ``S``, time to expiry ``T`` and implied vol ``σ`` (``F = S·e^{bT}``; ``F₀``, ``S₀`` are
today's marks; ``m`` the multiplier; ``GBS`` the generalised Black-Scholes price)::

    kind        linear (USD, USDC ...)   inverse (coin-margined)
    spot        m·S                      (not offered)
    future      m·(F − F₀)               m·(1/F₀ − 1/F)      coins; m = USD face value
    perpetual   m·(S − S₀)               m·(1/S₀ − 1/S)      perpetual tracks the index
    option      m·GBS(S, K, T, σ, r, b)  m·GBS(...)/F        coins; premium quoted in coin

Futures and perpetuals are valued as the variation P&L against today's mark, so their
value today is 0 and a scenario's value is its P&L. The P&L of one contract is
``V₁ − V₀`` in settlement currency and ``V₁·X₁ − V₀·X₀`` in the reporting currency, where
``X`` is the settlement currency's value in USD (for a coin, its spot in that scenario).
Funding of perpetuals over the horizon is not modelled.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from crossmargin.pricing.black import gbs_price
from crossmargin.pricing.terms import FUTURE, OPTION, PERPETUAL, SPOT, InstrumentTerms

FloatArray = NDArray[np.float64]


def settlement_value(
    terms: InstrumentTerms,
    spot: FloatArray,
    t: FloatArray,
    vol: FloatArray,
    cols: NDArray[np.int64] | None = None,
) -> FloatArray:
    """Value per contract in settlement currency (see module docstring).

    ``spot``, ``t`` and ``vol`` broadcast against the instrument axis (the last axis);
    ``cols`` selects a subset of instruments (default: all). Expired instruments return
    their final value whatever the inputs.
    """
    idx = np.arange(terms.size) if cols is None else cols
    kind = terms.kind[idx]
    inv = terms.inverse[idx]
    m = terms.multiplier[idx]
    b = terms.carry[idx]
    s = np.asarray(spot, dtype=np.float64)
    t_ = np.maximum(np.asarray(t, dtype=np.float64), 0.0)
    fwd = s * np.exp(b * t_)
    s0 = terms.spot[idx]
    f0 = s0 * np.exp(b * terms.t[idx])
    shape = np.broadcast_shapes(s.shape, t_.shape, np.shape(vol), idx.shape)
    out = np.zeros(shape)
    if (kind == SPOT).any():
        out = np.where(kind == SPOT, m * s, out)
    if (kind == FUTURE).any():
        value = np.where(inv, m * (1.0 / f0 - 1.0 / fwd), m * (fwd - f0))
        out = np.where(kind == FUTURE, value, out)
    if (kind == PERPETUAL).any():
        value = np.where(inv, m * (1.0 / s0 - 1.0 / s), m * (s - s0))
        out = np.where(kind == PERPETUAL, value, out)
    opt = kind == OPTION
    if opt.any():
        price = gbs_price(s, terms.strike[idx], t_, vol, terms.rate[idx], b, terms.is_call[idx])
        out = np.where(opt, np.where(inv, m * price / fwd, m * price), out)
    expired = terms.expired[idx]
    if expired.any():
        out = np.where(expired, terms.expired_value[idx], out)
    return out


def base_values(terms: InstrumentTerms) -> FloatArray:
    """Today's value per contract in settlement currency (computed once per terms object:
    the terms are read-only, so the values never change; read-only themselves)."""
    return terms.kept(
        "base_values", lambda: settlement_value(terms, terms.spot, terms.t, terms.vol)
    )


def base_fx(terms: InstrumentTerms) -> FloatArray:
    """Today's value of each instrument's settlement currency in the reporting currency."""
    coin = terms.settle_underlying_index >= 0
    fx = terms.settle_fx.copy()
    if coin.any():
        # A coin settlement currency is worth its own spot (the underlying's spot today).
        by_underlying = np.zeros(len(terms.underlyings))
        by_underlying[terms.underlying_index] = terms.spot
        fx[coin] = by_underlying[terms.settle_underlying_index[coin]]
    return fx
