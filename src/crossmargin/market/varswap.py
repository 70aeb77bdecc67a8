"""30-day variance-swap levels (DVOL, VIX) and the ATM vol of the house smile.

Deribit DVOL and CBOE VIX are *model-free* 30-day implied-variance levels: the square root of
the fair strike of a 30-day variance swap, replicated from the whole strip of out-of-the-money
options. They are not ATM vols: with a smile, the wings lift the level above the ATM vol.
Demeterfi, Derman, Kamal & Zou (1999), "More than you ever wanted to know about volatility
swaps" (Goldman Sachs QSR), give the fair variance from undiscounted option prices under the
forward measure, forward ``F``::

    K_var = (2/T) ∫₀^∞ OTM(K) / K² dK        (put for K < F, call for K ≥ F)

With ``k = ln(K/F)`` and prices per unit of forward (``F = 1``, Black-76 with ``r = b = 0``)::

    K_var = (2/T) ∫ P(k; σ(T, k)) e^{−k} dk

The **house smile** is the one :func:`crossmargin.market.builder.smile_surface` draws around an
ATM level: ``σ(T, k) = clip(atm + (skew_1y·k + smile_1y·k²)/√T, min_vol, max_vol_multiple·atm)``
(NumPy ``clip`` order: the cap wins if it lies below the floor). A flat smile gives
``K_var = σ²`` exactly (the log contract), so ATM = level.

:func:`variance_swap_from_atm` evaluates the integral by composite Gauss-Legendre quadrature
between the kinks of the smile (where the floor or the cap starts to bind) and ``k = 0``
(the put/call switch), over ``|k|`` up to 12 standard deviations at the highest vol of the
slice. :func:`atm_from_variance_swap` inverts it: the level is strictly increasing in ATM, so a
table of ``(ln level, ln atm)`` on a fine grid of ATM levels from ``min_vol`` to ``MAX_ATM``
(computed once per smile and tenor) and a cubic spline through it give ATM for ~10,000 values
in about a millisecond; the round trip through the quadrature agrees to 1e-10 (see the tests).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache

import numpy as np
import numpy.typing as npt
from scipy.interpolate import CubicSpline

from crossmargin.errors import InputError, MarketDataError
from crossmargin.market.defaults import market_defaults, vol_proxy_params
from crossmargin.pricing.black import gbs_price

FloatArray = npt.NDArray[np.float64]

#: Highest ATM level the inverse covers (decimal): 1000% vol.
MAX_ATM = 10.0
_TABLE_POINTS = 1601
_FLOOR_POINTS = 401
_GL_ORDER = 12
_SUB_PANELS = 24
_TAIL_SD = 12.0
_CHUNK = 512
_GL_X, _GL_W = np.polynomial.legendre.leggauss(_GL_ORDER)


@dataclass(frozen=True, slots=True, kw_only=True)
class HouseSmile:
    """``σ(T, k) = clip(atm + (skew_1y·k + smile_1y·k²)/√T, min_vol, max_vol_multiple·atm)``.

    Attributes
    ----------
    skew_1y, smile_1y : float
        Vol change per unit of log-moneyness ``ln(K/F)`` (and per unit squared) at one year.
    min_vol : float
        Floor of every vol (decimal).
    max_vol_multiple : float
        Cap of every vol as a multiple of ATM.
    """

    skew_1y: float
    smile_1y: float
    min_vol: float
    max_vol_multiple: float

    def __post_init__(self) -> None:
        for name in ("skew_1y", "smile_1y", "min_vol", "max_vol_multiple"):
            if not math.isfinite(getattr(self, name)):
                raise InputError(f"house smile {name} must be finite")
        if self.min_vol <= 0 or self.max_vol_multiple < 1:
            raise InputError("house smile needs min_vol > 0 and max_vol_multiple >= 1")
        if self.smile_1y < 0:
            raise InputError("house smile curvature smile_1y must be >= 0")

    @classmethod
    def for_asset_class(cls, asset_class: str) -> HouseSmile:
        """The smile of ``asset_class`` in ``crossmargin/data/market_defaults.json``."""
        defaults = market_defaults()
        try:
            params = defaults["asset_classes"][asset_class]
        except KeyError:
            known = ", ".join(sorted(defaults["asset_classes"]))
            raise InputError(f"unknown asset class {asset_class!r}; known: {known}") from None
        return cls(
            skew_1y=float(params["skew_1y"]),
            smile_1y=float(params["smile_1y"]),
            min_vol=float(defaults["min_vol"]),
            max_vol_multiple=float(defaults["max_vol_multiple"]),
        )

    def vol(self, atm: npt.ArrayLike, k: npt.ArrayLike, t: float) -> FloatArray:
        """The smile's vol at log-moneyness ``k`` and expiry ``t`` years (broadcasting)."""
        a = np.asarray(atm, dtype=np.float64)
        kk = np.asarray(k, dtype=np.float64)
        raw = a + (self.skew_1y * kk + self.smile_1y * kk * kk) / math.sqrt(t)
        out: FloatArray = np.clip(raw, self.min_vol, self.max_vol_multiple * a)
        return out


