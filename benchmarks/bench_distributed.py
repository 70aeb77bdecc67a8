"""Distributed margin (issue 18): the single process against a LocalCluster of 1 and 2 workers.

``BENCHMARKS = (distributed_pm_grid_100k, distributed_es_100k)``, plus
``distributed_1m_accounts`` when ``CROSSMARGIN_BENCH_1M=1`` (both models; ``pm_grid`` or ``es``
for one; it takes many minutes). Each returns::

    {"name", "value": <seconds on 2 workers>, "unit": "s",
     "baseline_ratio": <single-process seconds / 2-worker seconds>, "detail": ...}

Book: 100,000 accounts of 10 distinct random instruments each (1,000,000 positions; 40%
crypto-only, 30% equity-only, 30% mixed) drawn from about 1,000 real instruments live on
2026-02-11 (``bench_var.universe``: BTC/ETH options, futures, perpetuals and spot; ES futures
and options, SPY/QQQ shares and options), signed quantities 1-49; real market and history as of
2026-02-11. Models: ``pm_grid`` with its shipped grid (about 36 scenarios per underlying) and
``es`` with its file defaults (12M lookback: 365 crypto / 250 NYSE scenarios) and no stressed
window, as ``bench_var``.

* **single process**: ``model.compute(book, market)`` in a fresh child process (its peak RSS
  is the process's own);
* **LocalCluster, dataset** (the value): the same book written as Parquet files of 10,000
  accounts each, margined
  end to end by ``crossmargin.distributed.margin_dataset`` on a fresh cluster of 2, then 1,
  worker processes (scan, the client's prepare, the tasks writing Parquet, the summary); peak
  RSS per worker;
* **LocalCluster, in memory**: ``crossmargin.distributed.run_margin`` on the in-memory book, 2
  workers (partition, tasks, and every account's full result gathered and merged on the
  client); the smallest and median task seconds (chunks are sized for >= 100 ms);
* ``es`` also runs the naive in-memory distribution, each task preparing its own context
  (``model.compute(part)``), against the shared, broadcast context;
* every total is checked equal to the single process's to 1e-9.

``distributed_1m_accounts``: 1,000,000 accounts x 10 positions from a Parquet dataset of 100
files (``crossmargin.distributed.margin_dataset``: streamed, results written as partitioned
Parquet), ``pm_grid`` with 1,001 scenarios per underlying (``buckets_count=165``) and ``es``
with a 3-year lookback (1,095 crypto / 752 NYSE scenarios), on 2 workers: wall time and peak
RSS per worker; the ratio is against the single process margining 10,000 accounts with the
same scenarios, scaled by 100 (the single process cannot hold the book: about 24 GB of scan
blocks per 1,000,000 positions at 1,001 scenarios). The run fails if a worker's peak exceeds
``PEAK_BOUND`` times that single process's (one file of the book): memory per worker must
be bounded by the chunk, not the book.
"""

from __future__ import annotations

import math
import os
import resource
import statistics
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bench_var import universe
from crossmargin.distributed import connect, map_units, margin_dataset, run_margin
from crossmargin.distributed.partition import BookPart, parts_for
from crossmargin.instruments import Instrument
from crossmargin.market.builder import snapshot_from_history
from crossmargin.market.history import MarketHistory
from crossmargin.market.snapshot import MarketSnapshot
from crossmargin.models import MarginModel, MarginResult, get_model
from crossmargin.portfolio import Portfolio, Position

ASOF = "2026-02-11"
UNDERLYINGS = ["BTC", "ETH", "SPX", "SPY", "QQQ"]
PER_ACCOUNT = 10
N_ACCOUNTS = 100_000
LARGE = 1_000_000
BLOCK = 10_000  # accounts per RNG stream and per dataset file
MODELS: dict[str, dict[str, Any]] = {
    "pm_grid": {},
    "es": {"stress_window": None},
    "pm_grid_1000": {"buckets_count": 165},
    "es_1000": {"stress_window": None, "lookback": "3Y"},
}


def _market() -> tuple[MarketSnapshot, MarketHistory, tuple[Instrument, ...], int]:
    history = MarketHistory.load()
    market = snapshot_from_history(ASOF, UNDERLYINGS, history=history)
    crypto, equity = universe(dict(market.spots))
    return market, history, tuple(crypto + equity), len(crypto)


