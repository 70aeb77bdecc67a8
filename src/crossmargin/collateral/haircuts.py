"""Collateral haircut schedules per venue, as data (``crossmargin/data/haircuts.json``).

A venue's schedule gives a haircut ``h`` in [0, 1) per asset kind and may override it per
asset; a holding's value after haircut is ``value·(1 − h)`` for a positive balance and the
full value for a borrowed (negative) one. Kinds or assets a venue does not accept
(``not_accepted``) count 0 there (a positive balance). The ``house`` schedule serves holdings
with no venue and venues the file does not list. The file is validated strictly: an unknown
key, a kind that is not one of ``fiat``, ``stablecoin``, ``coin``, ``security``, or a
haircut outside [0, 1) is an :class:`~crossmargin.errors.InputError` naming the file and the
key.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from crossmargin.collateral.holdings import ASSET_KINDS, asset_kind
from crossmargin.errors import InputError
from crossmargin.files import parse_json, read_text

HOUSE = "house"
_SHIPPED = "data/haircuts.json"


class _Venue(BaseModel):
    model_config = ConfigDict(extra="forbid")
    source: str
    kinds: dict[str, float]
    assets: dict[str, float] = Field(default_factory=dict)
    not_accepted: list[str] = Field(default_factory=list)


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid")
    description: str = ""
    version: str
    venues: dict[str, _Venue]


@dataclass(frozen=True, slots=True, kw_only=True)
class HaircutSchedule:
    """Haircuts per venue (see the module docstring); ``path`` names the file; ``sha256``
    is :func:`schedule_digest` of ``venues``."""

    path: str
    version: str
    venues: Mapping[str, Mapping[str, Any]]
    sha256: str

    def identity(self) -> dict[str, str]:
        """Which schedule this is, as a result's parameters report it and a recorded run's
        inputs hash reads it: its file, version and the digest of its venues' figures (a
        schedule edited without a new version is another schedule all the same)."""
        return {"file": self.path, "version": self.version, "sha256": self.sha256}

    def accepted(self, asset: str, venue: str = "") -> bool:
        """Whether ``venue`` accepts ``asset`` as collateral."""
        schedule = self.venues.get(venue or HOUSE) or self.venues[HOUSE]
        refused = schedule["not_accepted"]
        return asset not in refused and asset_kind(asset) not in refused

    def haircut(self, asset: str, venue: str = "") -> float:
        """The haircut of ``asset`` posted at ``venue`` (house schedule if none); 1 where the
        venue does not accept it."""
        if not self.accepted(asset, venue):
            return 1.0
        schedule = self.venues.get(venue or HOUSE) or self.venues[HOUSE]
        assets: Mapping[str, float] = schedule["assets"]
        if asset in assets:
            return float(assets[asset])
        return float(schedule["kinds"][asset_kind(asset)])

    def source(self, venue: str = "") -> str:
        """Where the venue's figures come from."""
        schedule = self.venues.get(venue or HOUSE) or self.venues[HOUSE]
        return str(schedule["source"])


def schedule_digest(venues: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of ``venues`` as compact JSON with sorted keys: the same figures give
    the same digest whatever the file's layout or key order."""
    text = json.dumps(venues, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _error(label: str, bad: ValidationError) -> InputError:
    first = bad.errors()[0]
    where = ".".join(str(p) for p in first["loc"])
    if first["type"] == "extra_forbidden":
        return InputError(f"haircut file {label}: unknown key {where!r}")
    return InputError(f"haircut file {label}: {where}: {first['msg']}")


def load_haircuts(path: str | Path | HaircutSchedule | None = None) -> HaircutSchedule:
    """The shipped schedule, or the file at ``path`` (same shape; a schedule is returned as
    it is); errors name file and key. The shipped schedule is read once per process (a
    margin call without a schedule of its own reads it: ~0.25 ms each time before)."""
    if isinstance(path, HaircutSchedule):
        return path
    if path is None:
        return _shipped()
    return _parsed(str(path), read_text(path, what="haircut"))


@functools.cache
def _shipped() -> HaircutSchedule:
    text = resources.files("crossmargin").joinpath(_SHIPPED).read_text("utf-8")
    return _parsed(f"crossmargin/{_SHIPPED}", text)


def _parsed(label: str, text: str) -> HaircutSchedule:
    """The schedule written in ``text`` (the file ``label``), validated."""
    try:
        parsed = _File.model_validate(parse_json(text, label, what="haircut"))
    except ValidationError as bad:
        raise _error(label, bad) from None
    if HOUSE not in parsed.venues:
        raise InputError(f"haircut file {label}: needs a {HOUSE!r} venue (the default schedule)")
    for name, venue in parsed.venues.items():
        for kind in ASSET_KINDS:
            if kind not in venue.kinds:
                raise InputError(f"haircut file {label}: venues.{name}.kinds lacks {kind!r}")
        for name_of_kind in venue.kinds:
            if name_of_kind not in ASSET_KINDS:
                raise InputError(
                    f"haircut file {label}: unknown asset kind venues.{name}.kinds.{name_of_kind} "
                    f"(use {', '.join(ASSET_KINDS)})"
                )
        for where, table in (("kinds", venue.kinds), ("assets", venue.assets)):
            for key, value in table.items():
                if not 0.0 <= value < 1.0:
                    raise InputError(
                        f"haircut file {label}: venues.{name}.{where}.{key} is {value!r}; a "
                        "haircut must lie in [0, 1) (list an asset the venue refuses under "
                        "'not_accepted')"
                    )
        listed = [*venue.assets, *(a for a in venue.not_accepted if a not in ASSET_KINDS)]
        for asset in listed:
            try:
                asset_kind(asset)
            except InputError as bad:
                raise InputError(f"haircut file {label}: venues.{name}: {bad}") from None
    venues = {name: v.model_dump() for name, v in parsed.venues.items()}
    return HaircutSchedule(
        path=label, version=parsed.version, venues=venues, sha256=schedule_digest(venues)
    )


__all__ = ["HOUSE", "HaircutSchedule", "load_haircuts", "schedule_digest"]
