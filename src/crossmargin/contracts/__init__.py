"""A run's own contracts: product specs and market-series mappings added to the shipped ones.

``--contracts FILE`` (CLI), ``contracts=`` (library) and the service's ``contracts`` field take
a **contracts file**: JSON, or CSV with the columns of the shipped ``contracts.csv``::

    {"description": "...",
     "products": [{"product": "deribit_sol_usdc_perpetual", "style": "deribit",
                   "root": "SOL_USDC", "kind": "perpetual", "settlement": "linear",
                   "underlying": "SOL", "asset_class": "crypto", "quote_currency": "USD",
                   "settlement_currency": "USDC", "multiplier": 0.1, "tick": 0.01,
                   "description": "...", "source": "where the numbers come from"}],
     "market_series": {"ETH_COINBASE": {"file": "crypto/eth_usd_coinbase_daily.csv",
                                        "column": "close", "calendar": "crypto",
                                        "kind": "price", "note": "..."}}}

``products`` are merged into the shipped table (new products only: a product id or a symbol
family ``(style, root, kind)`` the shipped table has is an error, as is an underlying given an
asset class other than the shipped one). ``market_series`` maps underlyings the history does
not know to a CSV column (``file`` relative to the market-data folder, or absolute), extending
the history catalogue for this run only. CSV files carry products only.

The result is a :class:`Contracts` value (a :class:`~crossmargin.instruments.ContractTable` and
a catalogue) handed explicitly to everything that resolves symbols or reads history; nothing
global changes. Every problem is reported on one line naming the file, the row or key path and
the value; nothing is loaded when there is one.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crossmargin.contracts.schema import (
    CSV_COLUMNS,
    ContractsFile,
    ProductRow,
    SeriesRow,
    csv_document,
    validate_document,
)
from crossmargin.errors import InputError, MarketDataError
from crossmargin.files import parse_json, read_text
from crossmargin.instruments.instrument import Instrument
from crossmargin.instruments.specs import ContractSpec, ContractTable, contract_table
from crossmargin.instruments.symbols import parse_symbol
from crossmargin.market.history import (
    MarketHistory,
    SeriesSpec,
    catalogue_for,
    default_max_stale_days,
    load_catalogue,
)

PathLike = str | os.PathLike[str]


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class Contracts:
    """What one run resolves symbols and underlyings against.

    Attributes
    ----------
    table : ContractTable
        The shipped products plus the file's.
    catalogue : Mapping[str, SeriesSpec]
        The shipped market series plus the file's, each with its asset class.
    source : str
        ``"shipped"`` or the contracts file.
    added_products, added_series : tuple of str
        What the file added (product ids, series names).
    key : str
        A fingerprint of the file's content (``"shipped"`` without one), for caches.
    """

    table: ContractTable
    catalogue: Mapping[str, SeriesSpec]
    source: str = "shipped"
    added_products: tuple[str, ...] = ()
    added_series: tuple[str, ...] = ()
    key: str = field(default="shipped")

    def parse(self, symbol: str, *, reference_year: int | None = None) -> Instrument:
        """Resolve ``symbol`` against this run's table."""
        return parse_symbol(symbol, reference_year=reference_year, table=self.table)

    def history(
        self, data_dir: PathLike | None = None, names: Sequence[str] | None = None
    ) -> MarketHistory:
        """The market history of ``data_dir`` serving this run's catalogue."""
        return MarketHistory.load(data_dir, names, catalogue=self.catalogue)


@functools.cache
def shipped_contracts() -> Contracts:
    """The shipped contract table and market catalogue (no user file)."""
    return Contracts(table=contract_table(), catalogue=load_catalogue())


def example_symbol(spec: ContractSpec) -> str:
    """A symbol of ``spec``'s family (an expiry in March 2026, strike 100)."""
    if spec.style == "deribit":
        tail = {"perpetual": "-PERPETUAL", "future": "-27MAR26", "option": "-27MAR26-100-C"}
        return spec.root + tail.get(spec.kind, "")
    if spec.style == "occ":
        return f"{spec.root:<6}260320C00100000"
    if spec.style == "cme":
        return f"{spec.root}H6" + (" C100" if spec.kind == "option" else "")
    return spec.root


