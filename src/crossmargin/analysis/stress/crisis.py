"""Historical crisis replay: today's book under the real joint moves of a past crisis.

Windows are data (``crossmargin/data/crisis_windows.json``: Lehman, COVID, May 2021 crypto,
LUNA, 3AC/Celsius, FTX, yen carry) or user dates. For a window ``[start, end]`` and a book
with underlyings ``u``:

* **moves** are the real daily factor moves of the window, per group of accounts holding the
  same underlyings, on that group's own calendar
  (:func:`crossmargin.market.factor_grid.daily_factor_moves`; NYSE sessions as soon as one
  of its underlyings trades on NYSE, so a Monday crypto move includes the weekend; every day
  for a crypto-only group): spot log returns ``xₜ = ln(Sₜ/Sₜ₋₁)`` and changes ``Δσₜ`` of each
  underlying's 30-day ATM implied-vol level (DVOL / VIX based where they exist, the fallback
  level before or in gaps longer than 3 days; :mod:`crossmargin.market.vol_proxies`), 0
  where neither has both ends. An account's replay never depends on other accounts.
* **horizons** (``h`` = the model's MPOR in steps of the group's calendar, default 2):

  ``1d``       each day of the window alone; per account the **worst day** (largest loss)
  ``{h}d``     every h-step move ``Σₜ₌ₛ^{s+h−1} xₜ`` *starting* on a day s of the window (it
               may run up to h − 1 days past ``end``: default on the shock day and
               liquidation over the MPOR); per account the worst
  ``window``   the cumulative move from the close before ``start`` to the close of ``end``

  each with the calendar time it spans as option decay (a Fri→Mon NYSE move: 3 days).
* **revaluation**: full repricing of today's book on today's snapshot
  (:func:`crossmargin.pricing.revalue.revalue`): ``S₁ = S₀·eˣ``, ``σ₁ = σ₀ + Δσ``.
* **report** per account: ``loss``, ``margin`` (netted margin held) and
  ``shortfall = max(0, loss − margin)``; the applied date(s) and moves.

An underlying with no history in the window (BTC/ETH in 2008) uses the window's proxy when
the data file gives one (``source`` move × ``scale``, ``vol_ratio`` = annualised vol of the
underlying over its whole history ÷ that of the source over the same dates) and is reported
as proxied; without one the accounts holding it are reported as **not covered**. A window with
no data for any underlying of the book is a :class:`MarketDataError`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from crossmargin.analysis.stress.common import (
    AccountOutcome,
    FloatArray,
    HeldMargin,
    ScenarioOutcome,
    netting_set_groups,
    package_json,
    scenario_moves,
    worst_rows,
)
from crossmargin.analysis.stress.factors import daily_moves
from crossmargin.errors import InputError, MarketDataError
from crossmargin.market.factor_grid import daily_factor_moves
from crossmargin.market.history import ANNUALISATION_DAYS, MarketHistory, to_timestamp
from crossmargin.market.scenarios import ScenarioSet
from crossmargin.market.snapshot import MarketSnapshot
from crossmargin.portfolio import Portfolio
from crossmargin.stats.copula import normal_score_correlation
from crossmargin.stats.horizon import overlapping_sums

CRISIS_FILE = "crisis_windows.json"
_PAD_DAYS = 20  # calendar days read past a window's end for the h-day moves


@dataclass(frozen=True, slots=True, kw_only=True)
class Proxy:
    """Stand-in moves for an underlying with no history in a window."""

    source: str
    scale: float | str = "vol_ratio"
    note: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class CrisisWindow:
    """A named (or user) crisis window (see the module docstring)."""

    name: str
    start: str
    end: str
    title: str = ""
    description: str = ""
    source: str = ""
    proxies: Mapping[str, Proxy] = field(default_factory=dict)
    correlation_window: tuple[str, str] | None = None

    def __post_init__(self) -> None:
        lo, hi = to_timestamp(self.start), to_timestamp(self.end)
        if lo > hi:
            raise InputError(
                f"crisis window {self.name}: start {self.start} is after end {self.end}"
            )


def crisis_catalogue() -> dict[str, CrisisWindow]:
    """The shipped named windows, by name, in file order."""
    doc = package_json(CRISIS_FILE)
    out = {}
    for raw in doc["windows"]:
        proxies = {
            u: Proxy(source=p["source"], scale=p.get("scale", "vol_ratio"), note=p.get("note", ""))
            for u, p in raw.get("proxies", {}).items()
        }
        cw = raw.get("correlation_window")
        out[raw["name"]] = CrisisWindow(
            name=raw["name"],
            start=raw["start"],
            end=raw["end"],
            title=raw.get("title", ""),
            description=raw.get("description", ""),
            source=raw.get("source", ""),
            proxies=proxies,
            correlation_window=(cw[0], cw[1]) if cw else None,
        )
    return out


def default_stressed_window() -> CrisisWindow:
    """The window the ``stressed`` correlation mode uses by default (COVID)."""
    return crisis_catalogue()[str(package_json(CRISIS_FILE)["default_stressed"])]


def resolve_window(spec: str | CrisisWindow) -> CrisisWindow:
    """A named window, or user dates ``START:END`` / ``START..END`` / one date ``DAY``."""
    if isinstance(spec, CrisisWindow):
        return spec
    catalogue = crisis_catalogue()
    if spec in catalogue:
        return catalogue[spec]
    text = spec.strip()
    parts = text.split("..") if ".." in text else text.split(":")
    if len(parts) in (1, 2) and all(_is_date(p) for p in parts):
        start, end = parts[0].strip(), parts[-1].strip()
        return CrisisWindow(
            name=f"{start}..{end}" if start != end else start,
            start=start,
            end=end,
            title="user window",
            description=f"user window {start}..{end}",
        )
    raise InputError(
        f"unknown crisis {spec!r}: use one of {', '.join(catalogue)} or dates START:END "
        "(YYYY-MM-DD:YYYY-MM-DD)"
    )


def _label(window: CrisisWindow) -> str:
    dates = f"{window.start}..{window.end}"
    return window.name if window.name in (dates, window.start) else f"{window.name} ({dates})"


def _is_date(text: str) -> bool:
    from crossmargin.dates import parse_date

    try:
        parse_date(text)  # ISO only: 10/02/2025 is never guessed
    except InputError:
        return False
    return True


def _vol_ratio(history: MarketHistory, und: str, source: str) -> float:
    """Annualised vol of ``und`` over its whole history / that of ``source`` on the same dates."""
    a, b = history.series(und), history.series(source)
    lo = max(a.index[0], b.index[0])
    out = []
    for name, s in ((und, a), (source, b)):
        r = np.diff(np.log(s[s.index >= lo].to_numpy(dtype=float)))
        out.append(
            float(np.std(r, ddof=1)) * math.sqrt(ANNUALISATION_DAYS[history.spec(name).calendar])
        )
    return out[0] / out[1]


@dataclass(frozen=True, slots=True, kw_only=True)
class CrisisMoves:
    """The daily moves of a window (and the h − 1 days after it) for a book.

    ``daily`` is (days, 2U) in ``underlyings`` order (spot log returns then vol changes);
    ``in_window`` counts the rows inside ``[start, end]`` (the first rows).
    """

    window: CrisisWindow
    underlyings: tuple[str, ...]
    daily: FloatArray
    dates: tuple[str, ...]
    in_window: int
    calendar: str
    uncovered: Mapping[str, str]
    proxied: Mapping[str, str]
    span_days: FloatArray | None = None

    def day(self, date: str) -> dict[str, float]:
        """Relative spot move of each underlying on panel day ``date``."""
        i = self.dates.index(date)
        u = len(self.underlyings)
        return {n: math.expm1(float(self.daily[i, k])) for k, n in enumerate(self.underlyings[:u])}


def crisis_moves(
    history: MarketHistory, window: CrisisWindow, underlyings: Sequence[str], *, mpor: int = 1
) -> CrisisMoves:
    """Real (or proxied) daily factor moves of ``underlyings`` in ``window`` (module docstring)."""
    unds = tuple(dict.fromkeys(underlyings))
    start, end = to_timestamp(window.start), to_timestamp(window.end)
    covered, uncovered = [], {}
    for u in unds:
        first, last = history.coverage(u)
        if first < start and last >= end:
            covered.append(u)
        else:
            uncovered[u] = (
                f"no {u} history in {window.start}..{window.end} "
                f"(covers {first:%Y-%m-%d}..{last:%Y-%m-%d})"
            )
    proxied: dict[str, str] = {}
    sources: dict[str, tuple[str, float]] = {}
    for u in list(uncovered):
        proxy = window.proxies.get(u)
        if proxy is None:
            continue
        first, last = history.coverage(proxy.source)
        if not (first < start and last >= end):
            continue
        scale = (
            _vol_ratio(history, u, proxy.source)
            if proxy.scale == "vol_ratio"
            else float(proxy.scale)
        )
        sources[u] = (proxy.source, scale)
        proxied[u] = proxy.note or f"{proxy.source} move x {scale:.2f}"
        proxied[u] += f" (scale {scale:.3f})"
        del uncovered[u]
    panel_unds = tuple(dict.fromkeys([*covered, *(s for s, _ in sources.values())]))
    if not panel_unds:
        spans = "; ".join(uncovered.values())
        raise MarketDataError(
            f"crisis window {_label(window)} is outside the market "
            f"history of every underlying of the book: {spans}; choose dates inside the history"
        )
    last_common = min(history.coverage(u)[1] for u in panel_unds)
    stop = min(end + pd.Timedelta(days=_PAD_DAYS + 2 * mpor), last_common)
    found = daily_factor_moves(history, panel_unds, start, stop)
    raw, dates, calendar = found.daily, found.dates, found.calendar
    in_window = int(sum(d <= f"{end:%Y-%m-%d}" for d in dates))
    if in_window == 0:
        raise MarketDataError(
            f"crisis window {_label(window)} has no trading day of "
            f"{', '.join(panel_unds)}; choose dates that include a trading day"
        )
    rows = raw[: in_window + mpor - 1]
    n = len(panel_unds)
    spot = np.zeros((rows.shape[0], len(unds)))
    vol = np.zeros_like(spot)
    for k, u in enumerate(unds):
        if u in panel_unds:
            i, scale = panel_unds.index(u), 1.0
        elif u in sources:
            i, scale = panel_unds.index(sources[u][0]), sources[u][1]
        else:
            continue  # not covered: zero move, accounts holding it are flagged
        spot[:, k] = scale * rows[:, i]
        vol[:, k] = scale * rows[:, n + i]
    return CrisisMoves(
        window=window,
        underlyings=unds,
        daily=np.hstack([spot, vol]),
        dates=dates[: rows.shape[0]],
        in_window=in_window,
        calendar=calendar,
        uncovered=uncovered,
        proxied=proxied,
        span_days=found.span_days[: rows.shape[0]],
    )


def crisis_scenarios(moves: CrisisMoves, mpor: int) -> dict[str, ScenarioSet]:
    """The ``1d``, ``{h}d`` and ``window`` scenario sets of a window's moves."""
    u = len(moves.underlyings)
    spans = (
        np.ones(moves.daily.shape[0]) if moves.span_days is None else moves.span_days
    ) / 365.0  # calendar time of each daily move, in years
    inside = moves.daily[: moves.in_window]
    sets: dict[str, tuple[FloatArray, tuple[str, ...], FloatArray]] = {
        "1d": (inside, moves.dates[: moves.in_window], spans[: moves.in_window]),
    }
    if moves.daily.shape[0] >= mpor:
        h = overlapping_sums(moves.daily, mpor).returns_by_window[: moves.in_window]
        steps = overlapping_sums(spans[:, np.newaxis], mpor).returns_by_window[: h.shape[0], 0]
        names = tuple(f"{moves.dates[i]}..{moves.dates[i + mpor - 1]}" for i in range(h.shape[0]))
        sets[f"{mpor}d"] = (h, names, steps)
    total = inside.sum(axis=0, keepdims=True)
    sets["window"] = (
        total,
        (f"{moves.dates[0]}..{moves.dates[moves.in_window - 1]}",),
        np.array([spans[: moves.in_window].sum()]),
    )
    return {
        key: ScenarioSet(
            underlyings=moves.underlyings,
            spot_shocks=m[:, :u],
            vol_shocks=m[:, u:],
            time_steps=step,
            names=names,
            spot_shock_type="log",
            vol_shock_type="absolute",
            label=f"{moves.window.name} {key}",
        )
        for key, (m, names, step) in sets.items()
    }


