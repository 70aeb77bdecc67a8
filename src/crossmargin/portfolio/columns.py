"""Books as validated columns: every rule of a book row, applied to each distinct value once.

A book's raw cells arrive as columns (:class:`RawBook`): from a pyarrow table (Parquet),
a CSV frame, or row mappings (JSON, the service, the API). :func:`parse_columns` checks them
all and returns a :class:`BookColumns` (account and instrument indices, quantities in
contracts, trade prices, ids, venues: no Python object per position), or raises one
:class:`~crossmargin.errors.SchemaError` listing every problem in row order, within a row in
this order:

====  ===============  =====================================================================
rank  column           problem
====  ===============  =====================================================================
0     (any)            unknown column, or one given twice under case or space variants
                       (:func:`column_problems`; once per column, at the first row having it)
1     account          empty (:func:`account_text`)
2     symbol           not a contract (:func:`crossmargin.instruments.parse_symbol`)
3, 4  quantity,        not a number / not a finite number (:func:`number_value`)
      trade_price
5     quantity         beyond :data:`crossmargin.limits.MAX_QUANTITY`
6     trade_price      :func:`crossmargin.limits.price_problem`
7     quantity         missing
8     quantity_unit    not a unit (:func:`crossmargin.portfolio.units.parse_unit`)
9     quantity_unit    refused by the symbol (:func:`crossmargin.portfolio.units.to_contracts`)
10    position_id      used on an earlier row (:func:`position_id_text`)
====  ===============  =====================================================================

**Distinct values.** Text rules (account, symbol, unit, id, venue) run once per distinct cell
value (Arrow's ``dictionary_encode``, :func:`pandas.factorize` for text, a dictionary keyed by
type and value otherwise: ``1``, ``1.0`` and ``True`` stay apart); typed numeric Parquet
columns are checked as arrays. The per-row loader (:func:`crossmargin.portfolio.io.parse_rows`)
is this module fed with row mappings; ``tests/portfolio/rowwise.py`` keeps the row-by-row
loop as a slow twin over the same rule functions, and the tests hold the two equal.

Parquet cells are read as :func:`pandas.read_parquet` gives them (float NaN is a missing
cell; an integer column with a missing cell is a float column; other types go through
pandas).
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa

from crossmargin.errors import InputError, Issue, SchemaError
from crossmargin.instruments import ContractTable, Instrument, parse_symbol
from crossmargin.limits import MAX_QUANTITY, price_problem
from crossmargin.portfolio.book import Portfolio, Position
from crossmargin.portfolio.codes import SMALL, first_seen_small
from crossmargin.portfolio.codes import codes as text_codes
from crossmargin.portfolio.units import QUANTITY_UNITS, QuantityUnit, parse_unit, to_contracts

REQUIRED = ("account", "symbol", "quantity")
OPTIONAL = ("quantity_unit", "trade_price", "position_id", "venue")
#: Column order of saved books.
COLUMNS = ("account", "symbol", "quantity", "quantity_unit", "trade_price", "position_id", "venue")

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
ObjectArray = npt.NDArray[np.object_]
#: A raw column: Arrow cells, or Python values (one per row; ``None`` where a row lacks it).
RawColumn: TypeAlias = "pa.ChunkedArray | pa.Array | ObjectArray | Sequence[Any]"

# ----------------------------------------------------------------------- the rules, per value


def column_problems(
    row: Mapping[str, Any] | Sequence[str], known: Sequence[str] | None = None
) -> list[tuple[str, str]]:
    """``(column, reason)`` of a row's unknown columns (not in ``known``, default a book's
    columns) and of columns given twice under case or space variants. ``row`` is a mapping
    or its keys."""
    known = COLUMNS if known is None else tuple(known)
    out: list[tuple[str, str]] = []
    names: dict[str, list[str]] = {}
    for key in row:
        names.setdefault(str(key).strip().lower(), []).append(str(key))
    for name, spelled in names.items():
        if len(spelled) > 1:
            out.append(
                (name, f"column given {len(spelled)} times ({', '.join(map(repr, spelled))})")
            )
        if name not in known:
            out.append((name, f"unknown column (known: {', '.join(known)})"))
    return out


def account_text(value: Any) -> str:
    """An account cell as the account id (``""``: empty, an error)."""
    return "" if value is None else str(value).strip()


def symbol_text(value: Any) -> str:
    """A symbol cell as the text :func:`~crossmargin.instruments.parse_symbol` reads."""
    return str(value or "")


def number_value(value: Any) -> float | None:
    """A number cell: ``None`` when empty; ValueError (or TypeError) when not a finite
    number (see :func:`number_reason`)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        raise ValueError("a boolean is not a number")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError("not finite")
    return number