def _model(key: str, history: MarketHistory) -> MarginModel:
    name = key.split("_1000")[0]
    params = dict(MODELS[key])
    if name == "es":
        params["history"] = history
    return get_model(name, **params)


def book_rows(
    n_accounts: int, n_crypto: int, n_instruments: int, seed: int = 18, first: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(account index, instrument index, quantity) of ``n_accounts`` accounts from ``first``:
    10 distinct instruments each from the crypto pool (40%), the equity pool (30%) or both."""
    rng = np.random.default_rng([seed, first])
    kind = rng.random(n_accounts)
    cols = np.empty((n_accounts, PER_ACCOUNT), dtype=np.int64)
    for a in range(n_accounts):
        lo, hi = (0, n_crypto) if kind[a] < 0.4 else (
            (n_crypto, n_instruments) if kind[a] < 0.7 else (0, n_instruments))  # fmt: skip
        cols[a] = lo + rng.choice(hi - lo, PER_ACCOUNT, replace=False)
    qty = rng.integers(1, 50, cols.size) * rng.choice([-1.0, 1.0], cols.size)
    accounts = np.repeat(np.arange(first, first + n_accounts), PER_ACCOUNT)
    return accounts, cols.reshape(-1), qty


def _blocks(n_accounts: int) -> list[tuple[int, int]]:
    """``(first, count)`` of the book's blocks of :data:`BLOCK` accounts (one RNG stream and,
    as a dataset, one file each: the in-memory book and the dataset are the same book)."""
    return [(f, min(BLOCK, n_accounts - f)) for f in range(0, n_accounts, BLOCK)]


def portfolio(n_accounts: int, instruments: tuple[Instrument, ...], n_crypto: int) -> Portfolio:
    """The benchmark book in memory."""
    positions = []
    for first, count in _blocks(n_accounts):
        accounts, cols, qty = book_rows(count, n_crypto, len(instruments), first=first)
        positions += [
            Position(account=f"acc{a:07d}", instrument=instruments[c], quantity=float(q))
            for a, c, q in zip(accounts.tolist(), cols.tolist(), qty.tolist(), strict=True)
        ]
    return Portfolio.from_positions(positions)


def write_dataset(
    folder: Path, n_accounts: int, instruments: tuple[Instrument, ...], n_crypto: int
) -> Path:
    """The benchmark book as a Parquet dataset: one file per block of accounts."""
    symbols = np.array([i.symbol for i in instruments], dtype=object)
    for k, (first, count) in enumerate(_blocks(n_accounts)):
        accounts, cols, qty = book_rows(count, n_crypto, len(instruments), first=first)
        frame = pd.DataFrame(
            {"account": [f"acc{a:07d}" for a in accounts.tolist()], "symbol": symbols[cols],
             "quantity": qty}
        )  # fmt: skip
        frame.to_parquet(folder / f"part-{k:04d}.parquet", index=False)
    return folder


def _peak_mb() -> float:
    from crossmargin.peak_memory import peak_rss_mb

    return peak_rss_mb()


def _cpu() -> float:
    """CPU seconds (user + system) this process has used: on a machine shared with other
    work, a steadier measure of the work done than wall time."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _workers_cpu(client: Any) -> float:
    found = client.run(
        lambda: (
            resource.getrusage(resource.RUSAGE_SELF).ru_utime
            + resource.getrusage(resource.RUSAGE_SELF).ru_stime
        )
    )
    return float(sum(found.values()))


def _single(key: str, n_accounts: int) -> tuple[float, float, float, float]:
    """In a fresh process: (seconds, CPU seconds, peak RSS MB, total) of the single-process
    margin."""
    market, history, instruments, n_crypto = _market()
    book = portfolio(n_accounts, instruments, n_crypto)
    model = _model(key, history)
    model.compute(book.subset([book.accounts[0]]), market)  # compile kernels, load history
    start, cpu = time.perf_counter(), _cpu()
    result = model.compute(book, market)
    return time.perf_counter() - start, _cpu() - cpu, _peak_mb(), result.total


def single_process(key: str, n_accounts: int) -> tuple[float, float, float, float]:
    """:func:`_single` in a child process (spawned, its peak read from ``VmHWM``: its own,
    :mod:`crossmargin.peak_memory`)."""
    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
        return pool.submit(_single, key, n_accounts).result()


def _worker_peaks(client: Any) -> list[float]:
    from crossmargin.peak_memory import peak_rss_mb

    peaks = client.run(peak_rss_mb)
    return sorted(float(v) for v in peaks.values())


