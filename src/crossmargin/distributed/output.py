"""Margin results as partitioned Parquet: one file per task, and the run's summary.

A distributed run over a dataset writes, under its output folder::

    accounts/part-FFFFF-CCCC.parquet    one row per account (file FFFFF of the book, chunk CCCC)
    positions/part-FFFFF-CCCC.parquet   one row per netted position, margined alone
    summary.json                        totals, counts, files, timings, units

**accounts** columns (money in the result's currency, ``currency`` column): ``account``,
``total`` (what the account must hold, after the offset tiers), ``netted``, ``standalone``,
``grouped``, ``maintenance``, ``benefit`` (standalone − netted), ``benefit_pct`` (percent),
``worst_scenario``, ``netting_set`` (the factor set, historical models), ``components`` (JSON
object of the netted components), ``equity``, ``excess`` (equity − total) and ``currency``.
**positions**: ``account``, ``symbol``, ``quantity`` (the instrument's quantity unit),
``group`` (its ``by`` group), ``standalone``, ``maintenance``, ``currency``. Read the folder
back with any Parquet reader (``pandas.read_parquet(out / "accounts")``, DuckDB
``read_parquet('out/accounts/*.parquet')``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.parquet as pq

from crossmargin.store_records import canonical_json_columns

ACCOUNTS = "accounts"
POSITIONS = "positions"

FloatArray = npt.NDArray[np.float64]
ObjArray = npt.NDArray[np.object_]


@dataclass(frozen=True, slots=True, kw_only=True)
class PartFigures:
    """A margined part's figures as columns, one entry per account (``account`` order) and
    per netted position (``position_*``); money in ``currency``. ``grouped_total`` is the
    ``by`` groups' margins summed (``math.fsum``), ``maintenance`` None where the method has
    none, ``worst_scenario`` and ``netting_set`` None where not applicable."""

    currency: str
    account: ObjArray
    total: FloatArray
    netted: FloatArray
    standalone: FloatArray
    grouped: FloatArray
    maintenance: FloatArray | None
    worst_scenario: ObjArray
    netting_set: ObjArray
    components: Mapping[str, FloatArray]
    equity: FloatArray
    position_account: ObjArray
    symbol: ObjArray
    quantity: FloatArray
    group: ObjArray
    position_standalone: FloatArray
    position_maintenance: FloatArray | None
    grouped_total: float

    @property
    def excess(self) -> FloatArray:
        """``equity − total`` per account (negative: a margin call)."""
        return np.asarray(self.equity - self.total, dtype=np.float64)

    @property
    def benefit(self) -> FloatArray:
        """``standalone − netted`` per account (as :attr:`AccountMargin.benefit`)."""
        return np.asarray(self.standalone - self.netted, dtype=np.float64)

    @property
    def benefit_pct(self) -> FloatArray:
        """Benefit as a percentage of standalone margin (0 where standalone is 0)."""
        s = self.standalone
        with np.errstate(divide="ignore", invalid="ignore"):
            pct = 100.0 * self.benefit / s
        return np.asarray(np.where(s > 0, pct, 0.0), dtype=np.float64)


def _strings(values: ObjArray) -> pa.Array:
    return pa.array(values, pa.string())


def _floats(values: FloatArray | None, n: int) -> pa.Array:
    return pa.nulls(n, pa.float64()) if values is None else pa.array(values, pa.float64())


def account_table(part: PartFigures) -> pa.Table:
    """One row per account of ``part`` (module docstring)."""
    n = len(part.account)
    return pa.table(
        {
            "account": _strings(part.account),
            "total": _floats(part.total, n),
            "netted": _floats(part.netted, n),
            "standalone": _floats(part.standalone, n),
            "grouped": _floats(part.grouped, n),
            "maintenance": _floats(part.maintenance, n),
            "benefit": _floats(part.benefit, n),
            "benefit_pct": _floats(part.benefit_pct, n),
            "worst_scenario": _strings(part.worst_scenario),
            "netting_set": _strings(part.netting_set),
            "components": pa.array(
                canonical_json_columns(list(part.components), list(part.components.values()))
                if part.components
                else ["{}"] * n,
                pa.string(),
            ),
            "equity": _floats(part.equity, n),
            "excess": _floats(part.excess, n),
            "currency": pa.array([part.currency] * n, pa.string()),
        }
    )


def position_table(part: PartFigures) -> pa.Table:
    """One row per netted position of ``part`` (module docstring)."""
    n = len(part.symbol)
    return pa.table(
        {
            "account": _strings(part.position_account),
            "symbol": _strings(part.symbol),
            "quantity": _floats(part.quantity, n),
            "group": _strings(part.group),
            "standalone": _floats(part.position_standalone, n),
            "maintenance": _floats(part.position_maintenance, n),
            "currency": pa.array([part.currency] * n, pa.string()),
        }
    )


@dataclass(slots=True, kw_only=True)
class PartTotals:
    """Sums over the accounts of some written parts (``math.fsum`` within each part)."""

    accounts: int = 0
    positions: int = 0
    total: list[float] = field(default_factory=list)
    netted: list[float] = field(default_factory=list)
    standalone: list[float] = field(default_factory=list)
    grouped: list[float] = field(default_factory=list)
    maintenance: list[float] | None = field(default_factory=list)
    components: dict[str, list[float]] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)

    def add(self, part: PartFigures, files: list[str]) -> None:
        """Count a written part in (sums as :class:`~crossmargin.models.result.MarginResult`
        makes them: ``math.fsum`` over the accounts, or over the groups for ``grouped``)."""
        self.accounts += len(part.account)
        self.positions += len(part.symbol)
        self.total.append(math.fsum(part.total))
        self.netted.append(math.fsum(part.netted))
        self.standalone.append(math.fsum(part.standalone))
        self.grouped.append(part.grouped_total)
        if part.maintenance is None or self.maintenance is None:
            self.maintenance = None
        else:
            self.maintenance.append(math.fsum(part.maintenance))
        for name, value in part.components.items():
            self.components.setdefault(name, []).append(math.fsum(value))
        self.files += files

    def merge(self, other: PartTotals) -> None:
        """Count another set of parts in."""
        self.accounts += other.accounts
        self.positions += other.positions
        self.total += other.total
        self.netted += other.netted
        self.standalone += other.standalone
        self.grouped += other.grouped
        if self.maintenance is None or other.maintenance is None:
            self.maintenance = None
        else:
            self.maintenance += other.maintenance
        for name, values in other.components.items():
            self.components.setdefault(name, []).extend(values)
        self.files += other.files

    def figures(self) -> dict[str, Any]:
        """The totals, as a margin result's JSON names them."""
        standalone, total = math.fsum(self.standalone), math.fsum(self.total)
        return {
            "total": total,
            "maintenance": None if self.maintenance is None else math.fsum(self.maintenance),
            "standalone_total": standalone,
            "grouped_total": math.fsum(self.grouped),
            "netted_total": math.fsum(self.netted),
            "benefit": standalone - total,
            "benefit_pct": 100.0 * (standalone - total) / standalone if standalone > 0 else 0.0,
            "components": {k: math.fsum(v) for k, v in self.components.items()},
        }


def write_part(part: PartFigures, out: Path, name: str) -> list[str]:
    """Write ``part``'s accounts and positions as ``out/{accounts,positions}/name.parquet``;
    returns the files' paths relative to ``out``."""
    files = []
    for folder, table in ((ACCOUNTS, account_table(part)), (POSITIONS, position_table(part))):
        target = out / folder / f"{name}.parquet"
        target.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, target)
        files.append(f"{folder}/{name}.parquet")
    return files


__all__ = [
    "ACCOUNTS",
    "POSITIONS",
    "PartFigures",
    "PartTotals",
    "account_table",
    "position_table",
    "write_part",
]
