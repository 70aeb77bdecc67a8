"""Shared inputs of the capital-efficiency tests: a hand-built market (no history), a symbol
universe live on it, books from (symbol index, quantity) legs, and the real history."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from functools import cache

import pytest

from crossmargin.config import find_data_dir
from crossmargin.instruments import Instrument, parse_symbol
from crossmargin.market import Carry, MarketSnapshot, VolSurface
from crossmargin.market.history import MarketHistory
from crossmargin.portfolio import Portfolio, Position

NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
ASOF = "2026-02-11"
SPOTS = {"BTC": 70_000.0, "ETH": 2_000.0, "SPX": 6_800.0, "SPY": 680.0, "QQQ": 610.0}
VOLS = {"BTC": 0.55, "ETH": 0.70, "SPX": 0.18, "SPY": 0.18, "QQQ": 0.22}
SYMBOLS = (
    "BTC-27MAR26",
    "BTC-26JUN26",
    "BTC-PERPETUAL",
    "BTC-27MAR26-70000-C",
    "BTC-27MAR26-65000-P",
    "ETH-PERPETUAL",
    "ETH-27MAR26-2000-P",
    "ESH26",
    "ESM26",
    "ESH26 P6500",
    "ESH26 C7000",
    "SPY",
    "SPY   260320P00650000",
    "QQQ   260320C00620000",
    "BTC_USDC-PERPETUAL",
    "MBTH26",
)
#: Symbols live on the real as-of date ASOF (the sample book's and a few more).
REAL_SYMBOLS = (
    "BTC-27MAR26",
    "BTC-26JUN26",
    "BTC-PERPETUAL",
    "BTC-27MAR26-70000-C",
    "BTC-27MAR26-60000-P",
    "ETH-PERPETUAL",
    "ETH-27MAR26-1800-P",
    "ESH26",
    "ESM26",
    "ESH26 P6500",
    "SPY",
    "SPY   260320P00650000",
    "QQQ   260320C00620000",
    "BTC_USDC-PERPETUAL",
    "MBTH26",
)


def market() -> MarketSnapshot:
    """A hand-built market on NOW: flat vols, USD rate 4%, equity carry 2.5%."""
    return MarketSnapshot(
        valuation_time=NOW,
        spots=SPOTS,
        vols={u: VolSurface.flat(v) for u, v in VOLS.items()},
        rates={"USD": 0.04},
        carries={u: Carry(carry_rate=0.025) for u in ("SPX", "SPY", "QQQ")},
    )


def inst(symbol: str) -> Instrument:
    return parse_symbol(symbol, reference_year=2026)


def book(
    legs: Sequence[Sequence[tuple[int, float]]], symbols: Sequence[str] = SYMBOLS
) -> Portfolio:
    """Accounts ``acc0``, ``acc1`` ... from lists of (symbol index, quantity)."""
    return Portfolio.from_positions(
        Position(account=f"acc{a}", instrument=inst(symbols[i % len(symbols)]), quantity=float(q))
        for a, rows in enumerate(legs)
        for i, q in rows
    )


@cache
def _history() -> MarketHistory | None:
    folder = find_data_dir()
    if folder is None or not folder.is_dir():
        return None
    return MarketHistory.load(folder)


def history_or_skip() -> MarketHistory:
    """The shared history; skips the test when it is absent."""
    found = _history()
    if found is None:
        pytest.skip("shared market data not found (set CROSSMARGIN_DATA or add ../shared/data)")
    return found


@cache
def real_market() -> MarketSnapshot:
    """The market on ASOF for every underlying of REAL_SYMBOLS."""
    from crossmargin.market.builder import snapshot_from_history

    return snapshot_from_history(ASOF, list(SPOTS), history=history_or_skip())
