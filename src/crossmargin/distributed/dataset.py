"""Books streamed from a partitioned Parquet directory: no process ever holds the whole book.

A book **dataset** is a folder of Parquet files with the book's columns (``account``,
``symbol``, ``quantity``; optional ``trade_price``, ``position_id``, ``venue``; see
:mod:`crossmargin.portfolio.io`), in any folder layout (flat ``part-*.parquet``, or hive
folders such as ``bucket=07/part-0.parquet``; :func:`dataset_files`). **Each account lies
in one file**: write the book partitioned by account (or by a hash bucket of the account), so
that a file is a set of whole netting sets. :func:`margin_dataset` runs in two passes of
tasks, one task per file:

1. **scan**: the file's distinct symbols and accounts (hashed) and its SHA-256; the client
   unions the symbols into the instruments of the book, checks that no account appears in
   two files (naming the account and the files if one does) and prepares the model once
   (:mod:`.shared`);
2. **margin**: the task reads its file into Arrow columns and checks them with the book
   loader's rules (:mod:`crossmargin.portfolio.columns`: each distinct symbol parsed once,
   numbers checked as arrays; every bad row of every file is collected: the run stops with
   one :class:`~crossmargin.errors.SchemaError` listing them all), cuts the columns into
   chunks of whole accounts of about ``chunk_positions`` positions
   (:func:`.partition.split_columns`: array takes), margins each from its columns
   (:func:`.margin.margin_columns`: the steps of :func:`crossmargin.netting.cross_margin` on
   arrays, no object per position or account) and writes its results (:mod:`.output`);
   only sums come back.

The client writes ``summary.json`` and, unless told not to, records the run in the run store
(kind ``margin``; ``run_accounts`` filled from the accounts files by DuckDB; the inputs hash
covers the files' SHA-256, the model, its parameters and the market source).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from distributed import Client, get_worker

from crossmargin.errors import InputError, Issue, SchemaError
from crossmargin.instruments import Instrument, parse_symbol
from crossmargin.instruments.instrument import in_canonical_order
from crossmargin.market.snapshot import MarketSnapshot
from crossmargin.models.base import MarginModel
from crossmargin.models.result import GROUPINGS, result_units
from crossmargin.netting.core import BY_TIER, result_parameters
from crossmargin.peak_memory import peak_rss_mb
from crossmargin.portfolio.columns import REQUIRED, parse_columns
from crossmargin.portfolio.io import read_book
from crossmargin.store import RunStore

from .cluster import require_folders, worker_count
from .margin import margin_columns
from .output import ACCOUNTS, PartTotals, write_part
from .partition import chunk_positions as default_chunk
from .partition import split_columns
from .shared import SharedMargin, history_folder, share_margin
from .tasks import Progress, map_units

SUMMARY = "summary.json"


def dataset_files(path: str | Path) -> list[Path]:
    """The Parquet files (``*.parquet``, ``*.pq``) under the folder ``path``, sorted; names and
    folders starting with ``_`` or ``.`` (``_SUCCESS``, ``.crc``: writers' bookkeeping) are
    skipped, as Arrow and Spark do."""
    folder = Path(path)
    if not folder.is_dir():
        raise InputError(f"book dataset {folder} is not a folder of Parquet files")
    files = sorted(
        p
        for p in folder.rglob("*")
        if p.suffix.lower() in (".parquet", ".pq")
        and p.is_file()
        and not any(part.startswith(("_", ".")) for part in p.relative_to(folder).parts)
    )
    if not files:
        raise InputError(f"book dataset {folder} holds no Parquet file (*.parquet)")
    return files


@dataclass(frozen=True, slots=True, kw_only=True)
class FileScan:
    """What the scan pass learns of one file (see the module docstring)."""

    path: str
    rows: int
    missing: tuple[str, ...]
    symbols: tuple[str, ...]
    accounts: np.ndarray
    sha256: str


def _digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def account_hashes(accounts: Sequence[str]) -> np.ndarray:
    """64-bit hashes of account ids (the same in every process)."""
    values = np.asarray([str(a).strip() for a in accounts], dtype=object)
    return np.asarray(pd.util.hash_array(values), dtype=np.uint64)


def scan_file(path: Path, _shared: None) -> FileScan:
    """One task of the scan pass (runs on a worker)."""
    schema = pq.read_schema(path)
    names = {n.strip().lower(): n for n in schema.names}
    missing = tuple(c for c in REQUIRED if c not in names)
    if missing:
        return FileScan(path=str(path), rows=0, missing=missing, symbols=(),
                        accounts=np.zeros(0, np.uint64), sha256=_digest(path))  # fmt: skip
    table = pq.read_table(path, columns=[names["account"], names["symbol"]])
    symbols = table.column(names["symbol"]).unique().to_pylist()
    accounts = table.column(names["account"]).unique().to_pylist()
    return FileScan(
        path=str(path),
        rows=table.num_rows,
        missing=(),
        symbols=tuple(sorted(str(s).strip() for s in symbols if s is not None)),
        accounts=np.unique(account_hashes([a for a in accounts if a is not None])),
        sha256=_digest(path),
    )


def _check_scans(scans: Sequence[FileScan]) -> None:
    """Every file has the required columns; no account lies in two files."""
    issues = [
        Issue(source=s.path, column=c, reason="required column is missing")
        for s in scans
        for c in s.missing
    ]
    SchemaError.raise_if_any(issues, headline=f"{len(issues)} missing column(s) in the dataset")
    owner = np.concatenate([np.full(s.accounts.size, k) for k, s in enumerate(scans)])
    hashes = np.concatenate([s.accounts for s in scans])
    values, counts = np.unique(hashes, return_counts=True)
    if np.all(counts == 1):
        return
    twice = values[counts > 1][0]
    files = [scans[int(k)].path for k in owner[hashes == twice]]
    table = pq.read_table(files[0])
    names = {n.strip().lower(): n for n in table.column_names}
    accounts = table.column(names["account"]).unique().to_pylist()
    named = next((a for a, h in zip(accounts, account_hashes(accounts), strict=True)
                  if h == twice), "?")  # fmt: skip
    raise InputError(
        f"account {named!r} appears in {len(files)} files of the dataset ({', '.join(files)}): "
        "an account must lie in one file; partition the book by account (or by a hash bucket "
        "of it) so that each file holds whole accounts"
    )


def book_universe(scans: Sequence[FileScan]) -> tuple[Instrument, ...]:
    """The instruments of the dataset's symbols in canonical order, as a layout lists them
    (every part's columns keep their relative order in the shared context); unparseable
    symbols are left to the margin pass, which reports them with their file and row."""
    out: dict[Instrument, None] = {}
    for symbol in sorted({s for scan in scans for s in scan.symbols}):
        try:
            out[parse_symbol(symbol)] = None
        except InputError:
            continue
    if not out:
        raise InputError("the dataset holds no valid instrument: nothing to margin")
    return in_canonical_order(out)


@dataclass(frozen=True, slots=True, kw_only=True)
class _SharedFiles:
    margin: SharedMargin
    out: Path
    chunk_positions: int


@dataclass(slots=True, kw_only=True)
class FileOutcome:
    """What a margin task sends back: sums and files written, or its file's bad rows."""

    totals: PartTotals = field(default_factory=PartTotals)
    issues: tuple[Issue, ...] = ()
    worker: str = ""
    peak_rss_mb: float = 0.0


def margin_file(unit: tuple[int, Path], shared: _SharedFiles) -> FileOutcome:
    """One task of the margin pass (runs on a worker): load, margin in chunks, write."""
    index, path = unit
    try:
        book = parse_columns(read_book(path), source=str(path))
    except SchemaError as bad:
        return FileOutcome(issues=bad.issues)
    outcome = FileOutcome()
    for k, part in enumerate(split_columns(book, shared.chunk_positions)):
        figures = margin_columns(part, shared.margin)
        outcome.totals.add(figures, write_part(figures, shared.out, f"part-{index:05d}-{k:04d}"))
    outcome.worker = get_worker().address
    outcome.peak_rss_mb = peak_rss_mb()
    return outcome


@dataclass(frozen=True, slots=True, kw_only=True)
class DatasetRun:
    """A dataset margin run: where its results are and what they sum to."""

    out: Path
    summary: dict[str, Any]
    run_id: str | None = None

    @property
    def total(self) -> float:
        """What the accounts must hold, summed (reporting currency)."""
        return float(self.summary["total"])


def _empty_folder(out: Path) -> None:
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise InputError(f"output folder {out} exists and is not empty: choose a new folder")
    out.mkdir(parents=True, exist_ok=True)


def margin_dataset(
    client: Client,
    path: str | Path,
    model: MarginModel,
    market: MarketSnapshot | Callable[[tuple[str, ...]], MarketSnapshot],
    out: str | Path,
    *,
    by: str = "underlying",
    cap: float | None = None,
    offsets: Any = None,
    chunk_positions: int | None = None,
    store: RunStore | str | Path | None = None,
    record: bool = True,
    progress: Progress | None = None,
) -> DatasetRun:
    """Margin the book dataset at ``path`` on ``client`` and write the results under ``out``
    (see the module docstring). ``market`` is a snapshot, or a function giving one for the
    dataset's underlyings (known after the scan). Returns the summary; with ``record`` the run
    is in the run store (``store``, default the default store) and ``run_id`` says which."""
    started = time.perf_counter()
    if by not in BY_TIER:
        raise InputError(f"unknown grouping {by!r}: use one of {', '.join(GROUPINGS)}")
    files = dataset_files(path)
    target = Path(out)
    _empty_folder(target)
    require_folders(client, {"book dataset": Path(path), "output": target})
    scans = map_units(client, scan_file, files, shared=None, name="scan")
    _check_scans(scans)
    universe = book_universe(scans)
    if not isinstance(market, MarketSnapshot):
        market = market(tuple(dict.fromkeys(i.underlying for i in universe)))
    rows = sum(s.rows for s in scans)
    size = chunk_positions or default_chunk(rows, worker_count(client))
    shared = _SharedFiles(
        margin=share_margin(model, universe, market, by=by, cap=cap, offsets=offsets),
        out=target,
        chunk_positions=size,
    )
    require_folders(client, {"market history": history_folder(shared.margin.history)})
    prepared = time.perf_counter()
    outcomes = map_units(client, margin_file, list(enumerate(files)), shared=shared,
                         name="margin-file", progress=progress)  # fmt: skip
    issues = [i for o in outcomes for i in o.issues]
    if issues:
        for folder in target.iterdir():
            shutil.rmtree(folder) if folder.is_dir() else folder.unlink()
        SchemaError.raise_if_any(
            issues, headline=f"{len(issues)} bad entr{'y' if len(issues) == 1 else 'ies'} in "
            f"the dataset {path}; nothing margined"
        )  # fmt: skip
    totals = PartTotals()
    peaks: dict[str, float] = {}
    for o in outcomes:
        totals.merge(o.totals)
        peaks[o.worker] = max(peaks.get(o.worker, 0.0), o.peak_rss_mb)
    m = shared.margin.model
    summary = {
        "model": m.name,
        "currency": market.reporting_currency,
        "by": by,
        "cap": cap,
        **totals.figures(),
        "accounts_count": totals.accounts,
        "positions_count": totals.positions,
        "book": str(path),
        "book_files": [
            {
                "path": Path(s.path).relative_to(Path(path)).as_posix(),
                "rows": s.rows,
                "sha256": s.sha256,
            }
            for s in scans
        ],
        "output": str(target),
        "files": sorted(totals.files),
        "chunk_positions": size,
        "instruments": len(universe),
        "seconds": {"prepare": prepared - started, "total": time.perf_counter() - started},
        "workers": {"count": len(peaks), "peak_rss_mb": peaks},
        "parameters": result_parameters(m.parameters(), shared.margin.haircuts),
        "market": market.source or market.valuation_time.isoformat(),
        "offsets": shared.margin.offsets.to_dict(),
        "units": {
            **result_units(market.reporting_currency),
            "peak_rss_mb": "MiB of resident memory, the most a worker process reached",
            "seconds": "wall-clock seconds on the client",
        },
    }
    (target / SUMMARY).write_text(json.dumps(summary, indent=2, default=str) + "\n",
                                         encoding="utf-8")  # fmt: skip
    run_id = None
    if record:
        runs = store if isinstance(store, RunStore) else RunStore(store)
        run_id = runs.record(
            "margin",
            model=m.name,
            parameters={
                **summary["parameters"],
                "by": by,
                "cap": cap,
                "offsets": summary["offsets"],
            },  # as a margin run's (api.margin_record)
            market_asof=market.valuation_time,
            market_source=market.source,
            book_source=str(path),
            book_rows=summary["book_files"],
            result=summary,
            accounts_from=sorted(target.glob(f"{ACCOUNTS}/*.parquet")),
        )
    return DatasetRun(out=target, summary=summary, run_id=run_id)


__all__ = ["DatasetRun", "FileScan", "book_universe", "dataset_files", "margin_dataset",
           "scan_file"]  # fmt: skip
