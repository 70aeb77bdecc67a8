"""``crossmargin margin``: margin a book under one model, isolated vs cross-margined."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from crossmargin.cli.app import app, console, print_json, working
from crossmargin.cli.distributed import check_dataset, cluster, dataset_table
from crossmargin.cli.options import (
    AlsoOpt,
    AsofOpt,
    BookArg,
    ByOpt,
    CapOpt,
    CollateralOpt,
    ContractsOpt,
    CrossMarginOpt,
    DataOpt,
    DistributedOpt,
    HaircutsOpt,
    JsonOpt,
    MarketOpt,
    OffsetsOpt,
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
    ApcOpt,
    ConfidenceOpt,
    HorizonOpt,
    LambdaOpt,
    LookbackOpt,
    MporOpt,
    VarMethodOpt,
    var_model_kwargs,
)
from crossmargin.defaults import BUILTIN_MODELS, DEFAULT_MODEL
from crossmargin.errors import InputError
from crossmargin.lazy import lazy_module
from crossmargin.limits import check_finite

if TYPE_CHECKING:
    from crossmargin import api
    from crossmargin import models as _models
    from crossmargin.collateral import equity as _equity
    from crossmargin.collateral import haircuts as _haircuts
    from crossmargin.models import var as _var
else:
    api = lazy_module("crossmargin.api")
    _equity = lazy_module("crossmargin.collateral.equity")
    _haircuts = lazy_module("crossmargin.collateral.haircuts")
    _models = lazy_module("crossmargin.models")
    _var = lazy_module("crossmargin.models.var")


ModelOpt = Annotated[
    str, typer.Option("--model", help="Margin model: " + ", ".join(BUILTIN_MODELS) + ".")
]
GridModeOpt = Annotated[
    str | None,
    typer.Option(
        "--mode",
        help="pm_grid: segregated (one risk unit per underlying and settlement currency, "
        "Deribit S:PM) or cross (one USD unit per underlying); default: the venue's or the "
        "parameter file's mode.",
    ),
]
GridVenueOpt = Annotated[
    str | None,
    typer.Option(
        "--venue", help="pm_grid: venue section of the parameter file (deribit, paradex, okx)."
    ),
]


def margin_table(result: _models.MarginResult) -> Table:
    """Per-account standalone vs grouped vs netted margin and the benefit."""
    cap = f", cap {result.cap:g}" if result.cap is not None else ""
    table = Table(
        title=f"{result.model} margin ({result.currency}{cap}; grouped by {result.by})",
        title_justify="left",
    )
    cols = ["account", "standalone", "grouped", "netted", "capped", "benefit", "benefit %"]
    for col in cols:
        table.add_column(col, justify="left" if col == "account" else "right")
    for a in result.accounts:
        table.add_row(
            a.account,
            money(a.standalone),
            money(a.grouped),
            money(a.netted),
            money(a.capped) if a.capped is not None else "",
            money(a.standalone - a.total),
            f"{100 * (a.standalone - a.total) / a.standalone if a.standalone else 0:.1f}",
        )
    table.add_row(
        "[bold]total[/]",
        money(result.standalone_total),
        money(result.grouped_total),
        money(result.netted_total),
        money(result.total),
        money(result.benefit),
        f"{result.benefit_pct:.1f}",
    )
    return table


def tier_table(result: _models.MarginResult) -> Table:
    """Per account and offset tier: the model's margin, the base, the credit and the capped
    requirement, with the offsets found ineligible."""
    ccy = result.currency
    policy = result.offsets.get("name", "")
    table = Table(
        title=f"Offset tiers ({ccy}; policy {policy}): credit = base − capped",
        title_justify="left",
    )
    for col in ("account", "tier", "cap", "margin", "base", "credit", "capped", "not eligible"):
        table.add_column(col, justify="left" if col in ("account", "tier", "not eligible")
                         else "right")  # fmt: skip
    for a in result.accounts:
        for k, t in enumerate(a.tiers):
            refused = "; ".join(g.group for g in t.groups if not g.eligible)
            table.add_row(
                a.account if k == 0 else "",
                t.tier,
                f"{t.cap:g}",
                money(t.margin),
                money(t.base),
                money(t.credit),
                money(t.capped),
                refused,
            )
    return table


def equity_table(result: _models.MarginResult, *, ladder: bool = False) -> Table:
    """Per account: collateral, MTM, equity against initial and maintenance margin (with
    ``ladder``, each margin ratio's status on the Binance Portfolio Margin Pro ladder)."""
    ccy = result.currency
    table = Table(
        title=f"Equity and requirement ({ccy}; margin ratio = equity / MM, utilisation = IM / "
        "equity)",
        title_justify="left",
    )
    cols = ["account", "collateral", "haircut", "MTM", "equity", "IM", "MM", "excess",
            "margin ratio", "utilisation"]  # fmt: skip
    if ladder:
        cols.append("ladder")
        table.caption = (
            "ladder: > 150% normal, > 120% reminder, > 105% reduce-only, else liquidation"
        )
    for col in cols:
        table.add_column(col, justify="left" if col == "account" else "right")
    for a in result.accounts:
        e = a.equity
        if e is None:
            continue
        ratio = e.margin_ratio
        util = e.utilisation
        status = [_equity.ladder_status(ratio) or ""] if ladder else []
        table.add_row(
            a.account,
            money(e.collateral_value),
            money(e.haircut),
            money(e.mtm),
            money(e.equity),
            money(e.initial_margin),
            "" if e.maintenance_margin is None else money(e.maintenance_margin),
            money(e.excess),
            "" if ratio is None else f"{ratio:.2%}",
            "" if util is None else f"{util:.2%}",
            *status,
        )
    return table


def netting_set_table(result: _models.MarginResult) -> Table | None:
    """How each account was margined (historical models): its netting set, calendar, MPOR in
    steps and calendar days, lookback and stressed windows."""
    rows = [a for a in result.accounts if a.netting_set]
    if not rows or "calendar" not in rows[0].netting_set:
        return None
    table = Table(title="Netting sets (each account on its own factors)", title_justify="left")
    cols = ["account", "netting set", "calendar", "MPOR", "lookback", "stressed window"]
    for col in cols:
        table.add_column(col)
    for a in rows:
        ns = a.netting_set
        days = ns["mpor_calendar_days"]
        lb = ns["lookback"]
        sw = ns.get("stressed_window")
        table.add_row(
            a.account,
            ns["netting_set"],
            ns["calendar"],
            f"{ns['mpor_steps']} steps = {days['min']:g}-{days['max']:g} calendar days "
            f"(mean {days['mean']:.2f})",
            f"{lb['first']}..{lb['last']} ({lb['scenarios']} scenarios)",
            f"{sw['first']}..{sw['last']}" if sw else "",
        )
    return table


def unit_table(result: _models.MarginResult) -> Table | None:
    """Figures a model reports in their own currency (``info`` keys ending in ``(CCY)``):
    pm_grid's segregated risk units, e.g. ``BTC/BTC worst_case (BTC)`` as Deribit prints it."""
    rows = [(a.account, k, v) for a in result.accounts for k, v in a.info.items()
            if k.endswith(")") and " (" in k]  # fmt: skip
    if not rows:
        return None
    table = Table(title="Risk units in their own currency", title_justify="left")
    for col in ("account", "figure", "value", "unit"):
        table.add_column(col, justify="right" if col == "value" else "left")
    for account, key, value in rows:
        name, _, unit = key[:-1].rpartition(" (")
        table.add_row(account, name, f"{value:,.9f}", unit)
    return table


def correlation_tables(result: _models.MarginResult) -> list[tuple[str, Table]]:
    """The daily spot-move correlations each netting set's window implies (ES/HVaR)."""
    sets = result.diagnostics.get("netting_sets") or {}
    owners: dict[str, list[str]] = {}
    for a in result.accounts:
        key = str(a.netting_set.get("netting_set", ""))
        if key in sets and "+" in key:
            owners.setdefault(key, []).append(a.account)
    tables = []
    for key, accounts in owners.items():
        corr = sets[key]["correlations"]
        names = [n for n in corr if not n.startswith("vol:")]
        title = f"{key} ({', '.join(accounts)}): correlation of h-step moves over its lookback"
        table = Table()
        table.add_column("")
        for n in names:
            table.add_column(n, justify="right")
        for r in names:
            table.add_row(r, *("" if corr[r][c] is None else f"{corr[r][c]:+.2f}" for c in names))
        tables.append((title, table))
    return tables


@app.command("margin")
def margin_command(
    book: BookArg,
    model: ModelOpt = DEFAULT_MODEL,
    params: Annotated[
        Path | None,
        typer.Option(
            "--params",
            help="Parameter file replacing the shipped one (span: also a CME SPAN .pa2/.spn "
            "file, whose risk arrays are used; pm_grid: also a Deribit model_params response).",
        ),
    ] = None,
    also: AlsoOpt = None,
    by: ByOpt = "underlying",
    cap: CapOpt = None,
    offsets: OffsetsOpt = "emir",
    collateral: CollateralOpt = None,
    cross_margin: CrossMarginOpt = None,
    haircuts: HaircutsOpt = None,
    asof: AsofOpt = None,
    market: MarketOpt = None,
    data: DataOpt = None,
    contracts: ContractsOpt = None,
    confidence: ConfidenceOpt = None,
    lookback: LookbackOpt = None,
    mpor: MporOpt = None,
    lam: LambdaOpt = None,
    apc: ApcOpt = None,
    var_method: VarMethodOpt = None,
    horizon: HorizonOpt = None,
    mode: GridModeOpt = None,
    venue: GridVenueOpt = None,
    store: StoreOpt = None,
    no_store: NoStoreOpt = False,
    ladder: Annotated[
        bool,
        typer.Option(
            "--ladder", help="Show each margin ratio's status on the Binance PM Pro ladder."
        ),
    ] = False,
    json: JsonOpt = False,
    distributed: DistributedOpt = False,
    scheduler: SchedulerOpt = None,
    workers: WorkersOpt = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Folder for the partitioned Parquet results of a book dataset (a BOOK folder).",
        ),
    ] = None,
) -> None:
    """Margin a book under one model: standalone vs grouped vs netted, and the benefit.

    BOOK may be a folder of Parquet files (a book dataset, each account in one file): with
    --distributed and --out DIR it is streamed file by file and never loaded whole.
    """
    check_store_options(store, no_store)
    kwargs: dict[str, Any] = {"params": params} if params is not None else {}
    var_kwargs = {
        k: v
        for k, v in var_model_kwargs(
            confidence=confidence, lookback=lookback, mpor=mpor, lam=lam, apc=apc,
            method=var_method, horizon=horizon,
        ).items()
        if v is not None
    }  # fmt: skip
    mine = contracts_of(contracts)
    schedule = _haircuts.load_haircuts(haircuts)  # a bad haircut file fails before any work
    if model in _var.VAR_MODELS:
        kwargs.update(var_kwargs)
    elif var_kwargs:
        given = ", ".join(
            "--" + k.replace("_method", "").replace("lam", "lambda") for k in var_kwargs
        )
        raise InputError(f"{given} appl{'ies' if len(var_kwargs) == 1 else 'y'} to "
                         f"--model {' or '.join(_var.VAR_MODELS)} only, not {model}")  # fmt: skip
    grid = {k: v for k, v in {"mode": mode, "venue": venue}.items() if v is not None}
    if grid and model != "pm_grid":
        given = " and ".join(f"--{k}" for k in grid)
        raise InputError(f"{given} appl{'ies' if len(grid) == 1 else 'y'} to --model pm_grid "
                         f"only, not {model}")  # fmt: skip
    kwargs.update(grid)
    if model in _var.VAR_MODELS or also in _var.VAR_MODELS:
        kwargs["history"] = api.market_history(data, contracts=mine)
    chosen = api.make_model(model, also=also, **kwargs)  # bad names fail before any loading
    if check_dataset(book, distributed, out):
        if contracts is not None or cross_margin is not None:
            raise InputError("--contracts and --cross-margin are not read with a book dataset "
                             "(a BOOK folder): margin a book file for them")  # fmt: skip
        _margin_dataset(book, chosen, out, by, cap, offsets, collateral, asof, market, data,
                        scheduler, workers, store, no_store, json)  # fmt: skip
        return
    portfolio = api.load_book(
        book, collateral=collateral, contracts=mine, cross_margin=cross_margin
    )
    snapshot = api.market_for(portfolio, asof=asof, market=market, data_dir=data, contracts=mine)
    with (
        cluster(distributed, scheduler, workers) as client,
        working(f"margining {len(portfolio)} positions under {model} ...", quiet=json),
    ):
        result = api.margin(
            portfolio,
            snapshot,
            chosen,
            by=by,
            cap=cap,
            offsets=offsets,
            haircuts=schedule,
            client=client,
        )
    payload = result.to_dict()
    check_finite(payload, what="margin result")
    run_id, unrecorded = record_run(
        lambda: api.record_margin(result, portfolio, snapshot, store), skip=no_store
    )
    if json:
        print_json({"run_id": run_id, **unrecorded_field(unrecorded), **payload})
        finish_unrecorded(unrecorded)
        return
    console.print(f"[dim]market: {snapshot.source or 'snapshot'}[/]")
    console.print(margin_table(result))
    console.print(tier_table(result))
    console.print(equity_table(result, ladder=ladder))
    for extra in (unit_table(result), netting_set_table(result)):
        if extra is not None:
            console.print(extra)
    for title, table in correlation_tables(result):
        console.print(title, style="italic", highlight=False)
        console.print(table)
    if run_id is not None:
        console.print(f"[dim]recorded as run {run_id} (crossmargin runs show {run_id})[/]")
    finish_unrecorded(unrecorded)


