"""Cascade parameters as data: ``crossmargin/data/cascade.json`` (or a file of the same shape).

Validated with pydantic, ``extra="forbid"``: an unknown key, a value out of range (an impact
exponent outside (0, 1], a depth collapse outside [0, 1), a negative layer) or a malformed
waterfall is an :class:`~crossmargin.errors.InputError` naming the file, the key path and the
value, every problem of the file in one message.

Blocks (units in brackets; the file's ``description`` repeats them):

* ``engine``: ``max_iterations`` of the fixed-point loop of one step; ``steps_per_day``;
* ``impact``: ``coefficient`` Y in (0, 10], ``exponent`` δ in (0, 1], ``depth_collapse`` c in
  [0, 1), ``depth``: ``market`` (the underlying's market-wide ADV) or ``venue`` (the ADV of
  the venues holding the positions) (:mod:`crossmargin.analysis.cascade.impact`);
* ``venues``: per venue, ``maintenance_rate`` and ``initial_rate`` per underlying or asset class
  [decimal of delta notional], ``liquidation`` rules (``partial``, ``buffer``, ``max_partial``,
  ``fee_rate``, ``surplus_to_fund``);
* ``waterfalls``: the ordered layers of a crypto venue (``venue``) and of a CCP (``ccp``);
* ``default_fund``: Cover-2 sizing (``sizing``: ``cover2`` or ``amount``) and its scenarios;
* ``replays``: named crisis replays (days, depth collapse, stablecoin depegs);
* ``intraday_proxies``: an underlying whose history has closes only borrows the intraday
  shape (open, high, low) of another series (SPX from SPY).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from crossmargin.errors import InputError

SHIPPED = "data/cascade.json"
HOUSE = "house"
Rate = Annotated[float, Field(ge=0.0, lt=1.0, allow_inf_nan=False)]
MarginRate = Annotated[float, Field(gt=0.0, lt=1.0, allow_inf_nan=False)]
Amount = Annotated[float, Field(ge=0.0, allow_inf_nan=False)]
VENUE_LAYERS = ("defaulter_margin", "insurance_fund", "adl")
CCP_LAYERS = (
    "defaulter_margin",
    "defaulter_default_fund",
    "skin_in_the_game",
    "mutualised_default_fund",
    "assessments",
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Engine(_Strict):
    """Bounds of the loop: iterations per step and intraday steps per day."""

    max_iterations: int = Field(default=200, ge=1, le=100_000)
    steps_per_day: int = Field(default=12, ge=1, le=1440)


class Impact(_Strict):
    """The impact law's parameters (:mod:`crossmargin.analysis.cascade.impact`)."""

    coefficient: float = Field(default=1.0, gt=0.0, le=10.0, allow_inf_nan=False)
    exponent: float = Field(default=0.5, gt=0.0, le=1.0, allow_inf_nan=False)
    depth_collapse: float = Field(default=0.0, ge=0.0, lt=1.0, allow_inf_nan=False)
    depth: Literal["market", "venue"] = "market"
    source: str = ""


class Liquidation(_Strict):
    """How a venue liquidates a unit in breach.

    ``partial``: close only the fraction that restores ``equity ≥ (1 + buffer)·MM`` (else the
    whole unit); ``max_partial``: partial liquidations of one unit before the next is total;
    ``fee_rate``: liquidation fee on the closed delta notional, paid to the insurance fund
    out of the unit's remaining equity only; ``surplus_to_fund``: a fully liquidated unit's
    remaining equity goes to the insurance fund (Binance) instead of back to the trader.
    """

    partial: bool = True
    buffer: float = Field(default=0.0, ge=0.0, le=10.0, allow_inf_nan=False)
    max_partial: int = Field(default=3, ge=0, le=1000)
    fee_rate: Rate = 0.0
    surplus_to_fund: bool = False


class Venue(_Strict):
    """One venue's margin rates (per underlying or asset class) and liquidation rules."""

    source: str = ""
    maintenance_rate: dict[str, MarginRate]
    initial_rate: dict[str, MarginRate]
    liquidation: Liquidation = Field(default_factory=Liquidation)

    @model_validator(mode="after")
    def _im_covers_mm(self) -> Venue:
        for key, mm in self.maintenance_rate.items():
            im = self.initial_rate.get(key)
            if im is not None and im < mm:
                raise ValueError(
                    f"initial_rate.{key} ({im}) is below maintenance_rate.{key} ({mm})"
                )
        return self

    def rates(self, underlying: str, asset_class: str) -> tuple[float, float] | None:
        """``(maintenance, initial)`` of ``underlying`` (its entry over its asset class's)."""
        mm = self.maintenance_rate.get(underlying, self.maintenance_rate.get(asset_class))
        im = self.initial_rate.get(underlying, self.initial_rate.get(asset_class))
        return None if mm is None or im is None else (mm, im)