def _smile_of(asset_class: str | HouseSmile) -> HouseSmile:
    return (
        asset_class
        if isinstance(asset_class, HouseSmile)
        else HouseSmile.for_asset_class(asset_class)
    )


def _tenor_years(tenor_days: float | None) -> float:
    days = vol_proxy_params().atm_tenor_days if tenor_days is None else tenor_days
    if not (isinstance(days, int | float) and math.isfinite(days) and days > 0):
        raise InputError(f"tenor_days must be a positive number of days, got {tenor_days!r}")
    return float(days) / 365.0


def _positive(values: npt.ArrayLike, *, name: str) -> FloatArray:
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{name} must be numeric: {exc}") from exc
    bad = ~(np.isfinite(arr) & (arr > 0))
    if bad.any():
        first = arr.ravel()[np.flatnonzero(bad.ravel())[0]]
        raise InputError(
            f"{name} must be positive and finite (a decimal vol, 0.55 = 55%), got {first!r}"
        )
    return arr


def _kinks(smile: HouseSmile, atm: FloatArray, t: float) -> list[FloatArray]:
    """Log-moneyness where the raw smile crosses the floor or the cap (NaN where it does not)."""
    a, b, root_t = smile.skew_1y, smile.smile_1y, math.sqrt(t)
    out: list[FloatArray] = []
    for level in (np.full_like(atm, smile.min_vol), smile.max_vol_multiple * atm):
        c = (level - atm) * root_t  # solve b·k² + a·k = c
        if b > 0:
            disc = a * a + 4.0 * b * c
            root = np.sqrt(np.where(disc >= 0, disc, np.nan))
            out += [(-a - root) / (2.0 * b), (-a + root) / (2.0 * b)]
        elif a != 0:
            out.append(c / a)
    return out


def _variance_integral(atm: FloatArray, smile: HouseSmile, t: float) -> FloatArray:
    """``(2/T) ∫ P(k) e^{−k} dk`` for a 1-D array of ATM levels (see the module docstring)."""
    s_max = smile.max_vol_multiple * atm * math.sqrt(t)
    lo = -(_TAIL_SD * s_max + s_max * s_max)
    hi = _TAIL_SD * s_max + 0.5 * s_max * s_max
    points = np.column_stack([lo, np.zeros_like(atm), hi, *_kinks(smile, atm, t)])
    points = np.sort(np.clip(np.where(np.isnan(points), lo[:, None], points), lo[:, None],
                             hi[:, None]), axis=1)  # fmt: skip
    # Sub-panels: each piece between consecutive points cut into _SUB_PANELS equal parts.
    frac = np.arange(_SUB_PANELS + 1) / _SUB_PANELS
    left, right = points[:, :-1, None], points[:, 1:, None]
    edges = left + (right - left) * frac  # (n, pieces, sub + 1)
    a, b = edges[..., :-1, None], edges[..., 1:, None]
    half = 0.5 * (b - a)
    k = (0.5 * (a + b) + half * _GL_X).reshape(atm.size, -1)
    weights = (half * _GL_W).reshape(atm.size, -1)
    sigma = smile.vol(atm[:, None], k, t)
    price = gbs_price(1.0, np.exp(k), t, sigma, 0.0, 0.0, k >= 0.0)
    out: FloatArray = 2.0 / t * np.sum(weights * price * np.exp(-k), axis=1)
    return out


