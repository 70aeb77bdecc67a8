"""Backtest benchmark: a 7-year daily ES backtest of a 50-position book (issue 7)."""

from __future__ import annotations

import time
from typing import Any

from crossmargin.analysis.backtest import ModelSpec, run_paths
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


def bench_backtest_es_7y() -> dict[str, Any]:
    """Whole run (parallel days); baseline: the serial path timed on 60 days, per day."""
    book, history = fifty_positions(), MarketHistory.load()
    model = ModelSpec("es", (("mpor", 2),))
    start = time.perf_counter()
    serial = run_paths(book, model, "2019-01-01", "2019-03-31", history=history, workers=1)
    per_day_serial = (time.perf_counter() - start) / len(serial.dates)
    start = time.perf_counter()
    paths = run_paths(book, model, START, END, history=history)
    elapsed = time.perf_counter() - start
    days = len(paths.dates)
    return {
        "name": "backtest_es_7y_50_positions",
        "value": elapsed,
        "unit": "s",
        "baseline_ratio": per_day_serial * days / elapsed,
        "detail": f"{days} days {START}..{END}, 50 positions in 10 accounts, ES 99% 2-day; "
        f"baseline: serial path {per_day_serial * 1000:.0f} ms/day on {len(serial.dates)} days",
    }


BENCHMARKS = (bench_backtest_es_7y,)
