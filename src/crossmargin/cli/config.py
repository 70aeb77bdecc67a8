"""``--config FILE``: option defaults from a TOML file, one table per command.

::

    # crossmargin.toml
    [margin]
    model = "es"
    cap = 0.8
    data = "/srv/market"

    [backtest]
    start = "2020-01-01"
    mpor = 2

    [runs.list]          # sub-commands nest
    limit = 50

Keys are the options' parameter names (``no_store``, ``var_method`` ...). Options given on the
command line win over the file. Without ``--config`` the file named by
``$CROSSMARGIN_CONFIG`` is used, if set. An unknown command table or a malformed file is an
input error (exit 2).
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Annotated, Any

import typer

from crossmargin.cli.app import app
from crossmargin.errors import InputError

ENV_VAR = "CROSSMARGIN_CONFIG"


def load_config(path: Path) -> dict[str, Any]:
    """Parse the TOML file; InputError naming the file and the problem."""
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError:
        raise InputError(f"config file {path} not found") from None
    except tomllib.TOMLDecodeError as bad:
        raise InputError(f"config file {path}: not valid TOML ({bad})") from None
    return data


@app.callback()
def main_options(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            help=f"TOML file with option defaults per command (or ${ENV_VAR}).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Cross-margining risk engine: margin, stress and backtest multi-asset derivative books."""
    chosen = config or (Path(os.environ[ENV_VAR]) if os.environ.get(ENV_VAR) else None)
    if chosen is None:
        return
    data = load_config(chosen)
    commands = (
        set(ctx.command.commands) if isinstance(ctx.command, typer.core.TyperGroup) else set()
    )
    unknown = sorted(set(data) - commands) if commands else []
    if unknown:
        raise InputError(
            f"config file {chosen}: unknown command table(s) {', '.join(unknown)}; "
            f"commands are {', '.join(sorted(commands))}"
        )
    ctx.default_map = data
