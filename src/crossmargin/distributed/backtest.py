"""Backtest days on a Dask cluster, partitioned by date range.

:func:`crossmargin.analysis.backtest.run_paths` backtests each group of accounts with the same
factor set on its own calendar; for every group it hands the group's day runner and days to a
``map_days`` function. :func:`day_mapper` returns one that cuts the days into contiguous date
ranges (each task replays a range: the history views of consecutive days share their series)
and runs them through :func:`crossmargin.distributed.tasks.map_units`: the day runner (book,
model spec, days) and the market history are broadcast once per group. Each day's outcome
depends on its own date only (the history is cut at ``t`` and ``t + h``), so the paths are the
single-process ones.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from distributed import Client

from crossmargin.analysis.backtest import DayMapper, Progress
from crossmargin.market.history import MarketHistory

from .cluster import require_folders, worker_count
from .partition import CHUNKS_PER_WORKER
from .tasks import map_units

#: Fewest days per task: one backtest day costs tens of milliseconds (a snapshot, a margin
#: run and a revaluation; ``benchmarks/bench_backtest.py``), so five keep a task >= 100 ms.
MIN_DAYS_PER_TASK = 5


@dataclass(frozen=True, slots=True)
class _SharedDays:
    runner: Any
    history: MarketHistory


def run_days(indices: list[int], shared: _SharedDays) -> dict[int, Any]:
    """One task: the outcomes of some days of one group (runs on a worker)."""
    return {i: shared.runner.run(shared.history, i) for i in indices}


def day_ranges(indices: list[int], workers: int, size: int | None = None) -> list[list[int]]:
    """``indices`` cut into contiguous ranges: ``size`` days each, or enough for four tasks
    per worker but at least :data:`MIN_DAYS_PER_TASK`."""
    if size is None:
        size = max(MIN_DAYS_PER_TASK, math.ceil(len(indices) / (CHUNKS_PER_WORKER * workers)))
    return [indices[k : k + size] for k in range(0, len(indices), max(1, size))]


def day_mapper(client: Client, *, days_per_task: int | None = None) -> DayMapper:
    """A ``map_days`` for :func:`crossmargin.analysis.backtest.run_paths` running on
    ``client`` (see the module docstring)."""

    def run(
        runner: Any, history: MarketHistory, indices: list[int], progress: Progress
    ) -> dict[int, Any]:
        require_folders(client, {"market history": Path(history.data_dir)})
        ranges = day_ranges(indices, worker_count(client), days_per_task)
        sizes = [len(r) for r in ranges]

        def step(done: int, _total: int) -> None:
            progress(min(len(indices), done * sizes[0]), len(indices))

        found = map_units(client, run_days, ranges, shared=_SharedDays(runner, history),
                          name="backtest", progress=step)  # fmt: skip
        out: dict[int, Any] = {}
        for part in found:
            out.update(part)
        return out

    return run


__all__ = ["MIN_DAYS_PER_TASK", "day_mapper", "day_ranges", "run_days"]
