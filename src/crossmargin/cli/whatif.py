"""``crossmargin what-if``: an account's requirement and equity before and after trades."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from crossmargin.cli.app import app, console, print_json, working
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
    HaircutsOpt,
    JsonOpt,
    MarketOpt,
    OffsetsOpt,
    contracts_of,
)
from crossmargin.cli.value import money
from crossmargin.defaults import DEFAULT_MODEL
from crossmargin.errors import InputError
from crossmargin.lazy import lazy_module
from crossmargin.limits import check_finite

if TYPE_CHECKING:
    from crossmargin import api
    from crossmargin import portfolio as _portfolio
    from crossmargin.collateral import haircuts as _haircuts
else:
    api = lazy_module("crossmargin.api")
    _haircuts = lazy_module("crossmargin.collateral.haircuts")
    _portfolio = lazy_module("crossmargin.portfolio")


TradeOpt = Annotated[
    list[str],
    typer.Option(
        "--trade",
        help="A proposed trade SYMBOL:QUANTITY or SYMBOL:QUANTITY@PRICE (contracts; the price "
        "in the instrument's unit). Repeat for several.",
    ),
]


def parse_trade(text: str) -> dict[str, Any]:
    """``SYMBOL:QTY[@PRICE]`` as a trade row; InputError naming the text if malformed."""
    symbol, sep, rest = text.rpartition(":")
    if not sep or not symbol.strip():
        raise InputError(f"--trade {text!r}: use SYMBOL:QUANTITY or SYMBOL:QUANTITY@PRICE")
    qty_text, _, price_text = rest.partition("@")
    try:
        row: dict[str, Any] = {"symbol": symbol.strip(), "quantity": float(qty_text)}
        if price_text:
            row["trade_price"] = float(price_text)
    except ValueError:
        raise InputError(
            f"--trade {text!r}: quantity and price must be numbers (SYMBOL:QUANTITY@PRICE)"
        ) from None
    return row


def what_if_table(result: api.WhatIfResult) -> Table:
    """Before and after, side by side."""
    ccy = result.after.currency
    before, after = result.before.accounts[0].equity, result.after.accounts[0].equity
    table = Table(
        title=f"What-if for {result.account} under {result.after.model} ({ccy})",
        title_justify="left",
    )
    for col in ("", "before", "after", "change"):
        table.add_column(col, justify="left" if not col else "right")

    def row(label: str, b: float | None, a: float | None) -> None:
        change = "" if a is None or b is None else money(a - b)
        table.add_row(label, "" if b is None else money(b), "" if a is None else money(a), change)

    row("initial margin", before.initial_margin, after.initial_margin)
    row("maintenance margin", before.maintenance_margin, after.maintenance_margin)
    row("collateral after haircut", before.collateral_after_haircut, after.collateral_after_haircut)
    row("MTM", before.mtm, after.mtm)
    row("equity", before.equity, after.equity)
    row("excess", before.excess, after.excess)
    for label, b2, a2 in (
        ("margin ratio (equity / MM)", before.margin_ratio, after.margin_ratio),
        ("utilisation (IM / equity)", before.utilisation, after.utilisation),
    ):
        table.add_row(
            label,
            "" if b2 is None else f"{b2:.2%}",
            "" if a2 is None else f"{a2:.2%}",
            "",
        )
    return table


@app.command("what-if")
def what_if_command(
    book: BookArg,
    account: Annotated[str, typer.Option("--account", help="The account that trades.")],
    trade: TradeOpt,
    model: Annotated[str, typer.Option("--model", help="Margin model.")] = DEFAULT_MODEL,
    also: AlsoOpt = None,
    cash: Annotated[
        float,
        typer.Option("--cash", min=0.0, help="Extra cash collateral in the reporting currency."),
    ] = 0.0,
    collateral: CollateralOpt = None,
    cross_margin: CrossMarginOpt = None,
    haircuts: HaircutsOpt = None,
    contracts: ContractsOpt = None,
    by: ByOpt = "underlying",
    cap: CapOpt = None,
    offsets: OffsetsOpt = "emir",
    asof: AsofOpt = None,
    market: MarketOpt = None,
    data: DataOpt = None,
    params: Annotated[
        Path | None, typer.Option("--params", help="Parameter file replacing the shipped one.")
    ] = None,
    json: JsonOpt = False,
) -> None:
    """An account's initial and maintenance margin, equity, excess and margin ratio before
    and after proposed trades (the trades pay their premium from cash)."""
    if not trade:
        raise InputError("give at least one --trade SYMBOL:QUANTITY")
    trades = [parse_trade(t) for t in trade]
    kwargs: dict[str, Any] = {"params": params} if params is not None else {}
    mine = contracts_of(contracts)
    schedule = _haircuts.load_haircuts(haircuts)  # a bad haircut file fails before any work
    if model in ("es", "hvar") or also in ("es", "hvar"):
        kwargs["history"] = api.market_history(data, contracts=mine)
    chosen = api.make_model(model, also=also, **kwargs)  # bad names fail before any loading
    portfolio = api.load_book(
        book, collateral=collateral, contracts=mine, cross_margin=cross_margin
    )
    portfolio.account(account)  # unknown account: a clear error before the market is built
    table = None if mine is None else mine.table
    traded = _portfolio.parse_rows(
        [{**t, "account": account} for t in trades], source="--trade", table=table
    )
    # the same date `crossmargin margin` picks for the book, unless the trades need more
    unds = tuple(dict.fromkeys(portfolio.priced_underlyings + traded.underlyings))
    snapshot = api.market_for_underlyings(
        unds, asof=asof, market=market, data_dir=data, contracts=mine
    )
    with working(f"what-if of {len(trades)} trade(s) for {account} ...", quiet=json):
        result = api.what_if(
            portfolio, account, trades, snapshot, chosen, collateral=cash, by=by, cap=cap,
            offsets=offsets, haircuts=schedule, contracts=mine,
        )  # fmt: skip
    payload = result.to_dict()
    check_finite(payload, what="what-if result")
    if json:
        print_json({**payload, "valuation_time": snapshot.valuation_time.isoformat()})
        return
    console.print(f"[dim]market: {snapshot.source or 'snapshot'}[/]")
    console.print(what_if_table(result))
    verdict = "passes" if result.passes else "does NOT pass"
    console.print(
        f"incremental initial margin {money(result.incremental)} {result.after.currency}; "
        f"premium paid {money(result.premium)}; the account {verdict} "
        f"(excess {money(result.excess)})",
        highlight=False,
    )
