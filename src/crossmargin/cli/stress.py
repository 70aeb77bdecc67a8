"""``crossmargin stress``: stress the netting of a book against the margin it holds.

Exactly what runs (see ``docs/stress.md``):

* ``--scenario FILE``: hypothetical joint moves from a JSON/CSV file;
* ``--crisis NAME``: replay of a named crisis (``crisis_windows.json``), dates ``START:END``,
  or a comma-separated list;
* ``--correlation MODE``: correlation break of the offset pairs (``--pairs BTC:SPX,...``),
  each netting set on its own window; ``break`` = ``adverse`` (per account, each pair toward
  whichever of +1 / −1 raises its ES); the user's ``plus`` (toward +1), ``minus`` (toward
  −1), ``flip``, ``stressed`` (toward the COVID-window correlation, or
  ``--stressed-window``/``--stressed-matrix``); ``all``;
* none of the three: every named crisis. ``--reverse`` and ``--default ACCOUNT`` add to any.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from crossmargin.cli.app import app, console, print_json, progress_bar
from crossmargin.cli.distributed import cluster
from crossmargin.cli.options import (
    AsofOpt,
    BookArg,
    CollateralOpt,
    ContractsOpt,
    CrossMarginOpt,
    DataOpt,
    DistributedOpt,
    JsonOpt,
    MarketOpt,
    SchedulerOpt,
    WorkersOpt,
    contracts_of,
)
from crossmargin.cli.runs import (
    NoStoreOpt,
    StoreOpt,
    check_store_options,
    finish_unrecorded,
    record_run,
    unrecorded_field,
)
from crossmargin.cli.value import money
from crossmargin.cli.var_options import (
    ConfidenceOpt,
    LookbackOpt,
    MporOpt,
    VarMethodOpt,
    var_model_kwargs,
)
from crossmargin.defaults import DEFAULT_MODEL
from crossmargin.errors import InputError
from crossmargin.lazy import lazy_module

if TYPE_CHECKING:
    from crossmargin import api
    from crossmargin import portfolio as _portfolio
    from crossmargin.analysis.stress import default as _stress_default
    from crossmargin.analysis.stress import report as _stress_report
    from crossmargin.market import snapshot as _snapshot
    from crossmargin.models import var as _var
else:
    api = lazy_module("crossmargin.api")
    _stress_report = lazy_module("crossmargin.analysis.stress.report")
    _snapshot = lazy_module("crossmargin.market.snapshot")
    _var = lazy_module("crossmargin.models.var")
    _portfolio = lazy_module("crossmargin.portfolio")


def _cell(x: float | None) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else money(x)


def scenario_table(report: _stress_report.StressReport) -> Table:
    """Per scenario and account: loss, margin held, shortfall, the row applied."""
    table = Table(
        title=f"Stress vs {report.model} margin held ({report.currency}, "
        f"MPOR {report.mpor}d); shortfall = max(0, loss − margin)",
        title_justify="left",
    )
    for col in ("scenario", "account", "loss", "margin", "shortfall", "applied"):
        table.add_column(
            col, justify="left" if col in ("scenario", "account", "applied") else "right"
        )
    for s in report.scenarios:
        for i, a in enumerate(s.accounts):
            table.add_row(
                s.name if i == 0 else "",
                a.account,
                _cell(a.loss) if a.covered else "not covered",
                money(a.margin),
                _cell(a.shortfall),
                a.scenario,
            )
    return table


def stress_rows(report: _stress_report.StressReport) -> list[dict[str, Any]]:
    """Per named crisis and account: margin held and the loss on each horizon.

    Keys: ``crisis``, ``account``, ``margin``, ``loss_1d``, ``loss_h``, ``loss_window``,
    ``shortfall`` (the largest over the horizons), ``covered``.
    """
    h = f"{report.mpor}d"
    by_crisis: dict[str, dict[str, Any]] = {}
    for s in report.scenarios:
        if s.kind != "crisis":
            continue
        crisis = s.name[: -len(s.horizon) - 1]
        by_crisis.setdefault(crisis, {})[s.horizon] = s
    rows = []
    for crisis, horizons in by_crisis.items():
        for acc in report.held.required:
            outs = {k: horizons[k].account(acc) for k in ("1d", h, "window") if k in horizons}
            covered = all(o.covered for o in outs.values())
            losses = {k: (o.loss if o.covered else None) for k, o in outs.items()}
            worst = max((v for v in losses.values() if v is not None), default=None)
            margin = report.held.required[acc]
            rows.append(
                {
                    "crisis": crisis,
                    "account": acc,
                    "margin": margin,
                    "loss_1d": losses.get("1d"),
                    "loss_h": losses.get(h),
                    "loss_window": losses.get("window"),
                    "shortfall": None if worst is None else max(0.0, worst - margin),
                    "covered": covered,
                }
            )
    return rows


def crisis_table_from_rows(rows: list[dict[str, Any]], *, mpor: int, currency: str) -> Table:
    """The demo / docs table: margin held vs loss in each named crisis."""
    table = Table(
        title=f"Margin held (es, netted) vs loss in each named crisis ({currency}); "
        f"loss by full revaluation of today's book under the real moves",
        title_justify="left",
    )
    cols = (
        "crisis",
        "account",
        "margin held",
        "loss 1d (worst day)",
        f"loss {mpor}d (worst)",
        "loss whole window",
        "shortfall",
    )
    for col in cols:
        table.add_column(col, justify="left" if col in ("crisis", "account") else "right")
    last = None
    for r in rows:
        table.add_row(
            r["crisis"] if r["crisis"] != last else "",
            r["account"],
            money(r["margin"]),
            _cell(r["loss_1d"]),
            _cell(r["loss_h"]),
            _cell(r["loss_window"]),
            _cell(r["shortfall"]),
        )
        last = r["crisis"]
    return table


def demo_stress(
    book: _portfolio.Portfolio, market: _snapshot.MarketSnapshot, *, data_dir: Path | None = None
) -> tuple[Table, list[dict[str, Any]], _stress_report.StressReport]:
    """Every named crisis on ``book`` under the ``es`` model: the table, its rows, the report."""
    report = api.stress(book, "es", market=market, data_dir=data_dir)
    rows = stress_rows(report)
    table = crisis_table_from_rows(rows, mpor=report.mpor, currency=report.currency)
    return table, rows, report


def correlation_table(report: _stress_report.StressReport) -> Table:
    """Per account, mode and pair: baseline ES, broken ES, margin held and shortfall."""
    assert report.correlation is not None
    c = report.correlation
    windows = "; ".join(f"{s.key} {s.calendar} {s.window[0]}..{s.window[1]}" for s in c.sets)
    table = Table(
        title=f"Correlation break: {c.confidence:.2%} ES, {c.mpor}-step, each netting set on "
        f"its own window ({windows}; {report.currency})",
        title_justify="left",
    )
    cols = ("account", "mode", "pair", "direction", "baseline ES", "broken ES", "margin",
            "shortfall")  # fmt: skip
    for col in cols:
        table.add_column(col, justify="left" if col in cols[:4] else "right")
    for r in c.rows:
        table.add_row(
            r.account,
            r.mode,
            r.pair,
            ", ".join(f"{k} {v}" for k, v in r.direction.items())
            or ", ".join(f"{k} {v:+.2f}" for k, v in r.target.items()),
            money(r.baseline),
            money(r.broken),
            money(r.margin),
            money(r.shortfall),
        )
    return table


def control_table(report: _stress_report.StressReport) -> Table:
    """Single-underlying controls: each leg's ES alone, before and under every break."""
    assert report.correlation is not None
    table = Table(
        title="Controls: each account's leg on one underlying alone keeps its ES under every "
        f"break (its marginal is kept; {report.currency})",
        title_justify="left",
    )
    for col in ("account", "underlying", "ES before", "largest change"):
        table.add_column(col, justify="left" if col in ("account", "underlying") else "right")
    for r in report.correlation.controls:
        table.add_row(r.account, r.underlying, money(r.baseline), f"{r.max_change:.2e}")
    return table


