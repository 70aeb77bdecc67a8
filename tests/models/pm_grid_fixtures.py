"""Hand-built market and books for the ``pm_grid`` tests, and an independent Black pricer.

Rates are 0 and no futures are quoted, so the carry is 0 and ``F = S``: Black-Scholes
with r = b = 0 (Hull, *Options, Futures and Other Derivatives*, ch. 15)::

    C = S·N(d1) − K·N(d2),  d1 = (ln(S/K) + σ²T/2)/(σ√T),  d2 = d1 − σ√T,  Δ_call = N(d1)
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

from crossmargin.instruments import Instrument, parse_symbol
from crossmargin.market import MarketSnapshot, VolSurface
from crossmargin.portfolio import Portfolio, Position

NOW = datetime(2026, 2, 1, 8, tzinfo=UTC)  # Deribit expiries are 08:00 UTC
SPOTS = {"BTC": 70_000.0, "ETH": 2_000.0, "SPX": 6_000.0, "SPY": 600.0, "QQQ": 500.0}


def market(vol: float = 0.6, **spots: float) -> MarketSnapshot:
    """Snapshot at NOW: SPOTS (overridden by ``spots``), flat vols, USD rate 0."""
    s = {**SPOTS, **spots}
    return MarketSnapshot(
        valuation_time=NOW,
        spots=s,
        vols={u: VolSurface.flat(vol) for u in s},
        rates={"USD": 0.0},
    )


def inst(symbol: str) -> Instrument:
    return parse_symbol(symbol, reference_year=2026)


def book(*rows: tuple[str, float], account: str = "a") -> Portfolio:
    return Portfolio.from_positions(
        Position(account=account, instrument=inst(s), quantity=q) for s, q in rows
    )


def ncdf(x: float) -> float:
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


def bs_call(s: float, k: float, t: float, vol: float) -> float:
    """Black-Scholes call with r = b = 0 (module docstring)."""
    d1 = (math.log(s / k) + 0.5 * vol * vol * t) / (vol * math.sqrt(t))
    return s * ncdf(d1) - k * ncdf(d1 - vol * math.sqrt(t))


def bs_call_delta(s: float, k: float, t: float, vol: float) -> float:
    """N(d1) with r = b = 0."""
    return ncdf((math.log(s / k) + 0.5 * vol * vol * t) / (vol * math.sqrt(t)))
