"""ES backtest benchmark: the Acerbi-Szekely Z2 test's size over 1,000 seeded backtests.

Each backtest has T = 250 days; day t's forecast is 250 scenarios of a Student-t(4) with its
own vol, the realised P&L is drawn from that forecast (the null holds), and the Z2 p-value is
simulated from the forecasts (1,000 null samples). At 5% nominal the rejection rate must lie
in the binomial 99.9% band of Binomial(1000, 0.05) (29 to 74 rejections); the record says
whether it does. Throughput: backtests per second, against a plain-Python loop of the same
simulation (timed on 3 backtests). The fast version of this check runs in the tests
(``tests/stats/test_stats_es_backtest.py``, 100 backtests).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from scipy.stats import binom

from crossmargin.stats import Predictive, acerbi_szekely_z2

REPS, DAYS, SCENARIOS, SIMS = 1000, 250, 250, 1000


def _case(rng: np.random.Generator) -> tuple[np.ndarray, Predictive]:
    sig = np.exp(rng.normal(0.0, 0.3, DAYS))
    days = rng.standard_t(4, (DAYS, SCENARIOS)) * sig[:, None]
    realised = days[np.arange(DAYS), rng.integers(0, SCENARIOS, DAYS)]
    return realised, Predictive.from_scenarios(list(days), 0.99)


def _z2_python(realised: np.ndarray, pred: Predictive, sims: int, seed: int) -> float:
    """Plain-Python twin of the simulated p-value (baseline)."""
    import random

    rnd = random.Random(seed)
    q = 1.0 - pred.confidence
    obs = sum(x / e for x, v, e in zip(realised, pred.var, pred.es, strict=True) if x + v < 0)
    z_obs = obs / (DAYS * q) + 1.0
    below = 0
    for _ in range(sims):
        total = 0.0
        for t in range(DAYS):
            i = int(rnd.random() * int(pred.n[t]))
            if i < int(pred.tail_count[t]):
                total += float(pred.tail[t, i]) / float(pred.es[t])
        below += total / (DAYS * q) + 1.0 <= z_obs
    return (below + 1) / (sims + 1)


def bench_es_backtest_size() -> dict[str, Any]:
    """1,000 null backtests: Z2 rejection rate at 5% and throughput."""
    rng = np.random.default_rng(20141201)
    cases = [_case(rng) for _ in range(REPS)]
    start = time.perf_counter()
    p_values = [
        acerbi_szekely_z2(x, pred, simulations=SIMS, seed=k).p_value
        for k, (x, pred) in enumerate(cases)
    ]
    fast = REPS / (time.perf_counter() - start)
    start = time.perf_counter()
    for k, (x, pred) in enumerate(cases[:3]):
        _z2_python(x, pred, SIMS, k)
    slow = 3 / (time.perf_counter() - start)
    rejected = sum(p <= 0.05 for p in p_values)
    lo, hi = binom.ppf(0.0005, REPS, 0.05), binom.ppf(0.9995, REPS, 0.05)
    return {
        "name": "es_backtest_z2_size",
        "value": fast,
        "unit": "backtests/s",
        "baseline_ratio": fast / slow,
        "detail": f"{rejected}/{REPS} rejected at 5% (band {lo:.0f}-{hi:.0f}: "
        f"{'inside' if lo <= rejected <= hi else 'OUTSIDE'}); T={DAYS}, {SIMS} null "
        "simulations each; baseline: plain-Python simulation",
    }


BENCHMARKS = (bench_es_backtest_size,)
