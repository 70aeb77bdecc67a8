"""The ``--distributed`` options of ``margin``, ``stress`` and ``backtest``: one client per run,
and the margin of a book dataset (a folder of Parquet files)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.table import Table

from crossmargin.cli.value import money
from crossmargin.errors import InputError

if TYPE_CHECKING:
    from distributed import Client


@contextmanager
def cluster(
    distributed: bool, scheduler: str | None, workers: int | None
) -> Iterator[Client | None]:
    """A Dask client for the run with ``--distributed`` (None without it)."""
    if not distributed:
        if scheduler is not None or workers is not None:
            given = "--scheduler" if scheduler is not None else "--workers"
            raise InputError(f"{given} applies with --distributed only: add --distributed")
        yield None
        return
    from crossmargin.distributed import connect

    with connect(scheduler, workers=workers) as client:
        yield client


def dataset_table(summary: dict[str, Any]) -> Table:
    """The totals of a dataset run."""
    ccy = summary["currency"]
    table = Table(
        title=f"{summary['model']} margin of {summary['accounts_count']:,} accounts "
        f"({summary['positions_count']:,} positions; {ccy}; grouped by {summary['by']})",
        title_justify="left",
    )
    for col in ("standalone", "grouped", "netted", "total", "benefit", "benefit %"):
        table.add_column(col, justify="right")
    table.add_row(
        money(summary["standalone_total"]),
        money(summary["grouped_total"]),
        money(summary["netted_total"]),
        money(summary["total"]),
        money(summary["benefit"]),
        f"{summary['benefit_pct']:.1f}",
    )
    return table


def check_dataset(book: Path, distributed: bool, out: Path | None) -> bool:
    """Whether ``book`` is a dataset folder (then ``--distributed`` and ``--out`` are needed)."""
    if not book.is_dir():
        if out is not None:
            raise InputError(
                "--out writes the results of a book dataset (a folder of Parquet files); a "
                "book file's results print here (--json for JSON)"
            )
        return False
    if not distributed:
        raise InputError(
            f"{book} is a folder: a book dataset (Parquet files) is margined with "
            "--distributed (and --out DIR for its results)"
        )
    if out is None:
        raise InputError(f"{book} is a book dataset: give --out DIR for its partitioned results")
    return True


__all__ = ["check_dataset", "cluster", "dataset_table"]
