"""Per-file overheads of the dataset margin path (issue 18): everything a task does to one
Parquet file of 10,000 accounts x 10 positions (``bench_distributed``'s book) except the
model.

``BENCHMARKS = (dataset_file_ingest,)``::

    {"name", "value": <seconds per file, columnar path>, "unit": "s",
     "baseline_ratio": <row-mapping path seconds / columnar path seconds>, "detail": ...}

* **columnar path** (what ``crossmargin.distributed.dataset.margin_file`` does): read the file
  into Arrow columns (``read_book``), check them (``parse_columns``) and cut them into parts
  of whole accounts (``split_columns``), which ``margin_columns`` margins as they are;
* **row-mapping path** (the baseline, run alongside): the file's rows as Python mappings
  (``read_records``), ``parse_rows``, ``split_book`` on the portfolio and each part's
  portfolio (what the object path, ``margin_part``, margins);
* **write**: ``write_part`` of the file's ``rules`` margin figures (``margin_columns``;
  accounts and positions Parquet), in the detail.

Each stage is the best of ``REPEATS`` runs (CPU seconds of this process would count other
helpers' load on a shared machine less, but the stages are single-threaded and short: the
minimum wall time is the steadier figure). Both paths' parts are checked equal.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import bench_distributed as bd
from crossmargin.distributed.margin import margin_columns
from crossmargin.distributed.output import write_part
from crossmargin.distributed.partition import BookPart, split_book, split_columns
from crossmargin.distributed.shared import share_margin
from crossmargin.models import get_model
from crossmargin.portfolio import parse_rows
from crossmargin.portfolio.columns import parse_columns
from crossmargin.portfolio.io import read_book, read_records

REPEATS = 3
ACCOUNTS = 10_000
CHUNK = 2_500  # positions per part: what margin_dataset picks for this book on 2 workers


def _best(fn: Callable[[], Any]) -> tuple[float, Any]:
    times, out = [], None
    for _ in range(REPEATS):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times), out


def dataset_file_ingest() -> dict[str, Any]:
    market, _history, instruments, n_crypto = bd._market()
    folder = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    bd.write_dataset(folder, ACCOUNTS, instruments, n_crypto)
    path = sorted(folder.glob("*.parquet"))[0]
    stages: dict[str, float] = {}
    stages["read"], raw = _best(lambda: read_book(path))
    stages["check"], book = _best(lambda: parse_columns(raw, source=str(path)))
    stages["split"], parts = _best(lambda: split_columns(book, CHUNK))
    books = [p.portfolio() for p in parts]  # to check the paths agree, not timed
    row: dict[str, float] = {}
    row["read"], (rows, numbers) = _best(lambda: read_records(path))
    row["check"], whole = _best(lambda: parse_rows(rows, source=str(path), row_numbers=numbers))
    row["split"], slow_parts = _best(lambda: split_book(whole, CHUNK))
    row["portfolio"], slow_books = _best(lambda: [p.portfolio() for p in slow_parts])
    assert [b.raw for b in books] == [b.raw for b in slow_books]
    shared = share_margin(get_model("rules"), book.instruments, market)
    figures = margin_columns(BookPart.of_columns(book), shared)
    out = folder / "out"
    runs = iter(range(REPEATS))
    write, _ = _best(lambda: write_part(figures, out, f"part-{next(runs)}"))
    columnar, baseline = sum(stages.values()), sum(row.values())
    shown = ", ".join(f"{k} {v * 1e3:.0f} ms" for k, v in stages.items())
    shown_row = ", ".join(f"{k} {v * 1e3:.0f} ms" for k, v in row.items())
    return {
        "name": "dataset_file_ingest",
        "value": columnar,
        "unit": "s",
        "baseline_ratio": baseline / columnar,
        "detail": (
            f"one file of {ACCOUNTS:,} accounts x {bd.PER_ACCOUNT} positions, {len(parts)} parts "
            f"of ~{CHUNK:,} positions: columnar {shown} (total {columnar:.3f} s); row mappings "
            f"{shown_row} (total {baseline:.3f} s); write_part of its rules figures "
            f"{write * 1e3:.0f} ms (best of {REPEATS})"
        ),
    }


BENCHMARKS = (dataset_file_ingest,)
