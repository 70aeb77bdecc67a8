"""Print the docs/capital.md tables: attribution, best hedges, allocation, freed capital and ROE.

Usage: ``python scripts/capital_table.py [--asof DATE] [--data DIR] [--write]`` (default as of
2026-02-11, the sample book under ``es``); ``--write`` replaces the block between the
``capital-table`` markers in docs/capital.md.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from crossmargin import api
from crossmargin.analysis.optimise import HedgeLimits, parse_venues
from crossmargin.market.history import MarketHistory
from crossmargin.report.capital import HEDGE_NOTIONAL_SHARE, gross_notional
from crossmargin.report.docs import write_block

DOC = Path(__file__).resolve().parents[1] / "docs" / "capital.md"
BLOCK = "capital-table"
ASOF = "2026-02-11"
MODEL = "es"
VENUES = {
    "description": "a Deribit portfolio-margin account and a cross-margined prime account",
    "venues": [
        {"name": "deribit-pm", "model": "pm_grid", "eligible": {"styles": ["deribit"]}},
        {"name": "prime-es", "model": "es"},
    ],
}


def _m(x: float | None) -> str:
    return "" if x is None else f"{x:,.0f}"


def _p(x: float | None) -> str:
    return "" if x is None else f"{100 * x:.1f}"


def attribution_rows(att: Any) -> list[str]:
    ccy = att.currency
    out = [
        f"| account | position | quantity | contribution ({ccy}) | share % | marginal "
        f"({ccy}/contract) | standalone ({ccy}) | incremental ({ccy}) |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for acc in att.accounts:
        for i in acc.items:
            share = 100 * i.contribution / acc.total if acc.total else 0.0
            out.append(
                f"| {acc.account} | `{i.name.strip()}` | {i.quantity:,.6g} | {_m(i.contribution)} "
                f"| {share:.1f} | {i.marginal:,.2f} | {_m(i.standalone)} | {_m(i.incremental)} |"
            )
        out.append(
            f"| {acc.account} | **requirement** | | **{_m(acc.total)}** | 100.0 | | "
            f"{_m(acc.standalone)} | |"
        )
    return out


def hedge_rows(book: Any, market: Any, model: Any) -> list[str]:
    ccy = market.reporting_currency
    out = [
        f"| account | max notional ({ccy}) | trades (contracts) | netting-set margin before "
        f"({ccy}) | after ({ccy}) | greedy ({ccy}) | requirement before ({ccy}) | after "
        f"({ccy}) | saving ({ccy}) |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for acc in book.accounts:
        limit = HEDGE_NOTIONAL_SHARE * gross_notional(book, acc, market)
        r = api.hedge(
            book,
            acc,
            market,
            model,
            limits=HedgeLimits(max_notional=limit),
            mip_rel_gap=0.0,
            time_limit=60.0,
        )
        trades = ", ".join(f"`{t.symbol.strip()}` {t.quantity:+,.0f}" for t in r.trades)
        out.append(
            f"| {acc} | {_m(limit)} | {trades or 'none'} | {_m(r.margin_before)} | "
            f"{_m(r.verified)} | {_m(r.greedy)} | {_m(r.requirement_before)} | "
            f"{_m(r.requirement_after)} | {_m(r.saving)} |"
        )
    return out


def allocation_rows(book: Any, market: Any, history: MarketHistory) -> list[str]:
    venues = parse_venues(VENUES, "docs/capital.md")
    r = api.allocate(book, market, venues, split=True, time_limit=60.0, mip_rel_gap=0.0)
    ccy = r.currency
    names = [v.name for v in r.venues]
    out = [
        f"| method | {' | '.join(f'{n} ({ccy})' for n in names)} | total ({ccy}) |",
        "|---|" + "---:|" * (len(names) + 1),
    ]
    for p in r.plans:
        out.append(f"| {p.method} | {' | '.join(_m(m) for m in p.margins)} | {_m(p.total)} |")
    gap = "n/a" if r.gap is None else f"{100 * r.gap:.3f}%"
    out += [
        "",
        f"Isolated (every position alone at its cheapest venue): {_m(r.isolated)} {ccy}; "
        f"best ({r.best.method}): {_m(r.best.total)} {ccy}; saving {_m(r.saving)} {ccy}; "
        f"optimality gap {gap}.",
        "",
        "| position | quantity | venue (contracts) |",
        "|---|---:|---|",
    ]
    for row in r.to_dict()["allocation"]:
        where = ", ".join(f"{k} {v:,.0f}" for k, v in row["venues"].items())
        out.append(f"| `{row['symbol'].strip()}` | {row['quantity']:,.0f} | {where} |")
    return out


def capital_rows(book: Any, market: Any, history: MarketHistory) -> list[str]:
    r = api.capital(book, market, MODEL, cash="isolated", liquidation=True)
    ccy = r.currency
    out = [
        f"Funding rate {100 * r.rate:.2f}% a year ({r.rate_source}); strategy return "
        f"{100 * r.strategy_return:.0f}% a year on isolated capital; each account funded with "
        "its isolated requirement.",
        "",
        f"| account | isolated ({ccy}) | requirement ({ccy}) | freed ({ccy}) | funding value "
        f"({ccy}/yr) | ROE isolated (%/yr) | ROE cross (%/yr) | uplift (pp) | utilisation (%) | "
        "liquidation distance (sd) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for a in r.accounts:
        d = a.liquidation_distance
        dist = (
            f"{d:.2f}"
            if d is not None
            else (f"> {a.liquidation.max_distance:g}" if a.liquidation is not None else "")
        )
        out.append(
            f"| {a.account} | {_m(a.isolated)} | {_m(a.requirement)} | {_m(a.freed)} | "
            f"{_m(a.funding_value)} | {_p(a.roe_isolated)} | {_p(a.roe_cross)} | "
            f"{_p(a.roe_uplift)} | {_p(a.utilisation)} | {dist} |"
        )
    t = r.totals()
    out.append(
        f"| **total** | {_m(t['isolated'])} | {_m(t['requirement'])} | "
        f"{_m(t['freed'])} | {_m(t['funding_value'])} | | | | | |"
    )
    return out


def table(asof: str = ASOF, data: str | None = None) -> str:
    """The whole generated block."""
    history = MarketHistory.load(data)
    book = api.sample_book()
    market = api.market_for(book, asof=asof, data_dir=data)
    model = api.make_model(MODEL, history=history)
    att = api.attribute(book, market, model)
    parts = [
        f"Market: {market.source}; model `{MODEL}` with its file defaults; offsets `emir`.",
        "",
        "**Attribution** (Euler contributions; they sum to each account's requirement):",
        "",
        *attribution_rows(att),
        "",
        f"**Best hedge per account** (default universe, integer contracts, max notional "
        f"{100 * HEDGE_NOTIONAL_SHARE:g}% of the account's gross notional; verified through "
        "what-if):",
        "",
        *hedge_rows(book, market, model),
        "",
        "**Best allocation across two venues** (a Deribit `pm_grid` account that may hold "
        "Deribit contracts, and a prime `es` account that may hold everything; positions may be "
        "split across the two in whole contracts):",
        "",
        *allocation_rows(book, market, history),
        "",
        "**Freed capital and ROE**:",
        "",
        *capital_rows(book, market, history),
    ]
    return "\n".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--asof", default=ASOF)
    parser.add_argument("--data", default=None)
    parser.add_argument("--write", action="store_true", help="replace the block in the doc")
    args = parser.parse_args()
    text = table(args.asof, args.data)
    if args.write:
        write_block(DOC, BLOCK, text)
        print(f"wrote {DOC}")
    else:
        print(text)


if __name__ == "__main__":
    main()
