"""Schemas of the model parameter files (``models/params/*.json``), one per model.

Each schema describes the file's real structure: the top-level metadata, ``defaults``, the
per-underlying entries (and the model's own blocks: ``inter_spreads`` of ``span``, ``venues``
and ``collateral_haircuts`` of ``pm_grid``, ``asset_classes`` of ``basis``). Unknown keys are
errors at every level; a value the model cannot use (a string for a number, a method the
model does not implement) is an error listing what is accepted. Range checks that depend on
several keys after ``defaults`` and the underlying's entry are overlaid (``span``'s
``extreme_move_multiple × price_scan_range < 1``, ``pm_grid``'s moves and weights) stay with
the model, which also applies them to keyword overrides.

An underlying's entry may override any key of ``defaults`` (the models read
``{**defaults, **entry}``), so the entry schemas hold the default keys too.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator

from crossmargin.validation import Strict

Number = Annotated[float, Field(allow_inf_nan=False)]
NonNegative = Annotated[float, Field(ge=0.0, allow_inf_nan=False)]
Positive = Annotated[float, Field(gt=0.0, allow_inf_nan=False)]
Fraction = Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)]
Count = Annotated[int, Field(ge=1)]
Names = Annotated[list[str], Field(min_length=2, max_length=2)]
IntPair = Annotated[list[int], Field(min_length=2, max_length=2)]
Ratio = Annotated[list[Positive], Field(min_length=2, max_length=2)]
Sources = dict[str, str]


class ParameterFile(Strict):
    """Metadata every parameter file carries (``model`` is checked by the loader)."""

    model: str
    version: str
    source: str = ""
    effective: str = ""
    description: str = ""


# --------------------------------------------------------------------------- rules
class RulesEntry(Strict):
    """Defaults or one underlying of ``rules.json`` (docs/models/rules.md)."""

    asset_class: str | None = None
    futures_im: NonNegative | None = None
    futures_mm: NonNegative | None = None
    spot_im: NonNegative | None = None
    spot_mm: NonNegative | None = None
    option_rule: Literal["cboe", "deribit"] | None = None
    option_base: NonNegative | None = None
    option_min: NonNegative | None = None
    option_im_base: NonNegative | None = None
    option_im_min: NonNegative | None = None
    option_mm_base: NonNegative | None = None
    note: str | None = None
    source: str | None = None


class RulesFile(ParameterFile):
    """``rules.json``."""

    notes: Sources = Field(default_factory=dict)
    defaults: RulesEntry = RulesEntry()
    underlyings: dict[str, RulesEntry]


# --------------------------------------------------------------------------- span
class ScanPointDef(Strict):
    """One SPAN scenario: price ``[num, den]`` of PSR (of X·PSR when extreme), vol sign."""

    price: IntPair
    vol: Literal[-1, 0, 1] = 0
    extreme: bool = False


class DeltaPointDef(Strict):
    """A composite-delta point: price ``[num, den]`` of PSR and its weight."""

    price: IntPair
    weight: NonNegative


class IntraSpreadDef(Strict):
    """A calendar spread between two tiers: ``flat`` charges ``rate`` per spread formed,
    ``wpr`` charges ``rate`` of the CC's weighted price risk on each leg, ``pmps`` charges
    ``rate + per_month_rate · months`` per spread (:mod:`crossmargin.models.span_spreads`)."""

    legs: Names
    ratio: Ratio = Field(default_factory=lambda: [1.0, 1.0])
    rate: NonNegative
    method: Literal["flat", "wpr", "pmps"] = "flat"
    per_month_rate: NonNegative = 0.0
    months: NonNegative = 0.0
    rationale: str = ""


SpreadLegs = Annotated[list[str], Field(min_length=2, max_length=4)]
SpreadRatios = Annotated[list[Positive], Field(min_length=2, max_length=4)]


class InterSpreadDef(Strict):
    """A spread between CCs: ``delta`` credits each leg's weighted price risk (two legs);
    ``scanning`` scans the legs together, gains counted at ``rate`` (2-4 legs, ``sides``
    A/B, charged on ``target``). ``super`` spreads are formed before intra spreads."""

    legs: SpreadLegs
    ratio: SpreadRatios | None = None
    rate: Fraction
    method: Literal["delta", "scanning"] = "delta"
    is_super: bool = Field(default=False, alias="super")
    sides: Annotated[list[Literal["A", "B"]], Field(min_length=2, max_length=4)] | None = None
    target: str | None = None
    rationale: str = ""
    source: str = ""


class SpotMonthDef(Strict):
    """Spot (delivery) month charge of a CC: per unit of delta left outright in ``tiers``,
    and per unit of spot-tier delta in intra spreads (CME type "4" record)."""

    tiers: Annotated[list[str], Field(min_length=1)]
    outright_rate: NonNegative
    spread_rate: NonNegative = 0.0
    rationale: str = ""


class SpanCC(Strict):
    """The keys of one combined commodity (see :mod:`crossmargin.models.span_params`)."""

    price_scan_range: Positive | None = None
    vol_scan_range: NonNegative | None = None
    vol_scan_type: Literal["absolute", "relative"] | None = None
    extreme_move_multiple: NonNegative | None = None
    extreme_cover_fraction: Fraction | None = None
    look_ahead_days: NonNegative | None = None
    scan_points: Annotated[list[ScanPointDef], Field(min_length=1)] | None = None
    delta_points: Annotated[list[DeltaPointDef], Field(min_length=1)] | None = None
    tier_max_days: list[Positive] | None = None
    intra_spreads: list[IntraSpreadDef] | None = None
    short_option_minimum: NonNegative | None = None
    som_method: Literal["gross", "max"] | None = None
    im_ratio: Positive | None = None
    delta_unit: Literal["notional", "contracts"] | None = None
    spot_month: SpotMonthDef | None = None


class SpanDefaults(SpanCC):
    """``defaults`` of ``span.json``; ``rationale`` maps keys to their justification."""

    rationale: Sources = Field(default_factory=dict)


class SpanUnderlying(SpanCC):
    """One underlying of ``span.json``."""

    rationale: str = ""


class SpanFile(ParameterFile):
    """``span.json``."""

    defaults: SpanDefaults = SpanDefaults()
    underlyings: dict[str, SpanUnderlying]
    inter_spreads: list[InterSpreadDef] = Field(default_factory=list)


# --------------------------------------------------------------------------- pm_grid
VolState = Literal["up", "none", "down"]


class RollShock(Strict):
    """Roll/basis shock rates of one settlement currency."""

    annualised_move_risk: NonNegative
    min_annualised_move: NonNegative


class SettlementCurrencyTerms(Strict):
    """Per settlement currency (Deribit ``model_params.currency``): extended dampener (USD),
    share of scenario gains that offsets losses, and its cap (USD)."""

    extended_dampener: NonNegative | None = None
    pnl_offset: Fraction | None = None
    max_offsetable_pnl: NonNegative | None = None
    source: str | None = None


class MinChargeTier(Strict):
    """One tier of a tiered minimum charge: multiplier of the raw charge up to ``up_to`` USD
    (``null``: no upper bound)."""

    up_to: Positive | None = None
    multiplier: Positive


class VenueParams(Strict):
    """Venue-published numbers kept for reference (not used by the model)."""

    delta_total_liq_shock_threshold: Number | None = None
    extended_dampener: Number | None = None
    extended_table_factor: Number | None = None
    haircut: Number | None = None
    m_inc: Number | None = None
    max_delta_shock: Number | None = None
    max_offsetable_pnl: Number | None = None
    pnl_offset: Number | None = None
    usd_max_offsetable_pnl: Number | None = None
    usd_pnl_offset: Number | None = None
    note: str | None = None


class GridEntry(Strict):
    """Defaults, an underlying, or a venue overlay of ``pm_grid.json`` (docs/models/pm_grid.md)."""

    venue: str | None = None
    price_range: Positive | None = None
    buckets_count: Count | None = None
    volatility_range_up: NonNegative | None = None
    volatility_range_down: NonNegative | None = None
    min_volatility_for_shock_up: NonNegative | None = None
    short_term_vega_power: NonNegative | None = None
    long_term_vega_power: NonNegative | None = None
    vega_reference_days: Positive | None = None
    dte_floor_days: Positive | None = None
    vol_states: Annotated[list[VolState], Field(min_length=1)] | None = None
    edge_vol_states: Annotated[list[VolState], Field(min_length=1)] | None = None
    extended_moves: list[Number] | None = None
    extended_weights: list[NonNegative] | None = None
    extended_linear: Literal["full", "boundary"] | None = None
    roll_shock: dict[str, RollShock] | None = None
    min_delta_net_rate: NonNegative | None = None
    min_delta_hedged_rate: NonNegative | None = None
    mm_factor: NonNegative | None = None
    im_factor: Positive | None = None
    extended_coin_price: Literal["today", "boundary"] | None = None
    settlement_currencies: dict[str, SettlementCurrencyTerms] | None = None
    max_delta_shock: NonNegative | None = None
    delta_shock_threshold: Positive | None = None
    im_increment_rate: NonNegative | None = None
    correlation_set: bool | None = None
    correlation_contingency: Fraction | None = None
    min_charge_rate: NonNegative | None = None
    min_charge_tiers: Annotated[list[MinChargeTier], Field(min_length=1)] | None = None
    source: str | None = None
    sources: Sources | None = None
    notes: str | None = None
    venue_params: VenueParams | None = None


Mode = Literal["segregated", "cross"]


class VenueSection(Strict):
    """``venues.<name>``: an overlay of defaults and underlyings, and the venue's mode."""

    source: str = ""
    mode: Mode | None = None
    defaults: GridEntry = GridEntry()
    underlyings: dict[str, GridEntry] = Field(default_factory=dict)


