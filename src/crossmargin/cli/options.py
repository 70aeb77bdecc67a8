"""Options shared by several commands (one definition each)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from crossmargin.contracts import Contracts, load_contracts

BookArg = Annotated[Path, typer.Argument(help="Book of positions: .csv, .json or .parquet.")]
AsofOpt = Annotated[
    str | None,
    typer.Option("--asof", help="Build the market from history on this date (YYYY-MM-DD)."),
]
MarketOpt = Annotated[
    Path | None, typer.Option("--market", help="Market snapshot JSON file instead of history.")
]
DataOpt = Annotated[
    Path | None,
    typer.Option(
        "--data",
        help="Market-history folder (default: $CROSSMARGIN_DATA or ../shared/data/market).",
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]
ContractsOpt = Annotated[
    Path | None,
    typer.Option(
        "--contracts",
        help="Contracts file (.json or .csv): your products and market-series mappings, "
        "added to the shipped ones for this run (docs/formats.md).",
    ),
]


def contracts_of(path: Path | None) -> Contracts | None:
    """The ``--contracts`` file loaded (``None`` without one: the shipped contracts)."""
    return None if path is None else load_contracts(path)
