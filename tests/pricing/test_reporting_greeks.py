"""Reporting-currency Greeks of every contract kind equal central finite differences.

The value in USD of one contract is ``V(S)·X(S)``: settlement value times the settlement
currency's value, ``X = S`` for coin-settled (inverse) contracts (pricing/greeks.py). The
finite differences bump the snapshot's spot (and vol, and valuation time), re-resolve the
terms, and difference that USD value; futures and perpetuals keep today's mark as the
reference (their value is P&L against it). Tolerance 1e-6 relative (plus a tiny absolute
floor for Greeks that are exactly zero).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from crossmargin.instruments import parse_symbol
from crossmargin.market import Carry, MarketSnapshot, VolSurface
from crossmargin.pricing.greeks import reporting_greeks
from crossmargin.pricing.terms import instrument_terms
from crossmargin.pricing.valuation import settlement_value

T0 = datetime(2026, 2, 11, 21, tzinfo=UTC)
BASE = MarketSnapshot(
    valuation_time=T0,
    spots={"BTC": 67_000.0, "SPX": 6_900.0, "SPY": 690.0},
    vols={
        "BTC": VolSurface.from_parameters(atm_vol=0.55, smile=0.3),
        "SPX": VolSurface.from_parameters(atm_vol=0.18, skew=-0.3),
        "SPY": VolSurface.flat(0.19),
    },
    rates={"USD": 0.036, "USDC": 0.036},
    carries={"BTC": Carry(carry_rate=0.08), "SPX": Carry(carry_rate=0.023)},
    fx={"USDC": 1.0},
)
SYMBOLS = [
    "BTC-26JUN26", "BTC-PERPETUAL", "BTC-26JUN26-80000-C", "BTC-27MAR26-60000-P",
    "BTC_USDC-PERPETUAL", "BTC_USDC-26JUN26-70000-C", "ESM26", "ESM26 P6500",
    "SPY   260618C00720000", "SPY",
]  # fmt: skip


def usd_value(
    symbol: str, market: MarketSnapshot, reference: MarketSnapshot, dvol: float = 0.0
) -> float:
    """USD value with today's futures mark and today's implied vol (sticky strike, as the
    Greeks and the revaluation assume), shifted by ``dvol``."""
    inst = parse_symbol(symbol, reference_year=2026)
    ref = instrument_terms((inst,), reference)
    now = instrument_terms((inst,), market)
    value = settlement_value(ref, now.spot, now.t, ref.vol + dvol)[0]
    fx = now.spot[0] if inst.settlement == "inverse" else market.fx_rate(inst.settlement_currency)
    return float(value * fx)


def bumped_spot(market: MarketSnapshot, und: str, h: float) -> MarketSnapshot:
    return market.with_spots({und: market.spots[und] + h})


@pytest.mark.parametrize("symbol", SYMBOLS)
def test_delta_gamma_vega_theta_match_finite_differences(symbol: str) -> None:
    inst = parse_symbol(symbol, reference_year=2026)
    g = reporting_greeks(instrument_terms((inst,), BASE))
    und = inst.underlying
    s = BASE.spots[und]
    h = s * 1e-4
    up = usd_value(symbol, bumped_spot(BASE, und, h), BASE)
    mid = usd_value(symbol, BASE, BASE)
    dn = usd_value(symbol, bumped_spot(BASE, und, -h), BASE)
    delta_fd = (up - dn) / (2 * h)
    gamma_fd = (up - 2 * mid + dn) / (h * h)
    scale = max(abs(mid), 1.0)
    noise = 1e-9 * scale / h  # round-off of a difference quotient with step h
    assert g.delta[0] == pytest.approx(delta_fd, rel=1e-6, abs=noise)
    assert g.gamma[0] == pytest.approx(gamma_fd, rel=1e-4, abs=noise / h)
    dv = 1e-4
    v_up = usd_value(symbol, BASE, BASE, dv)
    v_dn = usd_value(symbol, BASE, BASE, -dv)
    assert g.vega[0] == pytest.approx((v_up - v_dn) / (2 * dv), rel=1e-6, abs=1e-9 * scale)
    # Theta: calendar time forward and back by one minute, spot, vol and carry held.
    dt = timedelta(minutes=1)
    later = usd_value(symbol, replace(BASE, valuation_time=T0 + dt), BASE)
    earlier = usd_value(symbol, replace(BASE, valuation_time=T0 - dt), BASE)
    years = 2 * dt.total_seconds() / (365 * 86400)
    assert g.theta[0] == pytest.approx((later - earlier) / years, rel=1e-5, abs=1e-6 * scale)


def test_inverse_future_usd_delta_is_face_over_forward() -> None:
    # 1 contract = 10 USD face: its USD exposure is 10/F coins of BTC, i.e. delta 10/F.
    inst = parse_symbol("BTC-26JUN26", reference_year=2026)
    fwd = float(BASE.forward("BTC", inst.years_to_expiry(T0)))
    g = reporting_greeks(instrument_terms((inst,), BASE))
    assert g.delta[0] == pytest.approx(10.0 / fwd, rel=1e-12)
    assert g.gamma[0] == 0.0
