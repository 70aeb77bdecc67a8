"""``crossmargin cascade`` and ``crossmargin population``: failure propagation across a venue.

``crossmargin cascade BOOK|--population SPEC --crisis NAME [--mode venue|ccp] [--json]`` runs
a shock on a book (or a written population) or on a population generated from ``SPEC``
(``N[:SEED]`` or a JSON spec file), isolated, grouped and cross-margined side by side, and
prints per mode the accounts liquidated, notional, funds drawn and ADL, then the price path,
the liquidations over the steps and the layers consumed (``docs/cascade.md``).
``crossmargin population --accounts N --seed S --out FILE`` writes a generated population as
a JSON book.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from crossmargin.cli.app import app, console, print_json, working
from crossmargin.cli.distributed import cluster
from crossmargin.cli.options import (
    AsofOpt,
    CollateralOpt,
    DataOpt,
    DistributedOpt,
    JsonOpt,
    MarketOpt,
    SchedulerOpt,
    WorkersOpt,
)
from crossmargin.cli.runs import NoStoreOpt, StoreOpt, check_store_options
from crossmargin.cli.value import money
from crossmargin.errors import InputError
from crossmargin.lazy import lazy_module

if TYPE_CHECKING:
    from crossmargin import api
    from crossmargin.analysis.cascade import population as _population
    from crossmargin.analysis.cascade.result import CascadeReport
else:
    api = lazy_module("crossmargin.api")
    _population = lazy_module("crossmargin.analysis.cascade.population")

ModesOpt = Annotated[
    str,
    typer.Option(
        "--modes",
        help="Margin modes side by side: population (each account's own), isolated, grouped, "
        "cross.",
    ),
]


def summary_table(report: CascadeReport) -> Table:
    """Per mode: accounts and units liquidated, notional, deficits, layers, ADL, iterations."""
    table = Table(
        title=f"Cascade: {report.shock} on {report.population} ({report.accounts} accounts, "
        f"{report.allocation} loss allocation); money and notional in USD",
        title_justify="left",
    )
    cols = ("mode", "accounts liquidated", "units liquidated", "bankrupt", "notional",
            "deficits", "funds drawn", "ADL", "residual", "iterations")  # fmt: skip
    for col in cols:
        table.add_column(col, justify="left" if col == "mode" else "right")
    for r in report.rows():
        table.add_row(
            r["mode"], f"{r['accounts_liquidated']:,}", f"{r['units_liquidated']:,}",
            f"{r['units_bankrupt']:,}", money(r["notional"]), money(r["deficits"]),
            money(r["fund_drawn"]), money(r["adl"]), money(r["residual"]),
            f"{r['iterations']}{'' if r['converged'] else ' (not converged)'}",
        )  # fmt: skip
    return table


def steps_table(report: CascadeReport, mode: str) -> Table:
    """Price path and liquidations over the steps of one mode."""
    result = report.mode(mode)
    table = Table(
        title=f"{mode}: price path (USD; exogenous -> with impact) and liquidations per step",
        title_justify="left",
    )
    table.add_column("step", justify="left")
    for u in report.underlyings:
        table.add_column(u, justify="right")
    for col in ("iterations", "liquidated", "notional", "deficits"):
        table.add_column(col, justify="right")
    for s in result.steps:
        prices = [f"{s.exogenous_prices[u]:,.2f} -> {s.prices[u]:,.2f}" for u in report.underlyings]
        table.add_row(s.label, *prices, str(s.iterations), f"{s.units_liquidated:,}",
                      money(s.notional), money(s.deficits))  # fmt: skip
    return table


def layers_table(report: CascadeReport) -> Table:
    """Per mode: what each layer paid (USD)."""
    table = Table(title="Layers consumed (USD)", title_justify="left")
    names: list[str] = []
    for r in report.results:
        names += [k for k in r.ledger.layers if k not in names]
    for col in ("mode", "losses", "collateral consumed", *names, "ADL", "residual"):
        table.add_column(col, justify="left" if col == "mode" else "right")
    for r in report.results:
        led = r.ledger
        table.add_row(r.mode, money(led.losses), money(led.collateral_consumed),
                      *(money(led.layers.get(n, 0.0)) for n in names), money(led.adl),
                      money(led.residual))  # fmt: skip
    return table


@app.command("cascade")
def cascade_command(
    book: Annotated[
        Path | None,
        typer.Argument(help="Book with collateral, or a population written by 'population'."),
    ] = None,
    population: Annotated[
        str | None,
        typer.Option("--population", help="Generate a population: N[:SEED] or a JSON spec file."),
    ] = None,
    crisis: Annotated[
        str | None,
        typer.Option(
            "--crisis",
            help="Replay: 2020-03-12, ftx, 2024-08-05, 2025-10-10, or dates DAY / START:END.",
        ),
    ] = None,
    scenario: Annotated[
        Path | None, typer.Option("--scenario", help="Hypothetical moves: JSON or CSV file.")
    ] = None,
    scenario_name: Annotated[
        str | None, typer.Option("--scenario-name", help="Which scenario of the file.")
    ] = None,
    spread: Annotated[
        str | None,
        typer.Option("--spread", help="Correlation break LONG:SHORT:MULTIPLE (e.g. BTC:ETH:17)."),
    ] = None,
    scale: Annotated[
        float, typer.Option("--scale", min=0.0, help="Scale every move of the shock.")
    ] = 1.0,
    mode: Annotated[
        str, typer.Option("--mode", help="Loss allocation: venue (insurance fund, ADL) or ccp.")
    ] = "venue",
    modes: ModesOpt = "population,isolated,grouped,cross",
    model: Annotated[
        str | None,
        typer.Option("--model", help="Calibrate a book's maintenance margin to this model."),
    ] = None,
    params: Annotated[
        Path | None,
        typer.Option("--params", help="Cascade parameters (shaped like data/cascade.json)."),
    ] = None,
    steps: Annotated[
        bool, typer.Option("--steps", help="Print the price path and liquidations per step.")
    ] = False,
    collateral: CollateralOpt = None,
    asof: AsofOpt = None,
    market: MarketOpt = None,
    data: DataOpt = None,
    store: StoreOpt = None,
    no_store: NoStoreOpt = False,
    json: JsonOpt = False,
    distributed: DistributedOpt = False,
    scheduler: SchedulerOpt = None,
    workers: WorkersOpt = None,
) -> None:
    """Failure propagation: shock, liquidations, price impact and loss allocation to a fixed
    point, isolated vs grouped vs cross-margined on the same population (with --distributed,
    each margining mode is a task on a Dask cluster)."""
    check_store_options(store, no_store)
    chosen = tuple(m.strip() for m in modes.split(",") if m.strip())
    if not chosen:
        raise InputError("--modes needs at least one mode")
    with (
        cluster(distributed, scheduler, workers) as client,
        working("running the cascade ...", quiet=json),
    ):
        run = api.cascade(
            book, population=population, crisis=crisis, scenario=scenario,
            scenario_name=scenario_name, spread=spread, scale=scale, mode=mode, modes=chosen,
            model=model, asof=asof, market=market, data_dir=data, params=params,
            collateral=collateral, client=client,
        )  # fmt: skip
    run_id = None if no_store else api.record_cascade(run, store)
    report = run.report
    if json:
        print_json({"run_id": run_id, **report.to_dict()})
        return
    console.print(f"[dim]market: {run.snapshot.source or 'snapshot'}[/]")
    console.print(summary_table(report))
    console.print(report.answer())
    console.print(layers_table(report))
    if steps:
        for r in report.results:
            console.print(steps_table(report, r.mode))
    notes = [*report.notes, *(n for r in report.results for n in r.notes)]
    for note in dict.fromkeys(notes):
        console.print(f"[dim]note: {note}[/]", highlight=False)
    if run_id is not None:
        console.print(f"[dim]recorded as run {run_id} (crossmargin runs show {run_id})[/]")


@app.command("population")
def population_command(
    accounts: Annotated[int, typer.Option("--accounts", help="Number of accounts (>= 1).")],
    out: Annotated[Path, typer.Option("--out", help="JSON file to write.")],
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 0,
    spec: Annotated[
        Path | None,
        typer.Option("--spec", help="JSON spec of the distributions (accounts/seed override it)."),
    ] = None,
    asof: AsofOpt = None,
    data: DataOpt = None,
    json: JsonOpt = False,
) -> None:
    """Generate a population (documented distributions; docs/cascade.md) and write it as a
    JSON book: positions, collateral and each account's margin mode."""
    base: dict[str, Any] = {}
    if spec is not None:
        from crossmargin.analysis.cascade.population import load_spec

        base = load_spec(spec).model_dump()
    pop, snapshot = api.population({**base, "accounts": accounts, "seed": seed}, asof=asof,
                                   data_dir=data)  # fmt: skip
    path = _population.write_population(pop, out, asof=snapshot.valuation_time.date().isoformat())
    facts = {
        "path": str(path),
        "asof": snapshot.valuation_time.date().isoformat(),
        **_population.summary(pop),
    }
    if json:
        print_json(facts)
        return
    console.print(
        f"wrote {path}: {facts['accounts']:,} accounts, {facts['positions']:,} positions "
        f"({facts['cross_margined']:,} cross-margined, {facts['isolated']:,} isolated), priced "
        f"on {facts['asof']}",
        highlight=False,
    )
