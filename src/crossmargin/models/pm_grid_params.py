"""Parameters and scenario grid of the ``pm_grid`` model (exchange portfolio-margin grids).

One :class:`GridParameters` per underlying (risk unit) is read from
``crossmargin/models/params/pm_grid.json`` (or a user file of the same shape): the
file's ``defaults``, overlaid with the chosen venue's ``defaults``, the underlying's entry,
the venue's entry for it, and finally keyword overrides. :func:`grid_scenarios` turns one
into the scenario list of METHODS §3.1::

    standard : m_k = −R + k·R/K, k = 0 … 2K   (2K + 1 price points including 0)
               × vol states {up, none, down}   (``edge_vol_states`` at m = ±R)
    extended : far moves m_e, vol up, weight w_e            (Paradex: w_e = 0.16/|m_e|)
    vol shock: σ' = σ·(1 + x·(ref/max(DTE, floor))^p),  x = +up | 0 | −down,
               p = power_short if DTE < ref else power_long,
               σ'_up floored at min_vol_up                 (METHODS §3.1; Deribit, Paradex)

Sources: METHODS.md §3.2 (Deribit ``model_params``), §3.3 (Paradex), §1 (FINRA 4210(g)).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from crossmargin.errors import InputError
from crossmargin.models.params import ParameterSet, number
from crossmargin.models.pm_grid_addons import CurrencyTerms, parse_addons

FloatArray = NDArray[np.float64]
VolState = Literal["up", "none", "down"]
VOL_STATES: tuple[VolState, ...] = ("up", "none", "down")
ExtendedLinear = Literal["full", "boundary"]
CoinPrice = Literal["today", "boundary"]
_INFO_KEYS = ("source", "sources", "notes", "venue_params")


@dataclass(frozen=True, slots=True, kw_only=True)
class RollRate:
    """Roll/basis shock rates of one settlement currency (METHODS §3.2, form [U]).

    Charge per futures/perpetual contract: ``|δ|·S·max(min_annualised_move,
    annualised_move_risk·T)`` (``δ`` in underlying units, ``T`` years to expiry).
    """

    annualised_move_risk: float
    min_annualised_move: float


@dataclass(frozen=True, slots=True, kw_only=True)
class GridParameters:
    """Resolved parameters of one underlying (see the module docstring)."""

    underlying: str
    venue: str
    price_range: float
    buckets_count: int
    vol_up: float
    vol_down: float
    min_vol_up: float
    vega_power_short: float
    vega_power_long: float
    vega_reference_days: float
    dte_floor_days: float
    vol_states: tuple[VolState, ...]
    edge_vol_states: tuple[VolState, ...]
    extended_moves: tuple[float, ...]
    extended_weights: tuple[float, ...]
    extended_linear: ExtendedLinear
    roll: Mapping[str, RollRate]
    min_delta_net_rate: float
    min_delta_hedged_rate: float
    mm_factor: float
    im_factor: float = 1.0
    extended_coin_price: CoinPrice = "today"
    currencies: Mapping[str, CurrencyTerms] = field(default_factory=dict)
    max_delta_shock: float = 0.0
    delta_shock_threshold: float = math.inf
    im_increment_rate: float = 0.0
    correlation_set: bool = False
    correlation_contingency: float = 1.0
    min_charge_rate: float = 0.0
    min_charge_tiers: tuple[tuple[float, float], ...] = ()

    def currency_terms(self, settlement_currency: str) -> CurrencyTerms:
        """Dampener and offset terms of ``settlement_currency`` (``"*"``, else neutral)."""
        return self.currencies.get(settlement_currency, self.currencies.get("*", CurrencyTerms()))

    def roll_rate(self, settlement_currency: str) -> RollRate:
        """Roll rates for ``settlement_currency`` (falls back to the ``"*"`` entry)."""
        return self.roll.get(settlement_currency, self.roll["*"])

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready view (reported by ``PMGridModel.parameters``)."""
        return {
            "venue": self.venue,
            "price_range": self.price_range,
            "buckets_count": self.buckets_count,
            "volatility_range_up": self.vol_up,
            "volatility_range_down": self.vol_down,
            "min_volatility_for_shock_up": self.min_vol_up,
            "short_term_vega_power": self.vega_power_short,
            "long_term_vega_power": self.vega_power_long,
            "vega_reference_days": self.vega_reference_days,
            "dte_floor_days": self.dte_floor_days,
            "vol_states": list(self.vol_states),
            "edge_vol_states": list(self.edge_vol_states),
            "extended_moves": list(self.extended_moves),
            "extended_weights": list(self.extended_weights),
            "extended_linear": self.extended_linear,
            "roll_shock": {
                k: {
                    "annualised_move_risk": v.annualised_move_risk,
                    "min_annualised_move": v.min_annualised_move,
                }
                for k, v in self.roll.items()
            },
            "min_delta_net_rate": self.min_delta_net_rate,
            "min_delta_hedged_rate": self.min_delta_hedged_rate,
            "mm_factor": self.mm_factor,
            "im_factor": self.im_factor,
            "extended_coin_price": self.extended_coin_price,
            "settlement_currencies": {
                k: {
                    "extended_dampener": v.extended_dampener,
                    "pnl_offset": v.pnl_offset,
                    "max_offsetable_pnl": _json_number(v.max_offsetable_pnl),
                }
                for k, v in self.currencies.items()
            },
            "max_delta_shock": self.max_delta_shock,
            "delta_shock_threshold": _json_number(self.delta_shock_threshold),
            "im_increment_rate": self.im_increment_rate,
            "correlation_set": self.correlation_set,
            "correlation_contingency": self.correlation_contingency,
            "min_charge_rate": self.min_charge_rate,
            "min_charge_tiers": [
                {"up_to": _json_number(hi), "multiplier": mult}
                for hi, mult in self.min_charge_tiers
            ],
        }