def reverse_table(report: _stress_report.StressReport) -> Table:
    """The smallest breaking move of each account, its distance and plausibility."""
    table = Table(
        title="Reverse stress: smallest move (Mahalanobis) breaking the margin held",
        title_justify="left",
    )
    for col in ("account", "margin", "distance", "moves (spot %, vol pts)", "P(d ≥ d*)", "last"):
        table.add_column(
            col, justify="left" if col in ("account", "moves (spot %, vol pts)") else "right"
        )
    for r in report.reverse:
        moves = ", ".join(f"{u} {m.spot:+.1%}/{100 * m.vol:+.1f}" for u, m in r.moves.items())
        table.add_row(
            r.account,
            money(r.margin),
            "none" if r.distance is None else f"{r.distance:.2f}",
            moves or r.direction,
            "" if r.plausibility is None else f"{r.plausibility:.1%}",
            r.last_seen or "",
        )
    return table


def default_table(
    report: _stress_report.StressReport, d: _stress_default.DefaultLoss | None = None
) -> Table:
    """The defaulted account's legs: P&L, liquidation cost, loss and share."""
    d = d if d is not None else report.default
    assert d is not None
    table = Table(
        title=f"Default of {d.account} under {d.scenario} ({d.description}): loss "
        f"{money(d.loss)} vs margin held {money(d.margin)} (beyond: {money(d.beyond_margin)}); "
        f"standalone margin {money(d.standalone)} would cover {money(d.covered_standalone)}",
        title_justify="left",
    )
    for col in ("leg", "quantity", "P&L", "liquidation cost", "loss", "share"):
        table.add_column(col, justify="left" if col == "leg" else "right")
    for leg in d.legs:
        share = f"{leg.loss / d.loss:.1%}" if d.loss else ""
        table.add_row(
            leg.symbol, f"{leg.quantity:g}", money(leg.pnl), money(leg.cost), money(leg.loss), share
        )
    return table