class PmGridFile(ParameterFile):
    """``pm_grid.json``."""

    default_venue: str = ""
    default_mode: Mode = "cross"
    defaults: GridEntry = GridEntry()
    collateral_haircuts: dict[str, float | str] = Field(default_factory=dict)
    underlyings: dict[str, GridEntry]
    venues: dict[str, VenueSection] = Field(default_factory=dict)

    @field_validator("collateral_haircuts")
    @classmethod
    def _haircuts(cls, value: dict[str, float | str]) -> dict[str, float | str]:
        for key, item in value.items():
            if key == "source":
                if not isinstance(item, str):
                    raise ValueError("'source' of collateral_haircuts must be text")
            elif isinstance(item, str) or not 0.0 <= float(item) <= 1.0:
                raise ValueError(f"haircut of {key} must be a number in [0, 1], got {item!r}")
        return value


# --------------------------------------------------------------------------- es / hvar
class EsAddons(Strict):
    """Liquidity and concentration fields of an ``es.json`` layer
    (:mod:`crossmargin.models.var_addon_params` gives units and meaning)."""

    half_spread: NonNegative | None = None
    vol_half_spread: NonNegative | None = None
    participation: Annotated[float, Field(gt=0.0, le=1.0)] | None = None
    adv_usd: Positive | None = None
    adv_units: Positive | None = None
    adv_volume_units: Literal["usd", "units"] | None = None
    adv_window: Count | None = None
    adv_days_per_year: Positive | None = None
    option_adv_units: Positive | None = None
    option_vega_ref_days: Positive | None = None
    note: str | None = None
    source: str | None = None