def number_reason(bad: Exception) -> str:
    """The issue reason for what :func:`number_value` raised."""
    return "not a finite number" if "finite" in str(bad) else "not a number"


def position_id_text(value: Any) -> str | None:
    """A position id cell as the id (``None``: none given)."""
    return str(value).strip() if value not in (None, "") else None


def venue_text(value: Any) -> str:
    """A venue cell as the venue (``""``: the contract's own)."""
    return "" if value in (None, "") else str(value).strip()


# ----------------------------------------------------------------------- raw columns


@dataclass(frozen=True, slots=True, kw_only=True)
class RawBook:
    """A book's cells before any check.

    ``layouts``: each distinct list of column names as spelled (first-seen order) with the
    offset of the first row having it (a table has one; JSON rows may differ); ``columns``:
    the known columns (lower-case name) with one cell per row (``None`` where a row lacks
    it); ``rows``: each row's number as a user sees it.
    """

    size: int
    layouts: tuple[tuple[int, tuple[str, ...]], ...]
    columns: Mapping[str, RawColumn]
    rows: IntArray


def _spelled(names: Sequence[str]) -> dict[str, str]:
    """Known column -> the name it is spelled as (the last spelling of a variant wins, as a
    mapping of the normalised names would keep it)."""
    return {str(k).strip().lower(): str(k) for k in names}


def _numbers(size: int, first_row: int, row_numbers: Sequence[int] | None) -> IntArray:
    if row_numbers is None:
        return np.arange(first_row, first_row + size, dtype=np.int64)
    out = np.asarray(row_numbers, dtype=np.int64)
    if out.size != size:
        raise InputError(f"{size} rows but {out.size} row numbers")
    return out


def raw_rows(
    rows: Sequence[Mapping[str, Any]],
    *,
    first_row: int = 1,
    row_numbers: Sequence[int] | None = None,
) -> RawBook:
    """Row mappings as a :class:`RawBook`."""
    seen: dict[tuple[Any, ...], int] = {}
    codes: list[int] = []
    firsts: list[int] = []  # each layout's first row
    for k, row in enumerate(rows):
        j = seen.setdefault(tuple(row), len(seen))
        if j == len(firsts):
            firsts.append(k)
        codes.append(j)
    which = np.array(codes, dtype=np.int64)
    layouts = list(seen)
    spelled = [_spelled([str(k) for k in layout]) for layout in layouts]
    # a layout's spelling of each known column, by its original (maybe non-text) key
    keys = [{str(k): k for k in layout} for layout in layouts]
    columns: dict[str, RawColumn] = {}
    for name in COLUMNS:
        if not any(name in s for s in spelled):
            continue
        if len(layouts) == 1:
            key = keys[0][spelled[0][name]]
            columns[name] = [row[key] for row in rows]
            continue
        per = [(name in s, keys[j][s[name]] if name in s else "") for j, s in enumerate(spelled)]
        columns[name] = [
            row[per[j][1]] if per[j][0] else None
            for row, j in zip(rows, which.tolist(), strict=True)
        ]
    return RawBook(
        size=len(rows),
        layouts=tuple(
            (int(firsts[j]), tuple(str(k) for k in layout)) for j, layout in enumerate(layouts)
        ),
        columns=columns,
        rows=_numbers(len(rows), first_row, row_numbers),
    )


def raw_table(table: pa.Table, *, first_row: int = 1) -> RawBook:
    """A pyarrow table (a Parquet file's) as a :class:`RawBook`: one layout, its names."""
    names = [str(n) for n in table.column_names]
    spelled = _spelled(names)
    columns: dict[str, RawColumn] = {
        name: table.column(names.index(spelled[name])) for name in COLUMNS if name in spelled
    }
    return RawBook(
        size=table.num_rows,
        layouts=((0, tuple(names)),),
        columns=columns,
        rows=_numbers(table.num_rows, first_row, None),
    )