class Layer(_Strict):
    """One layer of a waterfall; which size fields apply depends on ``layer``."""

    layer: Literal[
        "defaulter_margin",
        "insurance_fund",
        "adl",
        "defaulter_default_fund",
        "skin_in_the_game",
        "mutualised_default_fund",
        "assessments",
    ]
    amount: Amount | None = None
    fraction_of_open_interest: Amount | None = None
    fraction_of_default_fund: Amount | None = None
    multiple_of_contribution: Amount | None = None
    method: Literal["queue", "pro-rata"] | None = None
    granularity: Literal["position", "exact"] | None = None

    @model_validator(mode="after")
    def _sizes(self) -> Layer:
        sized = {
            "insurance_fund": ("amount", "fraction_of_open_interest"),
            "skin_in_the_game": ("amount", "fraction_of_default_fund"),
            "assessments": ("multiple_of_contribution",),
        }.get(self.layer, ())
        given = [
            k
            for k in (
                "amount",
                "fraction_of_open_interest",
                "fraction_of_default_fund",
                "multiple_of_contribution",
            )
            if getattr(self, k) is not None
        ]
        wrong = [k for k in given if k not in sized]
        if wrong:
            raise ValueError(f"layer {self.layer} takes no {', '.join(wrong)}")
        if sized and len(given) != 1:
            raise ValueError(f"layer {self.layer} needs exactly one of {', '.join(sized)}")
        if (self.method or self.granularity) and self.layer != "adl":
            raise ValueError(f"method/granularity apply to the adl layer only, not {self.layer}")
        return self


def _ordered(layers: list[Layer], allowed: tuple[str, ...], name: str) -> list[Layer]:
    names = [x.layer for x in layers]
    bad = [n for n in names if n not in allowed]
    if bad:
        raise ValueError(f"{name} waterfall: unknown layer(s) {', '.join(bad)} (use {allowed})")
    if len(set(names)) != len(names):
        raise ValueError(f"{name} waterfall: a layer appears twice")
    if not names or names[0] != "defaulter_margin":
        raise ValueError(f"{name} waterfall: the first layer must be defaulter_margin")
    return layers


class Waterfalls(_Strict):
    """The ordered layers of a crypto venue and of a CCP."""

    venue: list[Layer]
    ccp: list[Layer]
    source: str = ""

    @field_validator("venue")
    @classmethod
    def _venue(cls, value: list[Layer]) -> list[Layer]:
        return _ordered(value, VENUE_LAYERS, "venue")

    @field_validator("ccp")
    @classmethod
    def _ccp(cls, value: list[Layer]) -> list[Layer]:
        return _ordered(value, CCP_LAYERS, "ccp")


class StressMove(_Strict):
    """A Cover-2 scenario: relative moves per underlying or asset class (> −1)."""

    name: str
    moves: dict[str, Annotated[float, Field(gt=-1.0, allow_inf_nan=False)]]


class DefaultFund(_Strict):
    """Cover-2 sizing of the default fund, or a fixed ``amount`` [USD]."""

    sizing: Literal["cover2", "amount"] = "cover2"
    amount: Amount | None = None
    source: str = ""
    scenarios: list[StressMove] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self) -> DefaultFund:
        if self.sizing == "amount" and self.amount is None:
            raise ValueError("sizing 'amount' needs an amount")
        if self.sizing == "cover2" and not self.scenarios:
            raise ValueError("sizing 'cover2' needs at least one scenario")
        return self


DepegPoint = tuple[
    Annotated[float, Field(ge=0.0, le=1.0)], Annotated[float, Field(gt=0.0, le=10.0)]
]


class Replay(_Strict):
    """A named replay: real days, the depth collapse, stablecoin prices within each day."""

    title: str
    days: list[str] = Field(min_length=1, max_length=31)
    depth_collapse: float = Field(default=0.0, ge=0.0, lt=1.0, allow_inf_nan=False)
    depegs: dict[str, list[DepegPoint]] = Field(default_factory=dict)
    source: str = ""


