"""Twins of :func:`crossmargin.market.stress_windows.best_window` (the search before the
sliding candidate list), used by the tests and as the baseline of
``benchmarks/bench_windows.py``.

``sorted_best_window``
    Plain Python: sort every window, weigh its k smallest, keep the first maximum.
``blocked_best_window``
    The previous compiled search: a van Herk / Gil-Werman decomposition generalised from
    the minimum to the k smallest. The series is cut into blocks of ``w``; a window is the
    suffix of one block and the prefix of the next, so its k smallest are the merge of a
    running "k smallest" suffix list and prefix list, ``O(n·k)`` per series.
"""

from __future__ import annotations

import numba
import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


def sorted_best_window(
    x: FloatArray, window: int, weights: FloatArray, var: bool
) -> tuple[int, float]:
    """Sort every window ``[i, i + window)`` of ``x``; its measure from the k smallest
    ascending (VaR: ``−y_k``; ES: ``score −= weights[t]·y[t]``, t ascending); the first
    start with the largest measure. ``window > x.size`` gives ``(0, −inf)``."""
    k = weights.size
    best, best_i = -np.inf, 0
    for i in range(x.size - window + 1):
        worst = sorted(x[i : i + window].tolist())[:k]
        if var:
            score = -worst[-1]
        else:
            score = 0.0
            for t in range(k):
                score -= float(weights[t]) * worst[t]
        if score > best:
            best, best_i = score, i
    return best_i, best


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
def _blocked(
    x: FloatArray,
    window: int,
    weights: FloatArray,
    var: bool,
    prefix: FloatArray,
    suffix: FloatArray,
    buf: FloatArray,
    merged: FloatArray,
) -> tuple[int, float]:  # pragma: no cover - compiled
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
def blocked_windows(
    pnl: FloatArray, window: int, weights: FloatArray, var: bool
) -> tuple[npt.NDArray[np.int64], FloatArray]:  # pragma: no cover - compiled
    """The previous search on every row of ``pnl`` (rows, n): best start and measure."""
    rows, n = pnl.shape
    k = weights.shape[0]
    starts = np.zeros(rows, dtype=np.int64)
    values = np.empty(rows)
    prefix = np.empty((n, k))
    suffix = np.empty((n, k))
    buf = np.empty(k)
    merged = np.empty(k)
    for r in range(rows):
        starts[r], values[r] = _blocked(pnl[r], window, weights, var, prefix, suffix, buf, merged)
    return starts, values
