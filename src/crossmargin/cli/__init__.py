"""Command-line interface: a thin shell over :mod:`crossmargin.api`.

Each command lives in its own module and registers itself on :data:`app`.
"""

from __future__ import annotations

import sys

import typer
from rich.markup import escape

# Command modules register themselves on import.
from crossmargin.cli import commands as _commands  # noqa: F401  (registration)
from crossmargin.cli.app import EXIT_INPUT, EXIT_INTERNAL, app, err_console, fail
from crossmargin.errors import CrossMarginError


def main() -> None:
    """Console-script entry point: run the app; no traceback ever reaches the user."""
    try:
        code = app(standalone_mode=False)  # a typer.Exit inside a command returns its code
        if isinstance(code, int) and code:
            sys.exit(code)
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
    except OSError as error:  # a file the library did not open through crossmargin.files
        where = f"{error.filename}: " if error.filename else ""
        err_console.print(
            f"[bold red]error:[/] {escape(where + (error.strerror or str(error)))}",
            highlight=False,
        )
        sys.exit(EXIT_INPUT)
    except Exception as error:  # last line of defence: no bare traceback
        # Usage errors (bad option values, missing arguments) come from the click that
        # typer vendors: recognise them by their interface rather than by class, and print
        # them as one line like every other error.
        message = getattr(error, "format_message", None)
        code = getattr(error, "exit_code", None)
        if callable(message) and isinstance(code, int):
            ctx = getattr(error, "ctx", None)
            path = getattr(ctx, "command_path", "crossmargin")
            text = " ".join(str(message()).split())
            err_console.print(
                f"[bold red]error:[/] {escape(text)} (see: {escape(path)} --help)",
                highlight=False,
                soft_wrap=True,
            )
            sys.exit(code)
        err_console.print(
            f"[bold red]internal error:[/] {type(error).__name__}: {error}\n"
            "This is a bug in crossmargin; please report it with the command you ran."
        )
        sys.exit(EXIT_INTERNAL)


__all__ = ["app", "main"]
