"""Stressed-window search: 10,000 P&L series of 4,164 days, windows of 2,500 and 250 days.

``BENCHMARKS = (stress_window_search_w2500, stress_window_search_w250)``; each returns::

    {"name": ..., "value": <series per second>, "unit": "series/s",
     "baseline_ratio": <new throughput / old throughput>, "detail": ...}

Series: 10,000 random books' daily P&L over the last 4,164 real BTC log returns (history as
of the data folder's end, via :meth:`MarketHistory.load`): ``a·r + b·(r² − mean r²) + noise``
with ``a ~ N(0, 1)`` (delta), ``b ~ N(0, 25)`` (gamma, long or short) and an idiosyncratic
t(4) term of up to 0.3 mean |r|, so the series keep the real volatility clusters (the
windows' tails arrive and leave in blocks). A second set, i.i.d. t(3), is timed the same
way and reported in the detail. The measure is ES at 99% (k = 25 for 2,500 days, 3 for
250), as ``es`` searches each account's stressed window
(:func:`crossmargin.models.fused_tail.fused_worst_windows`, issue 19: n = 3,546-4,164,
w = 2,500). ``value``: :func:`crossmargin.market.stress_windows.best_window` on every
series, best of three runs after a warm-up (compilation outside the timing).
``baseline_ratio``: the previous search (the prefix/suffix decomposition, kept as a twin in
``tests/market/window_twins.py``), timed the same way in the same run on the same series;
the starts and measures are checked identical.

Run alone: ``python benchmarks/bench_windows.py``.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numba
import numpy as np

from crossmargin.market.history import MarketHistory
from crossmargin.market.stress_windows import best_window, search_scratch, window_weights

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "market"))
from window_twins import blocked_windows

N_SERIES, N_DAYS, CONFIDENCE, REPEATS = 10_000, 4_164, 0.99, 3


@numba.njit(cache=True, nogil=True)
def _search(pnl: Any, window: int, weights: Any) -> tuple[Any, Any]:  # pragma: no cover
    """:func:`best_window` on every row of ``pnl`` (rows, n), ES (as ``worst_windows``)."""
    rows = pnl.shape[0]
    starts = np.zeros(rows, dtype=np.int64)
    values = np.empty(rows)
    vals, idx = search_scratch(weights.shape[0])
    for r in range(rows):
        starts[r], values[r] = best_window(pnl[r], window, weights, False, vals, idx)
    return starts, values


def _books(seed: int) -> np.ndarray:
    """Random books' P&L on the real BTC daily log returns, (N_SERIES, N_DAYS)."""
    btc = MarketHistory.load().series("BTC").to_numpy()
    r = np.diff(np.log(btc))[-N_DAYS:]
    rng = np.random.default_rng(seed)
    delta = rng.normal(size=(N_SERIES, 1))
    gamma = rng.normal(scale=5.0, size=(N_SERIES, 1))
    noise = rng.uniform(0.0, 0.3, (N_SERIES, 1)) * np.abs(r).mean()
    pnl = delta * r + gamma * (r**2 - np.mean(r**2))
    return np.ascontiguousarray(pnl + noise * rng.standard_t(4, (N_SERIES, N_DAYS)))


def _best_of(fn: Callable[[], Any]) -> tuple[float, Any]:
    """Fastest of REPEATS runs of ``fn`` and its result."""
    best, out = np.inf, None
    for _ in range(REPEATS):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def _compare(pnl: np.ndarray, window: int) -> tuple[float, float, bool]:
    """(new seconds, old seconds, identical) on every row of ``pnl``."""
    weights = window_weights(window, CONFIDENCE, "es")
    _search(pnl[:2], window, weights)  # compile outside the timing
    blocked_windows(pnl[:2], window, weights, False)
    new_s, new = _best_of(lambda: _search(pnl, window, weights))
    old_s, old = _best_of(lambda: blocked_windows(pnl, window, weights, False))
    same = bool(np.array_equal(new[0], old[0]) and np.array_equal(new[1], old[1]))
    return new_s, old_s, same


def _record(window: int) -> dict[str, Any]:
    books = _books(seed=window)
    t3 = np.random.default_rng(window + 1).standard_t(3, (N_SERIES, N_DAYS))
    new_s, old_s, same = _compare(books, window)
    t_new, t_old, t_same = _compare(t3, window)
    k = window_weights(window, CONFIDENCE, "es").size
    return {
        "name": f"stress_window_search_w{window}",
        "value": N_SERIES / new_s,
        "unit": "series/s",
        "baseline_ratio": old_s / new_s,
        "detail": (
            f"{N_SERIES:,} BTC-book P&L series x {N_DAYS:,} days, window {window:,} days, "
            f"ES 99% (k = {k}): {new_s:.3f} s ({new_s / N_SERIES * 1e6:.1f} us/series), "
            f"prefix/suffix search {old_s:.3f} s, identical {same}; i.i.d. t(3) series: "
            f"{t_new:.3f} s vs {t_old:.3f} s (x{t_old / t_new:.1f}), identical {t_same}"
        ),
    }


def stress_window_search_w2500() -> dict[str, Any]:
    """Windows of 2,500 days (the issue's stressed window on the crypto calendar)."""
    return _record(2_500)


def stress_window_search_w250() -> dict[str, Any]:
    """Windows of 250 days (a one-year stressed window on an exchange calendar)."""
    return _record(250)


BENCHMARKS = (stress_window_search_w2500, stress_window_search_w250)


if __name__ == "__main__":
    for bench in BENCHMARKS:
        rec = bench()
        print(
            f"{rec['name']:<32} {rec['value']:>14,.4g} {rec['unit']:<10} "
            f"x{rec['baseline_ratio']:,.1f} vs baseline  ({rec['detail']})",
            flush=True,
        )
