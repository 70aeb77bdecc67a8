"""``crossmargin simm FILE``: ISDA SIMM initial margin of a CRIF file.

A thin shell over :func:`crossmargin.simm.simm_margin`; errors are raised by the library
and reported by :func:`crossmargin.cli.main` as one line with an exit code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from crossmargin.cli.app import app, console, print_json
from crossmargin.errors import InputError
from crossmargin.simm import SimmResult, available_versions, looks_like_crif, simm_margin


def _table(result: SimmResult) -> Table:
    ccy = result.calculation_currency
    title = f"ISDA SIMM {result.version}, {result.mpor_days}-day MPOR ({ccy})"
    table = Table(title=title)
    table.add_column("Side")
    table.add_column("Product class")
    table.add_column("Risk class")
    table.add_column("Margin type")
    table.add_column("Bucket")
    table.add_column(f"Initial margin ({ccy})", justify="right")
    sides = [result] if result.post is None else [result, result.post]
    for side in sides:
        label = side.side if side.regulation is None else f"{side.side} ({side.regulation})"
        for line in side.lines:
            table.add_row(
                label,
                line.product_class,
                line.risk_class,
                line.margin_type,
                line.bucket,
                f"{line.amount:,.2f}",
            )
    return table


@app.command("simm")
def simm_command(
    file: Annotated[Path, typer.Argument(help="CRIF file (CSV or tab-separated).")],
    version: Annotated[
        str,
        typer.Option(
            "--version", help="SIMM version: 2.5, 2.6, 2.8+2506, 2.8+2512 (2.8 = 2.8+2512)."
        ),
    ] = "2.6",
    mpor: Annotated[int, typer.Option("--mpor", help="Margin period of risk: 10 or 1 days.")] = 10,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    post: Annotated[bool, typer.Option("--post", help="Also compute the post side.")] = False,
) -> None:
    """ISDA SIMM initial margin of a CRIF file, with the standard breakdown."""
    if not file.is_file():
        raise InputError(f"no such file: {file}")
    if not looks_like_crif(file):
        raise InputError(
            f"{file} is not a CRIF (its header lacks RiskType, Qualifier and Amount); "
            "position books are not yet supported by `simm`: pass a CRIF file"
        )
    if version not in available_versions():
        raise InputError(
            f"unknown SIMM version {version!r}; use one of {', '.join(available_versions())}"
        )
    if mpor not in (1, 10):
        raise InputError(f"--mpor must be 10 or 1, not {mpor}")
    result = simm_margin(file, version=version, mpor_days=mpor, include_post=post or None)
    if as_json:
        print_json(result.to_dict())
    else:
        console.print(_table(result))
        console.print(result.summary(), highlight=False)
