"""Cascades on a Dask cluster, partitioned by margining mode.

A cascade (:mod:`crossmargin.analysis.cascade`) is a fixed point over the whole venue: every
account's liquidation moves the price everyone else is revalued at, so its accounts cannot be
split across workers without changing the answer. What is independent is each margining mode
(isolated, grouped, cross): each replays the same shock on the same prepared population
(market, instruments' P&L, deltas) with its own margin units. :func:`mode_mapper` runs each
mode as one task, the prepared population and the shock broadcast once
(:func:`crossmargin.distributed.tasks.map_units`); the report is the single-process one,
figure for figure.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from distributed import Client

from crossmargin.analysis.cascade.run import ModeJob, ModeMapper, ModeOutcome

from .tasks import map_units


def mode_mapper(client: Client) -> ModeMapper:
    """A ``map_modes`` for :func:`crossmargin.analysis.cascade.run.run_cascade` running each
    mode as a task of ``client``'s cluster (results in the modes' order)."""

    def run(
        fn: Callable[[str, ModeJob], ModeOutcome], modes: Sequence[str], job: ModeJob
    ) -> list[ModeOutcome]:
        return map_units(client, fn, list(modes), shared=job, name="cascade")

    return run


__all__ = ["mode_mapper"]
