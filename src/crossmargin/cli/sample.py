"""``crossmargin sample``: write the sample book as a template to edit."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from crossmargin.cli.app import app, console, print_json
from crossmargin.cli.options import JsonOpt
from crossmargin.lazy import lazy_module

if TYPE_CHECKING:
    from crossmargin import api
else:
    api = lazy_module("crossmargin.api")


@app.command("sample")
def sample_command(
    out: Annotated[
        Path, typer.Option("--out", help="Where to write it: .csv, .json or .parquet.")
    ] = Path("sample_book.csv"),
    json: JsonOpt = False,
) -> None:
    """Write the sample book (4 accounts, offsetting pairs, with their collateral) as a
    template to edit. A .json book holds positions and collateral; a .csv or .parquet book's
    collateral goes beside it (NAME_collateral.csv): pass it with --collateral."""
    written = api.write_sample(out)
    book = api.sample_book()
    if json:
        print_json(
            {
                "path": str(written[0]),
                "collateral_path": str(written[1]) if len(written) > 1 else None,
                "positions": len(book.raw),
                "collateral_holdings": len(book.collateral),
                "accounts": book.accounts,
            }
        )
        return
    console.print(f"wrote {written[0]} ({len(book.raw)} positions)")
    if len(written) > 1:
        console.print(
            f"wrote {written[1]} ({len(book.collateral)} collateral holdings): pass it with "
            f"--collateral {written[1]}"
        )
    else:
        console.print(f"  with {len(book.collateral)} collateral holdings")
