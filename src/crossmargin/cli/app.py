"""The typer application object shared by every command module, and the CLI's error policy.

Exit codes (documented in ``docs/cli.md``):

=====  ==========================================================
0      success
1      unexpected internal error (a bug: please report it)
2      bad input: file, row, argument or parameter (InputError)
3      market data missing or out of range (MarketDataError)
4      an instrument cannot be priced (PricingError)
5      a margin model cannot run (ModelError)
6      the run store cannot be used (StoreError); a computed result is
       still printed, with a line saying it was not recorded
=====  ==========================================================
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, ProgressColumn, Task, TextColumn, TimeRemainingColumn
from rich.text import Text

from crossmargin.errors import (
    CrossMarginError,
    InputError,
    MarketDataError,
    ModelError,
    PricingError,
    StoreError,
)

app = typer.Typer(
    name="crossmargin",
    help="Cross-margining risk engine: margin, stress and backtest multi-asset derivative books.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

console = Console()
if not console.is_terminal:  # pipes and files get wide tables rather than wrapped columns
    console = Console(width=160)
err_console = Console(stderr=True)

EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_INPUT = 2
EXIT_MARKET = 3
EXIT_PRICING = 4
EXIT_MODEL = 5
EXIT_STORE = 6


def exit_code_for(error: CrossMarginError) -> int:
    """Map an error of the tree to its documented exit code."""
    if isinstance(error, InputError):
        return EXIT_INPUT
    if isinstance(error, MarketDataError):
        return EXIT_MARKET
    if isinstance(error, PricingError):
        return EXIT_PRICING
    if isinstance(error, ModelError):
        return EXIT_MODEL
    if isinstance(error, StoreError):
        return EXIT_STORE
    return EXIT_INTERNAL


def fail(error: CrossMarginError) -> None:
    """Print ``error`` without a traceback and exit with its code."""
    err_console.print(
        f"[bold red]error:[/] {escape(str(error))}", highlight=False, markup=True, soft_wrap=True
    )
    raise typer.Exit(exit_code_for(error))


def working(message: str, *, quiet: bool = False) -> AbstractContextManager[Any]:
    """A spinner on stderr while a single long computation runs (terminal only).

    Iterative runs (backtests) show a progress bar instead; ``quiet`` (e.g. ``--json``) and
    non-terminal output show nothing.
    """
    if quiet or not err_console.is_terminal:
        return nullcontext()
    return err_console.status(message)


class _Count(ProgressColumn):
    """``12/250 days`` once the total is known, ``preparing ...`` before (never ``0/None``)."""

    def __init__(self, unit: str) -> None:
        super().__init__()
        self.unit = unit

    def render(self, task: Task) -> Text:
        if task.total is None:
            return Text("preparing ...")
        return Text(f"{int(task.completed)}/{int(task.total)} {self.unit}")


@contextmanager
def progress_bar(
    label: str, unit: str, *, quiet: bool = False
) -> Iterator[Callable[[int, int], None]]:
    """A progress bar on stderr for a loop of known length; yields ``update(done, total)``.

    The total is shown as soon as the loop reports it (``preparing ...`` until then); like
    :func:`working`, ``quiet`` (``--json``) and non-terminal output show nothing.
    """
    with Progress(
        TextColumn(label),
        BarColumn(),
        _Count(unit),
        TimeRemainingColumn(),
        console=err_console,
        transient=True,
        disable=quiet or not err_console.is_terminal,
    ) as bar:
        task = bar.add_task(label, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


def print_json(payload: Any) -> None:
    """Write ``payload`` as JSON to stdout (no rich markup, machine-readable).

    The output is always valid JSON: a NaN or infinity left in an informational figure (a
    correlation that cannot be computed, a p-value without observations) is written as
    ``null``. Results whose figures must be finite are checked before they get here
    (:func:`crossmargin.limits.check_finite`: an error, never an exit code 0).
    """
    sys.stdout.write(json.dumps(_json_safe(payload), indent=2, default=str) + "\n")


def _json_safe(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value
