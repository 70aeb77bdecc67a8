"""SPAN spread definitions and the vectorised spreading steps of :mod:`span_core`.

Every step works on all rows of a book at once; the only Python loops are over spreads in
priority order (inherently sequential: each spread consumes the deltas the next one sees).

**Delta-based spreads** (:class:`Spread`, intra- and inter-commodity; CME SPAN wiki "Intra
Spreads", "Inter Spreads"): legs must offset (opposite signs), ``n = min(|δ_A|/r_A,
|δ_B|/r_B)`` spreads form and both legs move toward zero by ``n·r`` (the spreading loop as in
``marketcalls/marginism``). Charge methods (``method``)::

    flat   n · rate                                          (intra; CME FLAT)
    wpr    rate · WPR_c · n · (r_A + r_B)                    (intra; CME WPR rate type,
                                                              charged on each leg)      [U]
    pmps   n · (rate + per_month_rate · months)              (intra; CME PMPS)          [U]
    delta  credit_leg = n · r_leg · WPR_leg · rate           (inter; CME "Spread Calculations":
                                                              corn/soybeans 2:1 at 55% → $2,700)

**Scanning-based spreads** (:class:`ScanSpread`; CME "Spread Calculations": "scan together as
one target product", +2 30Yr / −3 10Yr at a 70 % credit → $2,840; expanded type "6" record,
method 04, "Gain Allowance Percentage"): ``n = min_l |δ_l|/r_l`` spreads form when the A legs
share one sign and the B legs the other; the fraction ``f_l = n·r_l/|δ_l|`` of each leg's CC
is scanned together, per scenario ``j``::

    P_l[j] = f_l · L_l[j]                   (L_l: the CC's weighted scenario loss, loss > 0)
    S[j]   = Σ_l max(P_l[j], 0) − rate · Σ_l max(−P_l[j], 0)     (gains count at ``rate``)
    scan   = max(max_j S[j], 0)             charged on the target CC

and the rest ``1 − f_l`` of each leg stays in its CC (its scenario losses and tier deltas are
scaled by ``1 − f_l``: the spread takes a proportional share of the CC's positions [U]; exact
for CME's illustration, where each leg is one futures position). With two legs ``S`` is CME's
"loss of one leg minus 70 % of the gain of the other" reproduced scenario by scenario.

"Super" spreads (``is_super``; CME advisory 09-81) are evaluated before the intra-commodity
spreads: super scanning spreads, then the other scanning spreads, then super delta spreads,
then intra spreads, the spot-month charge and the remaining delta spreads.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from crossmargin.errors import InputError

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

INTRA_METHODS = ("flat", "wpr", "pmps")
INTER_METHODS = ("delta",)


@dataclass(frozen=True, slots=True, kw_only=True)
class Spread:
    """A delta-based spread between leg ``a`` and leg ``b`` (tier ids or CC ids).

    ``ratio_a``/``ratio_b`` are the deltas per spread of each leg; ``rate`` is the flat
    charge per spread (``flat``), the fraction of the weighted price risk charged per leg
    (``wpr``), the per-spread rate (``pmps``, with ``per_month_rate · months`` added), or the
    credit rate (``delta``, inter-commodity). ``is_super`` marks a super inter spread.
    """

    a: int
    b: int
    ratio_a: float = 1.0
    ratio_b: float = 1.0
    rate: float = 0.0
    method: str = "flat"
    per_month_rate: float = 0.0
    months: float = 0.0
    is_super: bool = False

    def __post_init__(self) -> None:
        if self.a == self.b:
            raise InputError(f"a spread needs two different legs, got {self.a} twice")
        if not (self.ratio_a > 0 and self.ratio_b > 0):
            raise InputError("spread delta ratios must be > 0")
        for name in ("rate", "per_month_rate", "months"):
            value = getattr(self, name)
            if not (np.isfinite(value) and value >= 0):
                raise InputError(f"spread {name} must be finite and >= 0, got {value}")
        if self.method not in (*INTRA_METHODS, *INTER_METHODS):
            raise InputError(
                f"unknown spread method {self.method!r}: use one of "
                f"{', '.join((*INTRA_METHODS, *INTER_METHODS))}"
            )


@dataclass(frozen=True, slots=True, kw_only=True)
class ScanSpread:
    """A scanning-based inter-commodity spread over CC legs (see the module docstring).

    ``sides`` are ``"A"``/``"B"`` per leg, ``ratios`` the deltas per spread, ``rate`` the
    gain allowance (credit rate, 0..1), ``target`` the CC charged with the spread's scan.
    """

    legs: tuple[int, ...]
    ratios: tuple[float, ...]
    sides: tuple[str, ...]
    rate: float
    target: int
    is_super: bool = False

    def __post_init__(self) -> None:
        k = len(self.legs)
        if k < 2 or len(set(self.legs)) != k:
            raise InputError(f"a scanning spread needs two or more distinct legs, got {self.legs}")
        if len(self.ratios) != k or len(self.sides) != k:
            raise InputError("a scanning spread needs one ratio and one side per leg")
        if not all(r > 0 for r in self.ratios):
            raise InputError("scanning spread delta ratios must be > 0")
        if any(side not in ("A", "B") for side in self.sides):
            raise InputError(f"scanning spread sides must be 'A' or 'B', got {self.sides}")
        if not (0.0 <= self.rate <= 1.0):
            raise InputError(f"scanning spread credit rate must be in [0, 1], got {self.rate}")
        if self.target not in self.legs:
            raise InputError("the target of a scanning spread must be one of its legs")


def spread_delta(deltas: FloatArray, spreads: Sequence[Spread]) -> list[tuple[Spread, FloatArray]]:
    """Form ``spreads`` in priority order on ``deltas`` (rows, legs), in place.

    Returns the number of spreads formed per row for each spread (legs must offset).
    """
    formed = []
    for spread in spreads:
        da, db = deltas[:, spread.a], deltas[:, spread.b]
        offset = np.sign(da) * np.sign(db) < 0
        n = np.where(
            offset, np.minimum(np.abs(da) / spread.ratio_a, np.abs(db) / spread.ratio_b), 0.0
        )
        deltas[:, spread.a] = da - np.sign(da) * n * spread.ratio_a
        deltas[:, spread.b] = db - np.sign(db) * n * spread.ratio_b
        formed.append((spread, n))
    return formed


def intra_charge(spread: Spread, n: FloatArray, wpr: FloatArray) -> FloatArray:
    """Charge of ``n`` intra spreads (rows,) under the spread's method (module docstring)."""
    if spread.method == "wpr":
        out: FloatArray = spread.rate * wpr * n * (spread.ratio_a + spread.ratio_b)
        return out
    if spread.method == "pmps":
        return n * (spread.rate + spread.per_month_rate * spread.months)
    return n * spread.rate


