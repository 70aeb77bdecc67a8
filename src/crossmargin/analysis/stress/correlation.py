"""Correlation breakdown: does the netting of an account survive when its offsets stop offsetting?

EMIR RTS 153/2013 Art 27(2) and 55(3) ask that portfolio-margin offsets stay prudent under
severe but plausible correlation changes (METHODS §7–8). For a book margined as of date ``D``:

1. **Joint distribution.** The ES model's window of daily factor moves ``R`` (T × F, F = 2U:
   spot log return and implied-vol change of each underlying;
   :func:`crossmargin.analysis.stress.factors.es_window`), its sample correlation ``C``.
   Factors that never move in the window (a constant column) are left out of ``C`` and kept
   as they are; a factor that is an exact affine copy of another (SPX and SPY vol moves are
   both VIX changes) is left out of ``C`` and rebuilt from its twin afterwards
   (:func:`free_columns`).
2. **Break it.** The chosen pairs ``P`` of spot factors (default: every pair of underlyings
   held together in one account, the *offset pairs*) get a new correlation:

   =========  ==========================================================================
   plus       ``ρ'ᵢⱼ = (1 − b)·ρᵢⱼ + b·(+1)``  (every pair moves together)
   minus      ``ρ'ᵢⱼ = (1 − b)·ρᵢⱼ + b·(−1)``  (every pair moves against each other)
   flip       ``ρ'ᵢⱼ = −ρᵢⱼ``                  (e.g. BTC–SPX: the hedge turns into a bet)
   stressed   ``C' = (1 − b)·C + b·C_crisis`` on the pairs' entries, ``C_crisis`` the
              correlation of the same factors over a crisis window (default the COVID
              window of ``crisis_windows.json``) or a user matrix
   =========  ==========================================================================

   with ``b`` the blend (default 1: all the way). The other entries keep their estimates.
3. **Repair.** ``C'`` need not be a correlation matrix (three assets cannot all be pairwise
   −1; perfect +1 between two spots forces equal correlations with every vol factor). It is
   replaced by the nearest correlation matrix in the Frobenius norm (Higham 2002,
   :func:`crossmargin.stats.nearest_correlation`): symmetric, unit diagonal, PSD. The
   distance ``‖C' − C''‖_F``, the correlations actually achieved and every other entry the
   repair moved by more than 0.05 (``repair_side_effects``: breaking BTC–SPX alone to +1 must
   also move BTC–SPY, or SPX–SPY, since SPX and SPY move almost as one) are reported.
4. **Re-correlate.** ``R' = recorrelate(R, C'')`` (:func:`crossmargin.stats.recorrelate`):
   with ``Z`` the standardised moves and ``C = LLᵀ``, ``C'' = L''L''ᵀ`` (Cholesky; an eigen
   square root when ``C''`` is singular), ``R' = μ + (Z·L⁻ᵀ·L''ᵀ)·σ``: every factor keeps its
   mean and vol, the sample correlation becomes ``C''``. Then the model's h-day scenarios
   (overlapping sums or √h) and full revaluation.
5. **Margin and shortfall.** ``ES_α`` of each account's P&L under ``R'`` (the model's
   confidence, ``k = ⌈(1 − α)n⌉`` worst scenarios, :func:`crossmargin.stats.tail.var_es`) vs
   the margin held under the chosen model: ``shortfall = max(0, ES_broken − held)``;
   once with every pair broken, and once per offset pair of each account with only that pair
   broken (the benefit lost per offset).

The unbroken ES (``R`` itself through the same path) equals the model's core ES and is
reported as ``baseline``. Without re-correlation nothing else changes: vols, means and the
non-Gaussian shape of each factor's history stay.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from crossmargin.analysis.stress.common import (
    FloatArray,
    HeldMargin,
    account_losses,
    account_underlyings,
)
from crossmargin.analysis.stress.correlation_inputs import (
    Pair,
    free_columns,
    load_correlation_override,
    offset_pairs,
    parse_pairs,
)
from crossmargin.analysis.stress.factors import FactorWindow
from crossmargin.errors import InputError
from crossmargin.market.snapshot import MarketSnapshot
from crossmargin.portfolio import Portfolio
from crossmargin.stats.correlation import (
    CorrelationAdjustment,
    blend_correlations,
    flip_correlation_signs,
    push_correlations,
    recorrelate,
)
from crossmargin.stats.tail import var_es

MODES = ("plus", "minus", "flip", "stressed")
#: A correlation not chosen for breaking that the repair moves by more than this is reported.
SIDE_EFFECT = 0.05


@dataclass(frozen=True, slots=True, kw_only=True)
class BrokenCorrelation:
    """One broken correlation matrix over the window's moving factors."""

    mode: str
    pairs: tuple[Pair, ...]
    labels: tuple[str, ...]
    matrix: FloatArray
    repaired: bool
    frobenius_repair: float
    achieved: Mapping[str, float]
    before: Mapping[str, float]
    side_effects: Mapping[str, tuple[float, float]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (the matrix as nested lists)."""
        return {
            "mode": self.mode,
            "pairs": [f"{a}:{b}" for a, b in self.pairs],
            "labels": list(self.labels),
            "matrix": self.matrix.round(6).tolist(),
            "repaired": self.repaired,
            "frobenius_repair": self.frobenius_repair,
            "correlation_before": dict(self.before),
            "correlation_after": dict(self.achieved),
            "repair_side_effects": {k: list(v) for k, v in self.side_effects.items()},
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class BreakdownRow:
    """ES of one account under one broken correlation vs its margin held."""

    account: str
    mode: str
    pair: str  # "BTC:SPX" for a single offset pair, "all" for every pair broken at once
    baseline: float
    broken: float
    margin: float

    @property
    def shortfall(self) -> float:
        """``max(0, broken − margin held)``."""
        return max(0.0, self.broken - self.margin)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "account": self.account,
            "mode": self.mode,
            "pair": self.pair,
            "baseline": self.baseline,
            "broken": self.broken,
            "margin": self.margin,
            "shortfall": self.shortfall,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class CorrelationBreakdown:
    """Every mode's broken matrix and the per-account / per-pair ES and shortfall."""

    confidence: float
    mpor: int
    window: tuple[str, str]
    matrices: tuple[BrokenCorrelation, ...]
    rows: tuple[BreakdownRow, ...]
    stressed_source: str = ""
    notes: tuple[str, ...] = field(default_factory=tuple)

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
            "window": list(self.window),
            "stressed_source": self.stressed_source,
            "matrices": [m.to_dict() for m in self.matrices],
            "rows": [r.to_dict() for r in self.rows],
            "notes": list(self.notes),
        }