def crisis_replay(
    portfolio: Portfolio,
    snapshot: MarketSnapshot,
    held: HeldMargin,
    history: MarketHistory,
    window: str | CrisisWindow,
    *,
    mpor: int = 2,
) -> tuple[ScenarioOutcome, ...]:
    """Replay ``window`` on the book: one outcome per horizon (``1d``, ``{h}d``, ``window``).

    Each group of accounts holding the same underlyings is replayed on its own factor set
    (its calendar, its days), so an account's loss never depends on the other accounts.
    """
    win = resolve_window(window)
    outcomes: dict[str, list[AccountOutcome]] = {}
    described: dict[str, ScenarioOutcome] = {}
    notes: list[str] = []
    for unds, accounts in netting_set_groups(portfolio).items():
        sub = portfolio.subset(accounts)
        moves = crisis_moves(history, win, unds, mpor=mpor)
        notes += [f"{u} proxied: {why}" for u, why in moves.proxied.items()]
        notes += [f"{u} not covered: {why}" for u, why in moves.uncovered.items()]
        for key, scenarios in crisis_scenarios(moves, mpor).items():
            rows = worst_rows(sub, snapshot, scenarios, held, uncovered=moves.uncovered)
            outcomes.setdefault(key, []).extend(rows)
            if key not in described:
                single = scenarios.size == 1
                described[key] = ScenarioOutcome(
                    name=f"{win.name} {key}",
                    kind="crisis",
                    horizon=key,
                    description=f"{win.title or win.name} {win.start}..{win.end}: "
                    + {"1d": "worst single day", "window": "whole-window cumulative move"}.get(
                        key, f"worst {mpor}-step move starting in the window"
                    ),
                    accounts=(),
                    moves=scenario_moves(scenarios, 0, unds) if single else {},
                )
            elif scenarios.size == 1:
                merged = {**scenario_moves(scenarios, 0, unds), **described[key].moves}
                described[key] = replace(described[key], moves=merged)
    order = {a: i for i, a in enumerate(portfolio.accounts)}
    return tuple(
        replace(
            described[key],
            accounts=tuple(sorted(rows, key=lambda r: order[r.account])),
            notes=tuple(dict.fromkeys(notes)),
        )
        for key, rows in outcomes.items()
    )