def variance_swap_from_atm(
    atm: npt.ArrayLike, asset_class: str | HouseSmile, *, tenor_days: float | None = None
) -> FloatArray:
    """The variance-swap vol ``√K_var`` of the house smile around ``atm`` (module docstring).

    Parameters
    ----------
    atm : array-like
        ATM vols (decimals, > 0), any shape.
    asset_class : str or HouseSmile
        Asset class of ``market_defaults.json`` (``crypto``, ``equity_index``, ``etf``,
        ``equity``), or an explicit smile.
    tenor_days : float, optional
        Expiry in calendar days (ACT/365); default ``vol_proxy.atm_tenor_days`` (30).

    Returns
    -------
    numpy.ndarray
        Same shape as ``atm`` (0-d for a scalar).

    Raises
    ------
    InputError
        A non-positive or non-finite ATM, a bad tenor or an unknown asset class.
    """
    values = _positive(atm, name="ATM vol")
    smile, t = _smile_of(asset_class), _tenor_years(tenor_days)
    flat = values.ravel()
    out = np.empty_like(flat)
    for start in range(0, flat.size, _CHUNK):
        part = flat[start : start + _CHUNK]
        out[start : start + _CHUNK] = np.sqrt(_variance_integral(part, smile, t))
    result: FloatArray = out.reshape(values.shape)
    return result


@cache
def _inverse_table(smile: HouseSmile, t: float) -> tuple[CubicSpline, float, float]:
    """Spline ``ln level -> ln atm`` for ATM in [min_vol, MAX_ATM], and its level range."""
    floor = math.log(smile.min_vol)
    # Denser just above the floor, where the floored part of the smile changes fastest.
    log_atm = np.union1d(
        np.linspace(floor, math.log(MAX_ATM), _TABLE_POINTS),
        np.linspace(floor, floor + math.log(1.5), _FLOOR_POINTS),
    )
    level = np.concatenate(
        [
            np.sqrt(_variance_integral(np.exp(log_atm[i : i + _CHUNK]), smile, t))
            for i in range(0, log_atm.size, _CHUNK)
        ]
    )
    log_level = np.log(level)
    if not np.all(np.diff(log_level) > 0):  # increasing for ATM >= min_vol: a failure is a bug
        raise MarketDataError(f"variance-swap level is not increasing in ATM for {smile}")
    return CubicSpline(log_level, log_atm), float(level[0]), float(level[-1])


def atm_from_variance_swap(
    level: npt.ArrayLike, asset_class: str | HouseSmile, *, tenor_days: float | None = None
) -> FloatArray:
    """The ATM vol whose house smile has the variance-swap vol ``level`` (the inverse map).

    For ATM at or above the smile's ``min_vol`` the map is strictly increasing and inverted
    exactly (to the spline's ~1e-10). Below the floor the house smile cannot produce the level
    (its vols are floored); there the ATM/level ratio of the floor is kept,
    ``atm = level · min_vol / level(min_vol)``, so a low-vol series still moves (the snapshot
    surface floors it at ``min_vol`` anyway).

    Parameters
    ----------
    level : array-like
        Variance-swap style index levels as decimals (DVOL 55 -> 0.55), > 0, any shape.
    asset_class : str or HouseSmile
        As in :func:`variance_swap_from_atm`.
    tenor_days : float, optional
        As in :func:`variance_swap_from_atm`.

    Returns
    -------
    numpy.ndarray
        ATM vols, same shape as ``level`` (0-d for a scalar).

    Raises
    ------
    InputError
        A non-positive or non-finite level, or one above the level of ATM ``MAX_ATM``.
    """
    values = _positive(level, name="variance-swap level")
    smile = _smile_of(asset_class)
    spline, low, high = _inverse_table(smile, _tenor_years(tenor_days))
    above = values > high
    if above.any():
        first = values.ravel()[np.flatnonzero(above.ravel())[0]]
        raise InputError(
            f"variance-swap level {first!r} is above {high:.6g}, the level of ATM {MAX_ATM:g} "
            "(1000% vol): check the units (decimals, 0.55 = 55%)"
        )
    inside = np.exp(spline(np.log(np.maximum(values, low))))
    out: FloatArray = np.where(values >= low, inside, values * (smile.min_vol / low))
    return out


__all__ = [
    "MAX_ATM",
    "HouseSmile",
    "atm_from_variance_swap",
    "variance_swap_from_atm",
]