@app.command("stress")
def stress_command(
    book: BookArg,
    model: Annotated[
        str, typer.Option("--model", help="Margin model whose requirement is held.")
    ] = DEFAULT_MODEL,
    scenario: Annotated[
        Path | None, typer.Option("--scenario", help="Hypothetical scenarios: JSON or CSV file.")
    ] = None,
    crisis: Annotated[
        str | None,
        typer.Option(
            "--crisis", help="Named crisis (lehman, covid, ...), START:END dates, or a list."
        ),
    ] = None,
    correlation: Annotated[
        str | None,
        typer.Option(
            "--correlation",
            help="Correlation break: break (= adverse: per account the direction that hurts), "
            "plus, minus, flip, stressed, all.",
        ),
    ] = None,
    pairs: Annotated[
        str | None, typer.Option("--pairs", help="Offset pairs to break, e.g. BTC:SPX,ETH:SPX.")
    ] = None,
    blend: Annotated[
        float, typer.Option("--blend", min=0.0, max=1.0, help="How far to move correlations (0-1).")
    ] = 1.0,
    stressed_window: Annotated[
        str | None,
        typer.Option(
            "--stressed-window", help="Crisis (name or dates) for --correlation stressed."
        ),
    ] = None,
    stressed_matrix: Annotated[
        Path | None,
        typer.Option("--stressed-matrix", help="JSON {labels, matrix}: the stressed correlation."),
    ] = None,
    reverse: Annotated[
        bool, typer.Option("--reverse", help="Reverse stress of every account.")
    ] = False,
    default: Annotated[
        str | None,
        typer.Option("--default", help="Default this account (or all): liquidation with costs."),
    ] = None,
    asof: AsofOpt = None,
    market: MarketOpt = None,
    data: DataOpt = None,
    contracts: ContractsOpt = None,
    collateral: CollateralOpt = None,
    cross_margin: CrossMarginOpt = None,
    confidence: ConfidenceOpt = None,
    lookback: LookbackOpt = None,
    mpor: MporOpt = None,
    var_method: VarMethodOpt = None,
    store: StoreOpt = None,
    no_store: NoStoreOpt = False,
    json: JsonOpt = False,
    distributed: DistributedOpt = False,
    scheduler: SchedulerOpt = None,
    workers: WorkersOpt = None,
) -> None:
    """Stress the netting: crisis replays, hypothetical moves, correlation breakdown, reverse
    stress and the default of one account, against the margin held."""
    check_store_options(store, no_store)
    params = {
        k: v
        for k, v in var_model_kwargs(
            confidence=confidence, lookback=lookback, mpor=mpor, method=var_method
        ).items()
        if v is not None
    }
    if params and model not in _var.VAR_MODELS:
        raise InputError(
            "--confidence/--lookback/--mpor/--var-method apply to --model es or hvar only, "
            f"not {model}"
        )
    mine = contracts_of(contracts)
    portfolio = api.load_book(
        book, collateral=collateral, contracts=mine, cross_margin=cross_margin
    )
    snapshot = api.market_for(portfolio, asof=asof, market=market, data_dir=data, contracts=mine)
    with (
        cluster(distributed, scheduler, workers) as client,
        progress_bar("stress", "stresses", quiet=json) as progress,
    ):
        report = api.stress(
            portfolio,
            model,
            scenario=scenario,
            crisis=crisis,
            correlation=correlation,
            pairs=pairs,
            blend=blend,
            stressed_window=stressed_window,
            stressed_matrix=stressed_matrix,
            reverse=reverse,
            default=default,
            market=snapshot,
            data_dir=data,
            contracts=mine,
            client=client,
            progress=progress,
            **params,
        )
    run_id, unrecorded = record_run(
        lambda: api.record_stress(report, portfolio, snapshot, store), skip=no_store
    )
    if json:
        print_json({"run_id": run_id, **unrecorded_field(unrecorded), **report.to_dict()})
        finish_unrecorded(unrecorded)
        return
    console.print(f"[dim]market: {snapshot.source or 'snapshot'}[/]")
    if report.scenarios:
        console.print(scenario_table(report))
    for note in dict.fromkeys(n for s in report.scenarios for n in s.notes):
        console.print(f"[dim]note: {note}[/]")
    if report.correlation is not None:
        console.print(correlation_table(report))
        console.print(control_table(report))
        for note in report.correlation.notes:
            console.print(f"[dim]note: {note}[/]")
    if report.reverse:
        console.print(reverse_table(report))
    for d in report.defaults:
        console.print(default_table(report, d))
    if run_id is not None:
        console.print(f"[dim]recorded as run {run_id} (crossmargin runs show {run_id})[/]")
    finish_unrecorded(unrecorded)
