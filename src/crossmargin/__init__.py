"""crossmargin: a cross-margining risk engine for multi-asset derivative books.

Data flow: positions → instruments → market snapshot → scenario P&L matrix (or
sensitivities) → margin model → result. See ``docs/`` and ``DESIGN.md``.

Units, stated once: vols and rates are decimals (0.55, not 55); time is in years
(ACT/365); quantities are in contracts; money always travels with its currency;
inverse (coin-margined) contracts value and settle in coin.
"""

from __future__ import annotations

from crossmargin.errors import (
    CrossMarginError,
    InputError,
    Issue,
    MarketDataError,
    ModelError,
    PricingError,
    SchemaError,
)

__version__ = "0.1.0"

__all__ = [
    "CrossMarginError",
    "InputError",
    "Issue",
    "MarketDataError",
    "ModelError",
    "PricingError",
    "SchemaError",
    "__version__",
]
