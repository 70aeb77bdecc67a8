"""Collateral P&L under stress scenarios: coins and securities with their price, stablecoins
and other currencies with the scenario's asset moves (a depeg).

Per holding of ``amount`` units priced ``P₀`` today (:mod:`crossmargin.collateral.valuation`)
and a scenario row moving its price by the factor ``f``::

    P&L = amount · P₀ · (f − 1)        (reporting currency, before haircut)

* a coin or security moves with its underlying's spot column of the scenario set
  (``f = S₁/S₀``), the move a position in its spot contract would see;
* a stablecoin or a currency other than the reporting one moves by the set's
  ``asset_moves[asset]`` (``f = 1 + x``; USDe at 0.65 from par is ``x = −0.35``);
* reporting-currency cash never moves.

A holding whose asset the scenario does not move keeps its price (:func:`unmoved` lists them
so the caller can say so). The P&L is the change of the collateral's *value*; the
change of the equity it supports is that times ``(1 − haircut)`` for a positive balance.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from crossmargin.collateral.holdings import CollateralHolding
from crossmargin.market.scenarios import ScenarioSet
from crossmargin.market.snapshot import MarketSnapshot

FloatArray = NDArray[np.float64]


def price_move(
    holding: CollateralHolding, scenarios: ScenarioSet, currency: str
) -> FloatArray | None:
    """The relative price move ``f − 1`` of ``holding``'s asset in each scenario (zeros for
    cash in the reporting ``currency``), or None when the set does not move the asset."""
    if holding.kind in ("coin", "security"):
        if holding.asset not in scenarios.underlyings:
            return None
        out: FloatArray = scenarios.spot_factor()[:, scenarios.index(holding.asset)] - 1.0
        return out
    if holding.asset == currency:
        return np.zeros(scenarios.size)
    return scenarios.asset_moves.get(holding.asset)


def collateral_pnl(
    holdings: Sequence[CollateralHolding],
    accounts: Sequence[str],
    snapshot: MarketSnapshot,
    scenarios: ScenarioSet,
) -> FloatArray:
    """(scenarios, accounts) P&L of each account's collateral (module docstring); holdings
    of other accounts are ignored, an asset the set does not move contributes 0."""
    from crossmargin.collateral.haircuts import load_haircuts
    from crossmargin.collateral.valuation import value_collateral

    column = {a: j for j, a in enumerate(accounts)}
    out = np.zeros((scenarios.size, len(accounts)))
    mine = [h for h in holdings if h.account in column and h.amount]
    if not mine:
        return out
    values = value_collateral(mine, snapshot, load_haircuts())
    for h, v in zip(mine, values, strict=True):
        move = price_move(h, scenarios, snapshot.reporting_currency)
        if move is not None:
            out[:, column[h.account]] += v.value * move
    return out


def unmoved(
    holdings: Sequence[CollateralHolding], scenarios: ScenarioSet, currency: str
) -> dict[str, tuple[str, ...]]:
    """Per account, the collateral assets ``scenarios`` leaves at today's price."""
    out: dict[str, dict[str, None]] = {}
    for h in holdings:
        if h.amount and price_move(h, scenarios, currency) is None:
            out.setdefault(h.account, {})[h.asset] = None
    return {a: tuple(v) for a, v in out.items()}


__all__ = ["collateral_pnl", "price_move", "unmoved"]
