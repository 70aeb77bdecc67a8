"""Core-engine benchmarks: option revaluation throughput and aggregation to accounts."""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime
from typing import Any

import numpy as np
import scipy.sparse as sp

from crossmargin.instruments import parse_symbol
from crossmargin.market import MarketSnapshot, ScenarioSet, VolSurface
from crossmargin.pricing import revalue_instruments

N_OPTIONS = 10_000
N_SCENARIOS = 1_000
BASELINE_CELLS = 20_000


def _book() -> tuple[tuple[Any, ...], MarketSnapshot, ScenarioSet]:
    rng = np.random.default_rng(7)
    expiries = ["27MAR26", "26JUN26", "25SEP26", "25DEC26"]
    symbols = [
        f"BTC-{expiries[i % 4]}-{40_000 + 10 * (i // 2)}-{'C' if i % 2 else 'P'}"
        for i in range(N_OPTIONS)
    ]
    instruments = tuple(parse_symbol(s) for s in symbols)
    snapshot = MarketSnapshot(
        valuation_time=datetime(2026, 2, 11, 21, tzinfo=UTC),
        spots={"BTC": 67_000.0},
        vols={"BTC": VolSurface.from_parameters(atm_vol=0.55, smile=0.4)},
        rates={"USD": 0.036},
    )
    scenarios = ScenarioSet(
        underlyings=("BTC",),
        spot_shocks=rng.uniform(-0.3, 0.3, (N_SCENARIOS, 1)),
        vol_shocks=rng.uniform(-0.15, 0.15, (N_SCENARIOS, 1)),
        time_steps=np.full(N_SCENARIOS, 2 / 365),
    )
    return instruments, snapshot, scenarios


def _scalar_inverse_option(
    s: float, k: float, t: float, vol: float, r: float, b: float, call: bool
) -> float:
    """Plain-Python inverse option value in coin (the baseline's per-cell work)."""
    if t <= 0 or vol <= 0:
        fwd = s * math.exp(b * max(t, 0.0))
        return max((fwd - k) if call else (k - fwd), 0.0) * math.exp(-r * t) / fwd
    sd = vol * math.sqrt(t)
    d1 = (math.log(s / k) + (b + 0.5 * vol * vol) * t) / sd
    d2 = d1 - sd
    w = 1.0 if call else -1.0
    n1 = 0.5 * math.erfc(-w * d1 / math.sqrt(2))
    n2 = 0.5 * math.erfc(-w * d2 / math.sqrt(2))
    price = w * (s * math.exp((b - r) * t) * n1 - k * math.exp(-r * t) * n2)
    return price / (s * math.exp(b * t))