def _margin_dataset(
    book: Path,
    model: Any,
    out: Path | None,
    by: str,
    cap: float | None,
    offsets: str,
    collateral: Path | None,
    asof: str | None,
    market: Path | None,
    data: Path | None,
    scheduler: str | None,
    workers: int | None,
    store: Path | None,
    no_store: bool,
    json: bool,
) -> None:
    """``margin BOOK_FOLDER --distributed --out DIR``: stream the dataset, print the totals."""
    from crossmargin.distributed import margin_dataset

    if collateral is not None:
        raise InputError("--collateral is not read with a book dataset: margin its positions "
                         "alone, or load a book file with its collateral")  # fmt: skip
    assert out is not None

    def snapshot(underlyings: tuple[str, ...]) -> Any:
        return api.market_for_underlyings(underlyings, asof=asof, market=market, data_dir=data)

    with (
        cluster(True, scheduler, workers) as client,
        working(f"margining the book dataset {book} under {model.name} ...", quiet=json),
    ):
        assert client is not None
        run = margin_dataset(client, book, model, snapshot, out, by=by, cap=cap,
                             offsets=offsets, store=store, record=not no_store)  # fmt: skip
    if json:
        print_json({"run_id": run.run_id, **run.summary})
        return
    console.print(f"[dim]market: {run.summary['market']}[/]")
    console.print(dataset_table(run.summary))
    console.print(f"results: {run.out}/accounts, {run.out}/positions (Parquet), "
                  f"{run.out}/summary.json")  # fmt: skip
    if run.run_id is not None:
        console.print(f"[dim]recorded as run {run.run_id} (crossmargin runs show {run.run_id})[/]")
