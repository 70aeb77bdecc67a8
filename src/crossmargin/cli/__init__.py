"""Command-line interface: a thin shell over :mod:`crossmargin.api`.

Each command lives in its own module and registers itself on :data:`app`.
"""

from __future__ import annotations

import sys

import typer

# Command modules register themselves on import.
from crossmargin.cli import commands as _commands  # noqa: F401  (registration)
from crossmargin.cli.app import EXIT_INTERNAL, app, err_console, fail
from crossmargin.errors import CrossMarginError


def main() -> None:
    """Console-script entry point: run the app; no traceback ever reaches the user."""
    try:
        app(standalone_mode=False)
    except CrossMarginError as error:
        try:
            fail(error)
        except typer.Exit as exit_:
            sys.exit(exit_.exit_code)
    except typer.Exit as exit_:
        sys.exit(exit_.exit_code)
    except typer.Abort:
        err_console.print("aborted")
        sys.exit(EXIT_INTERNAL)
    except Exception as error:  # last line of defence: no bare traceback
        # Usage errors (bad option values, missing arguments) come from the click that
        # typer vendors: recognise them by their interface rather than by class.
        show, code = getattr(error, "show", None), getattr(error, "exit_code", None)
        if callable(show) and isinstance(code, int):
            show()
            sys.exit(code)
        err_console.print(
            f"[bold red]internal error:[/] {type(error).__name__}: {error}\n"
            "This is a bug in crossmargin; please report it with the command you ran."
        )
        sys.exit(EXIT_INTERNAL)


__all__ = ["app", "main"]
