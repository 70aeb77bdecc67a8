"""``crossmargin report BOOK --out report.html``: the self-contained HTML report."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from crossmargin.cli.app import app, console, print_json, progress_bar, working
from crossmargin.cli.options import (
    AsofOpt,
    BookArg,
    CollateralOpt,
    ContractsOpt,
    CrossMarginOpt,
    DataOpt,
    JsonOpt,
    MarketOpt,
    contracts_of,
)
from crossmargin.dates import parse_date
from crossmargin.defaults import COMPARED_MODELS, DEFAULT_MODEL
from crossmargin.errors import InputError
from crossmargin.lazy import lazy_module

if TYPE_CHECKING:
    from crossmargin import api
    from crossmargin import report as _report
else:
    api = lazy_module("crossmargin.api")
    _report = lazy_module("crossmargin.report")


def _window(text: str | None) -> tuple[str, str] | None:
    if text is None:
        return None
    start, sep, end = text.partition(":")
    if not sep or not start or not end:
        raise InputError(f"--backtest takes START:END (e.g. 2025-01-01:2025-06-30), got {text!r}")
    first = parse_date(start, what="--backtest START")
    last = parse_date(end, what="--backtest END")
    if last < first:
        raise InputError(f"--backtest {text!r}: END is before START")
    return first.isoformat(), last.isoformat()


@app.command("report")
def report_command(
    book: BookArg,
    out: Annotated[Path, typer.Option("--out", help="HTML file to write.")] = Path("report.html"),
    asof: AsofOpt = None,
    market: MarketOpt = None,
    data: DataOpt = None,
    contracts: ContractsOpt = None,
    collateral: CollateralOpt = None,
    cross_margin: CrossMarginOpt = None,
    models: Annotated[
        str, typer.Option("--models", help="Comma-separated models to compare.")
    ] = ",".join(COMPARED_MODELS),
    backtest: Annotated[
        str | None,
        typer.Option("--backtest", help="Add a backtest over START:END (YYYY-MM-DD:YYYY-MM-DD)."),
    ] = None,
    backtest_model: Annotated[
        str, typer.Option("--backtest-model", help="Model of the backtest.")
    ] = DEFAULT_MODEL,
    cascade: Annotated[
        str | None,
        typer.Option("--cascade", help="Add a cascade of the book under this crisis replay."),
    ] = None,
    json: JsonOpt = False,
) -> None:
    """Write an HTML report of a book: margin by model, benefit, P&L, correlations, backtest."""
    if out.is_dir():  # before any work: the report would have nowhere to go
        raise InputError(f"--out {out} is a directory: give a file such as {out / 'report.html'}")
    names = tuple(m.strip() for m in models.split(",") if m.strip())
    if not names:
        raise InputError("--models needs at least one model name")
    window = _window(backtest)
    mine = contracts_of(contracts)
    portfolio = api.load_book(
        book, collateral=collateral, contracts=mine, cross_margin=cross_margin
    )
    snapshot = api.market_for(portfolio, asof=asof, market=market, data_dir=data, contracts=mine)
    if window is None:
        with working("building the report ...", quiet=json):
            payload = _report.build_payload(
                portfolio, snapshot, models=names, data_dir=data, contracts=mine, cascade=cascade
            )
    else:
        with progress_bar("report: backtest", "days", quiet=json) as progress:
            payload = _report.build_payload(
                portfolio, snapshot, models=names, backtest=window,
                backtest_model=backtest_model, data_dir=data, contracts=mine, progress=progress,
                cascade=cascade,
            )  # fmt: skip
    target = _report.write_report(payload, out)
    if json:
        print_json({"path": str(target), "bytes": target.stat().st_size, "models": names})
        return
    console.print(f"wrote {target}", highlight=False)
