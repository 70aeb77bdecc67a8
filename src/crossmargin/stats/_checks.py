"""Argument checks shared by the ``crossmargin.stats`` modules (private).

Every check raises :class:`crossmargin.errors.InputError` with a message that says what
was wrong and what to pass instead.
"""

from __future__ import annotations

import math
from decimal import Decimal
from fractions import Fraction
from functools import lru_cache

import numpy as np
import numpy.typing as npt

from crossmargin.errors import InputError

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]
BoolArray = npt.NDArray[np.bool_]


def exact_fraction(value: float | Fraction | Decimal, *, name: str) -> Fraction:
    """``value`` as an exact fraction, reading a float as its shortest decimal repr.

    ``0.99`` becomes ``99/100`` (what the user typed), not the binary double
    ``0.98999999999999999111…``, so that tail counts such as ``⌈(1 − 0.99)·1000⌉`` are exact.
    """
    if isinstance(value, bool):
        raise InputError(f"{name} must be a number, got {value!r}")
    if isinstance(value, Fraction):
        return value
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise InputError(f"{name} must be finite, got {value!r}")
        return Fraction(value)
    if isinstance(value, int | float | np.floating | np.integer):
        as_float = float(value)
        if not math.isfinite(as_float):
            raise InputError(f"{name} must be finite, got {value!r}")
        return _float_fraction(as_float)
    raise InputError(f"{name} must be a float, Fraction or Decimal, got {type(value).__name__}")


@lru_cache(maxsize=4096)
def _float_fraction(value: float) -> Fraction:
    """``Fraction(repr(value))``, kept: margins check the same few confidences on every call,
    and parsing a decimal into a Fraction costs tens of microseconds (Fractions are
    immutable, so sharing one is safe)."""
    return Fraction(repr(value))


def check_open_unit(value: float | Fraction | Decimal, *, name: str) -> Fraction:
    """Return ``value`` as an exact fraction after checking ``0 < value < 1``."""
    frac = exact_fraction(value, name=name)
    if not 0 < frac < 1:
        raise InputError(
            f"{name} must lie strictly between 0 and 1 (e.g. 0.99), got {float(frac)!r}"
        )
    return frac


def check_probability(value: float, *, name: str) -> float:
    """Return ``value`` as a float after checking ``0 < value < 1``."""
    return float(check_open_unit(value, name=name))


def check_positive_int(value: int, *, name: str, minimum: int = 1) -> int:
    """Return ``value`` after checking it is an integer ``>= minimum``."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise InputError(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise InputError(f"{name} must be at least {minimum}, got {value}")
    return int(value)


def as_scenario_array(values: npt.ArrayLike, *, name: str, min_rows: int = 1) -> FloatArray:
    """``values`` as a finite float array of shape (n,) or (n, m), scenario/day axis first."""
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{name} must be numeric: {exc}") from exc
    if arr.ndim not in (1, 2):
        raise InputError(
            f"{name} must have shape (n,) or (n, n_columns) with the scenario/day axis first; "
            f"got shape {arr.shape}"
        )
    if arr.shape[0] < min_rows:
        raise InputError(f"{name} needs at least {min_rows} row(s) on axis 0, got {arr.shape[0]}")
    if arr.ndim == 2 and arr.shape[1] == 0:
        raise InputError(f"{name} has no columns; pass at least one column")
    bad = ~np.isfinite(arr)
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        raise InputError(
            f"{name} contains a non-finite value {float(arr[where])!r} at index {where}; "
            "remove or fill missing data before calling"
        )
    return arr
