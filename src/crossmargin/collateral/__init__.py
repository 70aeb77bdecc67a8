"""Collateral of a netting set: what it is, what it is worth, and how it moves in scenarios.

* :mod:`~crossmargin.collateral.holdings`: holdings per account (cash by currency, stablecoins,
  coins, securities), read from a collateral file or the ``collateral`` section of a book;
* :mod:`~crossmargin.collateral.haircuts`: haircut schedules per venue, as data (imported on
  use: it needs pydantic);
* :mod:`~crossmargin.collateral.valuation`: value, haircut and value after haircut in the
  reporting currency, and the spot-like instruments that carry coin and security collateral
  into every scenario of the margin models;
* :mod:`~crossmargin.collateral.equity`: equity, initial and maintenance margin, excess,
  margin ratio and utilisation of each netting set.
"""

from __future__ import annotations

from crossmargin.collateral.holdings import (
    ASSET_KINDS,
    CollateralHolding,
    asset_kind,
    load_collateral,
    parse_collateral_rows,
)

__all__ = [
    "ASSET_KINDS",
    "CollateralHolding",
    "asset_kind",
    "load_collateral",
    "parse_collateral_rows",
]