def scan_spread_count(cc_delta: FloatArray, spread: ScanSpread) -> FloatArray:
    """Spreads formed per row: ``min_l |δ_l|/r_l`` where A legs share a sign, B the other."""
    legs = np.asarray(spread.legs)
    d = cc_delta[:, legs]
    side = np.array([1.0 if s == "A" else -1.0 for s in spread.sides])
    signed = np.sign(d) * side  # +1 on every leg for long-A/short-B, -1 on every leg mirrored
    valid = np.all(signed == signed[:, :1], axis=1) & (signed[:, 0] != 0)
    n = np.min(np.abs(d) / np.asarray(spread.ratios), axis=1)
    out: FloatArray = np.where(valid, n, 0.0)
    return out


def scan_spread_step(
    loss: FloatArray, cc_delta: FloatArray, spread: ScanSpread
) -> tuple[FloatArray, FloatArray, IntArray]:
    """One scanning spread on ``loss`` (m, rows, s: weighted CC scenario losses).

    Returns ``(fractions (rows, legs), spread scan (rows,), worst scenario (rows,))``; the
    caller scales each leg's losses and tier deltas by ``1 − f``.
    """
    n = scan_spread_count(cc_delta, spread)
    legs = np.asarray(spread.legs)
    absd = np.abs(cc_delta[:, legs])
    frac = np.divide(
        n[:, None] * np.asarray(spread.ratios),
        absd,
        out=np.zeros_like(absd),
        where=absd > 0,
    )
    frac = np.minimum(frac, 1.0)
    portions = frac.T[:, :, None] * loss[legs]  # (legs, rows, s)
    gains = np.maximum(-portions, 0.0).sum(axis=0)
    scanned = np.maximum(portions, 0.0).sum(axis=0) - spread.rate * gains
    worst = np.argmax(scanned, axis=1).astype(np.int64)
    scan = np.maximum(scanned[np.arange(scanned.shape[0]), worst], 0.0)
    return frac, scan, worst


def scale_cc_tiers(tier_delta: FloatArray, tier_cc: IntArray, cc: int, keep: FloatArray) -> None:
    """Scale every tier delta of CC ``cc`` by ``keep`` (rows,), in place."""
    tiers = np.flatnonzero(tier_cc == cc)
    tier_delta[:, tiers] *= keep[:, None]