def bench_option_revaluation() -> dict[str, Any]:
    """10,000 options x 1,000 scenarios, full repricing; baseline: scalar Python loop."""
    instruments, snapshot, scenarios = _book()
    revalue_instruments(instruments[:50], snapshot, scenarios)  # compile outside the timing
    start = time.perf_counter()
    revalue_instruments(instruments, snapshot, scenarios)
    fast = N_OPTIONS * N_SCENARIOS / (time.perf_counter() - start)
    # Baseline: the same cells, one at a time in plain Python (a subset, labelled as such).
    factors = scenarios.spot_factor()[:, 0]
    vols = scenarios.vol_shocks[:, 0]
    start = time.perf_counter()
    cells = 0
    for i, inst in enumerate(instruments):
        t = inst.years_to_expiry(snapshot.valuation_time) - 2 / 365
        for s in range(BASELINE_CELLS // 100):
            _scalar_inverse_option(
                67_000.0 * factors[s], inst.strike or 0.0, t, 0.55 + vols[s], 0.0, 0.036,
                inst.is_call,
            )  # fmt: skip
            cells += 1
        if cells >= BASELINE_CELLS:
            break
        del i
    slow = cells / (time.perf_counter() - start)
    return {
        "name": "option_revaluation",
        "value": fast,
        "unit": "revaluations/s",
        "baseline_ratio": fast / slow,
        "detail": f"{N_OPTIONS} inverse BTC options x {N_SCENARIOS} scenarios; baseline: "
        f"plain-Python scalar loop over {cells} of the same cells ({slow:,.0f}/s)",
    }


def bench_option_kernel_vs_ceiling(pairs: int = 7) -> dict[str, Any]:
    """The project's option kernel against the hand-tuned ceiling (benchmarks/ceiling_kernel.py)
    on identical inputs (10,000 options x 1,000 scenarios), outputs equal to 1e-13 of each
    column's largest P&L.

    Timed in ``pairs`` back-to-back pairs, the order alternating, and the ratio is the median
    of the pairs' ratios: this shared machine's speed changes by a third within seconds at
    times, and two best-of-N blocks timed one after the other then measure the machine, not
    the kernels (one such run gave 0.73, the next three 1.3, 1.4 and 1.0)."""
    from ceiling_kernel import ceiling_option_pnl_into, grouping
    from crossmargin.pricing.kernels import option_pnl_into
    from crossmargin.pricing.revalue import option_kernel_calls

    instruments, snapshot, scenarios = _book()
    calls, out = option_kernel_calls(instruments, snapshot, scenarios)
    ((args),) = calls
    mine = (np.zeros_like(out[0]), np.zeros_like(out[1]))
    ceiling_args = (*args[:-2], *mine, *grouping(args[8]))
    option_pnl_into(*args)  # compile both outside the timing
    ceiling_option_pnl_into(*ceiling_args)
    cells = N_OPTIONS * N_SCENARIOS

    def timed(fn: Any, a: tuple[Any, ...]) -> float:
        start = time.perf_counter()
        fn(*a)
        return time.perf_counter() - start

    project, ceiling = [], []
    for i in range(pairs):
        if i % 2:
            ceiling.append(timed(ceiling_option_pnl_into, ceiling_args))
            project.append(timed(option_pnl_into, args))
        else:
            project.append(timed(option_pnl_into, args))
            ceiling.append(timed(ceiling_option_pnl_into, ceiling_args))
    ratios = sorted(c / p for p, c in zip(project, ceiling, strict=True))
    ratio = float(np.median(ratios))
    for got, want in ((out[0], mine[0]), (out[1], mine[1])):
        scale = np.maximum(np.abs(want).max(axis=0), 1.0)  # per column: P&L = V·X − V₀·X₀
        if not np.all(np.abs(got - want) <= 1e-13 * scale):
            raise AssertionError("the project kernel and the ceiling kernel disagree")
    t_project, t_ceiling = min(project), min(ceiling)
    return {
        "name": "option_kernel_vs_ceiling",
        "value": cells / t_project,
        "unit": "revaluations/s",
        "baseline_ratio": ratio,
        "detail": f"project kernel {cells / t_project / 1e6:.1f} M/s, hand-tuned ceiling "
        f"{cells / t_ceiling / 1e6:.1f} M/s (best of {pairs} each); ratio project / ceiling "
        f"{ratio:.2f}, the median of {pairs} back-to-back pairs (range {ratios[0]:.2f}-"
        f"{ratios[-1]:.2f}; target >= 0.9: {'met' if ratio >= 0.9 else 'MISSED'}); outputs "
        "equal to 1e-13",
    }


def bench_aggregation(n_accounts: int = 100_000, per_account: int = 20) -> dict[str, Any]:
    """Aggregate a 1,000-scenario x 10,000-instrument P&L matrix to 100,000 accounts."""
    from crossmargin.pricing.kernels import aggregate_rows

    rng = np.random.default_rng(11)
    rows = np.repeat(np.arange(n_accounts), per_account)
    cols = rng.integers(0, N_OPTIONS, n_accounts * per_account)
    q = sp.csr_matrix((rng.normal(size=rows.size), (rows, cols)), shape=(n_accounts, N_OPTIONS))
    pnl = rng.normal(size=(N_OPTIONS, N_SCENARIOS))
    args = (q.indptr.astype(np.int64), q.indices.astype(np.int64), q.data)
    aggregate_rows(*args, pnl[:, :64])  # compile
    # Best of 3 for both sides: the first call of each pays the page faults of a fresh
    # 800 MB output (about 0.9 s here), which later calls reuse.
    fast, slow = np.inf, np.inf
    for _ in range(3):
        start = time.perf_counter()
        out = aggregate_rows(*args, pnl)
        fast = min(fast, time.perf_counter() - start)
        del out
        start = time.perf_counter()
        ref = q @ pnl  # baseline: SciPy's sparse x dense product
        slow = min(slow, time.perf_counter() - start)
        del ref
    out = aggregate_rows(*args, pnl)
    ref = q @ pnl
    if not np.allclose(out, ref, rtol=1e-9, atol=1e-9):
        raise AssertionError("aggregation kernel disagrees with SciPy")
    return {
        "name": "aggregation_100k_accounts",
        "value": fast,
        "unit": "s",
        "baseline_ratio": slow / fast,
        "detail": f"{n_accounts} accounts x {per_account} positions x {N_SCENARIOS} scenarios, "
        f"best of 3 (a cold first call adds the output's page faults); baseline: SciPy CSR @ "
        f"dense, best of 3 ({slow:.2f} s)",
    }


BENCHMARKS = (bench_option_revaluation, bench_option_kernel_vs_ceiling, bench_aggregation)
