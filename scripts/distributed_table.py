"""Generated table of docs/distributed.md: what a distributed margin run sends over the wire.

Pickled sizes (cloudpickle, as Dask sends them) on the benchmark's universe of about 1,000 real
instruments live on 2026-02-11 (``benchmarks/bench_var.py``) and a book of 1,000 accounts x 10
positions (``benchmarks/bench_distributed.py``), in one chunk: the broadcast inputs of each
model setting, the chunk's positions and the chunk's ``MarginResult``. Run
``python scripts/distributed_table.py`` to print the table, ``--write`` to replace it in
docs/distributed.md (between the ``wire-table`` markers).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cloudpickle

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import bench_distributed as bench  # noqa: E402
from crossmargin.distributed.partition import split_book  # noqa: E402
from crossmargin.distributed.shared import book_instruments, share_margin  # noqa: E402
from crossmargin.report.docs import write_block  # noqa: E402

DOC = ROOT / "docs" / "distributed.md"
BLOCK = "wire-table"
ACCOUNTS = 1_000
SETTINGS = {
    "pm_grid": "`pm_grid`, shipped grid",
    "pm_grid_1000": "`pm_grid`, 1,001 scenarios per underlying",
    "es": "`es`, 12-month lookback",
    "es_1000": "`es`, 3-year lookback",
}


def table() -> str:
    """The Markdown table (see the module docstring); a fresh history each time, since a
    history's pickled size grows with the series it has read."""
    market, history, instruments, n_crypto = bench._market()
    book = bench.portfolio(ACCOUNTS, instruments, n_crypto)
    (part,) = split_book(book, len(book))
    rows = []
    result = None
    for key, label in SETTINGS.items():
        shared = share_margin(bench._model(key, history), book_instruments(book), market)
        size = len(cloudpickle.dumps(shared)) / 1e6
        rows.append(f"| broadcast inputs: {label} | client → every worker, once | {size:.1f} MB |")
        if result is None:
            result = shared.margin(part.portfolio())
    assert result is not None
    per_position = len(cloudpickle.dumps(part)) / len(part.raw)
    per_account = len(cloudpickle.dumps(result)) / len(result.accounts) / 1e3
    head = "| what | direction | size |\n|---|---|---:|"
    return "\n".join(
        [
            head,
            *rows,
            f"| a chunk of an in-memory book | client → worker, per task | {per_position:.0f} "
            "bytes per position |",
            f"| a chunk's `MarginResult` | worker → client, per task | {per_account:.1f} KB per "
            "account |",
            f"| the instruments | | {len(instruments):,} |",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help=f"replace the block in {DOC}")
    args = parser.parse_args(argv)
    text = table()
    print(text)
    if args.write:
        write_block(DOC, BLOCK, text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
