"""Backtest benchmark: a 7-year daily ES backtest of a 50-position book (issues 7 and 19)."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from crossmargin.analysis.backtest import MODES, ModelSpec, run_paths
from crossmargin.analysis.strategies import Leg, Strategy
from crossmargin.market.history import MarketHistory

START, END = "2018-01-01", "2024-12-31"


def fifty_positions() -> tuple[Strategy, ...]:
    """10 accounts x 5 legs: BTC spot, ES future, SPY puts, BTC calls, SPY shares."""
    out = []
    for k in range(10):
        legs = (
            Leg(product="deribit_btc_usdc_spot", sign=1.0, notional_usd=1e6 + 1e5 * k),
            Leg(product="cme_es_future", sign=-1.0, notional_usd=8e5, tenor_days=90 + k),
            Leg(product="occ_spy_option", sign=1.0, quantity=10 + k, tenor_days=30 + k,
                moneyness=0.90 + 0.01 * k, option_type="P"),
            Leg(product="deribit_btc_option", sign=-1.0, quantity=5, tenor_days=30 + 2 * k,
                moneyness=1.05 + 0.02 * k, option_type="C"),
            Leg(product="spot_spy", sign=1.0, quantity=500 + 50 * k),
        )  # fmt: skip
        out.append(Strategy(name=f"acct-{k}", description="benchmark", legs=legs))
    return tuple(out)


def _timed(book: tuple[Strategy, ...], model: ModelSpec, **kwargs: Any) -> tuple[Any, float]:
    start = time.perf_counter()
    paths = run_paths(book, model, START, END, history=MarketHistory.load(), **kwargs)
    return paths, time.perf_counter() - start


def bench_backtest_es_7y() -> dict[str, Any]:
    """The whole 7-year run (parallel days) in one process, each time on a fresh history:
    the default path (factor levels and vols built once and cut per day, past offset windows
    shared, snapshots kept per day, totals only: no stressed-window search or whole-history
    revaluation where it enters no total) against the path before issue 19
    (``rebuild_daily=True``: every day rebuilds everything from its own view and margins the
    whole result); the two must give identical margins, P&L and forecasts.

    Each path runs twice, in the order new, old, old, new: the machine's speed drifts over
    the minutes the four runs take (by up to 1.5x on the shared machine these benchmarks run
    on), and in this order a steady drift adds as much to the two new runs together as to
    the two old ones. The value is the new path's mean time, the ratio the old runs' total
    over the new runs'."""
    book, model = fifty_positions(), ModelSpec("es", (("mpor", 2),))
    run_paths(book, model, "2019-01-02", "2019-01-10", history=MarketHistory.load(), workers=1)
    new, first = _timed(book, model)
    old, old_first = _timed(book, model, rebuild_daily=True)
    old_again, old_second = _timed(book, model, rebuild_daily=True)
    new_again, second = _timed(book, model)
    if not (_same(new, new_again) and _same(old, old_again)):
        raise AssertionError("a backtest path gave other results when run again")
    if not _same(new, old):
        raise AssertionError("the shared-levels backtest differs from the daily rebuild")
    elapsed, baseline = (first + second) / 2, (old_first + old_second) / 2
    days = len(new.dates) + len(new.skipped)
    return {
        "name": "backtest_es_7y_50_positions",
        "value": elapsed,
        "unit": "s",
        "baseline_ratio": baseline / elapsed,
        "detail": f"{days} days {START}..{END}, 50 positions in 10 accounts, ES 99% 2-day: "
        f"{elapsed * 1000 / days:.0f} ms/day (levels cut per day, totals only) vs "
        f"{baseline * 1000 / days:.0f} ms/day (everything rebuilt every day, same run); "
        f"timed new, old, old, new: {first:.1f}, {old_first:.1f}, {old_second:.1f}, "
        f"{second:.1f} s (each new/old pair's ratio {old_first / first:.2f} and "
        f"{old_second / second:.2f}); margins, P&L and forecasts identical",
    }


def _same(first: Any, second: Any) -> bool:
    """Whether two runs' dates, skipped days, margins, P&L and forecasts are identical."""
    return bool(
        first.dates == second.dates
        and first.skipped == second.skipped
        and all(np.array_equal(first.margin[m], second.margin[m]) for m in MODES)
        and np.array_equal(first.pnl, second.pnl)
        and np.array_equal(first.pnl_clean, second.pnl_clean)
        and first.forecast is not None
        and second.forecast is not None
        and all(
            np.array_equal(getattr(first.forecast, k), getattr(second.forecast, k), equal_nan=True)
            for k in ("var", "es", "n", "tail", "tail_count")
        )
    )


BENCHMARKS = (bench_backtest_es_7y,)
