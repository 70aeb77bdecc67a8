"""Stressed windows: the run of consecutive scenarios on which a P&L's VaR or ES is largest.

For one P&L series ``x₀ … x_{n−1}`` (scenarios in date order) and a window of ``w``
scenarios, every window ``[i, i + w)`` gets the measure of :func:`crossmargin.stats.tail.var_es`
at confidence α: with the tail mass ``m = (1 − α)·w``, ``k = ⌈m⌉`` and the window's k
smallest P&Ls ``y₁ ≤ … ≤ y_k``::

    VaR = −y_k          ES = −(1/m)·(Σⱼ<ₖ yⱼ + (m − (k − 1))·y_k)

The stressed window is the first ``i`` with the largest measure (ties go to the earliest).
:func:`worst_windows` does this for many P&L columns at once with a compiled kernel
(:func:`best_window`) that never sorts a window. Windows this long overlap almost entirely:
sliding by one scenario removes ``x_i`` and adds ``x_{i+w}``, and only the rare scenarios
among a window's smallest change its tail. So the search keeps a sorted list of
*candidates*, at most ``c = max(2k, k + 8)`` (value, scenario) pairs of the current window,
and a threshold θ with::

    every candidate <= θ <= every window value that is not a candidate

Then, while there are at least k candidates, the window's k smallest values are the first k
candidates. A slide drops ``x_i`` if it is a candidate (found by (value, scenario), so the
right one of equal values goes) and offers ``x_{i+w}``: it is taken if below θ (or equal,
while the list is not full); a full list gives up its largest, and θ falls to the smallest
value ever left out. When fewer than k candidates remain the list is built again
from the window, ``O(w + c·log c·log(w/c))`` with a heap. A slide that touches neither of
the first k candidates leaves the measure as it was and is not scored again. Typically a
slide costs two comparisons (``benchmarks/bench_windows.py``); the worst case is a P&L that
rises with the date (the smallest leave first, nothing smaller comes): a rebuild every
``c − k`` slides, ``O(n·w/k)``, slower than the prefix/suffix search. Each measure is
computed from the k smallest ascending exactly as the sort would: the plain twin (sorting
every window) and the previous ``O(n·k)`` prefix/suffix search are in the tests. A history
no longer than the window gives the whole history.
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


#: Candidates kept for a tail of k: a window's ``max(2k, k + 8)`` smallest (see the module doc).
_SPARE_FACTOR = 2
_SPARE_MIN = 8


@numba.njit(cache=True, nogil=True)
def search_scratch(k: int) -> tuple[FloatArray, IntArray]:  # pragma: no cover - compiled
    """Scratch space of :func:`best_window` for a tail of ``k``: the candidates' values and
    scenario indices, ``m = max(2k, k + 8)`` of each."""
    m = max(_SPARE_FACTOR * k, k + _SPARE_MIN)
    return np.empty(m), np.empty(m, dtype=np.int64)


@numba.njit(cache=True, nogil=True)
def _add(
    vals: FloatArray, idx: IntArray, count: int, theta: float, v: float, s: int
) -> tuple[int, float, int]:  # pragma: no cover - compiled
    """Offer scenario ``s`` (P&L ``v``, later than every candidate) to the ascending
    candidates ``vals[:count]``; returns ``(count, θ, position)`` (position ``vals.size``
    if not taken). Keeps: every candidate <= θ <= every window value left out."""
    m = vals.shape[0]
    if count == m:
        if not v < vals[m - 1]:
            if v < theta:
                theta = v
            return count, theta, m
        if vals[m - 1] < theta:  # the largest candidate leaves the list
            theta = vals[m - 1]
        j = m - 1
    else:
        if v > theta:
            return count, theta, m
        j = count
        count += 1
    while j > 0 and vals[j - 1] > v:  # after equal values: (value, scenario) ascending
        vals[j] = vals[j - 1]
        idx[j] = idx[j - 1]
        j -= 1
    vals[j] = v
    idx[j] = s
    return count, theta, j


@numba.njit(cache=True, nogil=True)
def _remove(
    vals: FloatArray, idx: IntArray, count: int, v: float, s: int
) -> tuple[int, int]:  # pragma: no cover - compiled
    """Drop scenario ``s`` (P&L ``v``) from the candidates if it is one; returns
    ``(count, position)`` (position ``vals.size`` if it was not a candidate)."""
    m = vals.shape[0]
    if count == 0 or v > vals[count - 1]:
        return count, m
    lo = 0
    hi = count
    while lo < hi:  # the first candidate >= (v, s) in (value, scenario) order
        mid = (lo + hi) >> 1
        if vals[mid] < v or (vals[mid] == v and idx[mid] < s):
            lo = mid + 1
        else:
            hi = mid
    if lo == count or idx[lo] != s:
        return count, m
    for j in range(lo, count - 1):
        vals[j] = vals[j + 1]
        idx[j] = idx[j + 1]
    return count - 1, lo


@numba.njit(cache=True, nogil=True)
def _sift_down(
    vals: FloatArray, idx: IntArray, size: int, v: float, s: int
) -> None:  # pragma: no cover - compiled
    """Put ``(v, s)`` at the root of the max-heap ``vals[:size]`` (by (value, scenario))
    and sift it down."""
    j = 0
    while True:
        c = 2 * j + 1
        if c >= size:
            break
        if c + 1 < size and (
            vals[c] < vals[c + 1] or (vals[c] == vals[c + 1] and idx[c] < idx[c + 1])
        ):
            c += 1
        if vals[c] < v or (vals[c] == v and idx[c] < s):
            break
        vals[j] = vals[c]
        idx[j] = idx[c]
        j = c
    vals[j] = v
    idx[j] = s


@numba.njit(cache=True, nogil=True)
def _fill(
    x: FloatArray, start: int, window: int, vals: FloatArray, idx: IntArray
) -> tuple[int, float]:  # pragma: no cover - compiled
    """Candidates of the window ``[start, start + window)`` from scratch: ``(count, θ)``.
    The m smallest are kept in a max-heap (O(log m) a take), then heap-sorted ascending."""
    m = vals.shape[0]
    count = 0
    theta = np.inf
    for s in range(start, start + window):
        v = x[s]
        if count < m:  # sift up; (v, s) is later than every candidate
            j = count
            count += 1
            while j > 0:
                p = (j - 1) >> 1
                if vals[p] > v:
                    break
                vals[j] = vals[p]
                idx[j] = idx[p]
                j = p
            vals[j] = v
            idx[j] = s
        elif v < vals[0]:  # the largest candidate leaves for v
            if vals[0] < theta:
                theta = vals[0]
            _sift_down(vals, idx, m, v, s)
        elif v < theta:
            theta = v
    for end in range(count - 1, 0, -1):  # heap sort: (value, scenario) ascending
        top_v = vals[0]
        top_s = idx[0]
        _sift_down(vals, idx, end, vals[end], idx[end])
        vals[end] = top_v
        idx[end] = top_s
    return count, theta


@numba.njit(cache=True, nogil=True)
def _score(vals: FloatArray, weights: FloatArray, var: bool) -> float:  # pragma: no cover
    """The measure of a window from its k smallest ``vals[:k]`` (ascending)."""
    k = weights.shape[0]
    if var:
        return -float(vals[k - 1])
    score = 0.0
    for t in range(k):
        score -= weights[t] * vals[t]
    return score


@numba.njit(cache=True, nogil=True)
def best_window(
    x: FloatArray,
    window: int,
    weights: FloatArray,
    var: bool,
    vals: FloatArray,
    idx: IntArray,
) -> tuple[int, float]:  # pragma: no cover - compiled
    """Best window start of one P&L series ``x`` and its measure (see the module doc);
    ``vals``/``idx`` are scratch space from :func:`search_scratch` (``k`` = ``weights.size``
    <= ``window`` <= ``x.size``; a window longer than ``x`` gives ``(0, -inf)``)."""
    n = x.shape[0]
    k = weights.shape[0]
    if window > n:
        return 0, -np.inf
    count, theta = _fill(x, 0, window, vals, idx)
    best = _score(vals, weights, var)
    best_start = 0
    m = vals.shape[0]
    for i in range(1, n - window + 1):
        gone = m  # the common cases inline: the day leaving is no candidate, the day
        came = m  # coming is no smaller than the candidates
        v = x[i - 1]
        if count > 0 and not v > vals[count - 1]:
            count, gone = _remove(vals, idx, count, v, i - 1)
        new = i + window - 1
        v = x[new]
        if count == m and not v < vals[m - 1]:
            if v < theta:
                theta = v
        elif count < m and v > theta:
            pass
        else:
            count, theta, came = _add(vals, idx, count, theta, v, new)
        if count < k:
            count, theta = _fill(x, i, window, vals, idx)
        elif gone >= k and came >= k:
            continue  # the k smallest are those of the previous window: same measure
        score = _score(vals, weights, var)
        if score > best:
            best = score
            best_start = i
    return best_start, best


@numba.njit(cache=True, nogil=True)
def _windows_kernel(
    pnl: FloatArray, window: int, weights: FloatArray, var: bool
) -> tuple[IntArray, FloatArray]:  # pragma: no cover - compiled
    """Best window start and its measure per row of ``pnl`` (rows, n); see the module doc."""
    rows = pnl.shape[0]
    k = weights.shape[0]
    best_start = np.zeros(rows, dtype=np.int64)
    best_value = np.empty(rows)
    vals, idx = search_scratch(k)
    for r in range(rows):
        best_start[r], best_value[r] = best_window(pnl[r], window, weights, var, vals, idx)
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