def naive_part(part: BookPart, shared: tuple[MarginModel, MarketSnapshot]) -> MarginResult:
    """The naive distribution: each task prepares the model on its own instruments."""
    model, market = shared
    return model.compute(part.portfolio(), market)


def on_cluster(key: str, book: Portfolio, workers: int, naive: bool = False) -> dict[str, Any]:
    """End-to-end distributed margin of the in-memory ``book`` on a fresh LocalCluster."""
    market, history, _, _ = _market()
    model = _model(key, history)
    with connect(workers=workers) as client:
        # warm the workers (imports, compiled kernels) on one account, as the single run
        run_margin(client, model, book.subset([book.accounts[0]]), market)
        timings: list[float] = []
        cpu = _workers_cpu(client) + _cpu()
        start = time.perf_counter()
        if naive:
            parts = parts_for(book, workers)
            found = map_units(client, naive_part, parts, shared=(model, market),
                              timings=timings)  # fmt: skip
            total = math.fsum(r.total for r in found)
        else:
            total = run_margin(client, model, book, market, timings=timings).total
        seconds = time.perf_counter() - start
        cpu = _workers_cpu(client) + _cpu() - cpu
        peaks = _worker_peaks(client)
    return {
        "seconds": seconds,
        "cpu": cpu,
        "total": total,
        "peaks": peaks,
        "tasks": len(timings),
        "task_min": min(timings),
        "task_median": statistics.median(timings),
    }


def from_dataset(key: str, folder: Path, workers: int) -> dict[str, Any]:
    """End-to-end margin of the book dataset ``folder`` on a fresh LocalCluster (results
    written as Parquet, sums back)."""
    market, history, _, _ = _market()
    model = _model(key, history)
    with connect(workers=workers) as client, tempfile.TemporaryDirectory() as out:
        cpu = _workers_cpu(client) + _cpu()
        start = time.perf_counter()
        run = margin_dataset(client, folder, model, market, Path(out) / "r", record=False)
        seconds = time.perf_counter() - start
        cpu = _workers_cpu(client) + _cpu() - cpu
    return {
        "seconds": seconds,
        "cpu": cpu,
        "total": run.summary["total"],
        "peaks": sorted(run.summary["workers"]["peak_rss_mb"].values()),
        "prepare": run.summary["seconds"]["prepare"],
        "chunk": run.summary["chunk_positions"],
    }


def _check(total: float, want: float, what: str) -> None:
    if not math.isclose(total, want, rel_tol=1e-9):
        raise AssertionError(f"{what}: distributed total {total!r} != single {want!r}")


#: A worker's peak may exceed one process margining one 10,000-account file (two chunks of
#: the default size) by this factor at most: a 1M-account book holds 100 such files, so a
#: peak that grew with the book would be far past it.
PEAK_BOUND = 1.5


def _check_bounded(peaks: list[float], chunk_mb: float, what: str) -> None:
    if max(peaks) > PEAK_BOUND * chunk_mb:
        raise AssertionError(
            f"{what}: worker peak {max(peaks):,.0f} MB > {PEAK_BOUND} x {chunk_mb:,.0f} MB of one "
            "file in one process: memory per worker is not bounded by the chunk"
        )


def _mb(peaks: list[float]) -> str:
    return ", ".join(f"{p:,.0f}" for p in peaks)


