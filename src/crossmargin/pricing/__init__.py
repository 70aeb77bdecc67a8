"""Pricing: vectorised kernels, instrument valuation, Greeks and scenario revaluation."""

from __future__ import annotations

from crossmargin.pricing.black import Greeks, gbs_greeks, gbs_price
from crossmargin.pricing.revalue import BookPnL, ScenarioPnL, revalue, revalue_instruments

__all__ = [
    "BookPnL",
    "Greeks",
    "ScenarioPnL",
    "gbs_greeks",
    "gbs_price",
    "revalue",
    "revalue_instruments",
]
