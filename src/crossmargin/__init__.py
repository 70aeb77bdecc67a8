"""crossmargin: a cross-margining risk engine for multi-asset derivative books.

Data flow: positions → instruments → market snapshot → scenario P&L matrix (or
sensitivities) → margin model → result. See ``docs/`` and ``DESIGN.md``.

Units, stated once: vols and rates are decimals (0.55, not 55); time is in years
(ACT/365); quantities are in contracts (a book may state them in USD face or coins, see
``docs/formats.md``; results say ``"quantity_unit": "contracts"``); money always travels
with its currency; inverse (coin-margined) contracts value and settle in coin.

The public surface is what this module exports (``__all__``, pinned by a test); the
functions of :mod:`crossmargin.api` are the entry points the CLI, the service and the report
use::

    import crossmargin as cm

    book = cm.sample_book()
    market = cm.market_for(book, asof="2026-02-11")
    result = cm.margin(book, market, "es", cap=0.8)
    print(result.summary())

A run with its own products: ``mine = cm.load_contracts("contracts.json")``, then
``cm.load_book(path, contracts=mine)`` and ``cm.market_for(book, contracts=mine)``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the names below load on first use (``import crossmargin`` stays light)
    from crossmargin import api
    from crossmargin.api import (
        backtest,
        load_book,
        load_contracts,
        make_model,
        margin,
        market_for,
        sample_book,
        stress,
        value,
        what_if,
    )
    from crossmargin.contracts import Contracts
    from crossmargin.errors import (
        CrossMarginError,
        InputError,
        Issue,
        MarketDataError,
        ModelError,
        PricingError,
        SchemaError,
    )
    from crossmargin.instruments import Instrument, parse_symbol
    from crossmargin.market import MarketSnapshot, ScenarioSet, VolSurface
    from crossmargin.models import MarginModel, MarginResult, get_model, model_names
    from crossmargin.portfolio import Portfolio, Position
    from crossmargin.pricing import revalue

# Where each public name lives: imported on first access (PEP 562), so that ``import
# crossmargin`` and ``crossmargin --help`` do not pay for numpy, pandas, scipy and numba.
_HOME = {
    **dict.fromkeys(
        ("backtest", "load_book", "load_contracts", "make_model", "margin", "market_for",
         "sample_book", "stress", "value", "what_if"),
        "crossmargin.api",
    ),
    "Contracts": "crossmargin.contracts",
    **dict.fromkeys(
        ("CrossMarginError", "InputError", "Issue", "MarketDataError", "ModelError",
         "PricingError", "SchemaError"),
        "crossmargin.errors",
    ),
    "Instrument": "crossmargin.instruments",
    "parse_symbol": "crossmargin.instruments",
    **dict.fromkeys(("MarketSnapshot", "ScenarioSet", "VolSurface"), "crossmargin.market"),
    **dict.fromkeys(
        ("MarginModel", "MarginResult", "get_model", "model_names"), "crossmargin.models"
    ),
    "Portfolio": "crossmargin.portfolio",
    "Position": "crossmargin.portfolio",
    "revalue": "crossmargin.pricing",
}  # fmt: skip


def __getattr__(name: str) -> Any:
    """The public names, loaded on first use (``crossmargin.api`` is the module itself)."""
    if name == "api":
        return importlib.import_module("crossmargin.api")
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module 'crossmargin' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


__version__ = "0.1.0"

__all__ = [
    "Contracts",
    "CrossMarginError",
    "InputError",
    "Instrument",
    "Issue",
    "MarginModel",
    "MarginResult",
    "MarketDataError",
    "MarketSnapshot",
    "ModelError",
    "Portfolio",
    "Position",
    "PricingError",
    "ScenarioSet",
    "SchemaError",
    "VolSurface",
    "__version__",
    "api",
    "backtest",
    "get_model",
    "load_book",
    "load_contracts",
    "make_model",
    "margin",
    "market_for",
    "model_names",
    "parse_symbol",
    "revalue",
    "sample_book",
    "stress",
    "value",
    "what_if",
]
