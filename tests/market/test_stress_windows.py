"""Stressed-window search: the sliding candidate list against sorting every window and
against the previous (prefix/suffix) search, start and measure bit for bit."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from window_twins import blocked_windows, sorted_best_window

from crossmargin.errors import InputError, MarketDataError
from crossmargin.market.stress_windows import (
    best_window,
    search_scratch,
    window_by_dates,
    window_weights,
    worst_window,
    worst_windows,
)


def _brute(pnl: np.ndarray, window: int, confidence: float, measure: str) -> tuple[int, float]:
    """The plain twin on a window clamped to the history (as worst_windows clamps it)."""
    w = min(window, pnl.size)
    weights = window_weights(w, confidence, measure)
    return sorted_best_window(pnl, w, weights, measure == "var")


def _series(rng: np.random.Generator, kind: str, n: int) -> np.ndarray:
    """Random P&L series: many ties, trends and regime changes included."""
    if kind == "ties":
        return rng.integers(-3, 4, size=n).astype(np.float64)
    if kind == "constant":
        return np.full(n, -2.5)
    if kind == "up":  # the smallest leave first: the candidates run out
        return np.sort(rng.integers(-50, 50, size=n)).astype(np.float64)
    if kind == "down":  # every new day is a new smallest
        return -np.arange(n, dtype=np.float64) + rng.integers(0, 2, size=n)
    if kind == "regimes":  # calm, stressed, calm: the tail arrives and leaves in a block
        scale = np.where((np.arange(n) > n // 3) & (np.arange(n) < n // 2), 20.0, 1.0)
        return np.round(rng.standard_t(3, size=n) * scale, 1)
    if kind == "zeros":  # signed zeros compare equal
        return np.where(rng.random(n) < 0.5, 0.0, -0.0) * rng.integers(0, 2, size=n)
    return rng.standard_t(3, size=n)


KINDS = ["ties", "constant", "up", "down", "regimes", "zeros", "t"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    ("n", "window", "confidence"),
    [
        (60, 1, 0.99),
        (60, 2, 0.5),
        (200, 200, 0.99),  # the history is one window
        (7, 7, 0.5),
        (400, 37, 0.9),
        (900, 365, 0.975),  # fractional ES weight: (1 - α)·w = 9.125
        (900, 365, 0.99),  # 3.65
        (1200, 250, 0.99),  # 2.5
        (700, 120, 0.75),  # k = 30 of 120: the candidates (2k) are half the window
    ],
)
@pytest.mark.parametrize("measure", ["es", "var"])
def test_best_window_equals_both_twins_exactly(
    kind: str, n: int, window: int, confidence: float, measure: str
) -> None:
    rng = np.random.default_rng([n, window, KINDS.index(kind)])
    x = _series(rng, kind, n)
    weights = window_weights(window, confidence, measure)
    var = measure == "var"
    want = sorted_best_window(x, window, weights, var)
    got = best_window(x, window, weights, var, *search_scratch(weights.size))
    assert got == want  # start and measure, bit for bit
    starts, values = blocked_windows(x[np.newaxis, :], window, weights, var)
    assert (int(starts[0]), float(values[0])) == want


def test_best_window_on_many_random_cases() -> None:
    rng = np.random.default_rng(19)
    for case in range(400):
        n = int(rng.integers(1, 150))
        window = int(rng.integers(1, n + 1))
        confidence = float(rng.choice([0.5, 0.9, 0.975, 0.99]))
        measure = "var" if case % 2 else "es"
        x = _series(rng, KINDS[case % len(KINDS)], n)
        weights = window_weights(window, confidence, measure)
        want = sorted_best_window(x, window, weights, measure == "var")
        assert best_window(x, window, weights, measure == "var", *search_scratch(weights.size)) == (
            want
        ), (case, n, window, confidence, measure)


def test_a_window_longer_than_the_history() -> None:
    weights = window_weights(10, 0.9, "es")
    x = np.arange(5.0)
    assert best_window(x, 10, weights, False, *search_scratch(1)) == (0, -np.inf)
    assert sorted_best_window(x, 10, weights, False) == (0, -np.inf)
    assert worst_windows(x, 10, 0.9)[0][0] == 0  # worst_windows clamps to the history


def test_the_scratch_holds_more_than_the_tail() -> None:
    for k in (1, 3, 25, 42):
        values, index = search_scratch(k)
        assert values.size == index.size > k


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
    assert float(values[0]) == value


def test_many_columns_at_once_equal_one_at_a_time() -> None:
    rng = np.random.default_rng(5)
    pnl = rng.normal(size=(700, 6)) * np.array([1, 2, 3, 4, 5, 6])
    starts, values = worst_windows(pnl, 120, 0.99)
    for j in range(6):
        s, v = _brute(pnl[:, j], 120, 0.99, "es")
        assert (int(starts[j]), float(values[j])) == (s, v)


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