class CascadeParams(_Strict):
    """Every parameter of a cascade run (see the module docstring)."""

    description: str = ""
    version: str
    engine: Engine = Field(default_factory=Engine)
    impact: Impact = Field(default_factory=Impact)
    venues: dict[str, Venue]
    waterfalls: Waterfalls
    default_fund: DefaultFund
    replays: dict[str, Replay] = Field(default_factory=dict)
    intraday_proxies: dict[str, str] = Field(default_factory=dict)
    path: str = ""

    @field_validator("venues")
    @classmethod
    def _house(cls, value: dict[str, Venue]) -> dict[str, Venue]:
        if HOUSE not in value:
            raise ValueError(f"needs a {HOUSE!r} venue (the rates of venues not listed)")
        return value

    def venue(self, name: str) -> Venue:
        """The rules of venue ``name`` (the house rules when it is not listed)."""
        return self.venues.get(name) or self.venues[HOUSE]

    def venue_rates(self, venue: str, underlying: str, asset_class: str) -> tuple[float, float]:
        """``(maintenance, initial)`` rates; InputError naming the venue and key if none."""
        name = venue if venue in self.venues else HOUSE
        found = self.venues[name].rates(underlying, asset_class)
        if found is None:
            raise InputError(
                f"cascade parameters {self.path}: venues.{name} has no maintenance_rate and "
                f"initial_rate for {underlying} or its asset class {asset_class}; add them"
            )
        return found

    def with_impact(self, **changes: Any) -> CascadeParams:
        """A copy with impact fields replaced (validated: out-of-range values are errors)."""
        return _validated(
            {**self.model_dump(), "impact": {**self.impact.model_dump(), **changes}}, self.path
        )

    def replaced(self, **blocks: Any) -> CascadeParams:
        """A copy with whole blocks replaced (validated)."""
        return _validated({**self.model_dump(), **blocks}, self.path)


def _value(doc: Any, loc: tuple[Any, ...]) -> Any:
    node = doc
    for key in loc:
        try:
            node = node[key]
        except (KeyError, IndexError, TypeError):
            return None
    return node


def validation_message(label: str, bad: ValidationError, doc: Any) -> str:
    """One line per problem: ``label: key.path: reason (value …)``."""
    lines = []
    for err in bad.errors():
        where = ".".join(str(p) for p in err["loc"]) or "(top level)"
        value = _value(doc, tuple(err["loc"]))
        reason = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
        shown = "" if value is None or isinstance(value, dict | list) else f" (value {value!r})"
        lines.append(f"{where}: {reason}{shown}")
    return f"{label}: " + "; ".join(lines)


def _validated(doc: Mapping[str, Any], label: str) -> CascadeParams:
    clean = {k: v for k, v in doc.items() if k != "path"}
    try:
        params = CascadeParams.model_validate(clean)
    except ValidationError as bad:
        raise InputError(validation_message(f"cascade parameters {label}", bad, clean)) from None
    return params.model_copy(update={"path": label})


def load_params(path: str | Path | None = None) -> CascadeParams:
    """The shipped parameters, or the file at ``path`` (same shape)."""
    if path is None:
        label = f"crossmargin/{SHIPPED}"
        text = resources.files("crossmargin").joinpath(SHIPPED).read_text("utf-8")
    else:
        label = str(path)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as bad:
            raise InputError(f"cascade parameters {label}: cannot read ({bad.strerror})") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as bad:
        raise InputError(f"cascade parameters {label}: not valid JSON ({bad})") from None
    if not isinstance(doc, dict):
        raise InputError(f"cascade parameters {label}: expected a JSON object")
    return _validated(doc, label)


def finite(value: float, what: str) -> float:
    """``value`` if finite, else InputError naming ``what``."""
    if not math.isfinite(value):
        raise InputError(f"{what} must be finite, got {value}")
    return value


__all__ = [
    "CCP_LAYERS",
    "VENUE_LAYERS",
    "CascadeParams",
    "DefaultFund",
    "Engine",
    "Impact",
    "Layer",
    "Liquidation",
    "Replay",
    "StressMove",
    "Venue",
    "Waterfalls",
    "load_params",
    "validation_message",
]
