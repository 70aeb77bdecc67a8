"""Equity against the requirement of each netting set: IM, MM, excess, margin ratio.

Per account, in the reporting currency:

* ``collateral_value`` and ``collateral_after_haircut`` (:mod:`crossmargin.collateral.valuation`);
* ``mtm``: the positions' mark-to-market (:mod:`crossmargin.pricing.mtm`): options and spot at
  their market value, futures and perpetuals at their variation against the trade price
  (0 without one). Collateral is the account's current balance, so premiums paid or received
  and spot bought are already in it; ``unrealised_pnl`` (informational) is each position's
  P&L against its trade price where one is given;
* ``equity = collateral_after_haircut + mtm``;
* ``initial_margin``: the account's requirement under the model (after the offset tiers);
  ``maintenance_margin``: the model's maintenance figure scaled the same way (the model's
  own ratio where it has one, e.g. Deribit's ``mm_factor``; es/hvar: ``maintenance_ratio`` of
  ``es.json``);
* ``excess = equity − initial_margin`` (negative: a margin call);
* ``margin_ratio = equity / maintenance_margin`` (the Binance ``uniMMR`` convention; ``None``
  without a maintenance requirement) and its status on the Binance Portfolio Margin Pro ladder
  (METHODS §3.5): > 150% ``normal``, 120–150% ``reminder``, 105–120% ``reduce-only``, ≤ 105%
  ``liquidation``;
* ``utilisation = initial_margin / equity`` (``None`` when equity ≤ 0).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from crossmargin.collateral.valuation import CollateralValue

#: Binance Portfolio Margin Pro uniMMR ladder (METHODS §3.5): (floor, status), highest first.
LADDER: tuple[tuple[float, str], ...] = (
    (1.50, "normal"),
    (1.20, "reminder"),
    (1.05, "reduce-only"),
    (-math.inf, "liquidation"),
)


def ladder_status(margin_ratio: float | None) -> str | None:
    """The ladder status of a margin ratio (equity / MM), or None without one."""
    if margin_ratio is None:
        return None
    for floor, status in LADDER:
        if margin_ratio > floor or (floor == -math.inf):
            return status
    return "liquidation"


@dataclass(frozen=True, slots=True, kw_only=True)
class Equity:
    """An account's equity and requirement side by side (see the module docstring)."""

    currency: str
    collateral_value: float
    collateral_after_haircut: float
    mtm: float
    unrealised_pnl: float
    initial_margin: float
    maintenance_margin: float | None
    holdings: tuple[CollateralValue, ...] = field(default_factory=tuple)

    @property
    def haircut(self) -> float:
        """Collateral value not counted (value − value after haircut)."""
        return self.collateral_value - self.collateral_after_haircut

    @property
    def equity(self) -> float:
        """``collateral_after_haircut + mtm``."""
        return self.collateral_after_haircut + self.mtm

    @property
    def excess(self) -> float:
        """``equity − initial_margin`` (negative: a margin call)."""
        return self.equity - self.initial_margin

    @property
    def margin_ratio(self) -> float | None:
        """``equity / maintenance_margin`` (None without a positive maintenance margin)."""
        mm = self.maintenance_margin
        return None if mm is None or mm <= 0 else self.equity / mm

    @property
    def utilisation(self) -> float | None:
        """``initial_margin / equity`` (None when equity is not positive)."""
        return None if self.equity <= 0 else self.initial_margin / self.equity

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready; money in ``currency``, ratios as decimals (1.5 = 150%)."""
        return {
            "currency": self.currency,
            "collateral_value": self.collateral_value,
            "haircut": self.haircut,
            "collateral_after_haircut": self.collateral_after_haircut,
            "mtm": self.mtm,
            "unrealised_pnl": self.unrealised_pnl,
            "equity": self.equity,
            "initial_margin": self.initial_margin,
            "maintenance_margin": self.maintenance_margin,
            "excess": self.excess,
            "margin_ratio": self.margin_ratio,
            "margin_ratio_status": ladder_status(self.margin_ratio),
            "utilisation": self.utilisation,
            "priced_at_par": sorted({h.asset for h in self.holdings if h.priced_at_par}),
            "holdings": [h.to_dict() for h in self.holdings],
        }


def account_equity(
    *,
    currency: str,
    holdings: Sequence[CollateralValue],
    mtm: float,
    unrealised_pnl: float,
    initial_margin: float,
    maintenance_margin: float | None,
    cash: float = 0.0,
) -> Equity:
    """An account's :class:`Equity` from its valued holdings, MTM and requirement.

    ``cash`` adds an amount of the reporting currency to the collateral (e.g. the service's
    ``collateral`` field of a what-if).
    """
    value = math.fsum(h.value for h in holdings) + cash
    after = math.fsum(h.value_after_haircut for h in holdings) + cash
    return Equity(
        currency=currency,
        collateral_value=value,
        collateral_after_haircut=after,
        mtm=mtm,
        unrealised_pnl=unrealised_pnl,
        initial_margin=initial_margin,
        maintenance_margin=maintenance_margin,
        holdings=tuple(holdings),
    )


def by_account(values: Sequence[CollateralValue]) -> Mapping[str, tuple[CollateralValue, ...]]:
    """Valued holdings grouped by account."""
    out: dict[str, list[CollateralValue]] = {}
    for v in values:
        out.setdefault(v.account, []).append(v)
    return {a: tuple(v) for a, v in out.items()}


__all__ = ["LADDER", "Equity", "account_equity", "by_account", "ladder_status"]
