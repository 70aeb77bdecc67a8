"""Cascade benchmark (issue 14): 100,000 generated accounts, 10 intraday steps of the
2025-10-10 replay to the fixed point, cross-margined, on the real market of 2025-10-09.

Baseline: the same run on 10,000 accounts, scaled linearly to 100,000 (the ratio is the
baseline's time x 10 over the measured time: above 1 the engine scales better than linearly).
Target: under 30 s on the 2-core development machine. The detail also gives the time of all
four margin modes side by side and the total iterations.
"""

from __future__ import annotations

import time
from typing import Any

from crossmargin.analysis.cascade import (
    generate_population,
    load_params,
    load_spec,
    prepare,
    replay_path,
    resolve_replay,
    run_cascade,
)
from crossmargin.market.builder import snapshot_from_history
from crossmargin.market.history import MarketHistory

ACCOUNTS, BASELINE_ACCOUNTS, STEPS = 100_000, 10_000, 10
TARGET_S = 30.0


def _run(accounts: int, history: MarketHistory, modes: tuple[str, ...]) -> tuple[float, Any]:
    params = load_params()
    params = params.replaced(engine={**params.engine.model_dump(), "steps_per_day": STEPS})
    snapshot = snapshot_from_history("2025-10-09", ["BTC", "ETH"], history=history)
    start = time.perf_counter()
    pop = generate_population(load_spec({"accounts": accounts, "seed": 1}), snapshot, params)
    prep = prepare(pop, snapshot, params, history=history)
    name, replay = resolve_replay(params, "2025-10-10")
    shock = replay_path(
        history,
        replay,
        name,
        prep.market.underlyings,
        steps_per_day=STEPS,
        proxies=params.intraday_proxies,
    )
    report = run_cascade(prep, shock, modes=modes)
    return time.perf_counter() - start, report


def bench_cascade_100k_accounts() -> dict[str, Any]:
    """Generate, prepare and run 100,000 accounts through 10 steps (cross-margined)."""
    history = MarketHistory.load()
    _run(1_000, history, ("cross",))  # warm caches (history files, kernels)
    base, _ = _run(BASELINE_ACCOUNTS, history, ("cross",))
    elapsed, report = _run(ACCOUNTS, history, ("cross",))
    every, full = _run(ACCOUNTS, history, ("population", "isolated", "grouped", "cross"))
    r = report.mode("cross")
    return {
        "name": "cascade_100k_accounts_10_steps",
        "value": elapsed,
        "unit": "s",
        "baseline_ratio": base * ACCOUNTS / BASELINE_ACCOUNTS / elapsed,
        "detail": f"{ACCOUNTS:,} accounts, {STEPS} steps of 2025-10-10, cross: "
        f"{r.iterations} iterations, {r.accounts_liquidated:,} accounts liquidated, "
        f"converged {r.converged}; target < {TARGET_S:.0f} s "
        f"({'met' if elapsed < TARGET_S else 'MISSED'}); all four modes {every:.1f} s "
        f"({sum(x.iterations for x in full.results)} iterations); baseline "
        f"{BASELINE_ACCOUNTS:,} accounts {base:.2f} s",
    }


BENCHMARKS = (bench_cascade_100k_accounts,)
