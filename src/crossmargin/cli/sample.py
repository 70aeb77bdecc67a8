"""``crossmargin sample``: write the sample book as a template to edit."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from crossmargin import api
from crossmargin.cli.app import app, console, print_json
from crossmargin.cli.options import JsonOpt


@app.command("sample")
def sample_command(
    out: Annotated[
        Path, typer.Option("--out", help="Where to write it: .csv, .json or .parquet.")
    ] = Path("sample_book.csv"),
    json: JsonOpt = False,
) -> None:
    """Write the sample book (4 accounts, offsetting pairs) as a template to edit."""
    path = api.write_sample(out)
    book = api.sample_book()
    if json:
        print_json({"path": str(path), "positions": len(book.raw), "accounts": book.accounts})
        return
    console.print(f"wrote {path} ({len(book.raw)} positions)")
