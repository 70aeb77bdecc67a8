"""``crossmargin simm FILE``: ISDA SIMM initial margin of a CRIF file or a position book.

A thin shell over :func:`crossmargin.simm.simm_margin`; a position book is first turned
into CRIF lines by :func:`crossmargin.simm.sensitivities.book_crif`.  Errors are raised
by the library and reported by :func:`crossmargin.cli.main` as one line with an exit code.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from crossmargin.cli.app import app, console, print_json
from crossmargin.cli.options import AsofOpt, ContractsOpt, DataOpt, MarketOpt, contracts_of
from crossmargin.cli.runs import (
    NoStoreOpt,
    StoreOpt,
    check_store_options,
    finish_unrecorded,
    record_run,
    unrecorded_field,
)
from crossmargin.errors import InputError
from crossmargin.lazy import lazy_module
from crossmargin.limits import check_finite

if TYPE_CHECKING:
    from crossmargin import api
    from crossmargin import portfolio as _portfolio
    from crossmargin import simm as _simm
    from crossmargin.market import snapshot as _snapshot
    from crossmargin.simm import crif as _crif
    from crossmargin.simm import sensitivities as _sens
else:
    api = lazy_module("crossmargin.api")
    _snapshot = lazy_module("crossmargin.market.snapshot")
    _portfolio = lazy_module("crossmargin.portfolio")
    _simm = lazy_module("crossmargin.simm")
    _crif = lazy_module("crossmargin.simm.crif")
    _sens = lazy_module("crossmargin.simm.sensitivities")


MappingOpt = Annotated[
    Path | None,
    typer.Option(
        "--mapping",
        help="JSON file: underlying -> SIMM qualifier, risk class, bucket (books only; "
        "entries replace the shipped simm/data/book_mapping.json per underlying).",
    ),
]
CrifOutOpt = Annotated[
    Path | None,
    typer.Option("--crif-out", help="Write the CRIF generated from the book to this file."),
]


def _table(result: _simm.SimmResult, title: str = "") -> Table:
    ccy = result.calculation_currency
    head = f"ISDA SIMM {result.version}, {result.mpor_days}-day MPOR ({ccy})"
    table = Table(title=f"{title}: {head}" if title else head)
    table.add_column("Side")
    table.add_column("Product class")
    table.add_column("Risk class")
    table.add_column("Margin type")
    table.add_column("Bucket")
    table.add_column(f"Initial margin ({ccy})", justify="right")
    sides = [result] if result.post is None else [result, result.post]
    for side in sides:
        label = side.side if side.regulation is None else f"{side.side} ({side.regulation})"
        for line in side.lines:
            table.add_row(
                label,
                line.product_class,
                line.risk_class,
                line.margin_type,
                line.bucket,
                f"{line.amount:,.2f}",
            )
    return table


def _accounts_table(overall: _simm.SimmResult, accounts: dict[str, _simm.SimmResult]) -> Table:
    ccy = overall.calculation_currency
    table = Table(title=f"ISDA SIMM per account ({ccy}; PortfolioID = account)")
    for col in ("Account", "Total", "Delta", "Vega", "Curvature"):
        table.add_column(col, justify="left" if col == "Account" else "right")
    for name, res in [*accounts.items(), ("all accounts (one netting set)", overall)]:
        table.add_row(name, *(f"{x:,.2f}" for x in (res.total, res.delta, res.vega, res.curvature)))
    total = sum(r.total for r in accounts.values())
    table.add_row("sum of accounts", f"{total:,.2f}", "", "", "")
    return table


def _book_simm(
    file: Path,
    *,
    version: str,
    mpor: int,
    post: bool,
    asof: str | None,
    market: Path | None,
    data: Path | None,
    mapping: Path | None,
    crif_out: Path | None,
    contracts: Path | None,
) -> tuple[
    _simm.SimmResult,
    dict[str, _simm.SimmResult],
    _sens.BookCrif,
    dict[str, Any],
    _portfolio.Portfolio,
    _snapshot.MarketSnapshot,
]:
    mine = contracts_of(contracts)
    portfolio = api.load_book(file, contracts=mine)
    snapshot = api.market_for(portfolio, asof=asof, market=market, data_dir=data, contracts=mine)
    sens = _sens.book_crif(portfolio, snapshot, mapping=mapping)
    if crif_out is not None:
        _crif.write_crif(sens.crif, crif_out)

    def run(crif: Any) -> _simm.SimmResult:
        return _simm.simm_margin(crif, version=version, mpor_days=mpor, include_post=post or None)

    overall = run(sens.crif)
    accounts = {a: run(sens.for_account(a)) for a in sens.accounts}
    info = {
        "market": snapshot.source or "snapshot",
        "valuation_time": snapshot.valuation_time.isoformat(),
        "crif_lines": len(sens.crif),
    }
    return overall, accounts, sens, info, portfolio, snapshot


@app.command("simm")
def simm_command(
    file: Annotated[
        Path, typer.Argument(help="CRIF file (CSV/TSV), or a book of positions (.csv/.json).")
    ],
    version: Annotated[
        str,
        typer.Option(
            "--version", help="SIMM version: 2.5, 2.6, 2.8+2506, 2.8+2512 (2.8 = 2.8+2512)."
        ),
    ] = "2.6",
    mpor: Annotated[int, typer.Option("--mpor", help="Margin period of risk: 10 or 1 days.")] = 10,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    post: Annotated[bool, typer.Option("--post", help="Also compute the post side.")] = False,
    asof: AsofOpt = None,
    market: MarketOpt = None,
    data: DataOpt = None,
    mapping: MappingOpt = None,
    crif_out: CrifOutOpt = None,
    contracts: ContractsOpt = None,
    store: StoreOpt = None,
    no_store: NoStoreOpt = False,
) -> None:
    """ISDA SIMM initial margin of a CRIF file or of a position book, with the breakdown.

    A book is turned into CRIF delta and vega lines (docs/simm.md, "SIMM on a position
    book") and margined per account and for the whole book as one netting set. The run is
    recorded in the run store (``crossmargin runs list --kind simm``) unless --no-store.
    """
    check_store_options(store, no_store)
    if not file.is_file():
        raise InputError(f"no such file: {file}")
    if version not in _simm.available_versions():
        raise InputError(
            f"unknown SIMM version {version!r}; use one of {', '.join(_simm.available_versions())}"
        )
    if mpor not in (1, 10):
        raise InputError(f"--mpor must be 10 or 1, not {mpor}")
    if _simm.looks_like_crif(file):
        book_only = {"--asof": asof, "--market": market, "--data": data}
        book_only |= {"--mapping": mapping, "--crif-out": crif_out, "--contracts": contracts}
        given = [name for name, value in book_only.items() if value is not None]
        if given:
            raise InputError(
                f"{file} is a CRIF; {', '.join(given)} appl{'ies' if len(given) == 1 else 'y'} "
                "to position books only"
            )
        result = _simm.simm_margin(file, version=version, mpor_days=mpor, include_post=post or None)
        check_finite(result.to_dict(), what="SIMM result")
        digest = hashlib.sha256(file.read_bytes()).hexdigest()
        run_id, unrecorded = record_run(
            lambda: api.record_simm(
                result, source=str(file), book_rows=[{"crif_sha256": digest}], store=store
            ),
            skip=no_store,
        )
        if as_json:
            print_json({"run_id": run_id, **unrecorded_field(unrecorded), **result.to_dict()})
        else:
            console.print(_table(result))
            console.print(result.summary(), highlight=False)
            _recorded(run_id)
        finish_unrecorded(unrecorded)
        return
    overall, accounts, sens, info, portfolio, snapshot = _book_simm(
        file,
        version=version,
        mpor=mpor,
        post=post,
        asof=asof,
        market=market,
        data=data,
        mapping=mapping,
        crif_out=crif_out,
        contracts=contracts,
    )
    notes = [n.to_dict() for n in sens.notes]
    check_finite(overall.to_dict(), what="SIMM result")
    run_id, unrecorded = record_run(
        lambda: api.record_simm(
            overall,
            source=portfolio.source,
            accounts=accounts,
            book_rows=_portfolio.portfolio_records(portfolio),
            market=snapshot,
            store=store,
        ),
        skip=no_store,
    )
    if as_json:
        payload = {"run_id": run_id, **unrecorded_field(unrecorded), **overall.to_dict()}
        payload["accounts"] = {a: r.to_dict() for a, r in accounts.items()}
        payload["sum_of_accounts"] = sum(r.total for r in accounts.values())
        payload["positions_without_lines"] = notes
        payload |= info
        print_json(payload)
        finish_unrecorded(unrecorded)
        return
    console.print(
        f"[dim]market: {info['market']} at {info['valuation_time']}; "
        f"{info['crif_lines']} CRIF lines from {file}[/]"
    )
    console.print(_accounts_table(overall, accounts))
    console.print(_table(overall, "all accounts"))
    console.print(overall.summary(), highlight=False)
    for note in sens.notes:
        console.print(
            f"[yellow]no SIMM line[/] {note.account} {note.symbol}: {note.reason}", highlight=False
        )
    _recorded(run_id)
    finish_unrecorded(unrecorded)


def _recorded(run_id: str | None) -> None:
    if run_id is not None:
        console.print(f"[dim]recorded as run {run_id} (crossmargin runs show {run_id})[/]")
