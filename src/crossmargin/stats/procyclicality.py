"""Margin procyclicality measures (EMIR RTS 153/2013 Art 28; METHODS §4.1, §8).

* :func:`peak_to_trough` — the largest fall and the largest rise of the margin between any
  two observations at most ``window − 1`` apart (i.e. inside one rolling window of
  ``window`` observations, 30 by default), in percent of the earlier margin.
* :func:`margin_change_es` / :func:`ice_procyclicality` — ICE Clear Europe's monitoring
  measure: the 95% expected shortfall of h-day percentage margin *increases* (5-day short
  term, 30-day long term) over a rolling 250-observation window. ICE's published
  amber/red thresholds (short term 50%/100%, long term 125%/250%) are parameters of the
  caller, not of this module.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import sliding_window_view

from crossmargin.errors import InputError
from crossmargin.stats._checks import (
    FloatArray,
    IntArray,
    as_scenario_array,
    check_open_unit,
    check_positive_int,
)
from crossmargin.stats.tail import tail_count, var_es_by_count


@dataclass(frozen=True, slots=True, kw_only=True)
class PeakToTrough:
    """Largest margin fall and rise inside a rolling window, in percent.

    ``max_fall_pct = max (mᵢ − mⱼ)/mᵢ·100`` and ``max_rise_pct = max (mⱼ − mᵢ)/mᵢ·100`` over
    pairs ``i < j ≤ i + window − 1``; both floored at 0. ``fall_from``/``fall_to`` (and
    ``rise_from``/``rise_to``) are the observation indices ``i, j`` attaining them. Arrays
    have shape ``()`` for a single margin series or ``(n_series,)``.
    """

    window: int
    max_fall_pct: FloatArray
    fall_from: IntArray
    fall_to: IntArray
    max_rise_pct: FloatArray
    rise_from: IntArray
    rise_to: IntArray


@dataclass(frozen=True, slots=True, kw_only=True)
class ProcyclicalityES:
    """ICE-style rolling ES of short- and long-horizon % margin increases.

    ``short_term_pct[t]`` / ``long_term_pct[t]`` is the ES over the window of ``lookback``
    changes ending at margin observation ``end_index[t]``.
    """

    short_horizon: int
    long_horizon: int
    lookback: int
    confidence: float
    end_index: IntArray
    short_term_pct: FloatArray
    long_term_pct: FloatArray


def _margins(margin_by_day: npt.ArrayLike) -> FloatArray:
    m = as_scenario_array(margin_by_day, name="margin_by_day", min_rows=2)
    if (m <= 0).any():
        where = tuple(int(i) for i in np.argwhere(m <= 0)[0])
        raise InputError(
            "margin_by_day must be positive to form % changes; "
            f"found {float(m[where])!r} at {where}"
        )
    return m


def peak_to_trough(margin_by_day: npt.ArrayLike, *, window: int = 30) -> PeakToTrough:
    """Largest % fall and rise of margin within any ``window`` consecutive observations.

    Parameters
    ----------
    margin_by_day:
        Positive margins in date order, shape ``(n_days,)`` or ``(n_days, n_series)``.
        If ``n_days < window`` the whole series is one window.
    window:
        Rolling window length in observations (≥ 2).
    """
    m = _margins(margin_by_day)
    window = check_positive_int(window, name="window", minimum=2)
    n = m.shape[0]
    shape = m.shape[1:]
    best_fall = np.full(shape, -np.inf)
    best_rise = np.full(shape, -np.inf)
    idx = {key: np.zeros(shape, dtype=np.intp) for key in ("ff", "ft", "rf", "rt")}
    for lag in range(1, min(window, n)):
        change = m[lag:] / m[:-lag] - 1.0
        for sign, best, k_from, k_to in (
            (-1.0, best_fall, "ff", "ft"),
            (1.0, best_rise, "rf", "rt"),
        ):
            signed = sign * change
            pos = np.argmax(signed, axis=0)
            value = np.take_along_axis(signed, np.expand_dims(pos, 0), axis=0)[0]
            better = value > best
            best[...] = np.where(better, value, best)
            idx[k_from][...] = np.where(better, pos, idx[k_from])
            idx[k_to][...] = np.where(better, pos + lag, idx[k_to])
    return PeakToTrough(
        window=window,
        max_fall_pct=np.asarray(100.0 * np.maximum(best_fall, 0.0), dtype=np.float64),
        fall_from=idx["ff"],
        fall_to=idx["ft"],
        max_rise_pct=np.asarray(100.0 * np.maximum(best_rise, 0.0), dtype=np.float64),
        rise_from=idx["rf"],
        rise_to=idx["rt"],
    )


def margin_change_es(
    margin_by_day: npt.ArrayLike,
    horizon: int,
    *,
    confidence: float = 0.95,
    lookback: int = 250,
) -> tuple[IntArray, FloatArray]:
    """Rolling ES of h-day % margin increases (upper tail), in percent.

    ``cₜ = 100·(mₜ/mₜ₋ₕ − 1)`` for every day t ≥ h (overlapping); for each window of
    ``lookback`` consecutive changes, ES is the mean of the ``k = ⌈(1−α)·lookback⌉``
    largest changes (13 of 250 at 95%), the same tail convention as
    :func:`crossmargin.stats.tail.var_es`.

    Returns
    -------
    end_index, es_pct:
        ``end_index[t]`` is the margin observation that closes window t;
        ``es_pct`` has shape ``(n_windows,)`` or ``(n_windows, n_series)``.
    """
    m = _margins(margin_by_day)
    horizon = check_positive_int(horizon, name="horizon")
    lookback = check_positive_int(lookback, name="lookback")
    alpha = check_open_unit(confidence, name="confidence")
    n = m.shape[0]
    if n < horizon + lookback:
        raise InputError(
            f"need at least horizon + lookback = {horizon + lookback} margin observations, "
            f"got {n}; pass a shorter lookback"
        )
    changes = 100.0 * (m[horizon:] / m[:-horizon] - 1.0)
    windows = np.moveaxis(sliding_window_view(changes, lookback, axis=0), -1, 0)
    flat = windows.reshape(lookback, -1)
    k = tail_count(alpha, lookback)
    # −mean of the k smallest of (−c) = mean of the k largest increases c.
    es = var_es_by_count(-flat, k).es
    es = np.asarray(es.reshape(windows.shape[1:]), dtype=np.float64)
    end_index = np.arange(horizon + lookback - 1, n, dtype=np.intp)
    return end_index, es


def ice_procyclicality(
    margin_by_day: npt.ArrayLike,
    *,
    short_horizon: int = 5,
    long_horizon: int = 30,
    confidence: float = 0.95,
    lookback: int = 250,
) -> ProcyclicalityES:
    """ICE Clear Europe procyclicality monitor: ES of 5-day and 30-day % margin increases.

    Both series are aligned on the same window ends (those available for the longer
    horizon). Source: ICE Clear Europe procyclicality monitoring as summarised in
    METHODS §4.1.
    """
    if long_horizon < short_horizon:
        raise InputError("long_horizon must be at least short_horizon")
    end_long, es_long = margin_change_es(
        margin_by_day, long_horizon, confidence=confidence, lookback=lookback
    )
    _, es_short = margin_change_es(
        margin_by_day, short_horizon, confidence=confidence, lookback=lookback
    )
    offset = long_horizon - short_horizon
    return ProcyclicalityES(
        short_horizon=short_horizon,
        long_horizon=long_horizon,
        lookback=lookback,
        confidence=float(check_open_unit(confidence, name="confidence")),
        end_index=end_long,
        short_term_pct=es_short[offset:],
        long_term_pct=es_long,
    )


__all__ = [
    "PeakToTrough",
    "ProcyclicalityES",
    "ice_procyclicality",
    "margin_change_es",
    "peak_to_trough",
]