def _cross_checks(checked: ContractsFile, base: Contracts, *, relative_only: bool) -> list[str]:
    """Problems between rows and with the base contracts (ids, families, asset classes)."""
    problems: list[str] = []
    ids: dict[str, int] = {}
    families: dict[tuple[str, str, str], int] = {}
    classes: dict[str, tuple[str, int]] = {}
    table, origin = base.table, base.table.source
    for i, row in enumerate(checked.products):
        where = f"products[{i}] ({row.product!r})"
        if row.product in ids:
            first_at = ids[row.product]
            problems.append(f"{where}: duplicate product id (first at products[{first_at}])")
        elif table.product(row.product) is not None:
            problems.append(f"{where}: product id is already in {origin}")
        ids.setdefault(row.product, i)
        family = (row.style, row.root, row.kind)
        existing = table.find(row.style, row.root, row.kind)
        if existing is not None:
            problems.append(
                f"{where}: the {row.style} {row.kind} with root {row.root!r} is already "
                f"{existing.product!r} in {origin}"
            )
        elif family in families:
            problems.append(f"{where}: same style, root and kind as products[{families[family]}]")
        families.setdefault(family, i)
        cls = table.asset_class(row.underlying)
        if cls is not None and cls != row.asset_class:
            problems.append(
                f"{where}: underlying {row.underlying} is {cls!r} in {origin}, "
                f"not {row.asset_class!r}"
            )
        first = classes.setdefault(row.underlying, (row.asset_class, i))
        if first[0] != row.asset_class:
            problems.append(
                f"{where}: underlying {row.underlying} is {first[0]!r} in products[{first[1]}], "
                f"not {row.asset_class!r}"
            )
    for name, series in checked.market_series.items():
        if name in base.catalogue:
            problems.append(f"market_series.{name}: already a known series; only new ones")
        path = Path(series.file)
        if relative_only and (path.is_absolute() or ".." in path.parts):
            problems.append(
                f"market_series.{name}.file {series.file!r}: must be relative to the data "
                "folder, without '..'"
            )
    return problems


def _unreachable(specs: Sequence[ContractSpec], table: ContractTable) -> list[str]:
    """Products a symbol of their own family would not resolve to."""
    problems = []
    for spec in specs:
        symbol = example_symbol(spec)
        found: ContractSpec | None = None
        try:
            found = parse_symbol(symbol, reference_year=2026, table=table).spec
        except InputError as bad:
            why = str(bad)
        else:
            why = f"it resolves to {found.product!r}"
        if found != spec:
            problems.append(f"product {spec.product!r}: a symbol such as {symbol!r} fails ({why})")
    return problems


def contracts_from_document(
    doc: Any,
    *,
    source: str,
    base: Contracts | None = None,
    relative_paths_only: bool = False,
) -> Contracts:
    """Check a parsed contracts document (JSON form) and merge it into ``base`` (default the
    shipped contracts).

    ``relative_paths_only`` refuses market-series files outside the data folder (the service).

    Raises
    ------
    InputError
        One line naming ``source`` and every problem (key path or row, value, reason).
    """
    label = f"contracts {source}"
    checked = validate_document(doc, label)
    start = base if base is not None else shipped_contracts()
    problems = _cross_checks(checked, start, relative_only=relative_paths_only)
    if problems:
        raise InputError(f"{label}: " + "; ".join(problems))
    specs = [row.spec() for row in checked.products]
    table = start.table.merged(specs, source=source)
    problems = _unreachable(specs, table)
    if problems:
        raise InputError(f"{label}: " + "; ".join(problems))
    extra = [start.catalogue[name] for name in start.added_series] + [
        SeriesSpec(
            name=name,
            file=row.file,
            column=row.column,
            calendar=row.calendar,
            kind=row.kind,
            note=row.note,
            max_stale_days=(
                default_max_stale_days(row.calendar)
                if row.max_stale_days is None
                else row.max_stale_days
            ),
        )
        for name, row in checked.market_series.items()
    ]
    try:
        catalogue = catalogue_for(table, extra)
    except MarketDataError as bad:  # pragma: no cover - caught by the cross checks above
        raise InputError(f"{label}: {bad}") from None
    fingerprint = hashlib.sha256(
        json.dumps(checked.model_dump(), sort_keys=True).encode("utf-8")
    ).hexdigest()[:16]
    return Contracts(
        table=table,
        catalogue=catalogue,
        source=source,
        added_products=(*start.added_products, *(s.product for s in specs)),
        added_series=(*start.added_series, *checked.market_series),
        key=f"{start.key}+{source}#{fingerprint}",
    )


def load_contracts(path: PathLike) -> Contracts:
    """Read a contracts file (``.json`` or ``.csv``) and merge it into the shipped ones."""
    p = Path(path)
    label = f"contracts {p}"
    suffix = p.suffix.lower()
    if suffix not in (".csv", ".json"):
        raise InputError(f"contracts file {p}: use a .json or .csv file")
    text = read_text(p, what="contracts")
    if suffix == ".csv":
        doc: Any = csv_document(text, label)
    elif suffix == ".json":
        doc = parse_json(text, p, what="contracts")
    else:
        raise InputError(f"contracts file {p}: use a .json or .csv file")
    return contracts_from_document(doc, source=str(p))


ContractsLike = Contracts | str | os.PathLike[str] | None


def resolve_contracts(contracts: ContractsLike) -> Contracts:
    """``None`` -> the shipped contracts; a path -> :func:`load_contracts`; else as given."""
    if contracts is None:
        return shipped_contracts()
    if isinstance(contracts, Contracts):
        return contracts
    return load_contracts(contracts)


__all__ = [
    "CSV_COLUMNS",
    "Contracts",
    "ContractsFile",
    "ContractsLike",
    "ProductRow",
    "SeriesRow",
    "contracts_from_document",
    "example_symbol",
    "load_contracts",
    "resolve_contracts",
    "shipped_contracts",
]
