"""Read and write books of positions as CSV, JSON or Parquet (chosen by file suffix).

Columns (case-insensitive): ``account``, ``symbol``, ``quantity`` (signed) are required;
``quantity_unit`` (``contracts``, the default; ``usd``; ``coin``: see
:mod:`crossmargin.portfolio.units`), ``trade_price``, ``position_id`` and ``venue`` (the
clearing house the position sits at, when not the contract's own) are optional; an unknown
column, or one given twice under case variants (``quantity`` and ``Quantity``), is an error.
JSON is a list of row objects or ``{"positions": [...], "collateral": [...]}``.
Symbols resolve against the shipped contract table, or the ``table`` given (a run's own
contracts).

Every bad row is reported: the loader checks all rows and raises one
:class:`~crossmargin.errors.SchemaError` listing file, row, column, value and reason for
each problem; nothing is silently dropped. Row numbers are as a user sees them: the
header is row 1 of a CSV, so its first data row is row 2; JSON and Parquet rows count
from 1.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from crossmargin.errors import InputError
from crossmargin.files import (
    atomic_output,
    csv_frame,
    input_file,
    load_json,
    read_text,
    write_text,
)
from crossmargin.instruments import ContractTable
from crossmargin.portfolio.book import Portfolio
from crossmargin.portfolio.columns import (
    COLUMNS,
    RawBook,
    parse_columns,
    raw_frame,
    raw_rows,
    raw_table,
)

#: Top-level keys of a JSON book.
#: (``accounts``: per-account attributes, e.g. a generated population's margin modes, and
#: ``population``: the spec that generated it, both read by :mod:`crossmargin.analysis.cascade`.)
BOOK_KEYS = ("positions", "collateral", "cross_margin", "accounts", "population", "description")
FORMATS = {".csv": "csv", ".json": "json", ".parquet": "parquet", ".pq": "parquet"}


def _format(path: Path) -> str:
    try:
        return FORMATS[path.suffix.lower()]
    except KeyError:
        raise InputError(
            f"{path}: unsupported file type {path.suffix or '(none)'}; use .csv, .json or .parquet"
        ) from None


def read_records(
    path: Path, *, section: str = "positions", what: str = "position"
) -> tuple[list[dict[str, Any]], list[int]]:
    """Rows of a CSV, JSON or Parquet file as dicts of raw values, and each row's number as a
    user sees it. A JSON file is a list of row objects or an object with the rows under
    ``section`` (a book's ``positions``, its ``collateral``).

    Blank CSV lines are skipped but still counted, so numbers match the file's lines.
    """
    fmt = _format(path)
    kind = "book" if what == "position" else what
    if fmt == "csv":
        frame, lines = csv_frame(read_text(path, what=kind), path, what=kind)
        records = [{str(k): v for k, v in r.items()} for r in frame.to_dict("records")]
        keep = [i for i, r in enumerate(records) if any(str(v).strip() for v in r.values())]
        return [records[i] for i in keep], [lines[i] for i in keep]
    if fmt == "parquet":
        frame = _read_parquet(input_file(path, what=kind), kind)
        cleaned = frame.astype(object).where(frame.notna(), None)
        rows = [{str(k): v for k, v in r.items()} for r in cleaned.to_dict("records")]
        return rows, list(range(1, len(rows) + 1))
    data = load_json(path, what=kind)
    if isinstance(data, Mapping) and section in data:
        data = data[section]
    if not isinstance(data, list) or not all(isinstance(r, Mapping) for r in data):
        raise InputError(f"{path}: expected a list of {what} objects or {{'{section}': [...]}}")
    return [dict(r) for r in data], list(range(1, len(data) + 1))


def _read_parquet(path: Path, kind: str) -> pd.DataFrame:
    """A Parquet file as a frame; columns named twice (``account`` and ``Account`` are kept
    apart by Parquet) are reported by :func:`column_problems`, exact duplicates here."""
    try:
        frame = pd.read_parquet(path)
    except Exception as bad:  # pyarrow raises its own zoo of errors on a bad file
        raise InputError(f"{kind} file {path}: cannot read as Parquet ({bad})") from None
    names = [str(c) for c in frame.columns]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise InputError(f"{kind} file {path}: column {twice[0]!r} given twice")
    return frame


def read_book(path: Path, *, what: str = "book") -> RawBook:
    """A CSV, JSON or Parquet book's cells as columns (:class:`RawBook`), row numbers as
    :func:`read_records` gives them; a Parquet file is read straight into Arrow columns."""
    fmt = _format(path)
    if fmt == "json":
        rows, numbers = read_records(path)
        return raw_rows(rows, row_numbers=numbers)
    if fmt == "csv":
        frame, lines = csv_frame(read_text(path, what=what), path, what=what)
        blank = np.ones(len(frame), dtype=bool)
        for k in range(frame.shape[1]):
            blank &= frame.iloc[:, k].astype(str).str.strip().eq("").to_numpy()
        keep = np.flatnonzero(~blank)
        return raw_frame(frame.iloc[keep], [lines[i] for i in keep.tolist()])
    return raw_table(read_parquet_table(input_file(path, what=what), what))


def read_parquet_table(path: Path, kind: str) -> pa.Table:
    """A Parquet file as an Arrow table with the columns :func:`pandas.read_parquet` makes
    (an index pandas stored is not a column); a column named twice is refused."""
    try:
        table = pq.read_table(path)
    except Exception as bad:  # pyarrow raises its own zoo of errors on a bad file
        raise InputError(f"{kind} file {path}: cannot read as Parquet ({bad})") from None
    stored = (table.schema.pandas_metadata or {}).get("index_columns", [])
    index = [c for c in stored if isinstance(c, str) and c in table.column_names]
    if index:
        table = table.drop_columns(index)
    names = [str(c) for c in table.column_names]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise InputError(f"{kind} file {path}: column {twice[0]!r} given twice")
    return table


def parse_rows(
    rows: Sequence[Mapping[str, Any]],
    *,
    source: str,
    first_row: int = 1,
    row_numbers: Sequence[int] | None = None,
    reference_year: int | None = None,
    table: ContractTable | None = None,
) -> Portfolio:
    """Validate row mappings into a :class:`Portfolio`, collecting every issue
    (:func:`crossmargin.portfolio.columns.parse_columns` on the rows' columns).

    Rows are numbered ``first_row, first_row + 1, ...`` unless ``row_numbers`` gives them.
    Symbols resolve against ``table`` (``None``: the shipped contract table).
    """
    raw = raw_rows(rows, first_row=first_row, row_numbers=row_numbers)
    return parse_columns(raw, source=source, reference_year=reference_year,
                         table=table).portfolio()  # fmt: skip


def load_portfolio(
    path: str | Path,
    *,
    reference_year: int | None = None,
    table: ContractTable | None = None,
    collateral: str | Path | None = None,
    cross_margin: str | None = None,
) -> Portfolio:
    """Load a book from CSV, JSON or Parquet; raises one SchemaError listing every bad row.

    ``cross_margin`` (or a JSON book's ``"cross_margin"`` key; the argument wins) declares
    which venues of an account are margined together: accounts spanning several venue
    groups are cut into one netting set per group (:mod:`crossmargin.netting.venues`).

    Symbols resolve against ``table`` (``None``: the shipped contract table). A JSON book may
    carry its accounts' collateral (``{"positions": [...], "collateral": [...]}``);
    ``collateral`` names a separate collateral file (CSV, JSON, Parquet; see
    :mod:`crossmargin.collateral.holdings`). Collateral of an account with no position is an
    error (it would be margined nowhere).
    """
    from crossmargin.collateral.holdings import (
        CollateralHolding,
        load_collateral,
        parse_collateral_rows,
    )

    p = Path(path)
    book = parse_columns(
        read_book(p), source=str(p), reference_year=reference_year, table=table
    ).portfolio()
    held: list[CollateralHolding] = []
    declared: Any = None
    if _format(p) == "json":
        doc = load_json(p, what="book")
        if isinstance(doc, Mapping):
            unknown = sorted(str(k) for k in doc if k not in BOOK_KEYS)
            if unknown:
                raise InputError(
                    f"{p}: unknown key {unknown[0]!r} in the book (known: {', '.join(BOOK_KEYS)})"
                )
            declared = doc.get("cross_margin")
        if isinstance(doc, Mapping) and "collateral" in doc:
            raw = doc["collateral"]
            if not isinstance(raw, list) or not all(isinstance(r, Mapping) for r in raw):
                raise InputError(f"{p}: 'collateral' must be a list of holding objects")
            held += parse_collateral_rows(raw, source=f"{p} collateral")
    if collateral is not None:
        held += load_collateral(collateral)
    orphans = sorted({h.account for h in held} - set(book.accounts))
    if orphans:
        raise InputError(
            f"collateral of account(s) {', '.join(orphans)} that hold no position in {p}: "
            "add their positions or remove the collateral"
        )
    book = book.with_collateral(held) if held else book
    if cross_margin is not None:
        declared = cross_margin
    if declared is None:
        return book
    from crossmargin.netting.venues import parse_cross_margin, split_netting_sets

    where = f"{p}" if cross_margin is None else "--cross-margin"
    return split_netting_sets(book, parse_cross_margin(declared, source=where))


def portfolio_records(portfolio: Portfolio, *, raw: bool = True) -> list[dict[str, Any]]:
    """Rows (account, symbol, quantity, quantity_unit, trade_price, position_id, venue) of a
    portfolio.

    ``quantity`` is as the book stated it, in ``quantity_unit`` (saving and loading the rows
    gives the same positions back).
    """
    return [
        {
            "account": p.account,
            "symbol": p.symbol,
            "quantity": p.booked_quantity,
            "quantity_unit": p.quantity_unit,
            "trade_price": p.trade_price,
            "position_id": p.position_id,
            "venue": p.venue or None,
        }
        for p in (portfolio.raw if raw else portfolio.positions)
    ]


def collateral_records(portfolio: Portfolio) -> list[dict[str, Any]]:
    """Rows (account, asset, amount, venue) of a portfolio's collateral."""
    return [
        {"account": h.account, "asset": h.asset, "amount": h.amount, "venue": h.venue or None}
        for h in portfolio.collateral
    ]


def book_records(portfolio: Portfolio) -> list[dict[str, Any]]:
    """The rows that make a book, as a run's inputs hash reads them: its positions
    (:func:`portfolio_records`), then its collateral (:func:`collateral_records`): the
    collateral is revalued in the scenarios and nets against the positions, so two books of
    the same positions and other collateral are other inputs. A collateral row's keys are
    not a position row's, so neither writes as the other; a book without collateral gives
    its positions' rows alone, as before its collateral entered the hash."""
    return [*portfolio_records(portfolio), *collateral_records(portfolio)]


def collateral_path(path: str | Path) -> Path:
    """Where :func:`save_portfolio` writes a CSV or Parquet book's collateral:
    ``<stem>_collateral<suffix>`` beside it."""
    p = Path(path)
    return p.with_name(f"{p.stem}_collateral{p.suffix}")


def save_portfolio(portfolio: Portfolio, path: str | Path) -> tuple[Path, ...]:
    """Write the raw positions and the collateral as CSV, JSON or Parquet (by suffix).

    JSON holds both (``{"positions": [...], "collateral": [...]}``); CSV and Parquet books
    write the collateral to :func:`collateral_path`. Returns the files written.
    """
    p = Path(path)
    fmt = _format(p)
    records = portfolio_records(portfolio)
    if fmt == "json":
        doc: dict[str, Any] = {"positions": records}
        if portfolio.collateral:
            doc["collateral"] = collateral_records(portfolio)
        write_text(p, json.dumps(doc, indent=2), what="book")
        return (p,)
    frames = [(p, pd.DataFrame.from_records(records, columns=list(COLUMNS)))]
    if portfolio.collateral:
        from crossmargin.collateral.holdings import COLUMNS as COLLATERAL_COLUMNS

        frames.append(
            (
                collateral_path(p),
                pd.DataFrame.from_records(
                    collateral_records(portfolio), columns=list(COLLATERAL_COLUMNS)
                ),
            )
        )
    for target, frame in frames:
        with atomic_output(target, what="book") as temp:
            if fmt == "csv":
                frame.to_csv(temp, index=False)
            else:
                frame.to_parquet(temp, index=False)
    return tuple(t for t, _ in frames)
