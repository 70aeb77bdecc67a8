"""``crossmargin optimise hedge|allocate|capital``: capital efficiency (docs/capital.md)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from crossmargin.cli.app import app, console, print_json, working
from crossmargin.cli.attribute import AccountOpt, model_options
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
from crossmargin.defaults import BUILTIN_MODELS
from crossmargin.errors import InputError
from crossmargin.lazy import lazy_module

if TYPE_CHECKING:
    from crossmargin import api
else:
    api = lazy_module("crossmargin.api")

optimise_app = typer.Typer(
    no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False
)
app.add_typer(
    optimise_app,
    name="optimise",
    help="Capital efficiency: the margin-minimising hedge, allocation across venues, capital "
    "figures.",
)
ModelOpt = Annotated[
    str, typer.Option("--model", help="Margin model: " + ", ".join(BUILTIN_MODELS) + ".")
]
ParamsOpt = Annotated[
    Path | None, typer.Option("--params", help="Parameter file replacing the shipped one.")
]
RateOpt = Annotated[
    float | None,
    typer.Option(
        "--rate",
        help="Funding rate, decimal per year (0.0365); default SOFR on the "
        "market date from the history.",
    ),
]


def parse_band(text: str) -> tuple[str, tuple[float, float]]:
    """``[UNDERLYING=]LOW:HIGH`` (USD delta) as ``(underlying or '*', (low, high))``."""
    und, sep, rest = text.rpartition("=")
    band = rest if sep else text
    lo, colon, hi = band.partition(":")
    try:
        if not colon:
            raise ValueError
        return (und.strip() or "*") if sep else "*", (float(lo), float(hi))
    except ValueError:
        raise InputError(
            f"--delta-band {text!r}: use LOW:HIGH or UNDERLYING=LOW:HIGH "
            "(USD delta, e.g. BTC=-50000:50000)"
        ) from None


def _rate(rate: float | None, snapshot: Any, data: Path | None) -> float:
    if rate is not None:
        return rate
    from crossmargin.analysis.optimise.capital import funding_rate
    from crossmargin.market.history import MarketHistory

    return funding_rate(snapshot, MarketHistory.load(data))[0]


def hedge_table(r: Any) -> Table:
    """The trades of a hedge."""
    ccy = r.currency
    table = Table(title=f"Hedge of {r.account} under {r.model} ({r.method})", title_justify="left")
    for h in ("trade", "quantity (contracts)", f"cost ({ccy})", f"premium ({ccy})"):
        table.add_column(h, justify="left" if h == "trade" else "right")
    for t in r.trades:
        table.add_row(t.symbol, f"{t.quantity:+,.4g}", money(t.cost), money(t.premium))
    return table


@optimise_app.command("hedge")
def hedge_command(
    book: BookArg,
    account: Annotated[str, typer.Option("--account", help="The account to hedge.")],
    model: ModelOpt = "es",
    universe: Annotated[
        Path | None,
        typer.Option(
            "--universe",
            help="Hedge universe file (JSON; default: "
            "futures, perpetuals and near-the-money options of the "
            "account's underlyings).",
        ),
    ] = None,
    objective: Annotated[
        str,
        typer.Option(
            "--objective",
            help="margin, or margin+cost (funding of the margin "
            "over the horizon plus bid/ask and premium funding).",
        ),
    ] = "margin",
    max_notional: Annotated[
        float | None,
        typer.Option("--max-notional", min=0.0, help="Largest total notional traded, USD."),
    ] = None,
    delta_band: Annotated[
        list[str] | None,
        typer.Option(
            "--delta-band",
            help="[UNDERLYING=]LOW:HIGH: USD delta band after the hedge (repeatable).",
        ),
    ] = None,
    continuous: Annotated[
        bool, typer.Option("--continuous", help="Allow fractional contracts (an LP).")
    ] = False,
    rate: RateOpt = None,
    horizon_days: Annotated[
        float, typer.Option("--horizon-days", help="Funding horizon, calendar days.")
    ] = 365.0,
    greedy: Annotated[
        bool, typer.Option("--greedy/--no-greedy", help="Also run the greedy baseline.")
    ] = True,
    time_limit: Annotated[float, typer.Option("--time-limit", help="Seconds for HiGHS.")] = 10.0,
    collateral: CollateralOpt = None,
    offsets: OffsetsOpt = "emir",
    cap: CapOpt = None,
    asof: AsofOpt = None,
    market: MarketOpt = None,
    data: DataOpt = None,
    params: ParamsOpt = None,
    json: JsonOpt = False,
) -> None:
    """The trade that minimises the account's margin (or margin plus cost) within the limits,
    verified on the model through what-if."""
    from crossmargin.analysis.optimise import CostModel, HedgeLimits, load_universe

    portfolio = api.load_book(book, collateral=collateral)
    portfolio.account(account)
    cands = load_universe(universe) if universe is not None else None
    bands = dict(parse_band(b) for b in delta_band or [])
    limits = HedgeLimits(max_notional=max_notional, delta_bands=bands, integer=not continuous)
    unds = tuple(
        dict.fromkeys(
            [
                *portfolio.subset([account]).priced_underlyings,
                *(c.instrument.underlying for c in cands or ()),
            ]
        )
    )
    snapshot = api.market_for_underlyings(unds, asof=asof, market=market, data_dir=data)
    funding = _rate(rate, snapshot, data) if objective != "margin" or rate is not None else 0.0
    costs = CostModel(objective=objective, rate=funding, horizon_days=horizon_days)
    chosen = api.make_model(model, **model_options(model, data, params))
    with working(f"optimising the hedge of {account} ...", quiet=json):
        r = api.hedge(
            portfolio,
            account,
            snapshot,
            chosen,
            universe=cands,
            limits=limits,
            costs=costs,
            offsets=offsets,
            cap=cap,
            greedy=greedy,
            time_limit=time_limit,
        )
    if json:
        body = r.to_dict()
        print_json({**body, "valuation_time": snapshot.valuation_time.isoformat()})
        return
    ccy = r.currency
    console.print(f"[dim]market: {snapshot.source or 'snapshot'}; {r.candidates} candidates[/]")
    console.print(hedge_table(r))
    console.print(
        f"netting-set margin {money(r.margin_before)} -> {money(r.verified)} {ccy} (the LP "
        f"promised {money(r.promised)}); requirement {money(r.requirement_before)} -> "
        f"{money(r.requirement_after)} {ccy}, saving {money(r.saving)} {ccy}",
        highlight=False,
    )
    gap = "" if r.gap is None else f", MIP gap {100 * r.gap:.3f}%"
    greedy_text = "" if r.greedy is None else f"; greedy baseline {money(r.greedy)} {ccy}"
    console.print(f"{r.method}{gap}, {r.seconds:.2f} s{greedy_text}", highlight=False)
    for note in r.notes:
        console.print(f"[dim]note: {note}[/]", highlight=False)


@optimise_app.command("allocate")
def allocate_command(
    book: BookArg,
    venues: Annotated[
        Path,
        typer.Option("--venues", help="Venues file (JSON: name, model, parameters, eligible)."),
    ],
    account: AccountOpt = None,
    split: Annotated[
        bool,
        typer.Option("--split", help="Split positions across venues (else assign each to one)."),
    ] = False,
    time_limit: Annotated[float, typer.Option("--time-limit", help="Seconds for HiGHS.")] = 30.0,
    asof: AsofOpt = None,
    market: MarketOpt = None,
    data: DataOpt = None,
    json: JsonOpt = False,
) -> None:
    """Assign (or split) the book's positions across venues to minimise total margin (MILP),
    against greedy and submodular baselines, with the saving and the optimality gap."""
    from crossmargin.analysis.optimise import load_venues

    chosen = load_venues(venues)
    portfolio = api.load_book(book)
    for name in account or []:
        portfolio.account(name)
    snapshot = api.market_for(portfolio, asof=asof, market=market, data_dir=data)
    with working("allocating ...", quiet=json):
        r = api.allocate(
            portfolio,
            snapshot,
            chosen,
            accounts=account,
            split=split,
            time_limit=time_limit,
            data_dir=data,
        )
    if json:
        print_json({**r.to_dict(), "valuation_time": snapshot.valuation_time.isoformat()})
        return
    ccy = r.currency
    plans = Table(title=f"Allocation across {len(r.venues)} venues ({ccy})", title_justify="left")
    plans.add_column("method")
    for v in r.venues:
        plans.add_column(f"{v.name} ({v.model})", justify="right")
    plans.add_column("total", justify="right")
    plans.add_column("seconds", justify="right")
    for p in r.plans:
        plans.add_row(p.method, *[money(m) for m in p.margins], money(p.total), f"{p.seconds:.2f}")
    console.print(plans)
    rows = Table(title=f"Best: {r.best.method}", title_justify="left")
    rows.add_column("position")
    rows.add_column("quantity", justify="right")
    rows.add_column("venues (contracts)")
    for row in r.to_dict()["allocation"]:
        split_text = ", ".join(f"{k} {v:,.4g}" for k, v in row["venues"].items())
        rows.add_row(row["symbol"], f"{row['quantity']:,.4g}", split_text)
    console.print(rows)
    gap = "n/a (a venue's form is not its model)" if r.gap is None else f"{100 * r.gap:.3f}%"
    console.print(
        f"isolated {money(r.isolated)} {ccy}; best {money(r.best.total)} {ccy}; "
        f"saving {money(r.saving)} {ccy}; optimality gap {gap}",
        highlight=False,
    )
    for note in r.notes:
        console.print(f"[dim]note: {note}[/]", highlight=False)


def _pct(x: float | None) -> str:
    return "" if x is None else f"{100 * x:.1f}"


@optimise_app.command("capital")
def capital_command(
    book: BookArg,
    model: ModelOpt = "es",
    rate: RateOpt = None,
    strategy_return: Annotated[
        float,
        typer.Option(
            "--strategy-return", help="Strategy return on isolated capital, decimal per year."
        ),
    ] = 0.10,
    cash: Annotated[
        str | None,
        typer.Option(
            "--cash",
            help="Extra cash per account (reporting currency), "
            "or 'isolated' (each funded with its isolated requirement).",
        ),
    ] = None,
    liquidation: Annotated[
        bool,
        typer.Option(
            "--liquidation/--no-liquidation",
            help="Reverse-stress each account to its maintenance breach.",
        ),
    ] = True,
    collateral: CollateralOpt = None,
    offsets: OffsetsOpt = "emir",
    cap: CapOpt = None,
    asof: AsofOpt = None,
    market: MarketOpt = None,
    data: DataOpt = None,
    json: JsonOpt = False,
) -> None:
    """Capital freed by cross margining, its funding value, ROE uplift, utilisation and the
    distance to a maintenance breach, per account."""
    amount: float | str | None = cash
    if cash is not None and cash != "isolated":
        try:
            amount = float(cash)
        except ValueError:
            raise InputError(f"--cash {cash!r}: give an amount or 'isolated'") from None
    portfolio = api.load_book(book, collateral=collateral)
    snapshot = api.market_for(portfolio, asof=asof, market=market, data_dir=data)
    with working("capital figures ...", quiet=json):
        r = api.capital(
            portfolio,
            snapshot,
            model,
            data_dir=data,
            rate=rate,
            strategy_return=strategy_return,
            cash=amount,
            offsets=offsets,
            cap=cap,
            liquidation=liquidation,
        )
    if json:
        print_json({**r.to_dict(), "valuation_time": snapshot.valuation_time.isoformat()})
        return
    ccy = r.currency
    table = Table(
        title=f"Capital under {r.model} ({ccy}; rate {100 * r.rate:.2f}%/yr from "
        f"{r.rate_source}; strategy {100 * r.strategy_return:.1f}%/yr)",
        title_justify="left",
    )
    heads = [
        "account",
        f"isolated ({ccy})",
        f"requirement ({ccy})",
        f"freed ({ccy})",
        f"funding ({ccy}/yr)",
        "ROE iso %/yr",
        "ROE cross %/yr",
        "uplift pp",
        "utilisation %",
        "liquidation distance (sd)",
    ]
    for h in heads:
        table.add_column(h, justify="left" if h == "account" else "right")
    for a in r.accounts:
        liq = a.liquidation_distance
        dist = (
            f"{liq:.2f}"
            if liq is not None
            else (f"> {a.liquidation.max_distance:g}" if a.liquidation is not None else "")
        )
        table.add_row(
            a.account,
            money(a.isolated),
            money(a.requirement),
            money(a.freed),
            money(a.funding_value),
            _pct(a.roe_isolated),
            _pct(a.roe_cross),
            _pct(a.roe_uplift),
            _pct(a.utilisation),
            dist,
        )
    console.print(table)