def _json_number(x: float) -> float | None:
    """``None`` for an unbounded value (JSON has no infinity)."""
    return None if math.isinf(x) else x


def _floats(raw: Mapping[str, Any], key: str, where: str) -> tuple[float, ...]:
    value = raw.get(key, [])
    if not isinstance(value, list):
        raise InputError(f"{where}: parameter {key!r} must be a list of numbers, got {value!r}")
    return tuple(number({key: v}, key, where=where) for v in value)


def _states(raw: Mapping[str, Any], key: str, where: str) -> tuple[VolState, ...]:
    value = raw.get(key)
    if not isinstance(value, list) or not value or any(v not in VOL_STATES for v in value):
        raise InputError(
            f"{where}: parameter {key!r} must be a non-empty list of {', '.join(VOL_STATES)}"
        )
    return tuple(value)


def _roll(raw: Mapping[str, Any], where: str) -> dict[str, RollRate]:
    value = raw.get("roll_shock")
    if not isinstance(value, dict) or "*" not in value:
        raise InputError(
            f"{where}: 'roll_shock' must map settlement currencies (and '*') to "
            "{annualised_move_risk, min_annualised_move}"
        )
    out = {}
    for ccy, entry in value.items():
        if not isinstance(entry, dict):
            raise InputError(f"{where}: roll_shock[{ccy!r}] must be an object")
        rate = RollRate(
            annualised_move_risk=number(entry, "annualised_move_risk", where=where),
            min_annualised_move=number(entry, "min_annualised_move", where=where),
        )
        if rate.annualised_move_risk < 0 or rate.min_annualised_move < 0:
            raise InputError(f"{where}: roll_shock[{ccy!r}] rates must be >= 0")
        out[str(ccy)] = rate
    return out


