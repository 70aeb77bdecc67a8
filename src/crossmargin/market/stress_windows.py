"""Stressed windows: the run of consecutive scenarios on which a P&L's VaR or ES is largest.

For one P&L series ``x₀ … x_{n−1}`` (scenarios in date order) and a window of ``w``
scenarios, every window ``[i, i + w)`` gets the measure of :func:`crossmargin.stats.tail.var_es`
at confidence α: with the tail mass ``m = (1 − α)·w``, ``k = ⌈m⌉`` and the window's k
smallest P&Ls ``y₁ ≤ … ≤ y_k``::

    VaR = −y_k          ES = −(1/m)·(Σⱼ<ₖ yⱼ + (m − (k − 1))·y_k)

The stressed window is the first ``i`` with the largest measure (ties go to the earliest).
:func:`worst_windows` does this for many P&L columns at once with a compiled kernel that
never sorts a window: the array is cut into blocks of ``w``; a window is the suffix of one
block and the prefix of the next, so the k smallest of every window are the merge of two
running "k smallest" lists (a van Herk / Gil-Werman decomposition generalised from the
minimum to the k smallest), ``O(n·k)`` per column. A history no longer than the window gives
the whole history. The plain twin (sorting every window) is in the tests.
"""

from __future__ import annotations

from collections.abc import Sequence

import numba
import numpy as np
import numpy.typing as npt
import pandas as pd

from crossmargin.errors import InputError, MarketDataError
from crossmargin.market.history import DateLike, to_timestamp
from crossmargin.stats.tail import tail_count, tail_weights

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@numba.njit(cache=True, nogil=True)
def _insert(buf: FloatArray, value: float) -> None:  # pragma: no cover - compiled
    """Insert ``value`` into the ascending ``buf`` of the k smallest so far (drop the largest)."""
    k = buf.shape[0]
    if value >= buf[k - 1]:
        return
    j = k - 1
    while j > 0 and buf[j - 1] > value:
        buf[j] = buf[j - 1]
        j -= 1
    buf[j] = value


@numba.njit(cache=True, nogil=True)
def best_window(
    x: FloatArray,
    window: int,
    weights: FloatArray,
    var: bool,
    prefix: FloatArray,
    suffix: FloatArray,
    buf: FloatArray,
    merged: FloatArray,
) -> tuple[int, float]:  # pragma: no cover - compiled
    """Best window start of one P&L series ``x`` and its measure (see the module doc);
    ``prefix``/``suffix`` (n, k), ``buf``/``merged`` (k,) are scratch space."""
    n = x.shape[0]
    k = weights.shape[0]
    last = n - window  # the last window start: only prefixes ending a window, suffixes
    for b0 in range(0, n, window):  # starting one, are ever read
        b1 = min(b0 + window, n)
        buf[:] = np.inf
        for j in range(b0, b1):
            _insert(buf, x[j])
            if j >= window - 1:
                prefix[j, :] = buf
        if b0 > last:
            continue
        buf[:] = np.inf
        for j in range(b1 - 1, b0 - 1, -1):
            _insert(buf, x[j])
            if j <= last:
                suffix[j, :] = buf
    best = -np.inf
    best_start = 0
    for i in range(n - window + 1):
        end = i + window - 1
        if i % window == 0:
            merged[:] = prefix[end]
        else:
            a = 0
            c = 0
            for t in range(k):  # the k smallest of two ascending lists
                if suffix[i, a] <= prefix[end, c]:
                    merged[t] = suffix[i, a]
                    a += 1
                else:
                    merged[t] = prefix[end, c]
                    c += 1
        if var:
            score = -merged[k - 1]
        else:
            score = 0.0
            for t in range(k):
                score -= weights[t] * merged[t]
        if score > best:
            best = score
            best_start = i
    return best_start, best


