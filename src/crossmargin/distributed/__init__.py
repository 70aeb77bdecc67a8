"""The same computations on a Dask cluster: ``dask.distributed`` as the engine.

Every runner takes a ``dask.distributed.Client`` (an embedded ``LocalCluster`` of processes
by default, :func:`connect`) and returns what the single-process path returns, figure for
figure (the tests hold them equal to 1e-9 for every model):

* :func:`run_margin` — margin a book: the model's per-instrument work once on the client,
  broadcast; whole accounts in chunks of positions (:mod:`.partition`);
* :func:`run_stress` — the per-netting-set stresses (crises, hypothetical scenarios, reverse)
  in chunks, the book-level ones (correlation breakdown, default) on the client;
* :func:`day_mapper` — backtest days in date ranges
  (:func:`crossmargin.analysis.backtest.run_paths` ``map_days``);
* :func:`margin_dataset` — a book streamed from a partitioned Parquet directory, results
  written as partitioned Parquet with a summary (the book never sits in one process);
* :func:`run_simm` — ISDA SIMM per account, each account's CRIF built in its task;
* :func:`mode_mapper` — a cascade's margining modes (isolated, grouped, cross) as tasks (a
  cascade's accounts are one fixed point and stay together);
* :func:`map_units` — the one way tasks are sent: any per-netting-set or per-date function
  over units, with shared read-only inputs broadcast once (the hook for new analyses).

``docs/distributed.md`` covers running on a real cluster, memory per worker and what goes
over the wire.
"""

from __future__ import annotations

from crossmargin.distributed.backtest import day_mapper
from crossmargin.distributed.cascade import mode_mapper
from crossmargin.distributed.cluster import DEFAULT_TIMEOUT, client_for, connect, local_cluster
from crossmargin.distributed.dataset import DatasetRun, margin_dataset
from crossmargin.distributed.margin import merge_results, run_margin
from crossmargin.distributed.partition import BookPart, chunk_positions, split_book
from crossmargin.distributed.simm import run_simm
from crossmargin.distributed.stress import run_stress
from crossmargin.distributed.tasks import map_units

__all__ = [
    "DEFAULT_TIMEOUT",
    "BookPart",
    "DatasetRun",
    "chunk_positions",
    "client_for",
    "connect",
    "day_mapper",
    "local_cluster",
    "map_units",
    "margin_dataset",
    "merge_results",
    "mode_mapper",
    "run_margin",
    "run_simm",
    "run_stress",
    "split_book",
]
