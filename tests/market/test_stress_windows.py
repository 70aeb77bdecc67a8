"""Stressed-window search: the compiled kernel against sorting every window."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from crossmargin.errors import InputError, MarketDataError
from crossmargin.market.stress_windows import window_by_dates, worst_window, worst_windows
from crossmargin.stats.tail import tail_count, tail_weights


def _brute(pnl: np.ndarray, window: int, confidence: float, measure: str) -> tuple[int, float]:
    """Plain twin: sort every window, weigh its k smallest (fractional ES), keep the first max."""
    w = min(window, pnl.size)
    k = tail_count(confidence, w)
    weights = tail_weights(confidence, w)
    best, best_i = -np.inf, 0
    for i in range(pnl.size - w + 1):
        worst = sorted(pnl[i : i + w].tolist())[:k]
        if measure == "var":
            score = -worst[-1]
        else:
            score = 0.0
            for t in range(k):
                score -= float(weights[t]) * worst[t]
        if score > best:
            best, best_i = score, i
    return best_i, best


@pytest.mark.parametrize("window", [5, 6, 250, 251, 365, 600, 899, 900])
@pytest.mark.parametrize("measure", ["es", "var"])
@pytest.mark.parametrize("confidence", [0.99, 0.9, 0.5])
def test_worst_window_equals_brute_force(window: int, measure: str, confidence: float) -> None:
    rng = np.random.default_rng(window)
    pnl = np.round(rng.standard_t(3, size=900) * 100)  # rounded: ties happen
    start, value = _brute(pnl, window, confidence, measure)
    assert worst_window(pnl, window, confidence, measure=measure) == (start, start + window)
    starts, values = worst_windows(pnl, window, confidence, measure=measure)
    assert int(starts[0]) == start
    assert float(values[0]) == pytest.approx(value, rel=1e-12, abs=1e-9)


def test_many_columns_at_once_equal_one_at_a_time() -> None:
    rng = np.random.default_rng(5)
    pnl = rng.normal(size=(700, 6)) * np.array([1, 2, 3, 4, 5, 6])
    starts, values = worst_windows(pnl, 120, 0.99)
    for j in range(6):
        s, v = _brute(pnl[:, j], 120, 0.99, "es")
        assert (int(starts[j]), float(values[j])) == (s, pytest.approx(v, rel=1e-12))


def test_windows_by_hand_and_dates() -> None:
    pnl = np.zeros(100)
    pnl[60:70] = -np.arange(1.0, 11.0)
    assert worst_window(pnl, 20, 0.9) == (50, 70)  # k = 2 holds -10 and -9; earliest tie
    assert worst_window(pnl[:10], 20, 0.99) == (0, 10)  # shorter than the window: all of it
    names = [f"{d:%Y-%m-%d}" for d in pd.date_range("2020-01-01", periods=10)]
    assert window_by_dates(names, "2020-01-03", "2020-01-05") == (2, 5)
    with pytest.raises(MarketDataError, match="no scenario dated"):
        window_by_dates(names, "2021-01-01", "2021-02-01")
    with pytest.raises(InputError, match="after its end"):
        window_by_dates(names, "2020-01-05", "2020-01-03")
    with pytest.raises(InputError, match="NaN"):
        worst_windows(np.array([1.0, np.nan]), 1, 0.9)
    with pytest.raises(InputError, match=">= 1"):
        worst_windows(np.zeros(3), 0, 0.9)
