"""Options shared by several commands (one definition each)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from crossmargin.contracts import Contracts


def iso_date(param: typer.CallbackParam, value: str | None) -> str | None:
    """Option callback: an ISO date ``YYYY-MM-DD`` (normalised), else one InputError line
    naming the option and the text (:func:`crossmargin.dates.parse_date`)."""
    if value is None:
        return None
    from crossmargin.dates import parse_date

    name = param.opts[0] if param.opts else str(param.name)
    return parse_date(value, what=name).isoformat()


BookArg = Annotated[Path, typer.Argument(help="Book of positions: .csv, .json or .parquet.")]
AsofOpt = Annotated[
    str | None,
    typer.Option(
        "--asof",
        callback=iso_date,
        help="Build the market from history on this date (YYYY-MM-DD).",
    ),
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
AlsoOpt = Annotated[
    str | None,
    typer.Option("--also", help="A second model: charge the more conservative of the two."),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]
CollateralOpt = Annotated[
    Path | None,
    typer.Option(
        "--collateral",
        help="Collateral file (CSV/JSON/Parquet: account, asset, amount, venue); a JSON book "
        "may carry a 'collateral' section instead.",
    ),
]
CrossMarginOpt = Annotated[
    str | None,
    typer.Option(
        "--cross-margin",
        help="Which venues of an account are margined together: all (default), none, or "
        "groups like cme+occ,deribit (a JSON book may declare it as 'cross_margin').",
    ),
]
HaircutsOpt = Annotated[
    Path | None,
    typer.Option(
        "--haircuts",
        help="Haircut schedule (JSON shaped like crossmargin/data/haircuts.json) replacing "
        "the shipped one.",
    ),
]
OffsetsOpt = Annotated[
    str,
    typer.Option(
        "--offsets",
        help="Offset policy: emir (caps and eligibility tests per tier), none (every offset "
        "granted), or a JSON file shaped like crossmargin/data/offset_tiers.json.",
    ),
]
ByOpt = Annotated[
    str,
    typer.Option(
        "--by",
        help="Tier reported as 'grouped': position, product, underlying, asset-class or account.",
    ),
]
CapOpt = Annotated[
    float | None,
    typer.Option(
        "--cap",
        help="Art 27(4) cap C on the credits across underlyings and asset classes (the "
        "policy's default is 0.8).",
    ),
]
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
    if path is None:
        return None
    from crossmargin.contracts import load_contracts

    return load_contracts(path)


DistributedOpt = Annotated[
    bool,
    typer.Option(
        "--distributed",
        help="Run on a Dask cluster: an embedded local cluster (one worker process per core), "
        "or the scheduler at --scheduler. Same figures as the default single process.",
    ),
]
SchedulerOpt = Annotated[
    str | None,
    typer.Option(
        "--scheduler",
        help="Address of a running Dask scheduler, tcp://HOST:PORT (with --distributed).",
    ),
]
WorkersOpt = Annotated[
    int | None,
    typer.Option(
        "--workers",
        min=1,
        help="Worker processes of the embedded local cluster (with --distributed; default: "
        "one per core).",
    ),
]
