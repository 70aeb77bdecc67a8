"""Correlation break: does an account's netting survive when its offsets stop offsetting?

EMIR RTS 153/2013 Art 27(2) and 55(3) ask that portfolio-margin offsets stay prudent under
severe but plausible correlation changes (METHODS §7–8). Each netting set (the accounts
holding the same underlyings, :func:`crossmargin.analysis.stress.common.netting_set_groups`)
is broken **on its own window**: its calendar, its lookback, its MPOR
(:func:`crossmargin.analysis.stress.factors.es_window`). For one set with underlyings
``u₁..u_U``:

1. **Scenarios.** The ES model's h-step scenarios of the set (``n`` rows: the spot log move
   and the ATM-vol move of every underlying, and the calendar time each spans). Each
   account's loss is the sum of one part per underlying,
   ``Lₐ(s) = Σᵤ Lₐ,ᵤ(s)`` (:func:`crossmargin.analysis.stress.common.underlying_losses`:
   full revaluation is separable by underlying), so the parts are priced **once**.
2. **Break** (:mod:`.correlation_targets`): a target normal-score correlation ``C*`` of the
   underlyings' spot moves: the adverse direction per account, or the user's mode.
3. **Re-order** (:func:`crossmargin.stats.rank_reorder`, Iman–Conover from the data's own
   normal scores, random-score fallback): one row permutation ``πᵤ`` per underlying whose
   spot ranks give ``C*``. Underlying ``u``'s whole scenario row (spot move, vol move and the
   time step it spanned) moves together: ``L'ₐ(s) = Σᵤ Lₐ,ᵤ(πᵤ(s))``. Each underlying's own
   joint distribution of spot, vol and decay is kept **exactly**; only which row of one
   underlying meets which row of another changes. An account holding one underlying is
   therefore unchanged by any break, and the **control rows** show it: per account and
   underlying the ES of that leg alone, before and under every break run (equal to
   rounding).
4. **ES and shortfall.** ``ES_α`` of ``L'`` (the model's confidence, fractional tail weight,
   :func:`crossmargin.stats.tail.var_es`) against the margin held:
   ``shortfall = max(0, ES_broken − held)``; once with every pair broken (``pair = all``)
   and once per pair (the benefit lost per offset). ``baseline`` (no break) is the model's
   core ES of the account.

Rows: ``adverse`` per account (the sign of each pair chosen to raise that account's ES; the
chosen signs in ``direction``) and each explicit mode asked for.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from crossmargin.analysis.stress.common import FloatArray, HeldMargin, underlying_losses
from crossmargin.analysis.stress.correlation_inputs import (
    Pair,
    load_correlation_override,
    offset_pairs,
    parse_pairs,
)
from crossmargin.analysis.stress.correlation_targets import (
    EXPLICIT,
    MODES,
    BrokenCorrelation,
    adverse_signs,
    break_correlation,
    signed_target,
)
from crossmargin.analysis.stress.factors import FactorWindow
from crossmargin.errors import InputError
from crossmargin.market.snapshot import MarketSnapshot
from crossmargin.portfolio import Portfolio
from crossmargin.stats.copula import normal_score_correlation, rank_reorder
from crossmargin.stats.tail import var_es


@dataclass(frozen=True, slots=True, kw_only=True)
class BreakdownRow:
    """ES of one account under one broken correlation vs its margin held (currency)."""

    account: str
    netting_set: str
    mode: str
    pair: str  # "A:B" for one pair, "all" for every pair broken at once
    baseline: float
    broken: float
    margin: float
    target: Mapping[str, float] = field(default_factory=dict)
    achieved: Mapping[str, float] = field(default_factory=dict)
    direction: Mapping[str, str] = field(default_factory=dict)

    @property
    def shortfall(self) -> float:
        """``max(0, broken − margin held)``."""
        return max(0.0, self.broken - self.margin)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "account": self.account,
            "netting_set": self.netting_set,
            "mode": self.mode,
            "pair": self.pair,
            "baseline": self.baseline,
            "broken": self.broken,
            "margin": self.margin,
            "shortfall": self.shortfall,
            "change": self.broken - self.baseline,
            "target": dict(self.target),
            "achieved": dict(self.achieved),
            "direction": dict(self.direction),
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class ControlRow:
    """One leg (an account's positions and collateral on one underlying) alone: its ES
    before any break and the extremes of its ES over every break run."""

    account: str
    netting_set: str
    underlying: str
    baseline: float
    broken_min: float
    broken_max: float

    @property
    def max_change(self) -> float:
        """Largest ``|ES_broken − ES_baseline|`` over the breaks."""
        return max(abs(self.broken_min - self.baseline), abs(self.broken_max - self.baseline))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "account": self.account,
            "netting_set": self.netting_set,
            "underlying": self.underlying,
            "baseline": self.baseline,
            "broken_min": self.broken_min,
            "broken_max": self.broken_max,
            "max_change": self.max_change,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class NettingSetBreak:
    """What one netting set was broken on: its window and each explicit mode's target."""

    key: str
    accounts: tuple[str, ...]
    calendar: str
    window: tuple[str, str]
    scenarios: int
    before: Mapping[str, float]
    matrices: tuple[BrokenCorrelation, ...] = ()
    starts: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "netting_set": self.key,
            "accounts": list(self.accounts),
            "calendar": self.calendar,
            "window": list(self.window),
            "scenarios": self.scenarios,
            "correlation_before": dict(self.before),
            "matrices": [m.to_dict() for m in self.matrices],
            "reorder_start": list(self.starts),
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class CorrelationBreakdown:
    """Every netting set's breaks: per account, mode and pair, and the control rows."""

    confidence: float
    mpor: int
    sets: tuple[NettingSetBreak, ...]
    rows: tuple[BreakdownRow, ...]
    controls: tuple[ControlRow, ...]
    stressed_source: str = ""
    notes: tuple[str, ...] = ()

    @property
    def matrices(self) -> tuple[BrokenCorrelation, ...]:
        """Every explicit mode's target matrix, set by set."""
        return tuple(m for s in self.sets for m in s.matrices)

    def row(self, account: str, mode: str, pair: str = "all") -> BreakdownRow:
        """The row of ``account`` under ``mode`` (``pair`` "all" or "A:B")."""
        for r in self.rows:
            if (r.account, r.mode, r.pair) == (account, mode, pair):
                return r
        raise InputError(f"no correlation-breakdown row for {account} {mode} {pair}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "confidence": self.confidence,
            "mpor": self.mpor,
            "stressed_source": self.stressed_source,
            "netting_sets": [s.to_dict() for s in self.sets],
            "matrices": [m.to_dict() for m in self.matrices],
            "rows": [r.to_dict() for r in self.rows],
            "controls": [c.to_dict() for c in self.controls],
            "notes": list(self.notes),
        }


def _es(losses: FloatArray, confidence: float) -> FloatArray:
    es: FloatArray = np.maximum(np.atleast_1d(var_es(-losses, confidence).es), 0.0)
    return es


def broken_moves(
    window: FactorWindow, target: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """The window's h-step scenarios re-ordered to the spot normal-score correlation
    ``target`` (U × U over the window's underlyings; a constant underlying's entries are
    ignored): spot moves, vol moves and each underlying's time steps, all (n × U). Every
    column is a permutation of the unbroken one (step 3 of the module docstring)."""
    scenarios = window.scenarios(window.daily)
    perm = rank_reorder(scenarios.spot_shocks, target).permutation
    steps = np.repeat(scenarios.time_steps[:, np.newaxis], perm.shape[1], axis=1)
    return (
        np.take_along_axis(scenarios.spot_shocks, perm, axis=0),
        np.take_along_axis(scenarios.vol_shocks, perm, axis=0),
        np.take_along_axis(steps, perm, axis=0),
    )


class _SetBreaker:
    """The scenarios, loss parts and cached re-orderings of one netting set."""

    def __init__(
        self, portfolio: Portfolio, snapshot: MarketSnapshot, window: FactorWindow
    ) -> None:
        self.window = window
        scenarios = window.scenarios(window.daily, label="baseline")
        self.drivers = scenarios.spot_shocks
        self.parts = underlying_losses(portfolio, snapshot, scenarios)
        self.unds = window.underlyings
        corr = normal_score_correlation(self.drivers)
        self.moving = tuple(u for i, u in enumerate(self.unds) if np.isfinite(corr[i, i]))
        keep = [self.unds.index(u) for u in self.moving]
        self.corr = corr[np.ix_(keep, keep)]
        self.baseline = _es(np.sum(list(self.parts.values()), axis=0), window.confidence)
        self.legs = {u: _es(p, window.confidence) for u, p in self.parts.items()}
        self.leg_min = {u: v.copy() for u, v in self.legs.items()}
        self.leg_max = {u: v.copy() for u, v in self.legs.items()}
        self.starts: dict[str, None] = {}
        self._cache: dict[bytes, tuple[FloatArray, FloatArray]] = {}

    def run(self, target: FloatArray) -> tuple[FloatArray, FloatArray]:
        """ES per account under ``target`` (moving underlyings), and the achieved matrix."""
        key = np.round(target, 12).tobytes()
        if key in self._cache:
            return self._cache[key]
        full = np.eye(len(self.unds))
        keep = [self.unds.index(u) for u in self.moving]
        full[np.ix_(keep, keep)] = target
        reorder = rank_reorder(self.drivers, full)
        self.starts[reorder.start] = None
        total = np.zeros_like(next(iter(self.parts.values())))
        for i, u in enumerate(self.unds):
            moved = self.parts[u][reorder.permutation[:, i]]
            total += moved
            leg = _es(moved, self.window.confidence)
            self.leg_min[u] = np.minimum(self.leg_min[u], leg)
            self.leg_max[u] = np.maximum(self.leg_max[u], leg)
        achieved = reorder.achieved[np.ix_(keep, keep)]
        out = (_es(total, self.window.confidence), achieved)
        self._cache[key] = out
        return out


def _pairs_here(chosen: Sequence[Pair], moving: Sequence[str]) -> list[Pair]:
    return [(a, b) for a, b in chosen if a in moving and b in moving]


def _label(
    pairs: Sequence[Pair], values: Mapping[str, float] | FloatArray, labels: Sequence[str]
) -> dict[str, float]:
    out = {}
    for a, b in pairs:
        if isinstance(values, Mapping):
            out[f"{a}:{b}"] = float(values[f"{a}:{b}"])
        else:
            out[f"{a}:{b}"] = float(values[labels.index(a), labels.index(b)])
    return out


def correlation_breakdown(
    portfolio: Portfolio,
    snapshot: MarketSnapshot,
    window: FactorWindow,
    held: HeldMargin,
    *,
    modes: Sequence[str] = ("adverse",),
    pairs: Sequence[Pair] | None = None,
    blend: float = 1.0,
    stressed: tuple[tuple[str, ...], FloatArray] | None = None,
    stressed_source: str = "",
    per_pair: bool = True,
) -> CorrelationBreakdown:
    """Break the correlations of one netting set (``portfolio``: its accounts, all on
    ``window``) under each of ``modes`` (see the module docstring).

    Parameters
    ----------
    window : FactorWindow
        The set's daily joint moves (the ES model's; the tests pass synthetic ones).
    held : HeldMargin
        The margin each account holds (its requirement after the offset tiers).
    modes : sequence of {"adverse", "plus", "minus", "flip", "stressed"}
    pairs : sequence of (str, str), optional
        Spot pairs to break (default: every pair of the set's underlyings).
    blend : float
        ``b`` in [0, 1] for adverse/plus/minus/stressed.
    stressed : (labels, matrix), optional
        The crisis normal-score correlation for ``stressed`` (labels: underlyings).
    per_pair : bool
        Also break each pair alone.
    """
    for m in modes:
        if m not in MODES:
            raise InputError(f"unknown correlation mode {m!r}: use one of {', '.join(MODES)}")
    if not 0.0 <= blend <= 1.0:
        raise InputError(f"blend must be in [0, 1], got {blend}")
    brk = _SetBreaker(portfolio, snapshot, window)
    labels = brk.moving
    key = "+".join(sorted(window.underlyings))
    chosen = _pairs_here(offset_pairs(portfolio) if pairs is None else pairs, labels)
    notes: list[str] = []
    if pairs is not None:
        for a, b in pairs:
            if {a, b} <= set(window.underlyings) and (a, b) not in chosen:
                notes.append(f"{key}: pair {a}:{b} does not move in the window; not broken")
    target_crisis = None
    if "stressed" in modes:
        if stressed is None:
            raise InputError("mode 'stressed' needs a crisis correlation matrix")
        target_crisis, missing = _align(stressed, labels, brk.corr)
        notes += [f"{key}: {m}" for m in missing]
    rows: list[BreakdownRow] = []
    matrices: list[BrokenCorrelation] = []
    accounts = portfolio.accounts

    def add(mode: str, pair: str, es: FloatArray, per_account: list[dict[str, Any]]) -> None:
        for j, acc in enumerate(accounts):
            rows.append(
                BreakdownRow(
                    account=acc,
                    netting_set=key,
                    mode=mode,
                    pair=pair,
                    baseline=float(brk.baseline[j]),
                    broken=float(es[j]),
                    margin=held.required[acc],
                    **per_account[j],
                )
            )

    def adverse(which: list[Pair], tag: str) -> None:
        def score(signs: tuple[float, ...]) -> FloatArray:
            t = signed_target(brk.corr, labels, dict(zip(which, signs, strict=True)), blend=blend)
            return brk.run(t.matrix)[0]

        best = adverse_signs(which, score) if which else [((), float(e)) for e in brk.baseline]
        es = np.array([v for _, v in best])
        extra = []
        for signs, _ in best:
            t = (
                signed_target(brk.corr, labels, dict(zip(which, signs, strict=True)), blend=blend)
                if which
                else None
            )
            achieved = brk.run(t.matrix)[1] if t is not None else brk.corr
            extra.append(
                {
                    "target": dict(t.target) if t is not None else {},
                    "achieved": _label(which, achieved, labels),
                    "direction": {
                        f"{a}:{b}": ("+1" if s > 0 else "-1")
                        for (a, b), s in zip(which, signs, strict=True)
                    },
                }
            )
        add("adverse", tag, es, extra)

    def explicit(mode: str, which: list[Pair], tag: str) -> None:
        if which:
            t = break_correlation(
                brk.corr, labels, mode, which, blend=blend, stressed=target_crisis
            )
            es, achieved = brk.run(t.matrix)
            if tag == "all":
                matrices.append(t)
            info = {"target": dict(t.target), "achieved": _label(which, achieved, labels)}
        else:
            es, info = brk.baseline, {}
        add(mode, tag, es, [dict(info) for _ in accounts])

    for mode in modes:
        if mode == "adverse":
            adverse(chosen, "all")
        else:
            explicit(mode, chosen, "all")
        if per_pair and len(chosen) > 1:
            for pair in chosen:
                tag = f"{pair[0]}:{pair[1]}"
                if mode == "adverse":
                    adverse([pair], tag)
                else:
                    explicit(mode, [pair], tag)
    controls = [
        ControlRow(
            account=acc,
            netting_set=key,
            underlying=u,
            baseline=float(brk.legs[u][j]),
            broken_min=float(brk.leg_min[u][j]),
            broken_max=float(brk.leg_max[u][j]),
        )
        for j, acc in enumerate(accounts)
        for u in window.underlyings
    ]
    part = NettingSetBreak(
        key=key,
        accounts=accounts,
        calendar=window.calendar,
        window=(window.dates[0], window.dates[-1]),
        scenarios=int(brk.drivers.shape[0]),
        before=_label(chosen, brk.corr, labels),
        matrices=tuple(matrices),
        starts=tuple(brk.starts),
    )
    return CorrelationBreakdown(
        confidence=window.confidence,
        mpor=window.mpor,
        sets=(part,),
        rows=tuple(rows),
        controls=tuple(controls),
        stressed_source=stressed_source if "stressed" in modes else "",
        notes=tuple(dict.fromkeys(notes)),
    )


def merge_breakdowns(
    parts: Sequence[CorrelationBreakdown], accounts: Sequence[str]
) -> CorrelationBreakdown:
    """The netting sets' breakdowns as one, rows in book order of ``accounts``."""
    if not parts:
        raise InputError("no netting set to break")
    order = {a: i for i, a in enumerate(accounts)}
    return CorrelationBreakdown(
        confidence=parts[0].confidence,
        mpor=parts[0].mpor,
        sets=tuple(s for p in parts for s in p.sets),
        rows=tuple(sorted((r for p in parts for r in p.rows), key=lambda r: order[r.account])),
        controls=tuple(
            sorted((c for p in parts for c in p.controls), key=lambda c: order[c.account])
        ),
        stressed_source="; ".join(
            dict.fromkeys(p.stressed_source for p in parts if p.stressed_source)
        ),
        notes=tuple(dict.fromkeys(n for p in parts for n in p.notes)),
    )


def _align(
    stressed: tuple[tuple[str, ...], FloatArray], labels: Sequence[str], corr: FloatArray
) -> tuple[FloatArray, list[str]]:
    """The crisis matrix on ``labels``; entries it lacks (or NaN) keep the window's value.
    ``vol:u`` entries of a user matrix are not used (vol moves follow their underlying)."""
    names, matrix = stressed
    out = corr.copy()
    notes = []
    unused = [n for n in names if n.startswith("vol:")]
    if unused:
        notes.append(
            f"stressed matrix entries {', '.join(unused)} not used: each underlying's vol moves "
            "with its own spot row"
        )
    for i, a in enumerate(labels):
        for j, b in enumerate(labels):
            if i == j:
                continue
            if a in names and b in names:
                v = float(matrix[names.index(a), names.index(b)])
                if np.isfinite(v):
                    out[i, j] = v
                    continue
            if i < j:
                notes.append(f"no stressed correlation for {a}:{b}: the window's is kept")
    return out, notes


__all__ = [
    "EXPLICIT",
    "MODES",
    "BreakdownRow",
    "BrokenCorrelation",
    "ControlRow",
    "CorrelationBreakdown",
    "NettingSetBreak",
    "Pair",
    "break_correlation",
    "broken_moves",
    "correlation_breakdown",
    "load_correlation_override",
    "merge_breakdowns",
    "offset_pairs",
    "parse_pairs",
]
