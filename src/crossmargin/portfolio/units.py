"""Quantity units of a book row: contracts, USD face, or coins of the underlying.

A book may state a quantity in the unit a venue quotes it in (``quantity_unit``):

=============  ============================================================  =====================
unit           allowed for                                                   contracts =
=============  ============================================================  =====================
``contracts``  every product (the default)                                   quantity
``usd``        inverse futures and perpetuals (size = USD face per contract)  usd / multiplier
``coin``       inverse options (coins per contract) and linear crypto         coins / multiplier
               products (spot, perpetuals, futures, options: coins of the
               underlying per contract)
=============  ============================================================  =====================

Every other combination would need a price to convert (USD of a linear contract, coins of an
inverse future, USD or coins of an equity product) and is refused, naming the units the
symbol accepts. The conversion is exact: both numbers are read as the decimals they print as
and divided as fractions (``1.5`` BTC of a 0.001 BTC contract is exactly 1,500 contracts),
then rounded once to the nearest float.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Literal

from crossmargin.errors import InputError
from crossmargin.instruments import ContractSpec, Instrument

QuantityUnit = Literal["contracts", "usd", "coin"]
QUANTITY_UNITS: tuple[QuantityUnit, ...] = ("contracts", "usd", "coin")


def accepted_units(spec: ContractSpec) -> tuple[QuantityUnit, ...]:
    """The units a product's quantities may be given in (see the module docstring)."""
    if spec.settlement == "inverse":
        if spec.kind == "option":
            return ("contracts", "coin")
        return ("contracts", "usd") if spec.quote_currency == "USD" else ("contracts",)
    if spec.asset_class == "crypto":
        return ("contracts", "coin")
    return ("contracts",)


def _size(spec: ContractSpec) -> str:
    """What one contract is, in words: ``10 USD face``, ``0.001 BTC``, ``50 USD x index``."""
    m = f"{spec.multiplier:g}"
    if spec.settlement == "inverse" and spec.kind != "option":
        return f"an inverse {spec.kind} of {m} {spec.quote_currency} face per contract"
    if spec.asset_class == "crypto":
        return f"a {spec.settlement} {spec.kind} of {m} {spec.underlying} per contract"
    return f"a {spec.asset_class} {spec.kind} of multiplier {m}"


def parse_unit(text: object) -> QuantityUnit:
    """``"USD "`` -> ``"usd"``; empty -> ``"contracts"``; InputError for anything else."""
    unit = "" if text is None else str(text).strip().lower()
    if not unit:
        return "contracts"
    if unit not in QUANTITY_UNITS:
        raise InputError(f"unknown quantity unit {text!r}; use {', '.join(QUANTITY_UNITS)}")
    return unit


def check_unit(instrument: Instrument, unit: str) -> QuantityUnit:
    """``unit`` if ``instrument`` accepts it; InputError saying which units it accepts."""
    chosen = parse_unit(unit)
    allowed = accepted_units(instrument.spec)
    if chosen not in allowed:
        raise InputError(
            f"{instrument.symbol} is {_size(instrument.spec)}: quantity_unit {chosen!r} would "
            f"need a price to convert; it accepts {', '.join(allowed)}"
        )
    return chosen


def to_contracts(amount: float, unit: str, instrument: Instrument) -> float:
    """``amount`` in ``unit`` as contracts of ``instrument``, exactly (module docstring)."""
    chosen = check_unit(instrument, unit)
    if not math.isfinite(amount):
        raise InputError(f"{instrument.symbol}: quantity must be finite")
    if chosen == "contracts":
        return float(amount)
    exact = Fraction(repr(float(amount))) / Fraction(repr(float(instrument.multiplier)))
    return float(exact)


__all__ = [
    "QUANTITY_UNITS",
    "QuantityUnit",
    "accepted_units",
    "check_unit",
    "parse_unit",
    "to_contracts",
]
