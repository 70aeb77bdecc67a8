"""Exceptions, achieved coverage and backtests on overlapping h-day windows.

* :func:`exception_indicator` — exception when the realised loss exceeds the margin held at
  the start of the window (METHODS §9.1).
* :func:`coverage` — achieved coverage ``1 − x/N`` (CPMI-IOSCO public quantitative
  disclosures §6.5) and the average / largest shortfall on exception days.
* :func:`non_overlapping_subsamples` and :func:`subsample_backtest` — with an h-day margin
  period of risk evaluated daily, consecutive windows share ``h − 1`` days, so exceptions
  cluster and binomial tests are mis-sized (METHODS §9.5). Taking every h-th observation
  gives ``h`` sub-samples (offsets ``0 … h−1``) of non-overlapping windows; each is a valid
  sample for the Kupiec / Christoffersen / traffic-light statistics on its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from crossmargin.errors import InputError
from crossmargin.stats._checks import (
    BoolArray,
    FloatArray,
    IntArray,
    as_scenario_array,
    check_positive_int,
)
from crossmargin.stats.backtest import (
    ChristoffersenResult,
    KupiecResult,
    Zone,
    christoffersen,
    kupiec_pof,
    traffic_light_zones,
)

SUBSAMPLE_NOTE = (
    "Statistics are computed separately on each of the h non-overlapping sub-samples "
    "(every h-th observation, offsets 0..h-1), each of about N/h observations, so each "
    "test is correctly sized on its own. The sub-samples are not independent of one "
    "another, so a decision that uses all h of them must adjust for multiple testing: the "
    "reported Bonferroni p-value is min(1, h * smallest p-value), which is conservative "
    "(it never over-rejects at the stated level)."
)


@dataclass(frozen=True, slots=True, kw_only=True)
class CoverageResult:
    """Achieved coverage of a margin series; arrays have shape ``()`` or ``(n_portfolios,)``.

    ``average_shortfall`` and ``max_shortfall`` are ``loss − margin`` averaged / maximised
    over exception days, and ``0.0`` where there is no exception.
    """

    n_obs: int
    n_exceptions: IntArray
    coverage_ratio: FloatArray
    average_shortfall: FloatArray
    max_shortfall: FloatArray


@dataclass(frozen=True, slots=True, kw_only=True)
class SubsampleStats:
    """Backtest statistics of one non-overlapping sub-sample (observations ``offset::h``)."""

    offset: int
    n_obs: int
    n_exceptions: int
    kupiec: KupiecResult
    christoffersen: ChristoffersenResult | None
    zone: Zone


@dataclass(frozen=True, slots=True, kw_only=True)
class SubsampleBacktest:
    """Per-sub-sample statistics for an h-day backtest and their multiple-testing summary."""

    h: int
    p: float
    subsamples: tuple[SubsampleStats, ...]
    bonferroni_p_value_pof: float
    bonferroni_p_value_cc: float | None
    note: str = SUBSAMPLE_NOTE


def _aligned(realised_pnl: npt.ArrayLike, margin_held: npt.ArrayLike) -> tuple[FloatArray, ...]:
    pnl = as_scenario_array(realised_pnl, name="realised_pnl")
    margin = as_scenario_array(margin_held, name="margin_held")
    if pnl.shape != margin.shape:
        raise InputError(
            f"realised_pnl has shape {pnl.shape} but margin_held has {margin.shape}; "
            "align them on the same dates and portfolios"
        )
    return pnl, margin


def exception_indicator(realised_pnl: npt.ArrayLike, margin_held: npt.ArrayLike) -> BoolArray:
    """Exception flags ``−pnl > margin`` (loss strictly above the margin held).

    Parameters
    ----------
    realised_pnl:
        Realised P&L of the static portfolio over each window, day axis first.
    margin_held:
        Margin known at the start of each window (no look-ahead), same shape.
    """
    pnl, margin = _aligned(realised_pnl, margin_held)
    return np.asarray(-pnl > margin, dtype=np.bool_)


def coverage(realised_pnl: npt.ArrayLike, margin_held: npt.ArrayLike) -> CoverageResult:
    """Achieved coverage ``1 − x/N`` and shortfall in exceptions.

    Shortfall on an exception day is ``(−pnl) − margin > 0``; ``average_shortfall`` is its
    mean over the ``x`` exception days.
    """
    pnl, margin = _aligned(realised_pnl, margin_held)
    shortfall = -pnl - margin
    exc = shortfall > 0
    x = exc.sum(axis=0)
    total = np.where(exc, shortfall, 0.0).sum(axis=0)
    average = np.divide(total, x, out=np.zeros_like(total, dtype=np.float64), where=x > 0)
    n = pnl.shape[0]
    return CoverageResult(
        n_obs=n,
        n_exceptions=np.asarray(x, dtype=np.intp),
        coverage_ratio=np.asarray(1.0 - x / n, dtype=np.float64),
        average_shortfall=np.asarray(average, dtype=np.float64),
        max_shortfall=np.asarray(np.where(exc, shortfall, 0.0).max(axis=0), dtype=np.float64),
    )


def non_overlapping_subsamples(values: npt.ArrayLike, h: int) -> tuple[npt.NDArray[Any], ...]:
    """The ``h`` sub-samples ``values[o::h]`` for offsets ``o = 0 … h−1`` (axis 0).

    Within a sub-sample consecutive h-day windows start ``h`` days apart and so share no
    day. Sub-sample lengths differ by at most one when ``h`` does not divide ``N``.
    """
    arr = np.asarray(values)
    h = check_positive_int(h, name="h")
    if arr.ndim == 0 or arr.shape[0] < h:
        raise InputError(
            f"need at least h = {h} observations to form {h} sub-samples, "
            f"got {0 if arr.ndim == 0 else arr.shape[0]}"
        )
    return tuple(arr[o::h] for o in range(h))


def subsample_backtest(exceptions: npt.ArrayLike, p: float, h: int) -> SubsampleBacktest:
    """Kupiec, Christoffersen and traffic-light zone per non-overlapping sub-sample.

    Parameters
    ----------
    exceptions:
        Daily 0/1 exception series of an h-day margin (overlapping windows), date order.
    p:
        Exception probability under the model (0.01 for 99%).
    h:
        Margin period of risk in days (window length).

    Notes
    -----
    See :data:`SUBSAMPLE_NOTE`: per-sub-sample tests are correctly sized; across the h
    sub-samples the Bonferroni p-value ``min(1, h·min p)`` is reported. The zones use
    :func:`~crossmargin.stats.backtest.traffic_light_zones` for each sub-sample's size.
    Christoffersen needs at least 2 observations per sub-sample (``None`` otherwise).
    """
    e = np.asarray(exceptions)
    if e.ndim != 1:
        raise InputError(f"exceptions must be a 1-D daily series, got shape {e.shape}")
    if e.dtype != np.bool_:
        if not np.isin(e, (0, 1)).all():
            raise InputError("exceptions must hold only 0/1 or True/False values")
        e = e.astype(np.bool_)
    stats: list[SubsampleStats] = []
    for offset, sub in enumerate(non_overlapping_subsamples(e, h)):
        n, x = int(sub.shape[0]), int(np.sum(sub))
        stats.append(
            SubsampleStats(
                offset=offset,
                n_obs=n,
                n_exceptions=x,
                kupiec=kupiec_pof(n, x, p),
                christoffersen=christoffersen(sub, p) if n >= 2 else None,
                zone=traffic_light_zones(n, p).zone(x),
            )
        )
    p_pof = min(s.kupiec.p_value for s in stats)
    cc = [s.christoffersen.p_value_cc for s in stats if s.christoffersen is not None]
    return SubsampleBacktest(
        h=h,
        p=float(p),
        subsamples=tuple(stats),
        bonferroni_p_value_pof=min(1.0, h * p_pof),
        bonferroni_p_value_cc=min(1.0, h * min(cc)) if cc else None,
    )


__all__ = [
    "SUBSAMPLE_NOTE",
    "CoverageResult",
    "SubsampleBacktest",
    "SubsampleStats",
    "coverage",
    "exception_indicator",
    "non_overlapping_subsamples",
    "subsample_backtest",
]
