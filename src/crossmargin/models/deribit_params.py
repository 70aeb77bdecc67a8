"""Deribit's ``model_params`` block as ``pm_grid`` parameters, so today's values can be pasted.

Deribit returns the PME parameters in ``private/pme/simulate`` and
``public/get_portfolio_margins`` (Deribit API documentation; example in METHODS §3.2)::

    {"general": {"mm_factor", "buckets_count", "vol_scenarios_count", "timestamp"},
     "currency_pair": {"btc_usd": {"price_range", "volatility_range_up", ...}},
     "currency": {"btc": {"annualised_move_risk", "min_annualised_move", ...}, "usd": {...}}}

:func:`read_model_params` accepts the whole JSON-RPC response, its ``result`` or the block
itself; every key of the block is checked (an unknown key is an error naming it).
:func:`deribit_overlay` maps it onto the ``deribit`` venue of ``pm_grid.json``:

=====================================  =====================================================
``model_params``                       ``pm_grid``
=====================================  =====================================================
general.mm_factor, buckets_count       venue defaults ``mm_factor``, ``buckets_count``
general.vol_scenarios_count 3 / 2 / 1  ``vol_states`` up-none-down / up-down / none  [U]
currency_pair.<coin>_usd.*             underlying ``<COIN>``: price_range, vol ranges and
                                       powers, ``min_volatility_for_shock_up``
  extended_table_factor                ``extended_weights = factor · price_range/|m|``
  max_delta_shock, m_inc               ``max_delta_shock``, ``im_increment_rate``
  delta_total_liq_shock_threshold      ``delta_shock_threshold`` (USD)
currency.<coin> / currency.usd         roll shock and settlement-currency terms of the coin
                                       (``<COIN>``) and of everything else (``*``):
                                       annualised_move_risk, min_annualised_move,
                                       extended_dampener, pnl_offset, max_offsetable_pnl
  haircut                              ``collateral_haircuts`` (reported only)
  correlation_set                      ``correlation_set`` of the coin's underlying
  equity_side_impact                   kept in the entry's notes (not used)
=====================================  =====================================================
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import Field

from crossmargin.validation import Strict, check_document

Number = Annotated[float, Field(allow_inf_nan=False)]
NonNegative = Annotated[float, Field(ge=0.0, allow_inf_nan=False)]


class General(Strict):
    """``model_params.general``."""

    mm_factor: NonNegative
    buckets_count: Annotated[int, Field(ge=1)]
    vol_scenarios_count: Literal[1, 2, 3]
    timestamp: Annotated[int, Field(ge=0)] | None = None


class CurrencyPair(Strict):
    """``model_params.currency_pair.<coin>_usd``."""

    price_range: Annotated[float, Field(gt=0.0, lt=1.0)]
    volatility_range_up: NonNegative
    volatility_range_down: NonNegative
    min_volatility_for_shock_up: NonNegative
    short_term_vega_power: NonNegative
    long_term_vega_power: NonNegative
    extended_table_factor: NonNegative = 1.0
    max_delta_shock: NonNegative = 0.0
    delta_total_liq_shock_threshold: Annotated[float, Field(gt=0.0)] | None = None
    m_inc: NonNegative = 0.0


class Currency(Strict):
    """``model_params.currency.<ccy>``."""

    annualised_move_risk: NonNegative
    min_annualised_move: NonNegative
    extended_dampener: NonNegative = 0.0
    pnl_offset: Annotated[float, Field(ge=0.0, le=1.0)] = 0.0
    max_offsetable_pnl: NonNegative = 0.0
    haircut: Annotated[float, Field(ge=0.0, le=1.0)] = 0.0
    equity_side_impact: str | None = None
    correlation_set: bool = False


class ModelParams(Strict):
    """The ``model_params`` block."""

    general: General
    currency_pair: dict[str, CurrencyPair]
    currency: dict[str, Currency] = Field(default_factory=dict)


def read_model_params(data: Any, *, label: str) -> ModelParams:
    """The ``model_params`` block of a response, a ``result`` or the block itself."""
    block = data
    if isinstance(block, dict) and "result" in block:
        block = block["result"]
    if isinstance(block, dict) and "model_params" in block:
        block = block["model_params"]
    return check_document(ModelParams, block, label=f"Deribit model_params {label}")


def is_model_params(data: Any) -> bool:
    """Whether a parsed JSON document is a Deribit response or ``model_params`` block."""
    if not isinstance(data, dict):
        return False
    inner = data.get("result", data)
    if isinstance(inner, dict) and "model_params" in inner:
        return True
    return "currency_pair" in data and "general" in data


_STATES = {3: ["up", "none", "down"], 2: ["up", "down"], 1: ["none"]}


def deribit_overlay(shipped: dict[str, Any], params: ModelParams, *, label: str) -> dict[str, Any]:
    """The shipped ``pm_grid`` document with its ``deribit`` venue replaced by ``params``."""
    doc = copy.deepcopy(shipped)
    when = ""
    if params.general.timestamp is not None:
        stamp = datetime.fromtimestamp(params.general.timestamp / 1000, tz=UTC)
        when = stamp.strftime("%Y-%m-%dT%H:%M:%SZ")
    origin = f"Deribit model_params from {label}" + (f" (timestamp {when})" if when else "")
    venue = doc.setdefault("venues", {}).setdefault("deribit", {})
    venue["source"] = origin
    defaults = venue.setdefault("defaults", {})
    defaults.update(
        mm_factor=params.general.mm_factor,
        buckets_count=params.general.buckets_count,
        vol_states=_STATES[params.general.vol_scenarios_count],
    )
    usd = params.currency.get("usd")
    underlyings = venue.setdefault("underlyings", {})
    for pair, p in params.currency_pair.items():
        coin = pair.split("_")[0].upper()
        base = {**doc["underlyings"].get(coin, {}), **underlyings.get(coin, {})}
        moves = base.get("extended_moves", shipped.get("defaults", {}).get("extended_moves", []))
        entry: dict[str, Any] = {
            "price_range": p.price_range,
            "volatility_range_up": p.volatility_range_up,
            "volatility_range_down": p.volatility_range_down,
            "min_volatility_for_shock_up": p.min_volatility_for_shock_up,
            "short_term_vega_power": p.short_term_vega_power,
            "long_term_vega_power": p.long_term_vega_power,
            "extended_weights": [p.extended_table_factor * p.price_range / abs(m) for m in moves],
            "max_delta_shock": p.max_delta_shock,
            "im_increment_rate": p.m_inc,
            "source": origin,
        }
        if p.delta_total_liq_shock_threshold is not None:
            entry["delta_shock_threshold"] = p.delta_total_liq_shock_threshold
        roll: dict[str, Any] = {}
        terms: dict[str, Any] = {}
        notes = []
        for ccy, key in ((coin.lower(), coin), ("usd", "*")):
            c = params.currency.get(ccy) if ccy != "usd" else usd
            if c is None:
                continue
            roll[key] = {
                "annualised_move_risk": c.annualised_move_risk,
                "min_annualised_move": c.min_annualised_move,
            }
            terms[key] = {
                "extended_dampener": c.extended_dampener,
                "pnl_offset": c.pnl_offset,
                "max_offsetable_pnl": c.max_offsetable_pnl,
            }
            if c.equity_side_impact is not None:
                notes.append(f"{ccy} equity_side_impact {c.equity_side_impact} (not used)")
            if key == coin:
                entry["correlation_set"] = c.correlation_set
        if roll:
            roll.setdefault("*", base.get("roll_shock", {}).get("*", next(iter(roll.values()))))
            entry["roll_shock"] = roll
            entry["settlement_currencies"] = terms
        if notes:
            entry["notes"] = "; ".join(notes)
        underlyings[coin] = {**underlyings.get(coin, {}), **entry}
    haircuts = doc.setdefault("collateral_haircuts", {})
    for ccy, c in params.currency.items():
        haircuts[ccy.upper()] = c.haircut
    return doc


__all__ = ["ModelParams", "deribit_overlay", "is_model_params", "read_model_params"]
