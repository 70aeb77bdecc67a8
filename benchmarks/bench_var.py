"""ES margin of 10,000 accounts on about 1,000 real instruments, real history, 2026-02-11.

``BENCHMARKS = (es_margin_10k_accounts,)``; the function returns::

    {"name": "es_margin_10k_accounts", "value": <seconds>, "unit": "s",
     "baseline_ratio": <per-account loop seconds / vectorised seconds>, "detail": ...}

Book: options, futures, perpetuals and spot on BTC, ETH, SPX (ES), SPY and QQQ; 10,000 accounts
of 20 random instruments each: 40% crypto-only, 30% equity-only, 30% mixed, so the accounts'
netting sets live on both calendars and on many factor sets. Model ``es`` with its file
defaults and no stressed window (as the benchmark has always run). ``value`` is the best of
three runs of ``margin_rows`` on the 10,000 account rows with a prepared context, after one
cold run (reported: it prices every instrument on each calendar the accounts need). The
baseline margins the first 250 accounts one call per account on the same context, scaled
linearly to 10,000; the two agree on those accounts (checked here). Only public calls are
used, so the same file times older versions of the engine (the closing notes compare them).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import scipy.sparse as sp

from crossmargin.instruments import Instrument, parse_symbol
from crossmargin.instruments.symbols import last_friday, third_friday
from crossmargin.market.builder import snapshot_from_history
from crossmargin.market.history import MarketHistory
from crossmargin.models.var import ExpectedShortfallModel

ASOF = "2026-02-11"
N_ACCOUNTS, PER_ACCOUNT = 10_000, 20
BASELINE_ACCOUNTS = 250
MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]


def universe(spots: dict[str, float]) -> tuple[list[Instrument], list[Instrument]]:
    """About 1,000 crypto and equity instruments live on 2026-02-11 (symbols as exchanges
    spell them)."""
    crypto, equity = [], []
    for sym in ("BTC_USDC", "BTC-PERPETUAL", "ETH-PERPETUAL", "BTC_USDC-PERPETUAL"):
        crypto.append(sym)
    for month in (3, 4, 6, 9):
        exp = last_friday(2026, month)
        tag = f"{exp.day}{MONTHS[month - 1]}{exp:%y}"
        crypto += [f"BTC-{tag}", f"ETH-{tag}"]
        for k in np.linspace(0.5, 1.5, 60) * spots["BTC"]:
            crypto += [f"BTC-{tag}-{round(k, -3):.0f}-C", f"BTC-{tag}-{round(k, -3):.0f}-P"]
        for k in np.linspace(0.6, 1.4, 30) * spots["ETH"]:
            crypto += [f"ETH-{tag}-{round(k, -1):.0f}-C", f"ETH-{tag}-{round(k, -1):.0f}-P"]
    equity += ["SPY", "QQQ", "ESH26", "ESM26"]
    for code in ("H26", "M26"):
        for k in np.linspace(0.85, 1.15, 8) * spots["SPX"]:
            equity += [f"ES{code} C{round(k, -1):.0f}", f"ES{code} P{round(k, -1):.0f}"]
    for month in (3, 4, 6):
        exp = third_friday(2026, month)
        for root, n in (("SPY", 25), ("QQQ", 15)):
            for k in np.linspace(0.8, 1.2, n) * spots[root]:
                strike = f"{round(k):08.0f}"[-5:] + "000"
                for kind in "CP":
                    equity.append(f"{root:<6}{exp:%y%m%d}{kind}{strike}")
    parse = lambda s: parse_symbol(s, reference_year=2026)  # noqa: E731
    return [parse(s) for s in dict.fromkeys(crypto)], [parse(s) for s in dict.fromkeys(equity)]


def _book(n_crypto: int, n_equity: int, seed: int = 11) -> sp.csr_matrix:
    rng = np.random.default_rng(seed)
    n = n_crypto + n_equity
    rows, cols = [], []
    for a in range(N_ACCOUNTS):
        kind = rng.random()
        if kind < 0.4:
            pool = np.arange(n_crypto)
        elif kind < 0.7:
            pool = n_crypto + np.arange(n_equity)
        else:
            pool = np.arange(n)
        cols.append(rng.choice(pool, PER_ACCOUNT, replace=False))
        rows.append(np.full(PER_ACCOUNT, a))
    r, c = np.concatenate(rows), np.concatenate(cols)
    qty = rng.integers(1, 50, r.size) * rng.choice([-1.0, 1.0], r.size)
    return sp.csr_matrix((qty, (r, c)), shape=(N_ACCOUNTS, n))


def es_margin_10k_accounts() -> dict[str, Any]:
    """Time the vectorised ES margin of 10,000 accounts against a per-account loop."""
    history = MarketHistory.load()
    market = snapshot_from_history(ASOF, ["BTC", "ETH", "SPX", "SPY", "QQQ"], history=history)
    spots = dict(market.spots)
    crypto, equity = universe(spots)
    instruments = tuple(crypto + equity)
    book = _book(len(crypto), len(equity))
    model = ExpectedShortfallModel(stress_window=None, history=history)
    t0 = time.perf_counter()
    context = model.prepare(instruments, market)
    model.margin_rows(context, book)  # cold: prices what the accounts need, compiles kernels
    cold = time.perf_counter() - t0
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        rows = model.margin_rows(context, book)
        times.append(time.perf_counter() - t0)
    vectorised = min(times)
    t0 = time.perf_counter()
    looped = [
        float(model.margin_rows(context, book[a : a + 1]).total[0])
        for a in range(BASELINE_ACCOUNTS)
    ]
    loop_scaled = (time.perf_counter() - t0) * N_ACCOUNTS / BASELINE_ACCOUNTS
    np.testing.assert_allclose(rows.total[:BASELINE_ACCOUNTS], looped, rtol=1e-9)
    return {
        "name": "es_margin_10k_accounts",
        "value": vectorised,
        "unit": "s",
        "baseline_ratio": loop_scaled / vectorised,
        "detail": (
            f"{N_ACCOUNTS:,} accounts x {len(instruments):,} instruments ({PER_ACCOUNT} each; "
            f"40% crypto-only, 30% equity-only, 30% mixed), real history as of {ASOF}, 99% ES, "
            f"no stressed window; cold prepare + first run {cold:.2f} s; per-account loop "
            f"timed on {BASELINE_ACCOUNTS} accounts and scaled x{N_ACCOUNTS // BASELINE_ACCOUNTS}: "
            f"{loop_scaled:.2f} s"
        ),
    }


BENCHMARKS = (es_margin_10k_accounts,)


if __name__ == "__main__":
    print(es_margin_10k_accounts())