def parse_grid(underlying: str, raw: Mapping[str, Any], where: str) -> GridParameters:
    """Validate one underlying's merged parameters; InputError names key and file."""
    here = f"{where}, underlying {underlying}"
    num = {
        k: number(raw, k, where=here)
        for k in (
            "price_range",
            "buckets_count",
            "volatility_range_up",
            "volatility_range_down",
            "min_volatility_for_shock_up",
            "short_term_vega_power",
            "long_term_vega_power",
            "vega_reference_days",
            "dte_floor_days",
            "min_delta_net_rate",
            "min_delta_hedged_rate",
            "mm_factor",
        )
    }
    if not 0 < num["price_range"] < 1:
        raise InputError(f"{here}: price_range must be in (0, 1), got {num['price_range']}")
    buckets = num["buckets_count"]
    if buckets < 1 or buckets != int(buckets):
        raise InputError(f"{here}: buckets_count must be a positive integer, got {buckets}")
    if any(num[k] < 0 for k in num):
        raise InputError(f"{here}: numeric parameters must be >= 0")
    if num["vega_reference_days"] <= 0 or num["dte_floor_days"] <= 0:
        raise InputError(f"{here}: vega_reference_days and dte_floor_days must be > 0")
    moves = _floats(raw, "extended_moves", here)
    weights = _floats(raw, "extended_weights", here)
    if len(moves) != len(weights):
        raise InputError(f"{here}: {len(moves)} extended_moves but {len(weights)} extended_weights")
    if any(m <= -1 or m == 0 for m in moves) or any(w < 0 for w in weights):
        raise InputError(f"{here}: extended moves must be > -1 and non-zero, weights >= 0")
    linear = raw.get("extended_linear", "full")
    if linear not in ("full", "boundary"):
        raise InputError(f"{here}: extended_linear must be 'full' or 'boundary', got {linear!r}")
    coin_price = raw.get("extended_coin_price", "today")
    if coin_price not in ("today", "boundary"):
        raise InputError(
            f"{here}: extended_coin_price must be 'today' or 'boundary', got {coin_price!r}"
        )
    extra = parse_addons(raw, here)
    return GridParameters(
        underlying=underlying,
        venue=str(raw.get("venue", "")),
        price_range=num["price_range"],
        buckets_count=int(buckets),
        vol_up=num["volatility_range_up"],
        vol_down=num["volatility_range_down"],
        min_vol_up=num["min_volatility_for_shock_up"],
        vega_power_short=num["short_term_vega_power"],
        vega_power_long=num["long_term_vega_power"],
        vega_reference_days=num["vega_reference_days"],
        dte_floor_days=num["dte_floor_days"],
        vol_states=_states(raw, "vol_states", here),
        edge_vol_states=_states(raw, "edge_vol_states", here),
        extended_moves=moves,
        extended_weights=weights,
        extended_linear=linear,
        roll=_roll(raw, here),
        min_delta_net_rate=num["min_delta_net_rate"],
        min_delta_hedged_rate=num["min_delta_hedged_rate"],
        mm_factor=num["mm_factor"],
        extended_coin_price=coin_price,
        **extra,
    )


def venue_parameters(params: ParameterSet, venue: str | None) -> tuple[str, ParameterSet]:
    """Overlay the ``venues[venue]`` section of the file on its defaults and underlyings.

    ``venue=None`` takes the file's ``default_venue`` (or no overlay at all).
    """
    raw = params.raw
    name = str(raw.get("default_venue", "")) if venue is None else venue
    venues = raw.get("venues", {})
    if not isinstance(venues, dict):
        raise InputError(f"parameter file {params.path}: 'venues' must be an object")
    if name not in venues:
        if venue is None and not name:
            return "", params
        raise InputError(
            f"parameter file {params.path}: unknown venue {name!r} "
            f"(it has {', '.join(sorted(venues)) or 'none'})"
        )
    section = venues[name]
    if not isinstance(section, dict):
        raise InputError(f"parameter file {params.path}: venues[{name!r}] must be an object")
    over = section.get("underlyings", {})
    if not isinstance(over, dict) or not all(isinstance(v, dict) for v in over.values()):
        raise InputError(
            f"parameter file {params.path}: venues[{name!r}].underlyings must map names to objects"
        )
    underlyings = {
        u: {**params.underlyings.get(u, {}), **over.get(u, {})} for u in params.underlyings
    }
    underlyings.update({u: dict(v) for u, v in over.items() if u not in underlyings})
    merged = ParameterSet(
        model=params.model,
        version=params.version,
        source=params.source,
        path=params.path,
        defaults={**params.defaults, **section.get("defaults", {}), "venue": name},
        underlyings=underlyings,
        raw=raw,
    )
    return name, merged


