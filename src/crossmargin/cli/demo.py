"""``crossmargin demo``: the pipeline on the sample book, with real market history."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from crossmargin.cli.app import app, console, print_json
from crossmargin.cli.options import AsofOpt, DataOpt
from crossmargin.cli.value import money, valuation_tables
from crossmargin.defaults import COMPARED_MODELS
from crossmargin.files import write_text
from crossmargin.lazy import lazy_module

if TYPE_CHECKING:
    from crossmargin import api
    from crossmargin import models as _models
    from crossmargin import portfolio as _portfolio
    from crossmargin.analysis import compare as _compare
    from crossmargin.market import scenarios as _scenarios
    from crossmargin.market import snapshot as _snapshot
else:
    api = lazy_module("crossmargin.api")
    _compare = lazy_module("crossmargin.analysis.compare")
    _scenarios = lazy_module("crossmargin.market.scenarios")
    _snapshot = lazy_module("crossmargin.market.snapshot")
    _models = lazy_module("crossmargin.models")
    _portfolio = lazy_module("crossmargin.portfolio")


# Models the demo runs, in order; `rules` is the isolated baseline.
DEMO_MODELS = COMPARED_MODELS

# Illustrative joint stress grid for the demo: every underlying moves together.
DEMO_SPOT_MOVES = (-0.30, -0.20, -0.10, -0.05, 0.0, 0.05, 0.10, 0.20, 0.30)
DEMO_VOL_MOVES = (-0.10, 0.0, 0.10)


@app.command("demo")
def demo_command(
    asof: AsofOpt = None,
    data: DataOpt = None,
    out: Annotated[Path, typer.Option("--out", help="Folder for the demo's output files.")] = Path(
        "out"
    ),
    json_: Annotated[
        bool, typer.Option("--json", help="Print the demo's JSON instead of tables.")
    ] = False,
) -> None:
    """Run the pipeline on the sample book: value, stress grid, margin under every model."""
    show: Callable[..., None] = console.print if not json_ else (lambda *_a, **_k: None)
    book = api.sample_book()
    market = api.market_for(book, asof=asof, data_dir=data)
    if not json_:
        console.rule("[bold]crossmargin demo: sample book")
    show(f"[dim]market: {market.source}[/]")
    valuation = api.value(book, market)
    for table in valuation_tables(valuation):
        show(table)
    grid = _scenarios.ScenarioSet.grid(
        book.underlyings, DEMO_SPOT_MOVES, DEMO_VOL_MOVES, label="demo grid"
    )
    pnl = api.revalue(book, market, grid)
    table = Table(
        title=f"Worst P&L on a joint grid ({len(grid.names)} scenarios: spot ±30%, "
        f"vol ±10 pts; {market.reporting_currency})",
        title_justify="left",
    )
    for col in ("account", "worst P&L", "worst scenario", "best P&L"):
        table.add_column(col, justify="left" if col in ("account", "worst scenario") else "right")
    by_account = pnl.account_pnl_by_scenario
    summary = []
    for j, acc in enumerate(pnl.accounts):
        worst = int(by_account[:, j].argmin())
        summary.append(
            {
                "account": acc,
                "worst_pnl": float(by_account[worst, j]),
                "worst_scenario": grid.names[worst],
                "best_pnl": float(by_account[:, j].max()),
            }
        )
        table.add_row(
            acc,
            money(by_account[worst, j]),
            grid.names[worst],
            money(by_account[:, j].max()),
        )
    show(table)
    margins, margin_view = _margin_section(book, market, data)
    show(margin_view)
    from crossmargin.cli.stress import demo_stress

    stress_view, stress_rows, stress_report = demo_stress(book, market, data_dir=data)
    show(stress_view)
    target = out / "demo.json"
    payload = {
        "valuation": valuation.to_dict(),
        "stress_grid": summary,
        "margin": {name: result.to_dict() for name, result in margins.items()},
        "stress": stress_rows,
    }
    write_text(target, json.dumps(payload, indent=2), what="demo output")
    show(f"wrote {target}")
    from crossmargin.report import build_payload, write_report

    report = build_payload(
        book, market, models=tuple(margins), results=margins, data_dir=data, stress=stress_report
    )
    show(f"wrote {write_report(report, out / 'report.html')}")
    if json_:
        print_json({**payload, "files": [str(target), str(out / "report.html")]})


def _margin_section(
    book: _portfolio.Portfolio, market: _snapshot.MarketSnapshot, data: Path | None
) -> tuple[dict[str, _models.MarginResult], Table]:
    """Margin the sample book under every model; the isolated-vs-cross table per account."""
    comparison = _compare.compare_models(book, market, DEMO_MODELS, data_dir=data)
    table = Table(
        title=f"Isolated vs cross margin per account and model ({market.reporting_currency}); "
        "isolated = rules, standalone = each position alone under the model",
        title_justify="left",
    )
    for col in ("model", "account", "isolated", "standalone", "netted", "benefit", "benefit %",
                "vs isolated %"):  # fmt: skip
        table.add_column(col, justify="left" if col in ("model", "account") else "right")
    for r in comparison.rows:
        table.add_row(
            r.model,
            "[bold]total[/]" if r.account == "total" else r.account,
            money(r.isolated),
            money(r.standalone),
            money(r.netted),
            money(r.benefit),
            "" if r.benefit_pct is None else f"{r.benefit_pct:.1f}",
            "" if r.vs_isolated_pct is None else f"{r.vs_isolated_pct:.1f}",
        )
    return comparison.results, table
