"""``crossmargin backtest``: margin coverage on real history, netted vs standalone."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich import box
from rich.table import Table

from crossmargin.cli.app import app, console, print_json, progress_bar
from crossmargin.cli.distributed import cluster
from crossmargin.cli.options import (
    ContractsOpt,
    DataOpt,
    DistributedOpt,
    JsonOpt,
    SchedulerOpt,
    WorkersOpt,
    contracts_of,
    iso_date,
)
from crossmargin.cli.runs import (
    NoStoreOpt,
    StoreOpt,
    check_store_options,
    finish_unrecorded,
    record_run,
    unrecorded_field,
)
from crossmargin.defaults import DEFAULT_MODEL
from crossmargin.lazy import lazy_module

if TYPE_CHECKING:
    from crossmargin import api
    from crossmargin import portfolio as _portfolio
    from crossmargin.analysis import backtest as _bt
    from crossmargin.analysis import backtest_stats as _bt_stats
    from crossmargin.analysis import strategies as _strategies
else:
    api = lazy_module("crossmargin.api")
    _bt = lazy_module("crossmargin.analysis.backtest")
    _bt_stats = lazy_module("crossmargin.analysis.backtest_stats")
    _strategies = lazy_module("crossmargin.analysis.strategies")
    _portfolio = lazy_module("crossmargin.portfolio")


def backtest_table(result: _bt_stats.BacktestResult) -> Table:
    """Per account and margin mode: exceptions, Kupiec, Christoffersen, zone, coverage.

    Compact enough for an 80-column terminal: no vertical rules, one space between columns,
    two-line headers (``zone no-ovl`` is the zone on non-overlapping windows; ``avg
    shortfall`` is in the book's currency).
    """
    table = Table(
        title=f"{result.model} backtest {result.start}..{result.end}: {result.confidence:.2%} "
        f"confidence, {result.mpor}-day MPOR ({result.book})",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        padding=0,  # the box's blank column rule is the one space between columns
        show_edge=False,
    )
    cols = ("account", "mode", "obs", "exc", "Kupiec\np", "CC\np", "zone", "zone\nno-ovl",
            "cover-\nage", "avg\nshortfall")  # fmt: skip
    for col in cols:
        table.add_column(col, justify="left" if col in ("account", "mode") else "right")
    for account in (*result.paths.accounts, "book"):
        for mode in _bt.MODES:
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
                f"{s.coverage_ratio:.1%}",
                f"{s.average_shortfall:,.0f}",
            )
    return table


@app.command("backtest")
def backtest_command(
    book: Annotated[
        Path | None,
        typer.Argument(help="Book to re-strike daily; omit for the representative strategies."),
    ] = None,
    model: Annotated[str, typer.Option("--model", help="Margin model.")] = DEFAULT_MODEL,
    start: Annotated[
        str, typer.Option("--start", callback=iso_date, help="First day (YYYY-MM-DD).")
    ] = "2024-01-01",
    end: Annotated[
        str, typer.Option("--end", callback=iso_date, help="Last day (YYYY-MM-DD).")
    ] = "2024-12-31",
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
    distributed: DistributedOpt = False,
    scheduler: SchedulerOpt = None,
    workers: WorkersOpt = None,
) -> None:
    """Backtest margin coverage on real history: netted vs grouped vs standalone."""
    check_store_options(store, no_store)
    mine = contracts_of(contracts)
    portfolio = api.load_book(book, contracts=mine) if book is not None else None
    with (
        cluster(distributed, scheduler, workers) as client,
        progress_bar("backtest", "days", quiet=json) as progress,
    ):
        result = api.backtest(
            portfolio, model, start, end, mpor=mpor, confidence=confidence, by=by,
            data_dir=data, progress=progress, contracts=mine, client=client,
        )  # fmt: skip
    if series is not None:
        import pandas as pd

        from crossmargin.files import atomic_output

        with atomic_output(series, what="series") as temp:
            pd.DataFrame(result.series()).to_csv(temp, index=False)
    rows = (
        _portfolio.book_records(portfolio)
        if portfolio is not None
        else _strategies.strategy_records(_strategies.representative_strategies())
    )
    run_id, unrecorded = record_run(lambda: api.record_backtest(result, rows, store), skip=no_store)
    if json:
        print_json({"run_id": run_id, **unrecorded_field(unrecorded), **result.to_dict()})
        finish_unrecorded(unrecorded)
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
    finish_unrecorded(unrecorded)


def es_table(result: _bt_stats.BacktestResult) -> Table | None:
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