def _corr(daily: FloatArray) -> FloatArray:
    return np.atleast_2d(np.asarray(np.corrcoef(daily, rowvar=False), dtype=np.float64))


def _pair_index(
    pairs: Sequence[Pair], labels: Sequence[str], where: str
) -> tuple[list[tuple[int, int]], list[Pair]]:
    idx, kept = [], []
    for a, b in pairs:
        if a in labels and b in labels:
            idx.append((labels.index(a), labels.index(b)))
            kept.append((a, b))
    if pairs and not kept:
        raise InputError(
            f"none of the pairs {', '.join(f'{a}:{b}' for a, b in pairs)} is a pair of "
            f"underlyings that move in {where} (have {', '.join(labels)})"
        )
    return idx, kept


def break_correlation(
    corr: FloatArray,
    labels: Sequence[str],
    mode: str,
    pairs: Sequence[Pair],
    *,
    blend: float = 1.0,
    stressed: FloatArray | None = None,
) -> BrokenCorrelation:
    """Apply ``mode`` to the ``pairs`` entries of ``corr`` and repair (module docstring)."""
    if mode not in MODES:
        raise InputError(f"unknown correlation mode {mode!r}: use one of {', '.join(MODES)}")
    idx, kept = _pair_index(pairs, labels, "the window")
    adj: CorrelationAdjustment
    if mode in ("plus", "minus"):
        adj = push_correlations(
            corr, toward=1.0 if mode == "plus" else -1.0, blend=blend, pairs=idx
        )
    elif mode == "flip":
        adj = flip_correlation_signs(corr, idx)
    else:
        if stressed is None:
            raise InputError("mode 'stressed' needs a crisis correlation matrix")
        target = corr.copy()
        for i, j in idx:
            target[i, j] = target[j, i] = stressed[i, j]
        adj = blend_correlations(corr, target, blend=blend)
    chosen = {frozenset(p) for p in idx}
    moved = {
        f"{labels[i]}:{labels[j]}": (float(corr[i, j]), float(adj.matrix[i, j]))
        for i in range(len(labels))
        for j in range(i + 1, len(labels))
        if frozenset((i, j)) not in chosen and abs(adj.matrix[i, j] - corr[i, j]) > SIDE_EFFECT
    }
    return BrokenCorrelation(
        side_effects=moved,
        mode=mode,
        pairs=tuple(kept),
        labels=tuple(labels),
        matrix=adj.matrix,
        repaired=adj.repaired,
        frobenius_repair=adj.frobenius_repair,
        achieved={
            f"{a}:{b}": float(adj.matrix[i, j]) for (a, b), (i, j) in zip(kept, idx, strict=True)
        },
        before={f"{a}:{b}": float(corr[i, j]) for (a, b), (i, j) in zip(kept, idx, strict=True)},
    )


def _es_by_account(
    window: FactorWindow,
    daily: FloatArray,
    portfolio: Portfolio,
    snapshot: MarketSnapshot,
    label: str,
) -> FloatArray:
    losses = account_losses(portfolio, snapshot, window.scenarios(daily, label=label))
    es: FloatArray = np.maximum(var_es(-losses, window.confidence).es, 0.0)
    return es


