"""Realised P&L of a static book over ``[t, t + h]``: hypothetical and clean.

Two P&Ls of the same positions, held unchanged from the close of ``t`` to the close of
``t + h`` (BCBS, *Supervisory framework for the use of backtesting*, 1996, §§ 31–33:
backtests on "hypothetical" changes in portfolio value, positions held fixed, free of fees
and intraday trading; CRR Art 366(3) and the ESMA Opinion on CCP backtesting, 2023, use the
same static-portfolio P&L):

* **hypothetical** (:func:`hypothetical_pnl`): each contract fully revalued on the market of
  ``t + h`` against the market of ``t``: spot, the implied vol at the contract's own strike
  and expiry on that day's surface, that day's USD rate and carry (futures: ``F = S·e^{bT}``
  with the new ``b`` and the shorter ``T``), the calendar time elapsed (decay, roll-down),
  and a coin-settled contract's P&L converted at the coin's new price. This is the P&L the
  exceptions are counted on. The history holds no futures prices, funding rates or bases,
  so carry is the cost of carry ``r − q`` of each day; a basis or funding move is not in it.
* **clean** (:func:`clean_move`): the P&L the margin model itself can see: the model's own
  risk factors only (spot log move, the ATM-vol factor's move, the elapsed time), everything
  else (rates, carry, the smile) frozen at ``t`` — the P&L of the model's scenario machinery
  applied to the realised factor move (called risk-theoretical P&L in FRTB, BCBS d457
  MAR32). The difference between the two is what the model's factor set leaves out.

A contract that expires inside ``[t, t + h]`` settles at its underlying's close of ``t + h``
(the history has no settlement prices).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from numpy.typing import NDArray

from crossmargin.market.factor_grid import vol_move
from crossmargin.market.history import MarketHistory
from crossmargin.market.scenarios import ScenarioSet
from crossmargin.market.snapshot import MarketSnapshot
from crossmargin.portfolio import Portfolio
from crossmargin.pricing.revalue import aggregate_pnl, revalue
from crossmargin.pricing.terms import FUTURE, PERPETUAL, InstrumentTerms, instrument_terms
from crossmargin.pricing.valuation import base_fx, base_values

FloatArray = NDArray[np.float64]


def clean_move(
    underlyings: tuple[str, ...],
    now: MarketSnapshot,
    later: MarketSnapshot,
    history: MarketHistory,
) -> ScenarioSet:
    """The real joint move from ``now`` to ``later`` in the model's own factors: spot log
    returns, the ATM-vol factor's move as the historical models define it
    (:func:`crossmargin.market.factor_grid.vol_move`, ``history`` cut at ``later``), and the
    calendar time in between."""
    spot = [np.log(later.spot(u) / now.spot(u)) for u in underlyings]
    vol = [
        vol_move(history, u, now.valuation_time.date(), later.valuation_time.date())
        for u in underlyings
    ]
    days = (later.valuation_time - now.valuation_time).total_seconds() / 86400.0
    return ScenarioSet(
        underlyings=underlyings,
        spot_shocks=np.array([spot]),
        vol_shocks=np.array([vol]),
        time_steps=np.array([days / 365.0]),
        spot_shock_type="log",
        names=(f"{now.valuation_time:%Y-%m-%d}→{later.valuation_time:%Y-%m-%d}",),
    )


def clean_pnl(
    portfolio: Portfolio, now: MarketSnapshot, later: MarketSnapshot, history: MarketHistory
) -> FloatArray:
    """Per account, the clean P&L (reporting currency; module docstring)."""
    move = clean_move(portfolio.underlyings, now, later, history)
    out: FloatArray = revalue(portfolio, now, move).account_pnl_by_scenario[0]
    return out


def _forward(terms: InstrumentTerms) -> FloatArray:
    """Each future's (and perpetual's) mark: ``S·e^{bT}`` (``S`` for a perpetual; the final
    settlement of an expired future is its underlying's spot here)."""
    live = (terms.kind == FUTURE) & ~terms.expired
    out: FloatArray = np.where(live, terms.spot * np.exp(terms.carry * terms.t), terms.spot)
    return out


def _settled(later: MarketSnapshot, portfolio: Portfolio, now: MarketSnapshot) -> MarketSnapshot:
    """``later`` with a settlement price (the underlying's close) for every contract that
    expired after ``now`` and no later than ``later``."""
    extra = {
        i.symbol: later.spot(i.underlying)
        for i in portfolio.instruments
        if i.expiry is not None
        and now.valuation_time < i.expiry <= later.valuation_time
        and i.symbol not in later.settlements
    }
    return replace(later, settlements={**later.settlements, **extra}) if extra else later


def hypothetical_pnl(
    portfolio: Portfolio, now: MarketSnapshot, later: MarketSnapshot
) -> FloatArray:
    """Per account, the hypothetical P&L of the static book from ``now`` to ``later``
    (reporting currency; module docstring). Per contract of multiplier ``m``:

    * futures and perpetuals, variation margin: ``m·(F₁ − F₀)·X₁`` (linear) or
      ``m·(1/F₀ − 1/F₁)·X₁`` (inverse, in coin, ``X₁`` the coin's price at ``t + h``);
    * options and spot, change of market value: ``V₁·X₁ − V₀·X₀``.
    """
    t0 = instrument_terms(portfolio.instruments, now)
    t1 = instrument_terms(portfolio.instruments, _settled(later, portfolio, now))
    x0, x1 = base_fx(t0), base_fx(t1)
    f0, f1 = _forward(t0), _forward(t1)
    m = t0.multiplier
    variation = np.where(t0.inverse, m * (1.0 / f0 - 1.0 / f1), m * (f1 - f0))
    settled = (t0.kind == FUTURE) | (t0.kind == PERPETUAL)
    value = base_values(t1) * x1 - base_values(t0) * x0
    per_contract = np.where(settled, variation * x1, value)
    out: FloatArray = aggregate_pnl(per_contract[np.newaxis, :], portfolio.quantity_matrix())[0]
    return out


__all__ = ["clean_move", "clean_pnl", "hypothetical_pnl"]
