"""``crossmargin attribute``: each position's share of its account's requirement (Euler)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from crossmargin.cli.app import app, console, print_json, working
from crossmargin.cli.options import (
    AsofOpt,
    BookArg,
    CapOpt,
    CollateralOpt,
    DataOpt,
    JsonOpt,
    MarketOpt,
    OffsetsOpt,
)
from crossmargin.cli.value import money
from crossmargin.cli.var_options import (
    ApcOpt,
    ConfidenceOpt,
    LookbackOpt,
    MporOpt,
    var_model_kwargs,
)
from crossmargin.defaults import BUILTIN_MODELS
from crossmargin.errors import InputError
from crossmargin.lazy import lazy_module

if TYPE_CHECKING:
    from crossmargin import api
    from crossmargin.models import var as _var
else:
    api = lazy_module("crossmargin.api")
    _var = lazy_module("crossmargin.models.var")

BY = ("position", "underlying", "asset-class", "tier")
AttrModelOpt = Annotated[
    str,
    typer.Option("--model", help="Margin model: " + ", ".join([*BUILTIN_MODELS, "simm"]) + "."),
]
AttrByOpt = Annotated[
    str,
    typer.Option(
        "--by",
        help="Group contributions by position, underlying, asset-class "
        "or tier (standalone and each offset tier's credit).",
    ),
]
AccountOpt = Annotated[
    list[str] | None, typer.Option("--account", help="Only these accounts (repeatable).")
]


def model_options(model: str, data: Path | None, params: Path | None, **var: Any) -> dict[str, Any]:
    """Constructor keywords of ``model`` from the shared CLI options."""
    if model in _var.VAR_MODELS:
        kw = var_model_kwargs(data_dir=data, params=params, **var)
        return {k: v for k, v in kw.items() if v is not None}
    return {"params": params} if params is not None else {}


def attribution_table(att: Any, account: Any, by: str) -> Table:
    """One account's contributions grouped ``by`` (money in the attribution's currency)."""
    ccy = att.currency
    table = Table(
        title=f"{account.account} under {att.model}: requirement {money(account.total)} {ccy} "
        f"(Euler contributions sum to {money(account.contributions_sum)})",
        title_justify="left",
    )
    if by == "position":
        heads = [
            "position",
            "quantity",
            f"contribution ({ccy})",
            "share %",
            f"marginal ({ccy}/unit)",
            f"standalone ({ccy})",
            f"incremental ({ccy})",
        ]
        for h in heads:
            table.add_column(h, justify="left" if h == "position" else "right")
        for i in account.items:
            table.add_row(
                i.name,
                f"{i.quantity:,.4g}",
                money(i.contribution),
                f"{100 * i.contribution / account.total if account.total else 0:.1f}",
                f"{i.marginal:,.4g}",
                "" if i.standalone is None else money(i.standalone),
                "" if i.incremental is None else money(i.incremental),
            )
        return table
    table.add_column(by)
    table.add_column(f"contribution ({ccy})", justify="right")
    table.add_column("share %", justify="right")
    for group, value in account.by(by):
        share = 100 * value / account.total if account.total else 0.0
        table.add_row(group, money(value), f"{share:.1f}")
    if by == "tier":
        table.add_row("[bold]requirement[/]", money(account.total), "100.0")
    return table


@app.command("attribute")
def attribute_command(
    book: BookArg,
    model: AttrModelOpt = "es",
    by: AttrByOpt = "position",
    account: AccountOpt = None,
    collateral: CollateralOpt = None,
    offsets: OffsetsOpt = "emir",
    cap: CapOpt = None,
    asof: AsofOpt = None,
    market: MarketOpt = None,
    data: DataOpt = None,
    params: Annotated[
        Path | None, typer.Option("--params", help="Parameter file replacing the shipped one.")
    ] = None,
    incremental: Annotated[
        bool,
        typer.Option(
            "--incremental/--no-incremental", help="Also run every account without each position."
        ),
    ] = True,
    simm_version: Annotated[str, typer.Option("--simm-version", help="SIMM version.")] = "2.6",
    confidence: ConfidenceOpt = None,
    lookback: LookbackOpt = None,
    mpor: MporOpt = None,
    apc: ApcOpt = None,
    json: JsonOpt = False,
) -> None:
    """Euler attribution of each account's requirement to its positions, underlyings, asset
    classes or offset tiers, with marginal and incremental margin (docs/capital.md)."""
    if by not in BY:
        raise InputError(f"unknown --by {by!r}: use {', '.join(BY)}")
    if model == "simm" and by == "tier":
        raise InputError(
            "simm margins each account as one netting set: no offset tiers; use "
            "--by position, underlying or asset-class"
        )
    portfolio = api.load_book(book, collateral=collateral)
    for name in account or []:
        portfolio.account(name)
    snapshot = api.market_for(portfolio, asof=asof, market=market, data_dir=data)
    kwargs = (
        {}
        if model == "simm"
        else model_options(
            model, data, params, confidence=confidence, lookback=lookback, mpor=mpor, apc=apc
        )
    )
    with working(f"attributing under {model} ...", quiet=json):
        att = api.attribute(
            portfolio,
            snapshot,
            model,
            offsets=offsets,
            cap=cap,
            incremental=incremental,
            simm_version=simm_version,
            **kwargs,
        )
    shown = [a for a in att.accounts if not account or a.account in account]
    if json:
        body = att.to_dict(by=by)
        body["accounts"] = [a for a in body["accounts"] if not account or a["account"] in account]
        print_json({**body, "valuation_time": snapshot.valuation_time.isoformat()})
        return
    console.print(f"[dim]market: {snapshot.source or 'snapshot'}; method: {att.method}[/]")
    for acc in shown:
        console.print(attribution_table(att, acc, by))
