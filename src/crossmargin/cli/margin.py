"""``crossmargin margin``: margin a book under one model, isolated vs cross-margined."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from crossmargin import api
from crossmargin.cli.app import app, console, print_json, working
from crossmargin.cli.options import (
    AsofOpt,
    BookArg,
    ByOpt,
    CapOpt,
    CollateralOpt,
    ContractsOpt,
    CrossMarginOpt,
    DataOpt,
    HaircutsOpt,
    JsonOpt,
    MarketOpt,
    OffsetsOpt,
    contracts_of,
)
from crossmargin.cli.runs import NoStoreOpt, StoreOpt, check_store_options
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
from crossmargin.collateral.equity import ladder_status
from crossmargin.collateral.haircuts import load_haircuts
from crossmargin.errors import InputError
from crossmargin.models import MarginResult, model_names
from crossmargin.models.var import VAR_MODELS

ModelOpt = Annotated[
    str, typer.Option("--model", help="Margin model: " + ", ".join(model_names()) + ".")
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


def margin_table(result: MarginResult) -> Table:
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


def tier_table(result: MarginResult) -> Table:
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


def equity_table(result: MarginResult, *, ladder: bool = False) -> Table:
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
        status = [ladder_status(ratio) or ""] if ladder else []
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


def netting_set_table(result: MarginResult) -> Table | None:
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


def unit_table(result: MarginResult) -> Table | None:
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


def correlation_tables(result: MarginResult) -> list[tuple[str, Table]]:
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
    model: ModelOpt = "span",
    params: Annotated[
        Path | None,
        typer.Option(
            "--params",
            help="Parameter file replacing the shipped one (span: also a CME SPAN .pa2/.spn "
            "file, whose risk arrays are used; pm_grid: also a Deribit model_params response).",
        ),
    ] = None,
    also: Annotated[
        str | None,
        typer.Option("--also", help="A second model: charge the more conservative of the two."),
    ] = None,
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
) -> None:
    """Margin a book under one model: standalone vs grouped vs netted, and the benefit."""
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
    schedule = load_haircuts(haircuts)  # a bad haircut file fails before any work
    if model in VAR_MODELS:
        kwargs.update(var_kwargs)
    elif var_kwargs:
        given = ", ".join(
            "--" + k.replace("_method", "").replace("lam", "lambda") for k in var_kwargs
        )
        raise InputError(f"{given} appl{'ies' if len(var_kwargs) == 1 else 'y'} to "
                         f"--model {' or '.join(VAR_MODELS)} only, not {model}")  # fmt: skip
    grid = {k: v for k, v in {"mode": mode, "venue": venue}.items() if v is not None}
    if grid and model != "pm_grid":
        given = " and ".join(f"--{k}" for k in grid)
        raise InputError(f"{given} appl{'ies' if len(grid) == 1 else 'y'} to --model pm_grid "
                         f"only, not {model}")  # fmt: skip
    kwargs.update(grid)
    if model in VAR_MODELS or also in VAR_MODELS:
        kwargs["history"] = api.market_history(data, contracts=mine)
    chosen = api.make_model(model, also=also, **kwargs)  # bad names fail before any loading
    portfolio = api.load_book(
        book, collateral=collateral, contracts=mine, cross_margin=cross_margin
    )
    snapshot = api.market_for(portfolio, asof=asof, market=market, data_dir=data, contracts=mine)
    with working(f"margining {len(portfolio)} positions under {model} ...", quiet=json):
        result = api.margin(
            portfolio, snapshot, chosen, by=by, cap=cap, offsets=offsets, haircuts=schedule
        )
    run_id = None if no_store else api.record_margin(result, portfolio, snapshot, store)
    if json:
        print_json({"run_id": run_id, **result.to_dict()})
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