def raw_frame(frame: pd.DataFrame, rows: Sequence[int]) -> RawBook:
    """A frame of cells (a CSV file's, one row per entry of ``rows``) as a :class:`RawBook`."""
    names = [str(c) for c in frame.columns]
    spelled = _spelled(names)
    columns: dict[str, RawColumn] = {
        name: frame.iloc[:, names.index(spelled[name])].to_numpy(dtype=object)
        for name in COLUMNS
        if name in spelled
    }
    return RawBook(size=len(frame), layouts=((0, tuple(names)),), columns=columns,
                   rows=_numbers(len(frame), 1, rows))  # fmt: skip


def _pandas_cells(column: pa.ChunkedArray | pa.Array) -> ObjectArray:
    """Cells as :func:`pandas.read_parquet` then ``astype(object)`` with NaN as ``None``."""
    series = column.to_pandas()
    return np.asarray(series.astype(object).where(series.notna(), None), dtype=object)


def _as_pandas_reads(column: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray | pa.Array:
    """An integer column with a missing cell is read as floats by pandas: so here."""
    if pa.types.is_integer(column.type) and column.null_count:
        return column.cast(pa.float64())
    return column


def _arrow_plain(t: pa.DataType) -> bool:
    """Types whose Arrow Python values are pandas' (``to_pylist`` = ``read_parquet``)."""
    return bool(
        pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_integer(t)
        or pa.types.is_floating(t) or pa.types.is_boolean(t)
    )  # fmt: skip


def _type_key(value: Any) -> Hashable:
    """A dictionary key telling apart values Python calls equal but the rules do not
    (``1``, ``1.0``, ``True``; ``0.0`` and ``-0.0``)."""
    if isinstance(value, float):
        return (float, value.hex())
    try:
        hash(value)
    except TypeError:
        return (id(value),)  # unhashable (a list in JSON): its own value
    return (type(value), value)


def distinct(column: RawColumn) -> tuple[IntArray, list[Any]]:
    """``(codes, values)``: each row's index into the column's distinct cells, first-seen
    order; cells are Python values as the row loader sees them (module docstring)."""
    if isinstance(column, pa.ChunkedArray | pa.Array):
        arr = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
        if pa.types.is_dictionary(arr.type):
            arr = arr.cast(arr.type.value_type)
        arr = _as_pandas_reads(arr)
        if not _arrow_plain(arr.type):
            return distinct(_pandas_cells(arr))
        enc = arr.dictionary_encode(null_encoding="encode")
        codes = np.asarray(enc.indices.to_numpy(zero_copy_only=False), dtype=np.int64)
        values = enc.dictionary.to_pylist()
        if pa.types.is_floating(arr.type):  # NaN is a missing cell, as pandas reads it
            values = [None if isinstance(v, float) and v != v else v for v in values]
        return codes, values
    cells = column if isinstance(column, np.ndarray) else np.asarray(list(column), dtype=object)
    if cells.size < SMALL:  # a few cells (a request's book): dictionaries, not pandas
        listed = cells.tolist()
        if all(type(c) is str for c in listed):  # strings code as pandas codes them
            found = first_seen_small(listed)
            assert found is not None  # strings: never missing
            return found[0], list(found[1])
    elif pd.api.types.infer_dtype(cells, skipna=False) == "string":
        codes, uniques = pd.factorize(cells, sort=False)
        return np.asarray(codes, dtype=np.int64), list(uniques)
    index: dict[Hashable, int] = {}
    values = []
    out = np.empty(cells.size, dtype=np.int64)
    for k, cell in enumerate(cells.tolist()):
        key = _type_key(cell)
        j = index.get(key)
        if j is None:
            j = index[key] = len(values)
            values.append(cell)
        out[k] = j
    return out, values


def _typed_numbers(column: RawColumn) -> FloatArray | None:
    """A typed numeric Arrow column as floats (NaN: missing), or ``None``."""
    if not isinstance(column, pa.ChunkedArray | pa.Array):
        return None
    if not (pa.types.is_integer(column.type) or pa.types.is_floating(column.type)):
        return None
    return np.asarray(column.to_numpy(zero_copy_only=False), dtype=np.float64)


def _cell(column: RawColumn, k: int) -> Any:
    """Row ``k``'s cell as the row loader sees it (for an issue's value)."""
    if isinstance(column, pa.ChunkedArray | pa.Array):
        value = _as_pandas_reads(column)[k].as_py()
        return None if isinstance(value, float) and value != value else value
    return column[k]


# ----------------------------------------------------------------------- the checked book


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class BookColumns:
    """A checked book as columns, one entry per booked row in file order.

    ``instruments`` holds one instrument per distinct symbol spelling (``ESZ5`` and ``ESZ25``
    are equal instruments but keep their spelling); ``quantity`` is in contracts, ``booked``
    as the book stated it in ``unit`` (an index into
    :data:`~crossmargin.portfolio.units.QUANTITY_UNITS`; ``None``: all contracts);
    ``trade_price`` NaN where none; ``position_id``/``venue`` ``None`` when no row has one.
    """

    source: str
    rows: IntArray
    accounts: tuple[str, ...]
    account_index: IntArray
    instruments: tuple[Instrument, ...]
    instrument_index: IntArray
    quantity: FloatArray
    trade_price: FloatArray
    booked: FloatArray
    unit: npt.NDArray[np.int8] | None = None
    position_id: ObjectArray | None = None
    venue: ObjectArray | None = None

    def __len__(self) -> int:
        return int(self.quantity.size)

    def positions(self) -> tuple[Position, ...]:
        """The rows as positions (what the row loader gives)."""
        n = len(self)
        units: list[QuantityUnit] = (
            ["contracts"] * n if self.unit is None else [QUANTITY_UNITS[u] for u in self.unit]
        )
        ids = [None] * n if self.position_id is None else self.position_id.tolist()
        venues = [""] * n if self.venue is None else self.venue.tolist()
        accounts, instruments = self.accounts, self.instruments
        return tuple(
            Position(
                account=accounts[a],
                instrument=instruments[i],
                quantity=q,
                trade_price=None if t != t else t,
                position_id=pid,
                venue=v,
                input_quantity=None if u == "contracts" else b,
                quantity_unit=u,
            )
            for a, i, q, t, b, u, pid, v in zip(
                self.account_index.tolist(),
                self.instrument_index.tolist(),
                self.quantity.tolist(),
                self.trade_price.tolist(),
                self.booked.tolist(),
                units,
                ids,
                venues,
                strict=True,
            )
        )

    def portfolio(self) -> Portfolio:
        """The book as a portfolio."""
        return Portfolio(raw=self.positions(), source=self.source)


def _first_seen(codes: IntArray) -> tuple[IntArray, IntArray]:
    """``(new, order)``: codes renumbered in first-seen order and the old code of each."""
    if codes.size < SMALL:  # integers: never missing
        small = first_seen_small(codes.tolist())
        assert small is not None
        return small[0], np.asarray(small[1], dtype=np.int64)
    new, order = pd.factorize(codes, sort=False)
    return np.asarray(new, dtype=np.int64), np.asarray(order, dtype=np.int64)


class _Issues:
    """Issues keyed by (row offset, rank, sequence): sorted, they are the row loader's."""

    def __init__(self, source: str, rows: IntArray) -> None:
        self.source, self.rows = source, rows
        self.found: list[tuple[int, int, int, Issue]] = []

    def add(self, k: int, rank: int, column: str, reason: str, value: Any = None) -> None:
        issue = Issue(source=self.source, row=int(self.rows[k]), column=column, value=value,
                      reason=reason)  # fmt: skip
        self.found.append((k, rank, len(self.found), issue))

    def raise_if_any(self) -> None:
        issues = [i for *_, i in sorted(self.found, key=lambda f: f[:3])]
        SchemaError.raise_if_any(
            issues,
            headline=f"{len(issues)} bad entr"
            f"{'y' if len(issues) == 1 else 'ies'} in {self.source}; nothing loaded",
        )


def _rule(
    values: Sequence[Any], rule: Any, catch: type[Exception] | tuple[type[Exception], ...]
) -> tuple[list[Any], list[str | None]]:
    """``rule`` of each distinct value: results, and the reason where it raised."""
    out: list[Any] = []
    why: list[str | None] = []
    for v in values:
        try:
            out.append(rule(v))
            why.append(None)
        except catch as bad:
            out.append(None)
            why.append(number_reason(bad) if rule is number_value else str(bad))
    return out, why


def _number_column(
    column: RawColumn | None, n: int, issues: _Issues, name: str, rank: int
) -> tuple[FloatArray, npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    """``(values, missing, bad)``: a number column checked (NaN where missing or bad)."""
    if column is None:
        return np.full(n, np.nan), np.ones(n, bool), np.zeros(n, bool)
    typed = _typed_numbers(column)
    if typed is not None:
        missing = np.isnan(typed)
        bad = np.isinf(typed)
        for k in np.flatnonzero(bad).tolist():
            issues.add(k, rank, name, "not a finite number", _cell(column, k))
        return np.where(bad, np.nan, typed), missing, bad
    codes, values = distinct(column)
    numbers, why = _rule(values, number_value, (TypeError, ValueError, OverflowError))
    per_value = np.array([np.nan if x is None else x for x in numbers], dtype=np.float64)
    bad_value = np.array([w is not None for w in why], dtype=bool)
    if bad_value.any():
        for k in np.flatnonzero(bad_value[codes]).tolist():
            issues.add(k, rank, name, str(why[codes[k]]), values[codes[k]])
    out = per_value[codes]
    bad = bad_value[codes]
    return out, np.isnan(out) & ~bad, bad


def parse_columns(
    raw: RawBook,
    *,
    source: str,
    reference_year: int | None = None,
    table: ContractTable | None = None,
) -> BookColumns:
    """Check a raw book (module docstring): its :class:`BookColumns`, or one SchemaError
    listing every problem. Symbols resolve against ``table`` (``None``: the shipped one)."""
    n = raw.size
    if n == 0:
        raise InputError(f"{source}: the book has no positions")
    first = {str(c).strip().lower() for c in raw.layouts[0][1]}
    missing = [c for c in REQUIRED if c not in first]
    if missing:
        SchemaError.raise_if_any(
            Issue(source=source, column=c, reason="required column is missing") for c in missing
        )
    issues = _Issues(source, raw.rows)
    flagged: set[str] = set()
    for k, layout in raw.layouts:  # first-seen layouts: each column flagged at its first row
        for problem, reason in column_problems(layout):
            if problem not in flagged:
                flagged.add(problem)
                issues.add(k, 0, problem, reason)

    def col(name: str) -> RawColumn | None:
        return raw.columns.get(name)

    def codes(name: str) -> tuple[IntArray, list[Any]]:
        found = raw.columns.get(name)  # a column no row has: every cell None
        return (np.zeros(n, np.int64), [None]) if found is None else distinct(found)

    # accounts: text per distinct cell, then first-seen order of the account ids
    a_codes, a_values = codes("account")
    a_text = [account_text(v) for v in a_values]
    for k in np.flatnonzero(~np.array([bool(t) for t in a_text])[a_codes]).tolist():
        issues.add(k, 1, "account", "empty account")
    a_id, a_names = text_codes(a_text)
    account_index, account_order = _first_seen(np.asarray(a_id, dtype=np.int64)[a_codes])
    accounts = tuple(str(a_names[j]) for j in account_order.tolist())
    # symbols: each distinct cell parsed once
    s_codes, s_values = codes("symbol")
    parsed, s_why = _rule(
        s_values,
        lambda v: parse_symbol(symbol_text(v), reference_year=reference_year, table=table),
        InputError,
    )
    s_bad = np.array([w is not None for w in s_why], dtype=bool)
    for k in np.flatnonzero(s_bad[s_codes]).tolist():
        issues.add(k, 2, "symbol", str(s_why[s_codes[k]]), s_values[s_codes[k]])
    # numbers
    qty, qty_missing, _ = _number_column(col("quantity"), n, issues, "quantity", 3)
    price, _, _ = _number_column(col("trade_price"), n, issues, "trade_price", 4)
    beyond = np.abs(qty) > MAX_QUANTITY  # never for NaN (missing or bad): no issue twice
    for k in np.flatnonzero(beyond).tolist():
        issues.add(k, 5, "quantity", f"beyond the maximum quantity of {MAX_QUANTITY:g}",
                   _cell(raw.columns["quantity"], k))  # fmt: skip
    qty = np.where(beyond, np.nan, qty)
    premium = np.array([i is not None and i.kind == "option" for i in parsed], dtype=bool)
    priced = np.flatnonzero(~np.isnan(price) & ~s_bad[s_codes])
    checked: dict[tuple[float, bool], str | None] = {}
    for k, p, opt in zip(priced.tolist(), price[priced].tolist(),
                         premium[s_codes[priced]].tolist(), strict=True):  # fmt: skip
        key = (p, opt)
        if key not in checked:
            checked[key] = price_problem(p, premium=opt)
        if checked[key] is not None:
            issues.add(k, 6, "trade_price", str(checked[key]), _cell(raw.columns["trade_price"], k))
    for k in np.flatnonzero(qty_missing).tolist():
        issues.add(k, 7, "quantity", "missing quantity", _cell(raw.columns["quantity"], k))
    # quantity units: parsed per distinct cell; converted where not contracts
    u_codes, u_values = codes("quantity_unit")
    units, u_why = _rule(u_values, parse_unit, InputError)
    for k in np.flatnonzero(np.array([w is not None for w in u_why])[u_codes]).tolist():
        issues.add(k, 8, "quantity_unit", str(u_why[u_codes[k]]), u_values[u_codes[k]])
    unit_code = np.array([-1 if u is None else QUANTITY_UNITS.index(u) for u in units],
                         dtype=np.int8)[u_codes]  # fmt: skip
    contracts = np.where(unit_code == 0, qty, np.nan)
    convert = np.flatnonzero((unit_code > 0) & ~np.isnan(qty) & ~s_bad[s_codes])
    for k in convert.tolist():
        inst = parsed[s_codes[k]]
        assert inst is not None
        try:
            contracts[k] = to_contracts(float(qty[k]), QUANTITY_UNITS[unit_code[k]], inst)
        except InputError as bad:
            issues.add(k, 9, "quantity_unit", str(bad), u_values[u_codes[k]])
    # position ids: text per distinct cell; a repeat names the first row using it
    pid_col = col("position_id")
    ids: ObjectArray | None = None
    if pid_col is not None:
        p_codes, p_values = distinct(pid_col)
        p_text = [position_id_text(v) for v in p_values]
        ids = np.asarray(p_text, dtype=object)[p_codes]
        given = np.flatnonzero(ids != None)  # noqa: E711  (elementwise)
        if given.size:
            same, _ = pd.factorize(ids[given], sort=False)
            firsts = np.unique(same, return_index=True)[1]
            again = np.flatnonzero(given[firsts[same]] != given)
            for j in again.tolist():
                k, was = int(given[j]), int(given[firsts[same[j]]])
                issues.add(k, 10, "position_id",
                           f"duplicate position id (first used on row {raw.rows[was]})",
                           ids[k])  # fmt: skip
        if not given.size:
            ids = None
    issues.raise_if_any()
    venue_col = col("venue")
    venues: ObjectArray | None = None
    if venue_col is not None:
        v_codes, v_values = distinct(venue_col)
        v_text = [venue_text(v) for v in v_values]
        venues = np.asarray(v_text, dtype=object)[v_codes] if any(v_text) else None
    i_index, i_order = _first_seen(s_codes)
    return BookColumns(
        source=source,
        rows=raw.rows,
        accounts=accounts,
        account_index=account_index,
        instruments=tuple(parsed[j] for j in i_order.tolist()),
        instrument_index=i_index,
        quantity=contracts,
        trade_price=price,
        booked=qty,
        unit=None if not unit_code.any() else unit_code,
        position_id=ids,
        venue=venues,
    )


__all__ = [
    "COLUMNS",
    "OPTIONAL",
    "REQUIRED",
    "BookColumns",
    "RawBook",
    "account_text",
    "column_problems",
    "distinct",
    "number_reason",
    "number_value",
    "parse_columns",
    "position_id_text",
    "raw_frame",
    "raw_rows",
    "raw_table",
    "symbol_text",
    "venue_text",
]
