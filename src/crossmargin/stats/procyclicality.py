"""Margin procyclicality measures (EMIR RTS 153/2013 Art 28; METHODS §4.1, §8).

* :func:`peak_to_trough` — the largest fall and the largest rise of the margin between any
  two observations at most ``window − 1`` apart (i.e. inside one rolling window of
  ``window`` observations, 30 by default), in percent of the earlier margin.
* :func:`margin_change_es` / :func:`ice_procyclicality` — ICE Clear Europe's monitoring
  measure: the 95% expected shortfall of h-day percentage margin *increases* (5-day short
  term, 30-day long term) over a rolling 250-observation window. ICE's published
  amber/red thresholds (short term 50%/100%, long term 125%/250%) are parameters of the
  caller, not of this module.
* :func:`peak_to_trough_ratio` and :func:`max_increase` — the measures of Murphy, Vasios
  and Vause (2014), "An investigation into the procyclicality of risk-based initial margin
  models", Bank of England Financial Stability Paper 29, §3: the ratio of the highest to
  the lowest margin over the whole period, and the largest n-day increase
  ``max_t (m_{t+n}/m_t − 1)`` (they use n = 1 and 30 days).
* :func:`apc_buffer` — the EMIR RTS 153/2013 Art 28(1)(a) buffer run down in stress: a
  buffer of ``b`` (≥ 25%) of the calculated margin in normal times, "temporarily exhausted
  in periods where calculated margin requirements are rising significantly".
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


@dataclass(frozen=True, slots=True, kw_only=True)
class PeakTroughRatio:
    """Highest over lowest margin of the whole series and where they are (indices)."""

    ratio: float
    peak: int
    trough: int


def peak_to_trough_ratio(margin_by_day: npt.ArrayLike) -> PeakTroughRatio:
    """``max(m)/min(m)`` over the whole 1-D series (Murphy, Vasios and Vause 2014)."""
    m = _margins(margin_by_day)
    if m.ndim != 1:
        raise InputError("peak_to_trough_ratio takes one margin series (1-D)")
    hi, lo = int(np.argmax(m)), int(np.argmin(m))
    return PeakTroughRatio(ratio=float(m[hi] / m[lo]), peak=hi, trough=lo)


@dataclass(frozen=True, slots=True, kw_only=True)
class MaxIncrease:
    """The largest ``horizon``-observation margin increase in percent (negative when the
    margin only ever fell over that horizon), from observation ``start`` to ``start +
    horizon``; NaN (and ``start`` −1) when the series is not longer than ``horizon``."""

    horizon: int
    pct: float
    start: int


def max_increase(margin_by_day: npt.ArrayLike, horizon: int) -> MaxIncrease:
    """``max_t 100·(m_{t+h}/m_t − 1)`` over a 1-D series (Murphy, Vasios and Vause 2014)."""
    m = _margins(margin_by_day)
    horizon = check_positive_int(horizon, name="horizon")
    if m.ndim != 1:
        raise InputError("max_increase takes one margin series (1-D)")
    if m.size <= horizon:
        return MaxIncrease(horizon=horizon, pct=float("nan"), start=-1)
    change = m[horizon:] / m[:-horizon] - 1.0
    i = int(np.argmax(change))
    return MaxIncrease(horizon=horizon, pct=float(100.0 * change[i]), start=i)


@dataclass(frozen=True, slots=True, kw_only=True)
class ApcBuffer:
    """Margin collected under an Art 28(1)(a) buffer that runs down in stress.

    ``collected[t]`` is what is called; ``buffer[t] = collected[t]/margin[t] − 1`` the part
    of the buffer left (``buffer_fraction`` when full, 0 when exhausted).
    """

    buffer_fraction: float
    rebuild_steps: int
    margin: FloatArray
    collected: FloatArray

    @property
    def buffer(self) -> FloatArray:
        """Buffer left, as a fraction of the calculated margin."""
        out: FloatArray = self.collected / self.margin - 1.0
        return out

    @property
    def exhausted(self) -> npt.NDArray[np.bool_]:
        """Observations on which the buffer is used up (collected = calculated margin)."""
        out: npt.NDArray[np.bool_] = self.buffer <= 1e-12
        return out


def apc_buffer(
    margin_by_day: npt.ArrayLike, *, buffer: float = 0.25, rebuild_steps: int = 20
) -> ApcBuffer:
    """The buffer rule, with ``m`` the calculated margin and ``b`` the buffer::

        M₀ = (1 + b)·m₀
        Mₜ = min((1 + b)·mₜ, max(mₜ, Mₜ₋₁ + b·mₜ/R))

    The collected margin ``M`` never falls below the calculated one nor exceeds it by more
    than the buffer. While ``m`` rises, ``M`` rises by at most ``b·mₜ/R`` a step until the
    buffer is used up (the buffer absorbs the increase: Art 28(1)(a) "temporarily exhausted
    in periods where calculated margin requirements are rising significantly"); once ``m``
    stops rising the buffer is rebuilt within ``R`` (``rebuild_steps``) steps; as ``m`` falls,
    ``M`` falls with it only once the buffer is full.
    """
    m = _margins(margin_by_day)
    if m.ndim != 1:
        raise InputError("apc_buffer takes one margin series (1-D)")
    if not 0.0 < buffer < 10.0:
        raise InputError(f"the buffer is a fraction of margin, e.g. 0.25; got {buffer}")
    rebuild_steps = check_positive_int(rebuild_steps, name="rebuild_steps")
    out = np.empty_like(m)
    out[0] = (1.0 + buffer) * m[0]
    step = buffer / rebuild_steps
    for i in range(1, m.size):
        out[i] = min((1.0 + buffer) * m[i], max(m[i], out[i - 1] + step * m[i]))
    return ApcBuffer(buffer_fraction=buffer, rebuild_steps=rebuild_steps, margin=m, collected=out)


__all__ = [
    "ApcBuffer",
    "MaxIncrease",
    "PeakToTrough",
    "PeakTroughRatio",
    "ProcyclicalityES",
    "apc_buffer",
    "ice_procyclicality",
    "margin_change_es",
    "max_increase",
    "peak_to_trough",
    "peak_to_trough_ratio",
]
