"""The shipped market defaults (``crossmargin/data/market_defaults.json``), read and checked once.

Two readers:

* :func:`market_defaults`: the raw mapping (smile per asset class, rates, valuation time);
* :func:`vol_proxy_params`: the ``"vol_proxy"`` block as a checked :class:`VolProxyParams`
  (the EWMA fallback of :mod:`crossmargin.market.vol_fallback` and the variance-swap to ATM
  map of :mod:`crossmargin.market.varswap`). Each entry of the block is
  ``{"value": ..., "source": "why this number"}``; an unknown key, a missing key or a value
  out of range raises :class:`MarketDataError` naming the file and the key.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from crossmargin.errors import MarketDataError

DEFAULTS_RESOURCE = "data/market_defaults.json"
_FILE = f"crossmargin/{DEFAULTS_RESOURCE}"
VOL_PROXY_KEYS = (
    "ewma_lambda",
    "seed_window",
    "implied_over_realised",
    "max_daily_ratio",
    "atm_tenor_days",
)
_VOL_PROXY_META = ("_doc", "calibration")


@cache
def market_defaults() -> Mapping[str, Any]:
    """The shipped defaults file as a mapping (read once)."""
    text = resources.files("crossmargin").joinpath(DEFAULTS_RESOURCE).read_text("utf-8")
    data: Mapping[str, Any] = json.loads(text)
    return data


@dataclass(frozen=True, slots=True, kw_only=True)
class VolProxyParams:
    """The checked ``"vol_proxy"`` block of the defaults file.

    Attributes
    ----------
    ewma_lambda : float
        Decay λ of the EWMA variance of daily log returns, in (0, 1).
    seed_window : int
        Returns whose mean square seeds the EWMA; their dates are not reported.
    implied_over_realised : Mapping[str, float]
        Asset class -> ratio of the 30-day variance-swap index to the EWMA vol (> 0).
    max_daily_ratio : float
        The fallback level moves at most by this factor (> 1) up or down per observation.
    atm_tenor_days : int
        Tenor of the vol indices and of the ATM level, in calendar days (30).
    sources : Mapping[str, str]
        Key -> the file's source/justification string.
    """

    ewma_lambda: float
    seed_window: int
    implied_over_realised: Mapping[str, float]
    max_daily_ratio: float
    atm_tenor_days: int
    sources: Mapping[str, str]

    @property
    def atm_tenor_years(self) -> float:
        """``atm_tenor_days / 365``."""
        return self.atm_tenor_days / 365.0

    def ratio_for(self, asset_class: str) -> float:
        """``implied_over_realised[asset_class]``; unknown classes raise MarketDataError."""
        try:
            return self.implied_over_realised[asset_class]
        except KeyError:
            raise MarketDataError(
                f"{_FILE}: vol_proxy.implied_over_realised has no entry for asset class "
                f"{asset_class!r}; known: {', '.join(sorted(self.implied_over_realised))}"
            ) from None


def _bad(key: str, why: str) -> MarketDataError:
    return MarketDataError(f"{_FILE}: vol_proxy.{key} {why}; fix the file")


def _entry(block: Mapping[str, Any], key: str) -> tuple[Any, str]:
    raw = block.get(key)
    if raw is None:
        raise _bad(key, "is missing")
    if not isinstance(raw, Mapping) or set(raw) != {"value", "source"}:
        raise _bad(key, 'must be {"value": ..., "source": "..."}')
    source = raw["source"]
    if not isinstance(source, str) or not source.strip():
        raise _bad(key, "needs a non-empty source string")
    return raw["value"], source


def _number(key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _bad(key, f"must be a finite number, got {value!r}")
    return float(value)


def _integer(key: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise _bad(key, f"must be an integer >= {minimum}, got {value!r}")
    return value


def parse_vol_proxy(block: Any, asset_classes: Mapping[str, Any]) -> VolProxyParams:
    """Check a ``"vol_proxy"`` block (see the module docstring) against the asset classes."""
    if not isinstance(block, Mapping):
        raise MarketDataError(f"{_FILE}: 'vol_proxy' must be an object")
    unknown = [k for k in block if k not in VOL_PROXY_KEYS and k not in _VOL_PROXY_META]
    if unknown:
        raise _bad(unknown[0], f"is not a known key (known: {', '.join(VOL_PROXY_KEYS)})")
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for key in VOL_PROXY_KEYS:
        values[key], sources[key] = _entry(block, key)
    lam = _number("ewma_lambda", values["ewma_lambda"])
    if not 0.0 < lam < 1.0:
        raise _bad("ewma_lambda", f"must lie strictly between 0 and 1, got {lam}")
    cap = _number("max_daily_ratio", values["max_daily_ratio"])
    if cap <= 1.0:
        raise _bad("max_daily_ratio", f"must be > 1 (a factor per day), got {cap}")
    ratios = values["implied_over_realised"]
    if not isinstance(ratios, Mapping):
        raise _bad("implied_over_realised", "must map asset class -> ratio")
    extra = sorted(set(ratios) - set(asset_classes))
    missing = sorted(set(asset_classes) - set(ratios))
    if extra or missing:
        raise _bad(
            "implied_over_realised",
            f"must have one ratio per asset class ({', '.join(sorted(asset_classes))}); "
            f"unknown: {extra or 'none'}, missing: {missing or 'none'}",
        )
    checked: dict[str, float] = {}
    for cls, ratio in ratios.items():
        checked[cls] = _number(f"implied_over_realised.{cls}", ratio)
        if checked[cls] <= 0.0:
            raise _bad(f"implied_over_realised.{cls}", f"must be > 0, got {ratio}")
    return VolProxyParams(
        ewma_lambda=lam,
        seed_window=_integer("seed_window", values["seed_window"], 1),
        implied_over_realised=checked,
        max_daily_ratio=cap,
        atm_tenor_days=_integer("atm_tenor_days", values["atm_tenor_days"], 1),
        sources=sources,
    )


@cache
def vol_proxy_params() -> VolProxyParams:
    """The shipped ``"vol_proxy"`` parameters, checked (read once)."""
    defaults = market_defaults()
    if "vol_proxy" not in defaults:
        raise MarketDataError(f"{_FILE} has no 'vol_proxy' block")
    return parse_vol_proxy(defaults["vol_proxy"], defaults["asset_classes"])


__all__ = [
    "VOL_PROXY_KEYS",
    "VolProxyParams",
    "market_defaults",
    "parse_vol_proxy",
    "vol_proxy_params",
]
