"""What collateral is worth today, and the instruments that carry it into scenarios.

Per holding, in the reporting currency (USD):

* ``price``: 1 for USD; the market's FX rate for another fiat currency (an error naming the
  currency when the market has none); the market's rate for a stablecoin (the snapshot's
  ``fx``), else **par** (1.0), reported as ``priced_at_par``; the market's spot for a coin or
  a security;
* ``value = amount·price``; ``haircut`` from the venue's schedule
  (:mod:`crossmargin.collateral.haircuts`); ``value_after_haircut = value·(1 − h)`` for a
  positive balance, the full value for a borrowed one.

Coins and securities also move in every scenario of the margin models and of the stress
tests: each such holding is carried as a long position in the asset's spot contract of the
contract table (``BTC_USDC``: 1 BTC; ``SPY``: 1 share), so a scenario revalues it like any
position (:func:`collateral_positions`). Cash and stablecoins do not move in historical or
grid scenarios; a stablecoin depeg is a stress of its own.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from crossmargin.collateral.haircuts import HaircutSchedule
from crossmargin.collateral.holdings import AssetKind, CollateralHolding
from crossmargin.errors import InputError, MarketDataError
from crossmargin.instruments import Instrument, contract_table
from crossmargin.market.snapshot import MarketSnapshot

#: Spot contracts that carry coin collateral (1 coin per unit, linear).
_COIN_SPOT = {"BTC": ("deribit", "BTC_USDC"), "ETH": ("deribit", "ETH_USDC")}


@dataclass(frozen=True, slots=True, kw_only=True)
class CollateralValue:
    """One holding valued (money in the reporting currency)."""

    account: str
    asset: str
    kind: AssetKind
    venue: str
    amount: float
    price: float
    value: float
    haircut: float
    value_after_haircut: float
    priced_at_par: bool = False

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (``amount`` in units of the asset, money in the reporting currency)."""
        return {
            "account": self.account,
            "asset": self.asset,
            "kind": self.kind,
            "venue": self.venue,
            "amount": self.amount,
            "price": self.price,
            "value": self.value,
            "haircut": self.haircut,
            "value_after_haircut": self.value_after_haircut,
            "priced_at_par": self.priced_at_par,
        }


def _price(holding: CollateralHolding, market: MarketSnapshot) -> tuple[float, bool]:
    kind, asset = holding.kind, holding.asset
    if kind == "fiat":
        if asset == market.reporting_currency:
            return 1.0, False
        if asset not in market.fx:
            raise MarketDataError(
                f"collateral of {holding.account} in {asset}: the market has no FX rate for "
                f"{asset} into {market.reporting_currency}; add fx[{asset!r}] to the snapshot"
            )
        return float(market.fx[asset]), False
    if kind == "stablecoin":
        if asset in market.fx:
            return float(market.fx[asset]), False
        return 1.0, True
    if asset not in market.spots:
        raise MarketDataError(
            f"collateral of {holding.account} in {asset}: the market has no spot for {asset}"
        )
    return float(market.spots[asset]), False


def value_collateral(
    holdings: Sequence[CollateralHolding], market: MarketSnapshot, schedule: HaircutSchedule
) -> tuple[CollateralValue, ...]:
    """Every holding valued today (see the module docstring)."""
    out = []
    for h in holdings:
        price, par = _price(h, market)
        value = h.amount * price
        cut = schedule.haircut(h.asset, h.venue)
        after = value * (1.0 - cut) if value > 0 else value
        out.append(
            CollateralValue(
                account=h.account,
                asset=h.asset,
                kind=h.kind,
                venue=h.venue,
                amount=h.amount,
                price=price,
                value=value,
                haircut=cut,
                value_after_haircut=after,
                priced_at_par=par,
            )
        )
    return tuple(out)


def spot_instrument(asset: str) -> Instrument:
    """The spot contract that carries ``asset`` collateral into scenarios (module docstring)."""
    from crossmargin.instruments import parse_symbol

    table = contract_table()
    if asset in _COIN_SPOT:
        style, root = _COIN_SPOT[asset]
        spec = table.find(style, root, "spot")
    else:
        spec = table.find("plain", asset, "spot")
        root = asset
    if spec is None or spec.underlying != asset or not math.isclose(spec.multiplier, 1.0):
        raise InputError(
            f"no spot contract of one unit of {asset} in the contract table: {asset} collateral "
            "cannot be revalued in scenarios; add a spot contract for it"
        )
    return parse_symbol(root)


def collateral_positions(
    holdings: Sequence[CollateralHolding],
) -> tuple[tuple[int, Instrument], ...]:
    """``(index in holdings, spot instrument)`` of the holdings that move in scenarios."""
    return tuple(
        (k, spot_instrument(h.asset))
        for k, h in enumerate(holdings)
        if h.kind in ("coin", "security") and h.amount != 0.0
    )


__all__ = ["CollateralValue", "collateral_positions", "spot_instrument", "value_collateral"]
