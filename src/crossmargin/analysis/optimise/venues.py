"""Venues (accounts) an allocation may use: each with its own margin model and the rules for
which instruments it may hold.

A venues file (JSON, every key checked: an unknown key, model or model parameter is an error
naming the file and the venue)::

    {"description": "a CME SPAN account, a Deribit PM account and a cross-margined prime account",
     "venues": [
       {"name": "cme", "model": "span", "eligible": {"styles": ["cme"]}},
       {"name": "deribit", "model": "pm_grid", "parameters": {"mode": "cross"},
        "eligible": {"styles": ["deribit"]}},
       {"name": "prime", "model": "es"}
     ]}

``eligible`` keys (each a list; an instrument must match every key given, any value within
one): ``styles`` (contract style: ``deribit``, ``cme``, ``occ``, ``plain``), ``underlyings``,
``asset_classes`` (the contract table's: ``crypto``, ``equity_index``, ``etf``, ``equity``),
``kinds`` (``future``, ``perpetual``, ``option``, ``spot``), ``products`` (contract table ids)
and ``symbols``. No ``eligible``: the venue may hold anything.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from crossmargin.errors import InputError
from crossmargin.instruments import Instrument
from crossmargin.models import MarginModel, get_model, model_names

_RULE_KEYS = ("styles", "underlyings", "asset_classes", "kinds", "products", "symbols")


class _Eligible(BaseModel):
    model_config = ConfigDict(extra="forbid")
    styles: list[str] | None = None
    underlyings: list[str] | None = None
    asset_classes: list[str] | None = None
    kinds: list[str] | None = None
    products: list[str] | None = None
    symbols: list[str] | None = None


class _Venue(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    model: str
    parameters: dict[str, Any] = {}
    eligible: _Eligible | None = None


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid")
    description: str = ""
    venues: list[_Venue]


@dataclass(frozen=True, slots=True, kw_only=True)
class Venue:
    """One venue: its model (name and parameters) and eligibility rules."""

    name: str
    model: str
    parameters: Mapping[str, Any] = field(default_factory=dict)
    rules: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def eligible(self, inst: Instrument) -> bool:
        """Whether the venue may hold ``inst``."""
        facts = {
            "styles": inst.spec.style,
            "underlyings": inst.underlying,
            "asset_classes": inst.asset_class,
            "kinds": inst.kind,
            "products": inst.spec.product,
            "symbols": inst.symbol,
        }
        return all(facts[k] in allowed for k, allowed in self.rules.items())

    def build(self, history: Any = None) -> MarginModel:
        """The venue's model (historical models share ``history``)."""
        kwargs = dict(self.parameters)
        if self.model in ("es", "hvar") and history is not None:
            kwargs.setdefault("history", history)
        return get_model(self.model, **kwargs)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "name": self.name,
            "model": self.model,
            "parameters": dict(self.parameters),
            "eligible": {k: list(v) for k, v in self.rules.items()},
        }


def _error(label: str, bad: ValidationError) -> InputError:
    first = bad.errors()[0]
    where = ".".join(str(p) for p in first["loc"])
    if first["type"] == "extra_forbidden":
        return InputError(f"venues file {label}: unknown key {where!r}")
    return InputError(f"venues file {label}: {where}: {first['msg']}")


def parse_venues(raw: Any, label: str = "venues") -> tuple[Venue, ...]:
    """Venues from the file's content (module docstring); clear errors otherwise."""
    try:
        parsed = _File.model_validate(raw)
    except ValidationError as bad:
        raise _error(label, bad) from None
    if not parsed.venues:
        raise InputError(f"venues file {label}: 'venues' is empty")
    known = model_names()
    out = []
    for k, v in enumerate(parsed.venues):
        where = f"venues file {label}: venue {k + 1} ({v.name!r})"
        if v.model not in known or v.model == "conservative":
            choices = ", ".join(n for n in known if n != "conservative")
            raise InputError(f"{where}: unknown model {v.model!r}: choose one of {choices}")
        _check_parameters(v.model, v.parameters, where)
        rules: dict[str, tuple[str, ...]] = {}
        if v.eligible is not None:
            for key in _RULE_KEYS:
                values = getattr(v.eligible, key)
                if values is not None:
                    rules[key] = tuple(values)
        out.append(Venue(name=v.name, model=v.model, parameters=dict(v.parameters), rules=rules))
    names = [v.name for v in out]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise InputError(f"venues file {label}: venue name(s) {', '.join(dupes)} used twice")
    return tuple(out)


def _check_parameters(model: str, parameters: Mapping[str, Any], where: str) -> None:
    """Build the model once with ``parameters``: an unknown or bad one is an InputError."""
    if "history" in parameters:
        raise InputError(f"{where}: 'history' is not a parameter (the market history is shared)")
    try:
        get_model(model, **parameters)
    except TypeError as bad:
        raise InputError(f"{where}: bad parameters for model {model}: {bad}") from None
    except InputError as bad:
        raise InputError(f"{where}: {bad}") from None


def load_venues(path: str | Path) -> tuple[Venue, ...]:
    """Read and check a venues file."""
    label = str(path)
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as bad:
        raise InputError(f"venues file {label}: cannot read ({bad.strerror})") from None
    except json.JSONDecodeError as bad:
        raise InputError(f"venues file {label}: not valid JSON ({bad})") from None
    return parse_venues(raw, label)


__all__ = ["Venue", "load_venues", "parse_venues"]
