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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from crossmargin.models.result import MarginResult
from crossmargin.store_records import canonical_json_rows

ACCOUNTS = "accounts"
POSITIONS = "positions"


def account_table(result: MarginResult) -> pa.Table:
    """One row per account of ``result`` (module docstring)."""
    accs = result.accounts
    return pa.table(
        {
            "account": pa.array([a.account for a in accs], pa.string()),
            "total": pa.array([a.total for a in accs], pa.float64()),
            "netted": pa.array([a.netted for a in accs], pa.float64()),
            "standalone": pa.array([a.standalone for a in accs], pa.float64()),
            "grouped": pa.array([a.grouped for a in accs], pa.float64()),
            "maintenance": pa.array([a.maintenance for a in accs], pa.float64()),
            "benefit": pa.array([a.benefit for a in accs], pa.float64()),
            "benefit_pct": pa.array([a.benefit_pct for a in accs], pa.float64()),
            "worst_scenario": pa.array([a.worst_scenario for a in accs], pa.string()),
            "netting_set": pa.array([a.netting_set.get("netting_set") for a in accs], pa.string()),
            "components": pa.array(canonical_json_rows([a.components for a in accs]), pa.string()),
            "equity": pa.array(
                [None if a.equity is None else a.equity.equity for a in accs], pa.float64()
            ),
            "excess": pa.array(
                [None if a.equity is None else a.equity.excess for a in accs], pa.float64()
            ),
            "currency": pa.array([result.currency] * len(accs), pa.string()),
        }
    )


def position_table(result: MarginResult) -> pa.Table:
    """One row per netted position of ``result`` (module docstring)."""
    pos = result.positions
    return pa.table(
        {
            "account": pa.array([p.account for p in pos], pa.string()),
            "symbol": pa.array([p.symbol for p in pos], pa.string()),
            "quantity": pa.array([p.quantity for p in pos], pa.float64()),
            "group": pa.array([p.group for p in pos], pa.string()),
            "standalone": pa.array([p.standalone for p in pos], pa.float64()),
            "maintenance": pa.array([p.maintenance for p in pos], pa.float64()),
            "currency": pa.array([result.currency] * len(pos), pa.string()),
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

    def add(self, result: MarginResult, files: list[str]) -> None:
        """Count a written part in."""
        self.accounts += len(result.accounts)
        self.positions += len(result.positions)
        self.total.append(result.total)
        self.netted.append(result.netted_total)
        self.standalone.append(result.standalone_total)
        self.grouped.append(result.grouped_total)
        mm = result.maintenance_total
        if mm is None or self.maintenance is None:
            self.maintenance = None
        else:
            self.maintenance.append(mm)
        for name, value in result.components().items():
            self.components.setdefault(name, []).append(value)
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


def write_part(result: MarginResult, out: Path, name: str) -> list[str]:
    """Write ``result``'s accounts and positions as ``out/{accounts,positions}/name.parquet``;
    returns the files' paths relative to ``out``."""
    files = []
    for folder, table in ((ACCOUNTS, account_table(result)), (POSITIONS, position_table(result))):
        target = out / folder / f"{name}.parquet"
        target.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, target)
        files.append(f"{folder}/{name}.parquet")
    return files


__all__ = ["ACCOUNTS", "POSITIONS", "PartTotals", "account_table", "position_table", "write_part"]
