"""The shipped market defaults (``crossmargin/data/market_defaults.json``), read and checked once.

The whole file is validated against :class:`MarketDefaultsFile` (pydantic, unknown keys are
errors at every level). Two readers:

* :func:`market_defaults`: the raw mapping (smile per asset class, rates, valuation time);
* :func:`vol_proxy_params`: the ``"vol_proxy"`` block as a checked :class:`VolProxyParams`
  (the EWMA fallback of :mod:`crossmargin.market.vol_fallback` and the variance-swap to ATM
  map of :mod:`crossmargin.market.varswap`). Each entry of the block is
  ``{"value": ..., "source": "why this number"}``; an unknown key, a missing key or a value
  out of range raises :class:`MarketDataError` naming the file and the key path (a defect of
  a shipped data file, not of user input).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Annotated, Any

from pydantic import Field

from crossmargin.errors import MarketDataError
from crossmargin.validation import Strict, check_document

DEFAULTS_RESOURCE = "data/market_defaults.json"
_FILE = f"crossmargin/{DEFAULTS_RESOURCE}"
VOL_PROXY_KEYS = (
    "ewma_lambda",
    "seed_window",
    "implied_over_realised",
    "max_daily_ratio",
    "atm_tenor_days",
)
Text = Annotated[str, Field(min_length=1, pattern=r"\S")]
Finite = Annotated[float, Field(allow_inf_nan=False)]


class _Sourced(Strict):
    source: Text


class _Lambda(_Sourced):
    value: Annotated[float, Field(gt=0.0, lt=1.0)]


class _Count(_Sourced):
    value: Annotated[int, Field(ge=1)]


class _Ratios(_Sourced):
    value: dict[str, Annotated[float, Field(gt=0.0, allow_inf_nan=False)]]


class _Cap(_Sourced):
    value: Annotated[float, Field(gt=1.0, allow_inf_nan=False)]


class _Calibration(Strict):
    script: str
    data: str


class VolProxyBlock(Strict):
    """The ``"vol_proxy"`` block (see the module docstring and docs/market-data.md)."""

    doc: str = Field(default="", alias="_doc")
    calibration: _Calibration | None = None
    ewma_lambda: _Lambda
    seed_window: _Count
    implied_over_realised: _Ratios
    max_daily_ratio: _Cap
    atm_tenor_days: _Count


class AssetClassDefaults(Strict):
    """Smile and dividend yield of one asset class."""

    skew_1y: Finite
    smile_1y: Finite
    dividend_yield: Finite


class MarketDefaultsFile(Strict):
    """``market_defaults.json``."""

    doc: str = Field(default="", alias="_doc")
    valuation_time_utc: Annotated[str, Field(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")]
    rate_series: Annotated[list[str], Field(min_length=1)]
    asset_classes: dict[str, AssetClassDefaults]
    min_vol: Annotated[float, Field(gt=0.0)]
    max_vol_multiple: Annotated[float, Field(gt=0.0)]
    vol_proxy: VolProxyBlock


class _VolProxyOnly(Strict):
    vol_proxy: VolProxyBlock


@cache
def market_defaults() -> Mapping[str, Any]:
    """The shipped defaults file as a mapping (read and checked once)."""
    text = resources.files("crossmargin").joinpath(DEFAULTS_RESOURCE).read_text("utf-8")
    data: Mapping[str, Any] = json.loads(text)
    check_document(MarketDefaultsFile, data, label=_FILE, error=MarketDataError)
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


def parse_vol_proxy(block: Any, asset_classes: Mapping[str, Any]) -> VolProxyParams:
    """Check a ``"vol_proxy"`` block (see the module docstring) against the asset classes."""
    checked = check_document(
        _VolProxyOnly, {"vol_proxy": block}, label=_FILE, error=MarketDataError
    ).vol_proxy
    ratios = checked.implied_over_realised.value
    extra = sorted(set(ratios) - set(asset_classes))
    missing = sorted(set(asset_classes) - set(ratios))
    if extra or missing:
        raise MarketDataError(
            f"{_FILE}: 'vol_proxy.implied_over_realised' must have one ratio per asset class "
            f"({', '.join(sorted(asset_classes))}); unknown: {extra or 'none'}, "
            f"missing: {missing or 'none'}; fix the file"
        )
    return VolProxyParams(
        ewma_lambda=checked.ewma_lambda.value,
        seed_window=checked.seed_window.value,
        implied_over_realised=dict(ratios),
        max_daily_ratio=checked.max_daily_ratio.value,
        atm_tenor_days=checked.atm_tenor_days.value,
        sources={key: getattr(checked, key).source for key in VOL_PROXY_KEYS},
    )


@cache
def vol_proxy_params() -> VolProxyParams:
    """The shipped ``"vol_proxy"`` parameters, checked (read once)."""
    defaults = market_defaults()
    return parse_vol_proxy(defaults["vol_proxy"], defaults["asset_classes"])


__all__ = [
    "VOL_PROXY_KEYS",
    "AssetClassDefaults",
    "MarketDefaultsFile",
    "VolProxyBlock",
    "VolProxyParams",
    "market_defaults",
    "parse_vol_proxy",
    "vol_proxy_params",
]
