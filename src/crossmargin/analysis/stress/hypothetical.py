"""Hypothetical stress scenarios from a file: joint spot and vol moves per underlying or class.

File formats
------------
**JSON** (the shipped example is ``crossmargin/data/stress_scenarios.json``)::

    {"scenarios": [
      {"name": "crypto-50-equity-20-vol-x2",
       "description": "crypto -50%, equities -20%, implied vols double",
       "vol_type": "relative",            # "absolute" (default) or "relative"
       "horizon_days": 0,                 # decay applied in the scenario, calendar days
       "moves": [
         {"asset_class": "crypto", "spot": -0.50, "vol": 1.0},
         {"underlying": "SPX", "spot": -0.20, "vol": 1.0}
       ]}
    ]}

**CSV**: one row per move, columns ``scenario, underlying, asset_class, asset, spot, vol``
and optionally ``vol_type, horizon_days, description`` (constant within a scenario); exactly
one of ``underlying`` / ``asset_class`` / ``asset`` per row.

**Collateral assets**: an entry ``{"asset": "USDe", "spot": -0.35}`` moves the price of a
stablecoin or currency held as collateral (USDe from 1.00 to 0.65, as inside one venue on
2025-10-10); coins and securities held as collateral move with their ``underlying`` entry.
Every account's collateral is revalued in every scenario
(:mod:`crossmargin.collateral.scenarios`). An unknown key in a JSON scenario or move, or an
unknown CSV column, is an error.

Conventions: ``spot`` is a **relative** move (``S₁ = S₀·(1 + spot)``, −0.5 = −50%, must be
> −1); ``vol`` is an **absolute** change of implied vol in decimal (0.10 = +10 vol points,
``σ₁ = σ₀ + vol``) or, with ``vol_type: relative``, a relative one (``σ₁ = σ₀·(1 + vol)``:
1.0 doubles every vol); vols are floored at 0.01%. An underlying entry overrides its asset
class's entry; a book underlying that no entry names moves by 0 (reported). Asset classes are
those of the contract table (``crypto``, ``equity``, ``equity_index``, ``etf``).

An unknown underlying or asset class, a bad number or a missing field is an
:class:`~crossmargin.errors.InputError` naming the file, the scenario entry (JSON) or row
(CSV, the header is row 1) and the value.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from crossmargin.analysis.stress.common import (
    HeldMargin,
    Move,
    ScenarioOutcome,
    account_underlyings,
    worst_rows,
)
from crossmargin.errors import InputError
from crossmargin.instruments import contract_table
from crossmargin.market.scenarios import ScenarioSet
from crossmargin.market.snapshot import MarketSnapshot
from crossmargin.portfolio import Portfolio

EXAMPLE_FILE = "stress_scenarios.json"


@dataclass(frozen=True, slots=True, kw_only=True)
class ShockEntry:
    """One line of a scenario: a move of one underlying or of every underlying of a class."""

    spot: float
    vol: float = 0.0
    underlying: str | None = None
    asset_class: str | None = None
    asset: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Hypothetical:
    """One hypothetical scenario (see the module docstring)."""

    name: str
    entries: tuple[ShockEntry, ...]
    description: str = ""
    vol_type: str = "absolute"
    horizon_days: float = 0.0
    source: str = ""

    def moves_for(
        self, underlyings: Sequence[str], classes: Mapping[str, str] | None = None
    ) -> dict[str, Move]:
        """The move of each underlying (an underlying entry beats its class; else 0).

        ``classes`` gives the asset class of underlyings the shipped table lacks (a run's own
        contracts: the book's instruments know theirs).
        """
        classes = _classes(classes)
        out = {}
        for u in underlyings:
            hit = next((e for e in self.entries if e.underlying == u), None)
            how = f"{self.source} underlying {u}"
            if hit is None:
                hit = next((e for e in self.entries if e.asset_class == classes.get(u)), None)
                how = f"{self.source} asset class {classes.get(u)}"
            if hit is None:
                out[u] = Move(spot=0.0, vol=0.0, vol_type=self.vol_type, source="not named: 0")
            else:
                out[u] = Move(spot=hit.spot, vol=hit.vol, vol_type=self.vol_type, source=how)
        return out

    @property
    def asset_moves(self) -> dict[str, Move]:
        """The price moves of collateral assets the scenario names (stablecoins, currencies)."""
        return {
            e.asset: Move(spot=e.spot, vol=0.0, source=f"{self.source} collateral {e.asset}")
            for e in self.entries
            if e.asset is not None
        }

    def scenario_set(
        self, underlyings: Sequence[str], classes: Mapping[str, str] | None = None
    ) -> ScenarioSet:
        """A one-row :class:`ScenarioSet` for ``underlyings`` (and the named assets' moves)."""
        moves = self.moves_for(underlyings, classes)
        return ScenarioSet(
            underlyings=tuple(underlyings),
            spot_shocks=np.array([[moves[u].spot for u in underlyings]]),
            vol_shocks=np.array([[moves[u].vol for u in underlyings]]),
            time_steps=np.array([self.horizon_days / 365.0]),
            names=(self.name,),
            spot_shock_type="relative",
            vol_shock_type="relative" if self.vol_type == "relative" else "absolute",
            label=self.name,
            asset_moves={a: np.array([m.spot]) for a, m in self.asset_moves.items()},
        )


def _classes(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    out: dict[str, str] = {}
    for spec in contract_table().specs:
        out.setdefault(spec.underlying, spec.asset_class)
    for underlying, cls in (extra or {}).items():
        out.setdefault(underlying, cls)
    return out


def book_classes(portfolio: Portfolio) -> dict[str, str]:
    """Underlying -> asset class of a book's instruments (its own products included)."""
    return {i.underlying: i.asset_class for i in portfolio.instruments}


def _number(raw: Any, where: str, key: str, *, required: bool) -> float:
    if raw is None or raw == "":
        if required:
            raise InputError(f"{where}: missing {key!r} (a number, e.g. -0.2 for -20%)")
        return 0.0
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise InputError(f"{where}: {key} {raw!r} is not a number") from None
    if not math.isfinite(value):
        raise InputError(f"{where}: {key} {raw!r} must be finite")
    if key == "spot" and value <= -1.0:
        raise InputError(f"{where}: spot {raw!r} is a relative move and must be > -1 (-100%)")
    return value


_MOVE_KEYS = ("underlying", "asset_class", "asset", "spot", "vol")
_SCENARIO_KEYS = ("name", "description", "vol_type", "horizon_days", "moves")


def _unknown_keys(raw: Mapping[str, Any], known: Sequence[str], where: str) -> None:
    extra = [str(k) for k in raw if k not in known]
    if extra:
        raise InputError(f"{where}: unknown key {extra[0]!r} (known: {', '.join(known)})")


def _entry(
    raw: Mapping[str, Any],
    where: str,
    extra: Mapping[str, str] | None = None,
    *,
    csv_row: bool = False,
) -> ShockEntry:
    from crossmargin.collateral.holdings import FIAT, STABLECOINS

    if not csv_row:
        _unknown_keys(raw, _MOVE_KEYS, where)
    classes = _classes(extra)
    und = (raw.get("underlying") or "").strip() or None
    cls = (raw.get("asset_class") or "").strip() or None
    asset = (raw.get("asset") or "").strip() or None
    if sum(x is not None for x in (und, cls, asset)) != 1:
        raise InputError(f"{where}: give exactly one of 'underlying', 'asset_class' or 'asset'")
    if und is not None and und not in classes:
        raise InputError(
            f"{where}: unknown underlying {und!r} (known: {', '.join(sorted(classes))})"
        )
    if cls is not None and cls not in set(classes.values()):
        raise InputError(
            f"{where}: unknown asset class {cls!r} (known: "
            f"{', '.join(sorted(set(classes.values())))})"
        )
    if asset is not None and asset not in (*STABLECOINS, *FIAT):
        raise InputError(
            f"{where}: asset {asset!r} is not a stablecoin or currency "
            f"({', '.join((*STABLECOINS, *FIAT))}); coins and securities move as 'underlying'"
        )
    vol = _number(raw.get("vol"), where, "vol", required=False)
    if asset is not None and vol:
        raise InputError(f"{where}: asset {asset} has a price move only, not a vol {vol}")
    return ShockEntry(
        spot=_number(raw.get("spot"), where, "spot", required=True),
        vol=vol,
        underlying=und,
        asset_class=cls,
        asset=asset,
    )


def _vol_type(raw: Any, where: str) -> str:
    value = "absolute" if raw in (None, "") else str(raw).strip()
    if value not in ("absolute", "relative"):
        raise InputError(f"{where}: vol_type {raw!r} must be 'absolute' or 'relative'")
    return value


def _from_json(
    doc: Any, source: str, extra: Mapping[str, str] | None = None
) -> tuple[Hypothetical, ...]:
    if not isinstance(doc, Mapping) or not isinstance(doc.get("scenarios"), list):
        raise InputError(f"{source}: expected a JSON object with a 'scenarios' list")
    out = []
    for n, raw in enumerate(doc["scenarios"], start=1):
        name = str(raw.get("name") or f"scenario {n}") if isinstance(raw, Mapping) else ""
        where = f"{source}, scenario {n} ({name!r})"
        if not isinstance(raw, Mapping) or not isinstance(raw.get("moves"), list):
            raise InputError(f"{where}: each scenario needs a 'moves' list")
        _unknown_keys(raw, _SCENARIO_KEYS, where)
        entries = tuple(
            _entry(m if isinstance(m, Mapping) else {}, f"{where}, move {k}", extra)
            for k, m in enumerate(raw["moves"], start=1)
        )
        out.append(
            Hypothetical(
                name=name,
                entries=entries,
                description=str(raw.get("description", "")),
                vol_type=_vol_type(raw.get("vol_type"), where),
                horizon_days=_number(
                    raw.get("horizon_days"), where, "horizon_days", required=False
                ),
                source=source,
            )
        )
    return tuple(out)


def _from_csv(
    text: str, source: str, extra: Mapping[str, str] | None = None
) -> tuple[Hypothetical, ...]:
    reader = csv.DictReader(text.splitlines())
    fields = set(reader.fieldnames or ())
    missing = {"scenario", "spot"} - fields
    if missing:
        raise InputError(f"{source}: missing column(s) {', '.join(sorted(missing))}")
    known = ("scenario", *_MOVE_KEYS, "vol_type", "horizon_days", "description")
    unknown = sorted(fields - set(known))
    if unknown:
        raise InputError(f"{source}: unknown column {unknown[0]!r} (known: {', '.join(known)})")
    groups: dict[str, list[tuple[int, dict[str, str]]]] = {}
    for row_no, row in enumerate(reader, start=2):
        name = (row.get("scenario") or "").strip()
        if not name:
            raise InputError(f"{source}, row {row_no}: empty 'scenario' name")
        groups.setdefault(name, []).append((row_no, row))
    out = []
    for name, rows in groups.items():
        first = rows[0][1]
        for row_no, row in rows:
            for key in ("vol_type", "horizon_days"):
                if (row.get(key) or "") != (first.get(key) or ""):
                    raise InputError(
                        f"{source}, row {row_no}: {key} {row.get(key)!r} differs within "
                        f"scenario {name!r}; one value per scenario"
                    )
        out.append(
            Hypothetical(
                name=name,
                entries=tuple(
                    _entry(r, f"{source}, row {k}", extra, csv_row=True) for k, r in rows
                ),
                description=str(first.get("description") or ""),
                vol_type=_vol_type(first.get("vol_type"), f"{source}, row {rows[0][0]}"),
                horizon_days=_number(
                    first.get("horizon_days"),
                    f"{source}, row {rows[0][0]}",
                    "horizon_days",
                    required=False,
                ),
                source=source,
            )
        )
    return tuple(out)


def load_scenarios(
    path: str | Path | None = None, classes: Mapping[str, str] | None = None
) -> tuple[Hypothetical, ...]:
    """Scenarios from a JSON or CSV file (``None``: the shipped example file).

    ``classes`` adds underlyings (and their asset classes) the shipped table lacks, e.g.
    :func:`book_classes` of a book margined with its own contracts.
    """
    if path is None:
        text = resources.files("crossmargin").joinpath(f"data/{EXAMPLE_FILE}").read_text("utf-8")
        return _from_json(json.loads(text), EXAMPLE_FILE)
    from crossmargin.files import parse_json, read_text

    p = Path(path)
    text = read_text(p, what="scenario")
    if p.suffix.lower() == ".csv":
        found = _from_csv(text, str(p), classes)
    elif p.suffix.lower() == ".json":
        found = _from_json(parse_json(text, p, what="scenario"), str(p), classes)
    else:
        raise InputError(f"scenario file {p}: use a .json or .csv file")
    if not found:
        raise InputError(f"scenario file {p} holds no scenario")
    return found


def hypothetical_stress(
    portfolio: Portfolio,
    snapshot: MarketSnapshot,
    held: HeldMargin,
    scenarios: Sequence[Hypothetical],
    *,
    underlyings: Sequence[str] | None = None,
) -> tuple[ScenarioOutcome, ...]:
    """Every scenario applied to the book: per account loss, margin held and shortfall (the
    accounts' coin and security collateral moves with its underlying, stablecoins and
    currencies with the scenario's ``asset`` entries).

    Each scenario's reported moves cover ``underlyings`` (default: the book's; the whole
    book's when ``portfolio`` is one part of it).
    """
    if underlyings is not None:
        unds = tuple(underlyings)
    else:
        unds = tuple(dict.fromkeys(u for us in account_underlyings(portfolio).values() for u in us))
    classes = book_classes(portfolio)
    out = []
    for h in scenarios:
        moves = {**h.moves_for(unds, classes), **h.asset_moves}
        accounts = worst_rows(portfolio, snapshot, h.scenario_set(unds, classes), held)
        notes = tuple(
            f"{u}: no entry, moved by 0" for u, m in moves.items() if m.source.startswith("not")
        )
        out.append(
            ScenarioOutcome(
                name=h.name,
                kind="hypothetical",
                horizon=f"{h.horizon_days:g}d" if h.horizon_days else "instant",
                description=h.description,
                accounts=accounts,
                moves=moves,
                notes=notes,
            )
        )
    return tuple(out)


__all__ = ["Hypothetical", "ShockEntry", "book_classes", "hypothetical_stress", "load_scenarios"]
