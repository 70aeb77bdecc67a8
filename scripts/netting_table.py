"""Print the docs/netting.md tier table: the sample book's offset tiers under span, pm_grid, es.

Usage: ``python scripts/netting_table.py [--asof DATE] [--data DIR] [--write]`` (default as-of
2026-02-11, the sample book's reference date); ``--write`` replaces the table in
docs/netting.md (between the ``tier-table`` markers) and the ineligible-offset example
(``ineligible-example``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from crossmargin import api
from crossmargin.netting.table import tier_markdown
from crossmargin.report.docs import write_block

DOC = Path(__file__).resolve().parents[1] / "docs" / "netting.md"
BLOCK = "tier-table"
MODELS = ("span", "pm_grid", "es")


def table(asof: str, data: str | None = None) -> str:
    """The block's text: market line and the tier table."""
    book = api.sample_book()
    market = api.market_for(book, asof=asof, data_dir=data)
    results = [api.margin(book, market, m) for m in MODELS]
    return f"Market: {market.source}; offset policy `emir`.\n\n" + tier_markdown(results)


INELIGIBLE = "ineligible-example"


def ineligible_example(data: str | None = None) -> str:
    """The block's text: long BTC perpetual vs short E-mini on 2019-06-28 under each model,
    with the emir policy and with every offset granted."""
    from crossmargin.instruments import parse_symbol
    from crossmargin.portfolio import Portfolio, Position

    book = Portfolio.from_positions(
        [
            Position(account="btc-vs-es", instrument=parse_symbol("BTC-PERPETUAL"), quantity=1e5),
            Position(
                account="btc-vs-es",
                instrument=parse_symbol("ESU9", reference_year=2019),
                quantity=-10.0,
            ),
        ]
    )
    market = api.market_for(book, asof="2019-06-28", data_dir=data)
    lines = [
        "Book: 100,000 BTC-PERPETUAL (USD 1M face) and -10 ESU9, as of 2019-06-28.",
        "",
        "| model | netted N (USD) | asset-class sum B (USD) | requirement, emir (USD) "
        "| requirement, every offset granted (USD) | BTC/SPX ρ 12M (bound) | ρ stressed (bound) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for model in MODELS:
        acc = api.margin(book, market, model).accounts[0]
        free = api.margin(book, market, model, offsets="none").accounts[0]
        top = next(t for t in acc.tiers if t.tier == "netting-set").groups[0]
        (test,) = top.tests
        lb, st = test["lookback"], test["stressed"]
        lines.append(
            f"| {model} | {top.margin:,.0f} | {top.base:,.0f} | {acc.total:,.0f} "
            f"| {free.total:,.0f} | {lb['rho']:+.2f} ({lb['lower_bound']:+.2f}) "
            f"| {st['rho']:+.2f} ({st['lower_bound']:+.2f}) |"
        )
    lines += ["", f"Stressed window: {test['stressed_source']}. Test: {test['reason']}."]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--asof", default="2026-02-11")
    parser.add_argument("--data", default=None)
    parser.add_argument("--write", action="store_true", help="replace the table in the doc")
    args = parser.parse_args()
    text = table(args.asof, args.data)
    example = ineligible_example(args.data)
    if args.write:
        write_block(DOC, BLOCK, text)
        write_block(DOC, INELIGIBLE, example)
        print(f"wrote {DOC}")
    else:
        print(text, example, sep="\n\n")


if __name__ == "__main__":
    main()
