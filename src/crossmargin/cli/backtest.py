"""``crossmargin backtest``: margin coverage on real history, netted vs standalone."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from crossmargin import api
from crossmargin.analysis.backtest import MODES
from crossmargin.analysis.backtest_stats import BacktestResult
from crossmargin.analysis.strategies import representative_strategies, strategy_records
from crossmargin.cli.app import app, console, err_console, print_json
from crossmargin.cli.options import ContractsOpt, DataOpt, JsonOpt, contracts_of
from crossmargin.cli.runs import NoStoreOpt, StoreOpt, check_store_options
from crossmargin.portfolio import portfolio_records


def backtest_table(result: BacktestResult) -> Table:
    """Per account and margin mode: exceptions, Kupiec, Christoffersen, zone, coverage."""
    table = Table(
        title=f"{result.model} backtest {result.start}..{result.end}: {result.confidence:.2%} "
        f"confidence, {result.mpor}-day MPOR ({result.book})",
        title_justify="left",
    )
    cols = ("account", "margin", "obs", "exc", "Kupiec p", "CC p", "zone", "zone (non-overl.)",
            "coverage", "avg shortfall")  # fmt: skip
    for col in cols:
        table.add_column(col, justify="left" if col in ("account", "margin") else "right")
    for account in (*result.paths.accounts, "book"):
        for mode in MODES:
            s = result.stats[(account, mode)]
            worst = s.subsample["worst_zone"] if s.subsample else ""
            table.add_row(
                account if mode == "netted" else "",
                mode,
                str(s.observations),
                str(s.exceptions),
                f"{s.kupiec_p_value:.3f}",
                f"{s.cc_p_value:.3f}",
                s.traffic_light,
                worst,
                f"{s.coverage_ratio:.2%}",
                f"{s.average_shortfall:,.0f}",
            )
    return table


@app.command("backtest")
def backtest_command(
    book: Annotated[
        Path | None,
        typer.Argument(help="Book to re-strike daily; omit for the representative strategies."),
    ] = None,
    model: Annotated[str, typer.Option("--model", help="Margin model.")] = "es",
    start: Annotated[str, typer.Option("--start", help="First day (YYYY-MM-DD).")] = "2024-01-01",
    end: Annotated[str, typer.Option("--end", help="Last day (YYYY-MM-DD).")] = "2024-12-31",
    mpor: Annotated[int, typer.Option("--mpor", help="Margin period of risk, days.")] = 2,
    confidence: Annotated[
        float, typer.Option("--confidence", help="Confidence level, e.g. 0.99.")
    ] = 0.99,
    by: Annotated[str, typer.Option("--by", help="Grouping for the grouped margin.")] = (
        "underlying"
    ),
    data: DataOpt = None,
    contracts: ContractsOpt = None,
    store: StoreOpt = None,
    no_store: NoStoreOpt = False,
    json: JsonOpt = False,
    series: Annotated[
        Path | None, typer.Option("--series", help="Write the plot-ready daily series (CSV).")
    ] = None,
) -> None:
    """Backtest margin coverage on real history: netted vs grouped vs standalone."""
    check_store_options(store, no_store)
    mine = contracts_of(contracts)
    portfolio = api.load_book(book, contracts=mine) if book is not None else None
    with Progress(
        TextColumn("backtest"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} days"),
        TimeRemainingColumn(),
        console=err_console,
        transient=True,
        disable=json or not err_console.is_terminal,
    ) as bar:
        task = bar.add_task("days", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        kwargs: dict[str, Any] = {}
        result = api.backtest(
            portfolio, model, start, end, mpor=mpor, confidence=confidence, by=by,
            data_dir=data, progress=progress, contracts=mine, **kwargs,
        )  # fmt: skip
    if series is not None:
        import pandas as pd

        pd.DataFrame(result.series()).to_csv(series, index=False)
    rows = (
        portfolio_records(portfolio)
        if portfolio is not None
        else strategy_records(representative_strategies())
    )
    run_id = None if no_store else api.record_backtest(result, rows, store)
    if json:
        print_json({"run_id": run_id, **result.to_dict()})
        return
    console.print(backtest_table(result))
    extra = es_table(result)
    if extra is not None:
        console.print(extra)
    for offset in result.offsets:
        assumed = _fmt(offset["assumed_correlation"])
        realised = _fmt(offset["realised_correlation_window"])
        in_exc = _fmt(offset["realised_correlation_exceptions"])
        console.print(
            f"offset {offset['account']} {offset['pair'][0]}/{offset['pair'][1]}: credit "
            f"{offset['mean_credit']:,.0f} on average, {offset['netting_exceptions']} exceptions "
            f"let through by netting; correlation assumed {assumed}, realised {realised} "
            f"(in exception windows {in_exc})"
        )
    if run_id is not None:
        console.print(f"[dim]recorded as run {run_id} (crossmargin runs show {run_id})[/]")
    if result.paths.skipped:
        console.print(f"[yellow]{len(result.paths.skipped)} days skipped[/]: "
                      f"{result.paths.skipped[0][0]}: {result.paths.skipped[0][1]}")  # fmt: skip


def es_table(result: BacktestResult) -> Table | None:
    """Per account (netted): procyclicality of the margin for every model and, for an ES
    model, exceptions against the ES-equivalent rate, the Acerbi-Szekely Z2 test and the
    clean-P&L exceptions (blank for models that are not an ES)."""
    rows = [(a, result.stats[(a, "netted")]) for a in result.paths.accounts]
    if not any(s.es or s.cyclicality for _, s in rows):
        return None
    table = Table(
        title="Netted margin: ES backtested as ES (exceptions vs the VaR-equivalent level of "
        "the ES, normal tail; Acerbi-Szekely Z2, simulated p; clean-P&L exceptions) and "
        "procyclicality (peak/trough ratio; largest rise over 1/5/30 steps, %, without and "
        "with a 25% APC buffer run down)",
        title_justify="left",
    )
    cols = ("account", "exc", "expected (normal)", "P(X ≥ exc)", "zone", "Z2", "Z2 p",
            "clean exc", "peak/trough", "max 1/5/30-step rise %", "with 25% buffer %")  # fmt: skip
    for col in cols:
        table.add_column(col, justify="left" if col == "account" else "right")
    for account, s in rows:
        es = s.es or {}
        z2 = es.get("z2", {})
        cyc = s.cyclicality
        rise = cyc.get("max_increase_pct", {})
        buf = cyc.get("apc_buffer", {}).get("max_increase_pct", {})
        table.add_row(
            account,
            str(s.exceptions),
            f"{es['normal']['expected']:.1f}" if es else "",
            f"{es['normal']['binomial_p_value']:.3f}" if es else "",
            es["normal"]["traffic_light"] if es else "",
            f"{z2['z2']:.2f}" if "z2" in z2 else "",
            f"{z2['p_value']:.3f}" if "p_value" in z2 else "",
            str(es.get("clean_exceptions", "")),
            f"{cyc['peak_to_trough_ratio']:.2f}" if "peak_to_trough_ratio" in cyc else "",
            "/".join(_pct(rise.get(h)) for h in ("1", "5", "30")),
            "/".join(_pct(buf.get(h)) for h in ("1", "5", "30")),
        )
    return table


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.0f}"


def _fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:+.2f}"
