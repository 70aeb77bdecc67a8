"""Hedge universes: the instruments a hedge may trade, with their bounds and quoted costs.

**Default universe** (per underlying the account holds, from the contract table and the
market date ``D``): every perpetual; the next two listed futures expiring at least 7 days after
``D`` (Deribit: quarterly, last Friday of Mar/Jun/Sep/Dec; CME: the product's own cycle); and,
for each option product, a call and a put at the listed strike nearest the spot on the first
expiry at least 14 days after ``D`` (Deribit: monthly, last Friday; CME and OCC: third Friday;
ES: quarterly). Strikes are spot rounded to ``m·10ᵏ``, ``m ∈ {1, 2, 2.5, 5}``, the largest not
above 1.5% of spot (BTC 1,000; SPX 100; SPY 10), a house choice of "near the money". Where an
underlying has no future or perpetual (ETFs, stocks) its spot is a candidate too. Bounds and
costs come from the hedge's limits and the cost model (:mod:`.hedge`).

**Universe file** (JSON, every key checked; an unknown key or symbol is an error naming the
file, the entry and the value)::

    {"description": "...",
     "candidates": [{"symbol": "ESH26", "min": -10, "max": 10},
                    {"symbol": "BTC-PERPETUAL", "bid": 66990.0, "ask": 67010.0},
                    {"symbol": "SPY", "half_spread": 0.0001}]}

``min``/``max`` in contracts; ``bid``/``ask`` in the instrument's price unit (as a trade
price); ``half_spread`` a fraction of the contract's notional.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from crossmargin.errors import InputError, Issue, SchemaError
from crossmargin.instruments import Instrument, contract_table, parse_symbol
from crossmargin.instruments.specs import ContractSpec
from crossmargin.instruments.symbols import last_friday, third_friday
from crossmargin.market.snapshot import MarketSnapshot

_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_CODES = "FGHJKMNQUVXZ"
FUTURE_MIN_DAYS = 7
OPTION_MIN_DAYS = 14
STRIKE_FRACTION = 0.015


@dataclass(frozen=True, slots=True, kw_only=True)
class Candidate:
    """One instrument a hedge may trade (bounds in contracts; None: the hedge's default)."""

    instrument: Instrument
    lower: float | None = None
    upper: float | None = None
    bid: float | None = None
    ask: float | None = None
    half_spread: float | None = None
    source: str = "default universe"

    @property
    def symbol(self) -> str:
        """The instrument's symbol."""
        return self.instrument.symbol


class _Row(BaseModel):
    model_config = ConfigDict(extra="forbid")
    symbol: str
    min: float | None = None
    max: float | None = None
    bid: float | None = None
    ask: float | None = None
    half_spread: float | None = None


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid")
    description: str = ""
    candidates: list[_Row]


def load_universe(path: str | Path) -> tuple[Candidate, ...]:
    """Candidates of a universe file (module docstring); every problem reported together."""
    label = str(path)
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as bad:
        raise InputError(f"universe file {label}: cannot read ({bad.strerror})") from None
    except json.JSONDecodeError as bad:
        raise InputError(f"universe file {label}: not valid JSON ({bad})") from None
    try:
        parsed = _File.model_validate(raw)
    except ValidationError as bad:
        first = bad.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        if first["type"] == "extra_forbidden":
            raise InputError(f"universe file {label}: unknown key {where!r}") from None
        raise InputError(f"universe file {label}: {where}: {first['msg']}") from None
    if not parsed.candidates:
        raise InputError(f"universe file {label}: 'candidates' is empty")
    issues: list[Issue] = []
    out: list[Candidate] = []
    seen: set[str] = set()
    for k, row in enumerate(parsed.candidates):
        source = f"universe file {label}"
        try:
            inst = parse_symbol(row.symbol)
        except InputError as bad:
            issues.append(
                Issue(
                    source=source,
                    row=k + 1,
                    column="symbol",
                    value=row.symbol,
                    reason=f"unknown symbol ({bad})",
                )
            )
            continue
        problem = _check_row(row, inst.symbol in seen)
        if problem:
            issues.append(
                Issue(source=source, row=k + 1, column="symbol", value=row.symbol, reason=problem)
            )
            continue
        seen.add(inst.symbol)
        out.append(
            Candidate(
                instrument=inst,
                lower=row.min,
                upper=row.max,
                bid=row.bid,
                ask=row.ask,
                half_spread=row.half_spread,
                source=label,
            )
        )
    SchemaError.raise_if_any(issues)
    return tuple(out)


def _check_row(row: _Row, duplicate: bool) -> str:
    if duplicate:
        return "listed twice"
    numbers = [v for v in (row.min, row.max, row.bid, row.ask, row.half_spread) if v is not None]
    if any(not math.isfinite(v) for v in numbers):
        return "min, max, bid, ask and half_spread must be finite"
    if row.min is not None and row.max is not None and row.min > row.max:
        return f"min {row.min:g} exceeds max {row.max:g}"
    if (row.bid is None) != (row.ask is None):
        return "give both bid and ask, or neither"
    if row.bid is not None and row.ask is not None and not 0 < row.bid <= row.ask:
        return f"need 0 < bid <= ask, got bid {row.bid:g} and ask {row.ask:g}"
    if row.half_spread is not None and row.half_spread < 0:
        return f"half_spread must be >= 0, got {row.half_spread:g}"
    return ""


def nice_step(spot: float) -> float:
    """Strike step: the largest ``m·10ᵏ`` (m in 1, 2, 2.5, 5) not above 1.5% of ``spot``."""
    target = STRIKE_FRACTION * spot
    k = math.floor(math.log10(target))
    best = 10.0**k
    for m in (1.0, 2.0, 2.5, 5.0, 10.0):
        if m * 10.0**k <= target:
            best = m * 10.0**k
    return best


def _deribit(day: date) -> str:
    return f"{day.day}{_MONTHS[day.month - 1]}{day:%y}"


def _months_after(start: date, n: int) -> list[tuple[int, int]]:
    out = []
    y, m = start.year, start.month
    for _ in range(n):
        out.append((y, m))
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def _expiries(spec: ContractSpec, asof: date, min_days: int, count: int) -> list[date]:
    """The next ``count`` expiries of ``spec`` at least ``min_days`` after ``asof``."""
    quarterly = spec.expiry_rule == "third_friday_quarterly" or (
        spec.style == "deribit" and spec.kind == "future"
    )
    rule = (
        third_friday
        if spec.style in ("occ",) or "third_friday" in spec.expiry_rule
        else (last_friday)
    )
    out = []
    for y, m in _months_after(asof, 30):
        if quarterly and m % 3:
            continue
        day = rule(y, m)
        if day >= asof + timedelta(days=min_days):
            out.append(day)
        if len(out) == count:
            break
    return out


def _symbols(spec: ContractSpec, asof: date, spot: float) -> list[str]:
    if spec.kind == "perpetual":
        return [f"{spec.root}-PERPETUAL"]
    if spec.kind == "future":
        days = _expiries(spec, asof, FUTURE_MIN_DAYS, 2)
        if spec.style == "deribit":
            return [f"{spec.root}-{_deribit(d)}" for d in days]
        return [f"{spec.root}{_CODES[d.month - 1]}{d:%y}" for d in days]
    if spec.kind == "option":
        days = _expiries(spec, asof, OPTION_MIN_DAYS, 1)
        step = nice_step(spot)
        k = round(spot / step) * step
        strike = f"{k:.0f}" if k == int(k) else f"{k:g}"
        out = []
        for right in ("C", "P"):
            d = days[0]
            if spec.style == "deribit":
                out.append(f"{spec.root}-{_deribit(d)}-{strike}-{right}")
            elif spec.style == "cme":
                out.append(f"{spec.root}{_CODES[d.month - 1]}{d:%y} {right}{strike}")
            else:
                out.append(f"{spec.root:<6}{d:%y%m%d}{right}{round(k * 1000):08d}")
        return out
    return []


def default_universe(underlyings: tuple[str, ...], market: MarketSnapshot) -> tuple[Candidate, ...]:
    """The default candidates for ``underlyings`` on the market's date (module docstring)."""
    asof = market.valuation_time.date()
    out: dict[str, Candidate] = {}
    for u in underlyings:
        specs = [s for s in contract_table().specs if s.underlying == u]
        spot = market.spot(u)
        has_linear = any(s.kind in ("future", "perpetual") for s in specs)
        for spec in specs:
            if spec.kind == "spot" and (has_linear or spec.style != "plain"):
                continue
            names = [spec.root] if spec.kind == "spot" else _symbols(spec, asof, spot)
            for name in names:
                inst = parse_symbol(name, reference_year=asof.year)
                if inst.expiry is not None and inst.expiry <= market.valuation_time:
                    continue
                out.setdefault(inst.symbol, Candidate(instrument=inst))
    return tuple(out.values())


def describe(candidates: tuple[Candidate, ...]) -> list[dict[str, Any]]:
    """JSON-ready candidates."""
    return [
        {
            "symbol": c.symbol,
            "min": c.lower,
            "max": c.upper,
            "bid": c.bid,
            "ask": c.ask,
            "half_spread": c.half_spread,
            "source": c.source,
        }
        for c in candidates
    ]


__all__ = ["Candidate", "default_universe", "describe", "load_universe", "nice_step"]
