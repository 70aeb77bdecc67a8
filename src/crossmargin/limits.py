"""The largest magnitudes crossmargin accepts, and the check that no result is NaN or inf.

Inputs beyond these bounds are refused by every loader (books, collateral files, CRIF, the
trades of a what-if) with one line naming the file, the row, the column and the value; they
are far beyond any real book, and keep every product of quantity, multiplier, price and FX
finite in float64 (1e12 x 1e12 x 1e6 = 1e30, far below the 1.8e308 where float64 ends):

=====================  ==============  ==========================================
limit                  value           applies to
=====================  ==============  ==========================================
``MAX_QUANTITY``       1e12            a position's quantity (contracts, USD face
                                       or coins), absolute value
``MAX_PRICE``          1e12            a trade price (instrument's price unit);
                                       > 0, and >= 0 for an option premium
``MAX_AMOUNT``         1e15            a collateral amount and a CRIF ``Amount`` /
                                       ``AmountUSD`` (currency units), absolute value
=====================  ==============  ==========================================

A result that is still not finite (NaN or an infinity) is an error, never printed with exit
code 0: :func:`check_finite` names the first such figure by its key path.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from crossmargin.errors import CrossMarginError, ModelError

MAX_QUANTITY = 1e12
MAX_PRICE = 1e12
MAX_AMOUNT = 1e15


def bounded(value: float, limit: float, *, what: str = "value") -> float:
    """``value`` if finite and ``|value| <= limit``; ValueError with the reason otherwise."""
    if not math.isfinite(value):
        raise ValueError(f"{what} is not a finite number")
    if abs(value) > limit:
        raise ValueError(f"{what} is beyond the maximum of {limit:g} in absolute value")
    return value


def price_problem(price: float, *, premium: bool = False) -> str | None:
    """Why ``price`` is not an acceptable trade price (None if it is): finite, at most
    :data:`MAX_PRICE`, positive (``premium``: an option's, zero allowed)."""
    if not math.isfinite(price):
        return "not a finite number"
    if price > MAX_PRICE:
        return f"beyond the maximum trade price of {MAX_PRICE:g}"
    if premium and price < 0:
        return "an option premium cannot be negative"
    if not premium and price <= 0:
        return "a trade price must be positive"
    return None


def first_non_finite(payload: Any, path: str = "") -> tuple[str, float] | None:
    """The key path and value of the first NaN or infinity in a JSON-ready ``payload``."""
    if isinstance(payload, float):
        return None if math.isfinite(payload) else (path or "value", payload)
    if isinstance(payload, Mapping):
        for key, value in payload.items():
            found = first_non_finite(value, f"{path}.{key}" if path else str(key))
            if found is not None:
                return found
    elif isinstance(payload, list | tuple):
        for i, value in enumerate(payload):
            found = first_non_finite(value, f"{path}[{i}]")
            if found is not None:
                return found
    return None


def check_finite(
    payload: Any, *, what: str = "result", error: type[CrossMarginError] = ModelError
) -> None:
    """Raise ``error`` naming the first non-finite figure of ``payload`` (see the module
    docstring); a result with a NaN or an infinity is never reported as a success."""
    found = first_non_finite(payload)
    if found is not None:
        path, value = found
        raise error(
            f"the {what} is not finite: {path} = {value!r} (an input beyond a sensible "
            "magnitude? see docs/formats.md#limits)"
        )


__all__ = [
    "MAX_AMOUNT",
    "MAX_PRICE",
    "MAX_QUANTITY",
    "bounded",
    "check_finite",
    "first_non_finite",
    "price_problem",
]
