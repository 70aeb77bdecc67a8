"""``crossmargin value``: mark-to-market, net MTM per account and Greeks per underlying."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.table import Table

from crossmargin.cli.app import app, console, print_json
from crossmargin.cli.options import (
    AsofOpt,
    BookArg,
    ContractsOpt,
    DataOpt,
    JsonOpt,
    MarketOpt,
    contracts_of,
)
from crossmargin.errors import PricingError
from crossmargin.lazy import lazy_module
from crossmargin.limits import check_finite

if TYPE_CHECKING:
    from crossmargin import api
    from crossmargin.pricing import mtm as _mtm
else:
    api = lazy_module("crossmargin.api")
    _mtm = lazy_module("crossmargin.pricing.mtm")


def money(x: float) -> str:
    """Whole currency units with thousands separators (no ``-0`` for a rounding residue)."""
    text = f"{x:,.0f}"
    return "0" if text == "-0" else text


def valuation_tables(v: _mtm.BookValuation) -> list[Table]:
    """Rich tables for a valuation: accounts, then Greeks per account and underlying."""
    ccy = v.currency
    accounts = Table(title=f"Mark-to-market per account ({ccy})", title_justify="left")
    for col in ("account", "net MTM", "gross +", "gross −"):
        accounts.add_column(col, justify="left" if col == "account" else "right")
    for a in v.accounts:
        accounts.add_row(
            a.account, money(a.net_mtm), money(a.gross_positive), money(a.gross_negative)
        )
    accounts.add_row("[bold]total[/]", f"[bold]{money(v.net_mtm)}[/]", "", "")
    greeks = Table(
        title=f"Greeks per underlying ({ccy}; --json: vega per 1.00 vol, theta per year)",
        title_justify="left",
    )
    cols = ("account", "underlying", f"spot ({ccy})", "delta (units)", f"$ delta ({ccy})",
            f"gamma (units/{ccy})", f"vega ({ccy}/vol pt)", f"theta ({ccy}/day)")  # fmt: skip
    for col in cols:
        greeks.add_column(col, justify="left" if col in ("account", "underlying") else "right")
    for a in v.accounts:
        for g in a.greeks:
            greeks.add_row(
                a.account,
                g.underlying,
                f"{g.spot:,.2f}",
                f"{g.delta:,.4g}",
                money(g.dollar_delta),
                f"{g.gamma:,.4g}",
                money(g.vega / 100.0),
                money(g.theta / 365.0),
            )
    return [accounts, greeks]


@app.command("value")
def value_command(
    book: BookArg,
    asof: AsofOpt = None,
    market: MarketOpt = None,
    data: DataOpt = None,
    contracts: ContractsOpt = None,
    json: JsonOpt = False,
) -> None:
    """Mark-to-market, net MTM per account and Greeks per underlying."""
    mine = contracts_of(contracts)
    portfolio = api.load_book(book, contracts=mine)
    snapshot = api.market_for(portfolio, asof=asof, market=market, data_dir=data, contracts=mine)
    result = api.value(portfolio, snapshot)
    payload = result.to_dict()
    check_finite(payload, what="valuation", error=PricingError)
    if json:
        print_json(payload)
        return
    console.print(f"[dim]market: {snapshot.source or 'snapshot'} at {result.valuation_time}[/]")
    for table in valuation_tables(result):
        console.print(table)
