"""Print the generated blocks of docs/collateral.md.

* ``haircut-table``: the shipped haircut schedule;
* ``equity-table``: the sample book's equity against its requirement under span and es
  (as of 2026-02-11);
* ``collateral-examples``: a synthetic dollar and an inverse long on coin against a linear
  long on dollars (as of 2025-06-02), margin and a -30% BTC stress, and the shipped stablecoin
  depeg scenarios on the sample book.

Usage: ``python scripts/collateral_tables.py [--data DIR] [--write]``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from crossmargin import api
from crossmargin.analysis.stress.common import HeldMargin
from crossmargin.analysis.stress.hypothetical import (
    Hypothetical,
    ShockEntry,
    hypothetical_stress,
    load_scenarios,
)
from crossmargin.collateral import CollateralHolding
from crossmargin.collateral.haircuts import load_haircuts
from crossmargin.collateral.tables import equity_markdown, haircut_markdown
from crossmargin.instruments import parse_symbol
from crossmargin.portfolio import Portfolio, Position
from crossmargin.report.docs import write_block

DOC = Path(__file__).resolve().parents[1] / "docs" / "collateral.md"
SAMPLE_ASOF = "2026-02-11"
EXAMPLE_ASOF = "2025-06-02"
DEPEGS = ("crypto-2025-10-10-usde-0.65", "usdc-0.878-2023-03-11")


def equity_table(data: str | None = None) -> str:
    book = api.sample_book()
    market = api.market_for(book, asof=SAMPLE_ASOF, data_dir=data)
    results = [api.margin(book, market, m) for m in ("span", "es")]
    return f"Market: {market.source}.\n\n" + equity_markdown(results)


def _m(x: float) -> str:
    """Whole currency units, no ``-0``."""
    text = f"{x:,.0f}"
    return "0" if text == "-0" else text


def _amount(x: float) -> str:
    return f"{x:,.6f}".rstrip("0").rstrip(".")


def _held(book: Portfolio) -> HeldMargin:
    zero = dict.fromkeys(book.accounts, 0.0)
    return HeldMargin(model="none", required=zero, standalone=zero)


def examples(data: str | None = None) -> str:
    history = api.market_history(data)
    market = api.market_for_underlyings(("BTC",), asof=EXAMPLE_ASOF, data_dir=data)
    s0 = market.spots["BTC"]
    notional = 1_000_000.0
    legs = [
        ("synthetic-usd", "BTC-PERPETUAL", -notional / 10.0),
        ("inverse-on-btc", "BTC-PERPETUAL", notional / 10.0),
        ("linear-on-usdc", "BTC_USDC-PERPETUAL", notional / s0 / 0.001),
    ]
    held = [
        CollateralHolding(account="synthetic-usd", asset="BTC", amount=notional / s0,
                          venue="deribit"),
        CollateralHolding(account="inverse-on-btc", asset="BTC", amount=notional / s0,
                          venue="deribit"),
        CollateralHolding(account="linear-on-usdc", asset="USDC", amount=notional,
                          venue="deribit"),
    ]  # fmt: skip
    book = Portfolio.from_positions(
        [Position(account=a, instrument=parse_symbol(s), quantity=q) for a, s, q in legs],
        collateral=held,
    )
    crash = Hypothetical(name="btc-30%", entries=(ShockEntry(spot=-0.30, underlying="BTC"),))
    (out,) = hypothetical_stress(book, market, _held(book), [crash])
    margins = {
        m: {
            a.account: a
            for a in api.margin(
                book, market, m, **({"history": history} if m == "es" else {})
            ).accounts
        }
        for m in ("span", "pm_grid", "es")
    }
    lines = [
        f"USD 1,000,000 of BTC exposure each, BTC at {s0:,.2f} USD; market: {market.source}. "
        f"Collateral worth USD 1,000,000 (BTC {notional / s0:.6f} or USDC 1,000,000), all at "
        "Deribit.",
        "",
        "| account | position | collateral | loss at BTC −30% (USD) | span (USD) | pm_grid (USD) "
        "| es (USD) | haircut (USD) |",
        "|---|---|---|---:|---:|---:|---:|---:|",
    ]
    for (account, symbol, qty), h in zip(legs, held, strict=True):
        e = margins["es"][account].equity
        lines.append(
            f"| {account} | {_amount(qty)} {symbol} | {_amount(h.amount)} {h.asset} "
            f"| {_m(out.account(account).loss)} | {_m(margins['span'][account].total)} "
            f"| {_m(margins['pm_grid'][account].total)} | {_m(margins['es'][account].total)} "
            f"| {_m(0.0 if e is None else e.haircut)} |"
        )
    sample = api.sample_book()
    smarket = api.market_for(sample, asof=SAMPLE_ASOF, data_dir=data)
    chosen = [h for h in load_scenarios() if h.name in DEPEGS]
    stressed = hypothetical_stress(sample, smarket, _held(sample), chosen)
    bare = Portfolio.from_positions(sample.raw)
    plain = hypothetical_stress(bare, smarket, _held(bare), chosen)
    lines += [
        "",
        "The shipped depeg scenarios on the sample book (market: "
        f"{smarket.source}): loss with the collateral revalued against the loss of the "
        "positions alone.",
        "",
        "| scenario | account | loss, positions and collateral (USD) | loss, positions alone (USD) "
        "| collateral's part (USD) |",
        "|---|---|---:|---:|---:|",
    ]
    for s, p in zip(stressed, plain, strict=True):
        for a in s.accounts:
            alone = p.account(a.account).loss
            lines.append(
                f"| {s.name} | {a.account} | {_m(a.loss)} | {_m(alone)} | {_m(a.loss - alone)} |"
            )
    return "\n".join(lines)


def blocks(data: str | None = None) -> dict[str, str]:
    return {
        "haircut-table": haircut_markdown(load_haircuts()),
        "equity-table": equity_table(data),
        "collateral-examples": examples(data),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None)
    parser.add_argument("--write", action="store_true", help="replace the blocks in the doc")
    args = parser.parse_args()
    for name, text in blocks(args.data).items():
        if args.write:
            write_block(DOC, name, text)
        else:
            print(f"--- {name}\n{text}\n")
    if args.write:
        print(f"wrote {DOC}")


if __name__ == "__main__":
    main()
