"""``crossmargin runs``: list, show, diff and per-account history of recorded runs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from crossmargin.cli.app import EXIT_STORE, app, console, err_console, print_json
from crossmargin.cli.options import JsonOpt
from crossmargin.errors import InputError, StoreError
from crossmargin.lazy import lazy_module

if TYPE_CHECKING:
    from crossmargin import store as _store
else:
    _store = lazy_module("crossmargin.store")


StoreOpt = Annotated[
    Path | None,
    typer.Option(
        "--store",
        help="Run-store file (default: $CROSSMARGIN_STORE, else "
        "$XDG_DATA_HOME/crossmargin/runs.duckdb or ~/.local/share/crossmargin/runs.duckdb).",
    ),
]
NoStoreOpt = Annotated[
    bool, typer.Option("--no-store", help="Do not record this run in the run store.")
]


def check_store_options(store: Path | None, no_store: bool) -> None:
    """``--store PATH`` and ``--no-store`` exclude each other."""
    if store is not None and no_store:
        raise InputError("give either --store PATH or --no-store, not both")


def record_run(record: Callable[[], str], *, skip: bool = False) -> tuple[str | None, str | None]:
    """``(run id, None)`` once ``record()`` has stored the run; ``(None, reason)`` when the
    store cannot take it (busy beyond the wait, corrupt, full disk): the computation is kept
    and the caller prints it, then :func:`finish_unrecorded`. ``skip`` (``--no-store``):
    ``(None, None)``."""
    if skip:
        return None, None
    try:
        return record(), None
    except StoreError as error:
        return None, str(error)


def unrecorded_field(reason: str | None) -> dict[str, str]:
    """``{"not_recorded": reason}`` for a ``--json`` payload whose run was not recorded."""
    return {} if reason is None else {"not_recorded": reason}


def finish_unrecorded(reason: str | None) -> None:
    """After the result is printed: say it was not recorded, and exit with code 6."""
    if reason is None:
        return
    err_console.print(
        f"[bold yellow]not recorded:[/] {escape(reason)} (the result above is complete)",
        highlight=False,
        soft_wrap=True,
    )
    raise typer.Exit(EXIT_STORE)


ModelFilterOpt = Annotated[str | None, typer.Option("--model", help="Only runs of this model.")]

runs_app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
app.add_typer(
    runs_app,
    name="runs",
    help="Recorded runs: list, show, diff two runs, one account's margin history.",
)


def _num(x: float | None, signed: bool = False) -> str:
    if x is None:
        return ""
    return f"{x:+,.0f}" if signed else f"{x:,.0f}"


def _when(run_created: object) -> str:
    return f"{run_created:%Y-%m-%d %H:%M:%S}" if run_created is not None else ""


@runs_app.command("list")
def list_command(
    kind: Annotated[
        str | None, typer.Option("--kind", help="margin, stress, backtest or simm.")
    ] = None,
    model: ModelFilterOpt = None,
    limit: Annotated[int, typer.Option("--limit", help="At most N runs, newest first.")] = 20,
    store: StoreOpt = None,
    json: JsonOpt = False,
) -> None:
    """The most recent runs, newest first."""
    runs = _store.RunStore(store)
    found = runs.list(limit, kind=kind, model=model)
    if json:
        print_json([r.to_dict() for r in found])
        return
    if not found:
        console.print(f"no runs recorded in {runs.path}", highlight=False)
        return
    table = Table(title=f"runs in {runs.path} (UTC)", title_justify="left")
    for col in ("run id", "kind", "created", "model", "market as-of", "accounts", "total"):
        table.add_column(col, justify="right" if col in ("accounts", "total") else "left")
    table.add_column("book")
    for r in found:
        table.add_row(
            r.run_id,
            r.kind,
            _when(r.created_at),
            r.model,
            _when(r.market_asof),
            str(r.accounts),
            _num(r.total),
            r.book_source,
        )
    console.print(table)


@runs_app.command("show")
def show_command(
    run_id: Annotated[str, typer.Argument(help="Run id (see `crossmargin runs list`).")],
    store: StoreOpt = None,
    json: JsonOpt = False,
) -> None:
    """One run: its provenance, parameters and per-account figures."""
    runs = _store.RunStore(store)
    record = runs.get(run_id)
    if json:
        print_json(record.to_dict())
        return
    console.print(
        f"[bold]{record.run_id}[/] {record.kind} run of {record.model}, "
        f"{_when(record.created_at)} UTC (crossmargin {record.version}, {record.status})\n"
        f"  book: {record.book_source or '-'}\n"
        f"  market: {record.market_source or '-'} (as of {_when(record.market_asof)})\n"
        f"  inputs hash: {record.inputs_hash}\n"
        f"  parameters:{'' if record.parameters else ' -'}",
        highlight=False,
    )
    for key, value in record.parameters.items():
        text = str(value)
        text = text if len(text) <= 90 else text[:89] + "…"  # --json has them in full
        console.print(f"    {key} = {text}", highlight=False, markup=False)
    accounts = runs.accounts(run_id)
    if not accounts:
        return
    table = Table(title_justify="left")
    table.add_column("account")
    for name in _store.FIGURES:
        table.add_column(name, justify="right")
    for a in accounts:
        table.add_row(a.account, *(_num(getattr(a, name)) for name in _store.FIGURES))
    console.print(table)


@runs_app.command("diff")
def diff_command(
    first: Annotated[str, typer.Argument(help="The earlier (reference) run id.")],
    second: Annotated[str, typer.Argument(help="The run to compare with it.")],
    store: StoreOpt = None,
    json: JsonOpt = False,
) -> None:
    """Per-account changes from FIRST to SECOND (second − first), and what inputs changed."""
    d = _store.RunStore(store).diff(first, second)
    if json:
        print_json(d.to_dict())
        return
    console.print(
        f"{d.first.run_id} ({d.first.model}) -> {d.second.run_id} ({d.second.model}): "
        f"total {_num(d.first.total)} -> {_num(d.second.total)} "
        f"({_num(d.total_delta, signed=True)})\n"
        f"  inputs {'changed' if d.inputs_changed else 'unchanged'} "
        f"(hash {d.first_inputs_hash[:12]} -> {d.second_inputs_hash[:12]})",
        highlight=False,
    )
    for key, (a, b) in d.parameter_changes.items():
        console.print(f"  parameter {key}: {a!r} -> {b!r}", highlight=False)
    for label, names in (("first", d.only_in_first), ("second", d.only_in_second)):
        if names:
            console.print(f"  only in the {label} run: {', '.join(names)}", highlight=False)

    # only what differs: the accounts with a changed figure, the figures that changed
    # (--json keeps every common account and figure, each with its first, second and delta)
    def changed(a: Any, name: str) -> bool:
        return bool(getattr(a.first, name) != getattr(a.second, name))

    figures = [n for n in _store.FIGURES if any(changed(a, n) for a in d.accounts)]
    moved = [a for a in d.accounts if any(changed(a, n) for n in figures)]
    same = [a.account for a in d.accounts if a not in moved]
    if same:
        listed = ", ".join(same[:10]) + (f" and {len(same) - 10} more" if len(same) > 10 else "")
        console.print(
            f"  {len(same)} account{'s' if len(same) != 1 else ''} in both runs unchanged: "
            + listed,
            highlight=False,
        )
    if not moved:
        return
    table = Table(title_justify="left")
    table.add_column("account")
    for name in figures:
        table.add_column(name, justify="right")
        table.add_column(f"Δ {name}", justify="right")
    for a in moved:
        cells = [a.account]
        for name in figures:
            cells += [_num(getattr(a.second, name)), _num(a.delta(name), signed=True)]
        table.add_row(*cells)
    console.print(table)


@runs_app.command("history")
def history_command(
    account: Annotated[str, typer.Argument(help="Account id.")],
    model: ModelFilterOpt = None,
    store: StoreOpt = None,
    json: JsonOpt = False,
) -> None:
    """One account's margin across recorded runs, oldest first."""
    runs = _store.RunStore(store)
    found = runs.account_history(account, model=model)
    if json:
        print_json([r.to_dict() for r in found])
        return
    if not found:
        console.print(f"no runs of account {account!r} in {runs.path}", highlight=False)
        return
    table = Table(title=f"history of {account} (UTC)", title_justify="left")
    for col in ("run id", "created", "kind", "model", *_store.FIGURES):
        table.add_column(col, justify="right" if col in _store.FIGURES else "left")
    for r in found:
        table.add_row(
            r.run_id,
            _when(r.created_at),
            r.kind,
            r.model,
            *(_num(getattr(r, name)) for name in _store.FIGURES),
        )
    console.print(table)


__all__ = [
    "NoStoreOpt",
    "StoreOpt",
    "check_store_options",
    "finish_unrecorded",
    "record_run",
    "runs_app",
    "unrecorded_field",
]