def crisis_correlation(
    history: MarketHistory, window: CrisisWindow, underlyings: Sequence[str]
) -> tuple[tuple[str, ...], FloatArray, str]:
    """Normal-score correlation of the underlyings' daily spot log moves over the window's
    ``correlation_window``, on their joint calendar (the dependence the correlation break
    re-orders to, :func:`crossmargin.stats.normal_score_correlation`).

    Returns the labels (the underlyings), the matrix (NaN for one that does not move) and a
    description of the source.
    """
    lo, hi = window.correlation_window or (window.start, window.end)
    unds = tuple(dict.fromkeys(underlyings))
    daily, dates, _ = daily_moves(history, unds, lo, hi)
    corr = normal_score_correlation(daily[:, : len(unds)])
    return (
        unds,
        corr,
        f"{window.name} correlation window {dates[0]}..{dates[-1]} ({len(dates)} days)",
    )


def windows_to_dict() -> list[dict[str, Any]]:
    """The named windows, JSON-ready (for ``--json`` and the docs)."""
    return [
        {
            "name": w.name,
            "title": w.title,
            "start": w.start,
            "end": w.end,
            "description": w.description,
        }
        for w in crisis_catalogue().values()
    ]


__all__ = [
    "CrisisMoves",
    "CrisisWindow",
    "Proxy",
    "crisis_catalogue",
    "crisis_correlation",
    "crisis_moves",
    "crisis_replay",
    "crisis_scenarios",
    "default_stressed_window",
    "resolve_window",
    "windows_to_dict",
]