def correlation_breakdown(
    portfolio: Portfolio,
    snapshot: MarketSnapshot,
    window: FactorWindow,
    held: HeldMargin,
    *,
    modes: Sequence[str] = ("plus", "minus"),
    pairs: Sequence[Pair] | None = None,
    blend: float = 1.0,
    stressed: tuple[tuple[str, ...], FloatArray] | None = None,
    stressed_source: str = "",
    per_pair: bool = True,
) -> CorrelationBreakdown:
    """Margin every account under each broken correlation (see the module docstring).

    Parameters
    ----------
    window : FactorWindow
        The ES model's daily joint moves (or any window: the tests pass a synthetic one).
    held : HeldMargin
        The netted margin each account holds.
    modes : sequence of {"plus", "minus", "flip", "stressed"}
        Which breaks to run.
    pairs : sequence of (str, str), optional
        Spot pairs to break (default :func:`offset_pairs`).
    blend : float
        ``b`` in [0, 1] for plus/minus/stressed.
    stressed : (labels, matrix), optional
        The crisis correlation for ``stressed``; its labels must cover the window's moving
        factors that the broken pairs involve.
    per_pair : bool
        Also break each account's offset pairs one at a time.
    """
    free, twins = free_columns(window.daily)
    labels = [window.labels[c] for c in free]
    alias = {window.labels[c]: window.labels[rep] for c, (rep, _, _) in twins.items()}
    sub = window.daily[:, free]
    corr = _corr(sub)
    chosen = tuple(pairs) if pairs is not None else offset_pairs(portfolio)
    for a, b in chosen:
        for u in (a, b):
            if u not in window.underlyings:
                raise InputError(
                    f"pair {a}:{b}: {u} is not an underlying of the book "
                    f"({', '.join(window.underlyings)})"
                )
    target = None
    if "stressed" in modes:
        if stressed is None:
            raise InputError("mode 'stressed' needs a crisis correlation matrix")
        target = _align(stressed, labels, corr)
    base = _es_by_account(window, window.daily, portfolio, snapshot, "baseline")
    accounts = portfolio.accounts
    unds = account_underlyings(portfolio)
    matrices: list[BrokenCorrelation] = []
    rows: list[BreakdownRow] = []
    notes: list[str] = []

    def run(mode: str, which: Sequence[Pair], tag: str) -> FloatArray | None:
        mapped = [(alias.get(a, a), alias.get(b, b)) for a, b in which]
        try:
            broken = break_correlation(corr, labels, mode, mapped, blend=blend, stressed=target)
        except InputError:
            if tag == "all":
                raise
            notes.append(f"pair {tag}: a factor does not move in the window; not broken")
            return None
        if tag == "all":
            matrices.append(broken)
        daily = window.daily.copy()
        daily[:, free] = recorrelate(sub, broken.matrix)
        for c, (rep, intercept, slope) in twins.items():
            daily[:, c] = intercept + slope * daily[:, rep]
        return _es_by_account(window, daily, portfolio, snapshot, f"{mode} {tag}")

    for mode in modes:
        es_all = run(mode, chosen, "all")
        assert es_all is not None
        for j, acc in enumerate(accounts):
            rows.append(_row(acc, mode, "all", base[j], es_all[j], held))
        if not per_pair:
            continue
        for pair in chosen:
            holders = [j for j, acc in enumerate(accounts) if set(pair) <= set(unds[acc])]
            if not holders:
                continue
            es_pair = run(mode, [pair], f"{pair[0]}:{pair[1]}")
            if es_pair is None:
                continue
            for j in holders:
                rows.append(
                    _row(accounts[j], mode, f"{pair[0]}:{pair[1]}", base[j], es_pair[j], held)
                )
    return CorrelationBreakdown(
        confidence=window.confidence,
        mpor=window.mpor,
        window=(window.dates[0], window.dates[-1]),
        matrices=tuple(matrices),
        rows=tuple(rows),
        stressed_source=stressed_source if "stressed" in modes else "",
        notes=tuple(dict.fromkeys(notes)),
    )


def _row(
    acc: str, mode: str, pair: str, base: float, broken: float, held: HeldMargin
) -> BreakdownRow:
    return BreakdownRow(
        account=acc,
        mode=mode,
        pair=pair,
        baseline=float(base),
        broken=float(broken),
        margin=held.required[acc],
    )


def _align(
    stressed: tuple[tuple[str, ...], FloatArray], labels: Sequence[str], corr: FloatArray
) -> FloatArray:
    """The crisis matrix on ``labels``; entries it lacks (or NaN) keep the window's value."""
    names, matrix = stressed
    out = corr.copy()
    for i, a in enumerate(labels):
        for j, b in enumerate(labels):
            if i != j and a in names and b in names:
                v = float(matrix[names.index(a), names.index(b)])
                if math.isfinite(v):
                    out[i, j] = v
    return out


__all__ = [
    "MODES",
    "BreakdownRow",
    "BrokenCorrelation",
    "CorrelationBreakdown",
    "Pair",
    "break_correlation",
    "correlation_breakdown",
    "free_columns",
    "load_correlation_override",
    "offset_pairs",
    "parse_pairs",
]
