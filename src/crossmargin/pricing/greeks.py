"""Greeks of each contract's value in the reporting currency, per one long contract.

The value in the reporting currency is ``V·X``: the settlement-currency value ``V`` (see
:mod:`crossmargin.pricing.valuation`) times the settlement currency's value ``X``; for a
coin-settled (inverse) contract ``X`` is the spot ``S`` of that coin, which is also the
contract's underlying. Greeks are taken with respect to the underlying spot ``S`` (delta in
units of the underlying, gamma per unit², vega per 1.00 of vol, theta per year) with
``F = S·e^{bT}``; closed forms (``Δ, Γ, ν, θ, p`` the GBS Greeks and price per unit)::

    linear   spot    Δ = m                 Γ = 0              θ = 0
             future  Δ = m·e^{bT}          Γ = 0              θ = −m·b·F
             perp    Δ = m                 Γ = 0              θ = 0
             option  m·(Δ, Γ, ν, θ)
    inverse  future  Δ = m/F₀              Γ = 0              θ = −m·b·e^{−bT}
             perp    Δ = m/S₀              Γ = 0              θ = 0
             option  m·e^{−bT}·(Δ, Γ, ν, θ + b·p)

(An inverse future's USD value ``m·(1/F₀ − 1/F)·S = m·(S/F₀ − e^{−bT})`` is linear in ``S``;
an inverse option's USD value is ``m·p/F·S = m·p·e^{−bT}``.) Linear values are multiplied
by the constant ``X``. Expired instruments have zero Greeks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from crossmargin.pricing.black import gbs_greeks
from crossmargin.pricing.terms import FUTURE, OPTION, PERPETUAL, SPOT, InstrumentTerms
from crossmargin.pricing.valuation import base_fx

FloatArray = NDArray[np.float64]


@dataclass(frozen=True, slots=True, kw_only=True)
class ContractGreeks:
    """Per-contract Greeks in the reporting currency (arrays aligned with the terms)."""

    delta: FloatArray
    gamma: FloatArray
    vega: FloatArray
    theta: FloatArray


def reporting_greeks(terms: InstrumentTerms) -> ContractGreeks:
    """Closed-form Greeks of ``V·X`` per contract (see module docstring)."""
    n = terms.size
    m, b, t, s = terms.multiplier, terms.carry, terms.t, terms.spot
    fwd = s * np.exp(b * t)
    g = gbs_greeks(
        s, np.nan_to_num(terms.strike, nan=1.0), t, terms.vol, terms.rate, b, terms.is_call
    )
    delta, gamma, vega, theta = (np.zeros(n) for _ in range(4))
    lin, inv = ~terms.inverse, terms.inverse
    kind = terms.kind
    spot_or_perp = (kind == SPOT) | (kind == PERPETUAL)
    delta = np.where(lin & spot_or_perp, m, delta)
    delta = np.where(lin & (kind == FUTURE), m * np.exp(b * t), delta)
    theta = np.where(lin & (kind == FUTURE), -m * b * fwd, theta)
    delta = np.where(inv & (kind == FUTURE), m / fwd, delta)
    theta = np.where(inv & (kind == FUTURE), -m * b * np.exp(-b * t), theta)
    delta = np.where(inv & (kind == PERPETUAL), m / s, delta)
    opt = kind == OPTION
    scale = np.where(inv, m * np.exp(-b * t), m)
    delta = np.where(opt, scale * g.delta, delta)
    gamma = np.where(opt, scale * g.gamma, gamma)
    vega = np.where(opt, scale * g.vega, vega)
    theta = np.where(opt, scale * (g.theta + np.where(inv, b * g.price, 0.0)), theta)
    fx = np.where(inv, 1.0, base_fx(terms))  # inverse: X = S is inside the closed forms
    live = ~terms.expired
    return ContractGreeks(
        delta=np.where(live, delta * fx, 0.0),
        gamma=np.where(live, gamma * fx, 0.0),
        vega=np.where(live, vega * fx, 0.0),
        theta=np.where(live, theta * fx, 0.0),
    )
