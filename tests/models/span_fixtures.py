"""Shared inputs of the span tests: hand-built market snapshots and textbook risk arrays."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import numpy as np

from crossmargin.instruments import Instrument, parse_symbol
from crossmargin.market import Carry, MarketSnapshot, VolSurface
from crossmargin.models.span import SpanModel
from crossmargin.models.span_core import SpanArrays, Spread
from crossmargin.models.span_params import ScanPoint

NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
SPOTS = {"BTC": 70_000.0, "ETH": 2_000.0, "SPX": 6_800.0, "SPY": 680.0, "QQQ": 610.0}
VOLS = {"BTC": 0.55, "ETH": 0.70, "SPX": 0.18, "SPY": 0.18, "QQQ": 0.22}


def snapshot(*, rates: float = 0.04, carry: bool = True) -> MarketSnapshot:
    """A market built by hand (no history): flat vols; carry 0 everywhere if ``carry`` is off."""
    carries = (
        {
            "SPX": Carry(carry_rate=0.025),
            "SPY": Carry(carry_rate=0.025),
            "QQQ": Carry(carry_rate=0.03),
        }
        if carry
        else {u: Carry(carry_rate=0.0) for u in SPOTS}
    )
    return MarketSnapshot(
        valuation_time=NOW,
        spots=SPOTS,
        vols={u: VolSurface.flat(v) for u, v in VOLS.items()},
        rates={"USD": rates},
        carries=carries,
    )


def instruments(symbols: Sequence[str]) -> tuple[Instrument, ...]:
    """Parse symbols (CME one/two-digit years resolved around 2026)."""
    return tuple(parse_symbol(s, reference_year=2026) for s in symbols)


def scan_points() -> tuple[ScanPoint, ...]:
    """The shipped 16-scenario table (METHODS §2.2 order)."""
    return SpanModel().cc_parameters("SPX").scan_points


def linear_arrays(
    outrights: Sequence[float],
    cc_of: Sequence[int],
    cc_names: Sequence[str],
    *,
    tier_of: Sequence[int] | None = None,
    tier_cc: Sequence[int] | None = None,
    intra: tuple[Spread, ...] = (),
    inter: tuple[Spread, ...] = (),
    extreme_multiple: float = 2.0,
    cover: float = 0.35,
) -> SpanArrays:
    """Risk arrays of futures whose loss is linear in the price move.

    Contract ``i`` loses ``outright_i × f_j`` per long contract in scenario ``j``, ``f_j``
    the price move as a fraction of its scan range (``−1 … +1``; extremes ``±X`` weighted
    by the cover fraction), i.e. its scan risk alone is its outright margin. Composite
    delta 1 per long contract (futures equivalents), as in CME's illustrations.
    """
    pts = scan_points()
    frac = np.array([p.fraction * (extreme_multiple if p.extreme else 1.0) for p in pts])
    out = np.asarray(outrights, dtype=float)
    n, m = len(outrights), len(cc_names)
    tiers = list(cc_of) if tier_of is None else list(tier_of)
    return SpanArrays(
        cc_names=tuple(cc_names),
        scenario_labels=tuple(p.label for p in pts),
        loss=-frac[:, None] * out[None, :],
        weights=np.tile([cover if p.extreme else 1.0 for p in pts], (m, 1)),
        pair=pairs(pts),
        time_scenarios=np.array([0, 1]),
        cc_of=np.asarray(cc_of, dtype=np.int64),
        composite_delta=np.ones(n),
        tier_of=np.asarray(tiers, dtype=np.int64),
        tier_cc=np.asarray(list(range(m)) if tier_cc is None else tier_cc, dtype=np.int64),
        intra_spreads=intra,
        inter_spreads=inter,
    )


def pairs(pts: Sequence[ScanPoint]) -> np.ndarray:
    """Pair of each scenario written out by hand for the METHODS §2.2 table (1/2, 3/4 ...)."""
    assert len(pts) == 16
    return np.array([1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10, 13, 12, 14, 15])