def _bench_100k(key: str) -> dict[str, Any]:
    _, _, instruments, n_crypto = _market()
    single_s, single_cpu, single_mb, single_total = single_process(key, N_ACCOUNTS)
    with tempfile.TemporaryDirectory(prefix="cm-book-") as tmp:
        folder = write_dataset(Path(tmp), N_ACCOUNTS, instruments, n_crypto)
        two = from_dataset(key, folder, 2)
        one = from_dataset(key, folder, 1)
    book = portfolio(N_ACCOUNTS, instruments, n_crypto)
    mem = on_cluster(key, book, 2)
    for run, what in ((two, "dataset, 2 workers"), (one, "dataset, 1 worker"),
                      (mem, "in memory, 2 workers")):  # fmt: skip
        _check(run["total"], single_total, f"{key} {what}")
    extra = ""
    if key.startswith("es"):
        naive = on_cluster(key, book, 2, naive=True)
        _check(naive["total"], single_total, f"{key} naive")
        extra = (f"; naive in-memory distribution (each task prepares its own context) "
                 f"{naive['seconds']:.1f} s ({naive['cpu']:.0f} CPU s)")  # fmt: skip
    return {
        "name": f"distributed_{key}_100k_accounts",
        "value": two["seconds"],
        "unit": "s",
        "baseline_ratio": single_s / two["seconds"],
        "detail": (
            f"{N_ACCOUNTS:,} accounts x {PER_ACCOUNT} positions, {len(instruments):,} "
            f"instruments; single process {single_s:.1f} s ({single_cpu:.0f} CPU s), peak "
            f"{single_mb:,.0f} MB; "
            f"LocalCluster from {len(_blocks(N_ACCOUNTS))} Parquet files: 2 workers "
            f"{two['seconds']:.1f} s ({two['cpu']:.0f} CPU s; client scan + prepare "
            f"{two['prepare']:.1f} s), "
            f"peak/worker {_mb(two['peaks'])} MB, "
            f"chunks of {two['chunk']:,} positions; 1 worker {one['seconds']:.1f} s "
            f"({one['cpu']:.0f} CPU s), peak "
            f"{_mb(one['peaks'])} MB; 1 -> 2 workers x{one['seconds'] / two['seconds']:.2f}; "
            f"in memory (run_margin, full results gathered on the client) 2 workers "
            f"{mem['seconds']:.1f} s ({mem['cpu']:.0f} CPU s), peak/worker "
            f"{_mb(mem['peaks'])} MB, {mem['tasks']} tasks "
            f"(min {mem['task_min']:.2f} s, median {mem['task_median']:.2f} s){extra}"
        ),
    }


def distributed_pm_grid_100k() -> dict[str, Any]:
    """pm_grid, 100,000 accounts: single process vs LocalCluster of 2 and 1 workers."""
    return _bench_100k("pm_grid")


def distributed_es_100k() -> dict[str, Any]:
    """es, 100,000 accounts: single process vs LocalCluster (shared and naive contexts)."""
    return _bench_100k("es")


def _bench_large(key: str, folder: Path) -> dict[str, Any]:
    _, _, instruments, _ = _market()
    base_s, base_cpu, base_mb, _ = single_process(key, LARGE // 100)
    run = from_dataset(key, folder, 2)
    _check_bounded(run["peaks"], base_mb, f"{key}, {LARGE:,} accounts")
    return {
        "name": f"distributed_{key}_1m_accounts",
        "value": run["seconds"],
        "unit": "s",
        "baseline_ratio": base_s * 100 / run["seconds"],
        "detail": (
            f"{LARGE:,} accounts x {PER_ACCOUNT} positions, {len(instruments):,} instruments, "
            f"from {len(_blocks(LARGE))} Parquet files, LocalCluster 2 workers: "
            f"{run['seconds']:.1f} s ({run['cpu']:.0f} CPU s; client scan + prepare "
            f"{run['prepare']:.1f} s), peak/worker {_mb(run['peaks'])} MB, chunks of "
            f"{run['chunk']:,} positions; single process on 10,000 accounts {base_s:.1f} s "
            f"({base_cpu:.0f} CPU s), peak {base_mb:,.0f} MB, x100 = {base_s * 100:,.0f} s "
            f"(the whole book would not fit: its peak grows with the book)"
        ),
    }


def _large_models() -> tuple[str, ...]:
    """``CROSSMARGIN_BENCH_1M``: ``1`` for both models, or ``pm_grid`` / ``es`` for one."""
    chosen = os.environ.get("CROSSMARGIN_BENCH_1M", "")
    if chosen == "1":
        return ("pm_grid_1000", "es_1000")
    return tuple(f"{m.strip()}_1000" for m in chosen.split(",") if m.strip())


def distributed_1m_accounts() -> list[dict[str, Any]]:
    """1,000,000 accounts x 10 positions x ~1,000 scenarios, pm_grid and es, from Parquet."""
    _, _, instruments, n_crypto = _market()
    with tempfile.TemporaryDirectory(prefix="cm-book-") as tmp:
        folder = write_dataset(Path(tmp), LARGE, instruments, n_crypto)
        return [_bench_large(key, folder) for key in _large_models()]


BENCHMARKS: tuple[Any, ...] = (distributed_pm_grid_100k, distributed_es_100k)
if _large_models():
    BENCHMARKS += (distributed_1m_accounts,)


if __name__ == "__main__":
    for bench in BENCHMARKS:
        print(bench())
