"""Parameters of the liquidity and concentration add-ons (``es.json``), per underlying and venue.

A **venue** is a contract spec's ``style`` (``deribit``, ``cme``, ``occ``, ``plain``;
:mod:`crossmargin.instruments.specs`). An add-on parameter of a bucket ``(u, v)`` is looked up
in three layers, the most specific first::

    venues[u][v]  →  underlyings[u]  →  defaults

``venues`` is the one block of ``es.json`` beyond ``defaults`` and ``underlyings``: it maps an
underlying of ``underlyings`` to venues, each an object of the fields below (all optional).

Fields (units in brackets):

- ``half_spread``: half bid/ask of the delta-one market, liquidity delta term [fraction of
  notional, ≥ 0];
- ``vol_half_spread``: half bid/ask of the options, liquidity vega term [vol, decimal:
  0.01 = 1 vol point, ≥ 0];
- ``participation``: share of ADV tradable a day without moving the market [(0, 1]];
- ``adv_usd``: delta-one ADV of the bucket, fixed [USD a venue day];
- ``adv_units``: delta-one ADV valued at the as-of spot [units of the underlying a venue day];
- ``adv_volume_units``: delta-one ADV from the history file's ``volume`` column, the mean over
  ``adv_window`` rows up to the as-of date [``"usd"``: the column is in USD; ``"units"``:
  shares, valued at each day's close];
- ``adv_window``: rows of that mean [history rows];
- ``adv_days_per_year``: trading days of the venue, ADV being per venue day [days: 365 for
  crypto venues, 252 for CME, OCC and NYSE];
- ``option_adv_units``: options ADV of the bucket as notional [units of the underlying a venue
  day];
- ``option_vega_ref_days``: expiry of the at-the-money option whose vega converts options ADV
  into vega traded a day [calendar days].

The delta-one ADV is taken from the most specific layer that gives any of ``adv_usd``,
``adv_units`` or ``adv_volume_units`` (one of them per layer); every other field from the
most specific layer that has it. ``note`` and ``source`` are free text. Unknown underlyings
or venues, unknown fields (the retired ``concentration_adv_fraction`` and
``concentration_rate`` included), negative spreads and a participation outside (0, 1] are
:class:`~crossmargin.errors.InputError` naming the file and the key (the file's pydantic
schema, :class:`crossmargin.models.param_schemas.EsFile`, checks fields and ranges).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from crossmargin.errors import InputError, MarketDataError, ModelError
from crossmargin.instruments.specs import contract_table
from crossmargin.market.history import MarketHistory, read_series_file
from crossmargin.models.params import ParameterSet

VENUE_BLOCK = "venues"
ADV_KEYS = ("adv_usd", "adv_units", "adv_volume_units")


def known_venues() -> tuple[str, ...]:
    """Venue keys: the styles of the shipped contract-spec table."""
    return tuple(sorted({s.style for s in contract_table().specs}))


def venue_block(params: ParameterSet) -> Mapping[str, Mapping[str, Mapping[str, Any]]]:
    """The file's ``venues`` block (empty when absent)."""
    block = params.raw.get(VENUE_BLOCK, {})
    return block if isinstance(block, Mapping) else {}


def validate_addon_parameters(params: ParameterSet) -> None:
    """Check the add-on fields of every layer; InputError naming file and key otherwise."""
    where = f"es parameters {params.path}"
    block = params.raw.get(VENUE_BLOCK, {})
    if not isinstance(block, Mapping):
        raise InputError(f"{where}: '{VENUE_BLOCK}' must map underlyings to venue objects")
    layers: list[tuple[str, Mapping[str, Any]]] = [("defaults", params.defaults)]
    layers += [(f"underlyings.{u}", e) for u, e in params.underlyings.items()]
    venues = known_venues()
    for u, by_venue in block.items():
        if u not in params.underlyings:
            raise InputError(
                f"{where}: {VENUE_BLOCK}.{u}: no such underlying in 'underlyings' "
                f"(add an 'underlyings.{u}' entry first)"
            )
        if not isinstance(by_venue, Mapping):
            raise InputError(f"{where}: {VENUE_BLOCK}.{u} must map venues to objects")
        for v, entry in by_venue.items():
            if v not in venues:
                raise InputError(
                    f"{where}: {VENUE_BLOCK}.{u}.{v}: unknown venue {v!r} (venues are the "
                    f"contract styles: {', '.join(venues)})"
                )
            if not isinstance(entry, Mapping):
                raise InputError(f"{where}: {VENUE_BLOCK}.{u}.{v} must be an object")
            layers.append((f"{VENUE_BLOCK}.{u}.{v}", entry))
    for name, layer in layers:
        _check_layer(where, name, layer)