@dataclass(frozen=True, slots=True, kw_only=True)
class GridScenarios:
    """The scenarios of one underlying: moves, vol shifts, weights, names, kinds.

    ``vol_shift`` is the relative shift ``x`` before term shaping; ``is_up`` marks the
    scenarios whose shocked vol is floored at ``min_vol_up``; ``boundary[s]`` is the
    standard scenario whose P&L linear instruments repeat in extended scenario ``s`` when
    ``extended_linear == "boundary"`` (-1 for standard scenarios).
    """

    moves: FloatArray
    vol_shift: FloatArray
    weights: FloatArray
    is_up: NDArray[np.bool_]
    extended: NDArray[np.bool_]
    boundary: NDArray[np.int64]
    names: tuple[str, ...]


def _pct(m: float) -> str:
    text = f"{100.0 * m:+.4g}%"
    return text.replace("-", "−")


def grid_scenarios(g: GridParameters) -> GridScenarios:
    """Scenario list of one underlying (module docstring; METHODS §3.1-3.3)."""
    shift = {"up": g.vol_up, "none": 0.0, "down": -g.vol_down}
    k = g.buckets_count
    points = np.linspace(-g.price_range, g.price_range, 2 * k + 1)
    rows: list[tuple[float, VolState, float, bool]] = []
    for i, m in enumerate(points):
        states = g.edge_vol_states if i in (0, 2 * k) else g.vol_states
        rows += [(0.0 if i == k else float(m), s, 1.0, False) for s in states]
    rows += [(m, "up", w, True) for m, w in zip(g.extended_moves, g.extended_weights, strict=True)]
    edge = "up" if "up" in g.edge_vol_states else g.edge_vol_states[0]
    lo = next(j for j, r in enumerate(rows) if r[0] == points[0] and r[1] == edge)
    hi = next(j for j, r in enumerate(rows) if r[0] == points[-1] and r[1] == edge)
    return GridScenarios(
        moves=np.array([r[0] for r in rows]),
        vol_shift=np.array([shift[r[1]] for r in rows]),
        weights=np.array([r[2] for r in rows]),
        is_up=np.array([r[1] == "up" for r in rows]),
        extended=np.array([r[3] for r in rows]),
        boundary=np.array(
            [(-1 if not r[3] else (lo if r[0] < 0 else hi)) for r in rows], dtype=np.int64
        ),
        names=tuple(
            f"{g.underlying} {_pct(r[0])} vol {r[1]}" + (" (extended)" if r[3] else "")
            for r in rows
        ),
    )


def min_delta_floor(
    net_delta: FloatArray | float,
    gross_delta: FloatArray | float,
    spot: float,
    *,
    net_rate: float,
    hedged_rate: float,
) -> FloatArray:
    """Paradex minimum-delta requirement (METHODS §3.3, docs.paradex.trade)::

        MinDelta = (net_rate·|NetDelta| + hedged_rate·HedgedDelta)·Spot
        HedgedDelta = (GrossDelta − |NetDelta|)/2

    Deltas in underlying units (net = Σ qδ, gross = Σ |qδ|); Paradex rates 2% and 1%.
    """
    net = np.abs(np.asarray(net_delta, dtype=np.float64))
    hedged = np.maximum((np.asarray(gross_delta, dtype=np.float64) - net) / 2.0, 0.0)
    out: FloatArray = (net_rate * net + hedged_rate * hedged) * spot
    return out


def info(raw: Mapping[str, Any]) -> dict[str, Any]:
    """The documentation keys of an entry (``source``, ``sources``, ``notes``)."""
    return {k: raw[k] for k in _INFO_KEYS if k in raw}