@numba.njit(cache=True, nogil=True)
def _windows_kernel(
    pnl: FloatArray, window: int, weights: FloatArray, var: bool
) -> tuple[IntArray, FloatArray]:  # pragma: no cover - compiled
    """Best window start and its measure per row of ``pnl`` (rows, n); see the module doc."""
    rows, n = pnl.shape
    k = weights.shape[0]
    best_start = np.zeros(rows, dtype=np.int64)
    best_value = np.empty(rows)
    prefix = np.empty((n, k))
    suffix = np.empty((n, k))
    buf = np.empty(k)
    merged = np.empty(k)
    for r in range(rows):
        best_start[r], best_value[r] = best_window(
            pnl[r], window, weights, var, prefix, suffix, buf, merged
        )
    return best_start, best_value


def window_weights(window: int, confidence: float, measure: str) -> FloatArray:
    """The weights :func:`best_window` ranks windows of ``window`` scenarios with: the ES
    tail weights (:func:`crossmargin.stats.tail.tail_weights`), or ``k`` zeros for VaR."""
    if measure == "var":
        return np.zeros(tail_count(confidence, window))
    return tail_weights(confidence, window)


def worst_windows(
    pnl_by_scenario: npt.ArrayLike, window: int, confidence: float, *, measure: str = "es"
) -> tuple[IntArray, FloatArray]:
    """Start of the stressed window of each column of ``pnl_by_scenario`` and its measure.

    Parameters
    ----------
    pnl_by_scenario : array (n_scenarios,) or (n_scenarios, n_columns)
        P&L per scenario in date order (gain > 0).
    window : int
        Scenarios per window (>= 1).
    confidence : float
        α of the measure.
    measure : {"es", "var"}
        Which tail measure ranks the windows.

    Returns
    -------
    (starts, values)
        Window start per column and the (loss-positive) measure of that window; a history no
        longer than ``window`` gives start 0 and the measure of the whole history.
    """
    pnl = np.asarray(pnl_by_scenario, dtype=np.float64)
    if pnl.ndim == 1:
        pnl = pnl[:, np.newaxis]
    if pnl.ndim != 2 or pnl.shape[0] == 0:
        raise InputError("pnl_by_scenario must be a non-empty (scenarios,) or 2-D array")
    if window < 1:
        raise InputError(f"the stressed window must be >= 1 scenario, got {window}")
    if measure not in ("es", "var"):
        raise InputError(f"unknown measure {measure!r}: use 'es' or 'var'")
    if not np.all(np.isfinite(pnl)):
        raise InputError("pnl_by_scenario contains NaN or infinite values")
    w = min(int(window), pnl.shape[0])
    weights = window_weights(w, confidence, measure)
    starts, values = _windows_kernel(np.ascontiguousarray(pnl.T), w, weights, measure == "var")
    return starts, values


def worst_window(
    book_pnl: npt.ArrayLike, window: int, confidence: float, *, measure: str = "es"
) -> tuple[int, int]:
    """``(start, stop)`` of the stressed window of one P&L series (see :func:`worst_windows`)."""
    pnl = np.asarray(book_pnl, dtype=np.float64)
    if pnl.ndim != 1 or pnl.size == 0:
        raise InputError("book_pnl must be a non-empty 1-D P&L vector")
    starts, _ = worst_windows(pnl, window, confidence, measure=measure)
    start = int(starts[0])
    return start, start + min(int(window), pnl.size)


def window_by_dates(names: Sequence[str], start: DateLike, end: DateLike) -> tuple[int, int]:
    """``(start, stop)`` positions of the scenarios named by dates in ``[start, end]``."""
    when = pd.DatetimeIndex(pd.to_datetime(list(names)))
    lo, hi = to_timestamp(start), to_timestamp(end)
    if lo > hi:
        raise InputError(f"stress window start {lo:%Y-%m-%d} is after its end {hi:%Y-%m-%d}")
    inside = np.flatnonzero((when >= lo) & (when <= hi))
    if inside.size == 0:
        raise MarketDataError(
            f"no scenario dated in the stress window {lo:%Y-%m-%d}..{hi:%Y-%m-%d} (history "
            f"{names[0]}..{names[-1]}); give dates inside the history up to the as-of date"
        )
    return int(inside[0]), int(inside[-1]) + 1


__all__ = ["best_window", "window_by_dates", "window_weights", "worst_window", "worst_windows"]
