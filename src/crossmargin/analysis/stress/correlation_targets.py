"""Target correlations of a correlation break: the user's modes and the adverse direction.

Correlations here are **normal-score** (van der Waerden) correlations of the netting set's
h-step spot moves (:func:`crossmargin.stats.normal_score_correlation`): the dependence the
rank re-ordering of :mod:`.correlation` imposes. For the chosen pairs ``P``:

=========  ==========================================================================
adverse    per account, each pair pushed toward whichever of ``+1`` / ``−1`` raises that
           account's ES (``ρ' = (1 − b)·ρ + b·s``, ``s = ±1`` per pair, every sign vector
           tried up to :data:`EXHAUSTIVE_PAIRS` pairs, coordinate ascent beyond)
plus       ``ρ' = (1 − b)·ρ + b·(+1)``
minus      ``ρ' = (1 − b)·ρ + b·(−1)``
flip       ``ρ' = −ρ``
stressed   ``C' = (1 − b)·C + b·C_crisis`` on the pairs' entries (a crisis window's
           normal-score correlation of the same underlyings, or a user matrix)
=========  ==========================================================================

``b`` is the blend (default 1). A target that is not a correlation matrix is replaced by the
nearest one (Higham 2002, :func:`crossmargin.stats.nearest_correlation`); the repair distance
and every other entry it moved by more than :data:`SIDE_EFFECT` are reported.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from crossmargin.analysis.stress.common import FloatArray
from crossmargin.analysis.stress.correlation_inputs import Pair
from crossmargin.errors import InputError
from crossmargin.stats.correlation import (
    CorrelationAdjustment,
    blend_correlations,
    flip_correlation_signs,
    push_correlations,
)

MODES = ("adverse", "plus", "minus", "flip", "stressed")
EXPLICIT = MODES[1:]
#: Up to this many pairs every sign vector is tried for the adverse direction.
EXHAUSTIVE_PAIRS = 6
#: A correlation not chosen for breaking that the repair moves by more than this is reported.
SIDE_EFFECT = 0.05


@dataclass(frozen=True, slots=True, kw_only=True)
class BrokenCorrelation:
    """One target correlation matrix over a netting set's moving underlyings."""

    mode: str
    pairs: tuple[Pair, ...]
    labels: tuple[str, ...]
    matrix: FloatArray
    repaired: bool
    frobenius_repair: float
    target: Mapping[str, float]
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
            "correlation_target": dict(self.target),
            "repair_side_effects": {k: list(v) for k, v in self.side_effects.items()},
        }


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


def _result(
    corr: FloatArray,
    labels: Sequence[str],
    mode: str,
    idx: list[tuple[int, int]],
    kept: list[Pair],
    adj: CorrelationAdjustment,
) -> BrokenCorrelation:
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
        target={
            f"{a}:{b}": float(adj.matrix[i, j]) for (a, b), (i, j) in zip(kept, idx, strict=True)
        },
        before={f"{a}:{b}": float(corr[i, j]) for (a, b), (i, j) in zip(kept, idx, strict=True)},
    )


def break_correlation(
    corr: FloatArray,
    labels: Sequence[str],
    mode: str,
    pairs: Sequence[Pair],
    *,
    blend: float = 1.0,
    stressed: FloatArray | None = None,
) -> BrokenCorrelation:
    """Apply an explicit ``mode`` to the ``pairs`` entries of ``corr`` and repair."""
    if mode not in EXPLICIT:
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
    return _result(corr, labels, mode, idx, kept, adj)


def signed_target(
    corr: FloatArray,
    labels: Sequence[str],
    signs: Mapping[Pair, float],
    *,
    blend: float = 1.0,
) -> BrokenCorrelation:
    """Each pair pushed toward its own sign: ``ρ' = (1 − b)·ρ + b·s`` (then repaired)."""
    idx, kept = _pair_index(list(signs), labels, "the window")
    target = corr.copy()
    for (a, b), (i, j) in zip(kept, idx, strict=True):
        target[i, j] = target[j, i] = (1.0 - blend) * corr[i, j] + blend * signs[(a, b)]
    adj = blend_correlations(corr, target, blend=1.0)
    return _result(corr, labels, "adverse", idx, kept, adj)


def adverse_signs(
    pairs: Sequence[Pair], score: Callable[[tuple[float, ...]], FloatArray]
) -> list[tuple[tuple[float, ...], float]]:
    """Per account (the columns of ``score``'s result), the sign vector over ``pairs`` with
    the largest score and that score: exhaustive up to :data:`EXHAUSTIVE_PAIRS` pairs, else
    coordinate ascent from the best of all-plus and all-minus (flip one pair at a time while
    it raises the score)."""
    k = len(pairs)
    if k <= EXHAUSTIVE_PAIRS:
        vectors = list(itertools.product((1.0, -1.0), repeat=k))
        scores = np.array([score(v) for v in vectors])  # (vectors, accounts)
        best = np.argmax(scores, axis=0)
        return [(vectors[b], float(scores[b, j])) for j, b in enumerate(best)]
    out = []
    n_accounts = score((1.0,) * k).size
    for j in range(n_accounts):
        start = max(((1.0,) * k, (-1.0,) * k), key=lambda v: float(score(v)[j]))
        current, value = start, float(score(start)[j])
        improved = True
        while improved:
            improved = False
            for p in range(k):
                trial = tuple(-s if q == p else s for q, s in enumerate(current))
                v = float(score(trial)[j])
                if v > value + 1e-9:
                    current, value, improved = trial, v, True
        out.append((current, value))
    return out


__all__ = [
    "EXHAUSTIVE_PAIRS",
    "EXPLICIT",
    "MODES",
    "SIDE_EFFECT",
    "BrokenCorrelation",
    "adverse_signs",
    "break_correlation",
    "signed_target",
]