def _check_layer(where: str, name: str, layer: Mapping[str, Any]) -> None:
    """What the file's schema (:mod:`crossmargin.models.param_schemas`, which checks every
    field's type and range and refuses unknown keys) cannot: one delta-one ADV per layer."""
    if sum(k in layer for k in ADV_KEYS) > 1:
        raise InputError(f"{where}: {name}: give one of {', '.join(ADV_KEYS)}, not several")


@dataclass(frozen=True, slots=True, kw_only=True)
class BucketParameters:
    """The add-on parameters of one (underlying, venue) bucket, resolved through the layers.

    ``adv_source`` is ``(key, layer name, value)`` of the delta-one ADV; ``option_adv_units``
    is None where no layer gives it.
    """

    underlying: str
    venue: str
    half_spread: float
    vol_half_spread: float
    participation: float
    adv_days_per_year: float
    option_vega_ref_days: float
    adv_window: int
    adv_source: tuple[str, str, Any]
    option_adv_units: float | None


def bucket_parameters(params: ParameterSet, underlying: str, venue: str) -> BucketParameters:
    """Resolve the bucket's fields (module docstring); ModelError naming what is missing."""
    params.for_underlying(underlying)  # a ModelError naming the underlying if it has no entry
    venue_entry = venue_block(params).get(underlying, {}).get(venue, {})
    layers = [
        (f"{VENUE_BLOCK}.{underlying}.{venue}", venue_entry),
        (f"underlyings.{underlying}", params.underlyings[underlying]),
        ("defaults", params.defaults),
    ]
    where = f"es parameters {params.path}"

    def get(key: str) -> float:
        for _, layer in layers:
            if key in layer:
                return float(layer[key])
        raise ModelError(
            f"{where}: no {key!r} for {underlying} on {venue}: set "
            f"{VENUE_BLOCK}.{underlying}.{venue}.{key}, underlyings.{underlying}.{key} or "
            f"defaults.{key}"
        )

    adv_source = next(
        ((k, name, layer[k]) for name, layer in layers for k in ADV_KEYS if k in layer), None
    )
    if adv_source is None:
        raise ModelError(
            f"{where}: no delta-one ADV for {underlying} on {venue}: give one of "
            f"{', '.join(ADV_KEYS)} in {VENUE_BLOCK}.{underlying}.{venue} or "
            f"underlyings.{underlying}"
        )
    option_adv = next(
        (float(layer["option_adv_units"]) for _, layer in layers if "option_adv_units" in layer),
        None,
    )
    return BucketParameters(
        underlying=underlying,
        venue=venue,
        half_spread=get("half_spread"),
        vol_half_spread=get("vol_half_spread"),
        participation=get("participation"),
        adv_days_per_year=get("adv_days_per_year"),
        option_vega_ref_days=get("option_vega_ref_days"),
        adv_window=int(get("adv_window")),
        adv_source=adv_source,
        option_adv_units=option_adv,
    )


def delta_adv_usd(
    history: MarketHistory, bucket: BucketParameters, spot: float, asof: pd.Timestamp
) -> float:
    """The bucket's delta-one ADV in USD a venue day (``spot`` in USD values ``adv_units``).

    ``adv_volume_units`` reads the underlying's history file, no data after ``asof``.
    """
    key, layer, value = bucket.adv_source
    if key == "adv_usd":
        return float(value)
    if key == "adv_units":
        return float(value) * spot
    u = bucket.underlying
    spec = history.spec(u)
    volume = read_series_file(history.data_dir / spec.file, "volume")
    volume = volume[volume.index <= asof].iloc[-bucket.adv_window :]
    if value == "units":
        volume = volume * history.series(u).reindex(volume.index)
    adv = float(volume.mean()) if len(volume) else float("nan")
    if not (np.isfinite(adv) and adv > 0):
        raise MarketDataError(
            f"no usable volume for {u} in {spec.file} up to {asof:%Y-%m-%d} ({layer}."
            f"adv_volume_units); set adv_usd or adv_units for {u} in the es parameter file"
        )
    return adv


__all__ = [
    "ADV_KEYS",
    "VENUE_BLOCK",
    "BucketParameters",
    "bucket_parameters",
    "delta_adv_usd",
    "known_venues",
    "validate_addon_parameters",
    "venue_block",
]
