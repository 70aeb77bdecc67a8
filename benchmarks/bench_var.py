"""ES margin of 10,000 accounts on 1,000 instruments over 2,500 historical scenarios.

``BENCHMARKS = (es_margin_10k_accounts,)``; the function returns::

    {"name": "es_margin_10k_accounts", "value": <seconds>, "unit": "s",
     "baseline_ratio": <per-account loop seconds / vectorised seconds>, "detail": ...}

Synthetic data: a 2,500 x 1,000 scenario P&L matrix (Student-t, one common factor) and a sparse
book of 10,000 accounts holding 20 random instruments each. ``value`` is the best of three runs
of :meth:`ExpectedShortfallModel.margin_rows` (aggregation through ``ScenarioPnL.aggregate`` plus
the exact 99% ES vectorised across accounts, add-ons and stress off), after one warm-up run that
compiles the aggregation kernel. The baseline is a plain per-account loop (dense P&L of the
account's columns, then ``stats.tail.var_es`` on a 1-D vector) timed on the first 250 accounts
and **scaled linearly** to 10,000; the two agree on those accounts (checked here).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import scipy.sparse as sp

from crossmargin.instruments import parse_symbol
from crossmargin.market.scenarios import ScenarioSet
from crossmargin.models.var import ExpectedShortfallModel, VarContext
from crossmargin.pricing.revalue import ScenarioPnL
from crossmargin.stats.tail import var_es

N_SCENARIOS, N_INSTRUMENTS, N_ACCOUNTS, PER_ACCOUNT = 2_500, 1_000, 10_000, 20
BASELINE_ACCOUNTS = 250


def _context(seed: int = 7) -> VarContext:
    rng = np.random.default_rng(seed)
    common = rng.standard_t(4, (N_SCENARIOS, 1))
    pnl = 100.0 * (0.5 * common + rng.standard_t(4, (N_SCENARIOS, N_INSTRUMENTS)))
    scenarios = ScenarioSet(
        underlyings=("SPY",),
        spot_shocks=np.zeros((N_SCENARIOS, 1)),
        names=tuple(f"d{i}" for i in range(N_SCENARIOS)),
    )
    spy = parse_symbol("SPY")
    core = ScenarioPnL(
        instruments=(spy,) * N_INSTRUMENTS,
        scenarios=scenarios,
        pnl_by_scenario=pnl,
        pnl_settlement_by_scenario=pnl,
        settlement_currencies=("USD",) * N_INSTRUMENTS,
        reporting_currency="USD",
        base_value=np.zeros(N_INSTRUMENTS),
        method="full",
    )
    return VarContext(core=core)


def _book(seed: int = 11) -> sp.csr_matrix:
    rng = np.random.default_rng(seed)
    cols = np.concatenate(
        [rng.choice(N_INSTRUMENTS, PER_ACCOUNT, replace=False) for _ in range(N_ACCOUNTS)]
    )
    rows = np.repeat(np.arange(N_ACCOUNTS), PER_ACCOUNT)
    qty = rng.integers(1, 50, rows.size) * rng.choice([-1.0, 1.0], rows.size)
    return sp.csr_matrix((qty, (rows, cols)), shape=(N_ACCOUNTS, N_INSTRUMENTS))


def _loop(context: VarContext, book: sp.csr_matrix, n: int) -> np.ndarray:
    pnl = context.core.pnl_by_scenario
    out = np.empty(n)
    for a in range(n):
        start, stop = book.indptr[a], book.indptr[a + 1]
        cols, qty = book.indices[start:stop], book.data[start:stop]
        out[a] = max(float(var_es(pnl[:, cols] @ qty, 0.99).es), 0.0)
    return out


def es_margin_10k_accounts() -> dict[str, Any]:
    """Time the vectorised ES margin against the scaled per-account loop."""
    context, book = _context(), _book()
    model = ExpectedShortfallModel(confidence=0.99, stress_window=None)
    model.margin_rows(context, book)  # warm-up (compiles the aggregation kernel)
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        rows = model.margin_rows(context, book)
        times.append(time.perf_counter() - t0)
    vectorised = min(times)
    t0 = time.perf_counter()
    looped = _loop(context, book, BASELINE_ACCOUNTS)
    loop_scaled = (time.perf_counter() - t0) * N_ACCOUNTS / BASELINE_ACCOUNTS
    np.testing.assert_allclose(rows.total[:BASELINE_ACCOUNTS], looped, rtol=1e-9)
    return {
        "name": "es_margin_10k_accounts",
        "value": vectorised,
        "unit": "s",
        "baseline_ratio": loop_scaled / vectorised,
        "detail": (
            f"{N_ACCOUNTS:,} accounts x {N_INSTRUMENTS:,} instruments ({PER_ACCOUNT} each), "
            f"{N_SCENARIOS:,} scenarios, 99% ES; per-account loop timed on "
            f"{BASELINE_ACCOUNTS} accounts and scaled x{N_ACCOUNTS // BASELINE_ACCOUNTS}: "
            f"{loop_scaled:.2f} s"
        ),
    }


BENCHMARKS = (es_margin_10k_accounts,)


if __name__ == "__main__":
    print(es_margin_10k_accounts())
