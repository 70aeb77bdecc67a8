"""Venue add-ons of the ``pm_grid`` model, vectorised over rows (USD unless stated).

Deribit PME (``model_params`` fields; Deribit API docs ``private/pme/simulate``) [P names and
values; forms as marked]:

* **Extended table, coin-settled units (S:PM):** the coin P&L of a far move ``m`` is taken
  at the boundary price: ``v = w · pnl_coin(m) · (1 + m)/(1 + sign(m)·R)`` with
  ``w = extended_table_factor · R/|m|``. For a linear position this is exactly its
  ``±R`` value, which is what Deribit's published ``initial_risk_vectors`` show for
  BTC-PERPETUAL and BTC-28JUN24 [P]; for options the form is a third-party replica [3].
* **Extended dampener:** each extended value of a risk unit shrinks toward 0 by
  ``D(m) = (max(|m|/R, 1) − 1) · extended_dampener`` (USD; divided by ``1 + sign(m)·R``
  for coin units valued at the boundary price) [3]; Deribit's published aggregated
  extended vector is 0 where the pre-aggregated one is not [P].
* **pnl_offset:** a settlement currency's scenario gains count at ``pnl_offset``, capped at
  ``max_offsetable_pnl`` (``min(p, 0) + min(pnl_offset · max(p, 0), cap)``); Deribit's
  changelog: aggregated vectors are the pre-aggregated ones "after applying the pnl_offset
  and extended_dampener params" [P]; the cap's form [U].
* **Delta shock and size-based IM increment** above ``delta_total_liq_shock_threshold``
  (USD of net delta; house forms [U], zero below the threshold, as in Deribit's published
  example): ``delta_shock = max_delta_shock · E·S`` and ``im_increment = m_inc · E²·S``
  with ``E = max(|Σ qδ| − threshold/S, 0)`` coins.
* **Correlation contingency** (X:PM units whose currency is in a ``correlation_set``) [U]:
  units in the set are scanned jointly scenario by scenario and charged
  ``joint + d · (Σ separate − joint)``; ``d`` is ``correlation_contingency``.

OKX portfolio margin (MR7, "OKEx adjusts scaling-factor logic in Portfolio Margin mode",
2021: ``MR7_adj = 10,000 + (30,000 − 10,000) × 2 = 50,000``) [P]: the raw minimum charge is
scaled tier by tier, each tier's multiplier applying to the part of the raw charge inside it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from crossmargin.errors import InputError
from crossmargin.models.params import number

FloatArray = NDArray[np.float64]


@dataclass(frozen=True, slots=True, kw_only=True)
class CurrencyTerms:
    """Per settlement currency: extended dampener (USD), gain offset and its cap (USD)."""

    extended_dampener: float = 0.0
    pnl_offset: float = 1.0
    max_offsetable_pnl: float = math.inf


def _optional(raw: Mapping[str, Any], key: str, where: str, default: float) -> float:
    if raw.get(key) is None:
        return default
    value = number(raw, key, where=where)
    if not value >= 0:
        raise InputError(f"{where}: parameter {key!r} must be >= 0, got {value}")
    return value


def parse_addons(raw: Mapping[str, Any], where: str) -> dict[str, Any]:
    """The venue add-on parameters (:mod:`crossmargin.models.pm_grid_addons`)."""
    currencies: dict[str, CurrencyTerms] = {}
    for ccy, entry in (raw.get("settlement_currencies") or {}).items():
        here = f"{where}, settlement_currencies[{ccy!r}]"
        currencies[str(ccy)] = CurrencyTerms(
            extended_dampener=_optional(entry, "extended_dampener", here, 0.0),
            pnl_offset=_optional(entry, "pnl_offset", here, 1.0),
            max_offsetable_pnl=_optional(entry, "max_offsetable_pnl", here, math.inf),
        )
    tiers: list[tuple[float, float]] = []
    for i, tier in enumerate(raw.get("min_charge_tiers") or []):
        hi = math.inf if tier.get("up_to") is None else float(tier["up_to"])
        if tiers and not hi > tiers[-1][0]:
            raise InputError(f"{where}: min_charge_tiers[{i}].up_to must increase, got {hi}")
        tiers.append((hi, float(tier["multiplier"])))
    im_factor = _optional(raw, "im_factor", where, 1.0)
    if im_factor <= 0:
        raise InputError(f"{where}: parameter 'im_factor' must be > 0")
    return {
        "im_factor": im_factor,
        "currencies": currencies,
        "max_delta_shock": _optional(raw, "max_delta_shock", where, 0.0),
        "delta_shock_threshold": _optional(raw, "delta_shock_threshold", where, math.inf),
        "im_increment_rate": _optional(raw, "im_increment_rate", where, 0.0),
        "correlation_set": bool(raw.get("correlation_set", False)),
        "correlation_contingency": _optional(raw, "correlation_contingency", where, 1.0),
        "min_charge_rate": _optional(raw, "min_charge_rate", where, 0.0),
        "min_charge_tiers": tuple(tiers),
    }


def tiered_charge(raw: FloatArray | float, tiers: Sequence[tuple[float, float]]) -> FloatArray:
    """``Σ_k multiplier_k · (part of raw in (lo_k, hi_k])``; ``tiers`` = (hi_k, multiplier_k)."""
    x = np.asarray(raw, dtype=np.float64)
    out = np.zeros_like(x)
    lo = 0.0
    for hi, mult in tiers:
        width = np.clip(x - lo, 0.0, max(hi - lo, 0.0))
        out = out + mult * width
        lo = hi
    extra = np.maximum(x - lo, 0.0)  # beyond the last bound: the last multiplier
    last = tiers[-1][1] if tiers else 1.0
    result: FloatArray = out + last * extra
    return result


def extended_allowance(
    moves: FloatArray, price_range: float, dampener: float, *, coin_at_boundary: bool
) -> FloatArray:
    """Dampener allowance ``D(m)`` per extended move (USD; module docstring)."""
    ratio = np.maximum(np.abs(moves) / price_range, 1.0) - 1.0
    out: FloatArray = ratio * dampener
    if coin_at_boundary:
        out = out / (1.0 + np.sign(moves) * price_range)
    return out


def dampen(values: FloatArray, allowance: FloatArray) -> FloatArray:
    """``sign(v) · max(|v| − D, 0)`` (rows, extended scenarios); ``D`` per scenario."""
    out: FloatArray = np.sign(values) * np.maximum(np.abs(values) - allowance, 0.0)
    return out


def offset_gains(pnl: FloatArray, pnl_offset: float, cap: float) -> FloatArray:
    """``min(p, 0) + min(pnl_offset · max(p, 0), cap)``: gains count partly (module docstring)."""
    if pnl_offset >= 1.0 and math.isinf(cap):
        return pnl
    out: FloatArray = np.minimum(pnl, 0.0) + np.minimum(pnl_offset * np.maximum(pnl, 0.0), cap)
    return out


def excess_delta(net_delta: FloatArray, spot: float, threshold_usd: float) -> FloatArray:
    """Coins of net delta above the liquidity threshold: ``max(|Δ| − threshold/S, 0)``."""
    if math.isinf(threshold_usd):
        return np.zeros_like(net_delta)
    out: FloatArray = np.maximum(np.abs(net_delta) - threshold_usd / spot, 0.0)
    return out


def delta_shock(excess: FloatArray, spot: float, rate: float) -> FloatArray:
    """``max_delta_shock · E · S`` (USD)."""
    out: FloatArray = rate * excess * spot
    return out


def im_increment(excess: FloatArray, spot: float, m_inc: float) -> FloatArray:
    """``m_inc · E² · S`` (USD; IM only)."""
    out: FloatArray = m_inc * excess * excess * spot
    return out


__all__ = [
    "CurrencyTerms",
    "dampen",
    "delta_shock",
    "excess_delta",
    "extended_allowance",
    "im_increment",
    "offset_gains",
    "parse_addons",
    "tiered_charge",
]