class EsUnderlying(EsAddons):
    """One underlying of ``es.json``: liquidity and concentration inputs."""


class EsDefaults(EsUnderlying):
    """``defaults`` of ``es.json`` (docs/models/es.md)."""

    confidence: Annotated[float, Field(gt=0.0, lt=1.0)] | None = None
    lookback: str | None = None
    mpor: Count | None = None
    method: Literal["hs", "fhs"] | None = None
    horizon_method: Literal["overlapping", "sqrt"] | None = None
    lam: Annotated[float, Field(gt=0.0, lt=1.0)] | None = None
    ewma_seed_window: Count | None = None
    ewma_burn_in: Annotated[int, Field(ge=0)] | None = None
    max_fill_days: Annotated[int, Field(ge=0)] | None = None
    apc_buffer: NonNegative | None = None
    apc_stress_weight: Fraction | None = None
    apc_floor_lookback: str | None = None
    maintenance_ratio: Annotated[float, Field(gt=0.0, le=1.0)] | None = None
    delta_bump: Positive | None = None
    vega_bump: Positive | None = None


class EsFile(ParameterFile):
    """``es.json`` (shared by ``es`` and ``hvar``)."""

    defaults: EsDefaults = EsDefaults()
    underlyings: dict[str, EsUnderlying]
    venues: dict[str, dict[str, EsAddons]] = Field(default_factory=dict)


# --------------------------------------------------------------------------- basis
class BasisShock(Strict):
    """An asset class's or an underlying's basis and funding shocks (decimals a year)."""

    basis_shock: NonNegative | None = None
    funding_shock: NonNegative | None = None
    source: str | None = None
    sources: Sources | None = None
    note: str | None = None


class BasisDefaults(Strict):
    """``defaults`` of ``basis.json``: the reference horizon of the shocks."""

    reference_days: Positive
    source: str | None = None
    sources: Sources | None = None
    note: str | None = None


class BasisFile(ParameterFile):
    """``basis.json`` (docs/models/basis.md)."""

    defaults: BasisDefaults
    asset_classes: dict[str, BasisShock] = Field(default_factory=dict)
    underlyings: dict[str, BasisShock]


SCHEMAS: dict[str, type[ParameterFile]] = {
    "rules": RulesFile,
    "span": SpanFile,
    "pm_grid": PmGridFile,
    "es": EsFile,
    "basis": BasisFile,
}

__all__ = [
    "SCHEMAS",
    "BasisFile",
    "EsFile",
    "ParameterFile",
    "PmGridFile",
    "RulesFile",
    "SpanFile",
]
