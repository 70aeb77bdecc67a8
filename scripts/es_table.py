"""Real-data table of docs/models/es.md: 99% 2-day ES of long 1 BTC vs short SPX.

One portfolio per as-of date with three accounts, each margined on its own netting set:
``btc`` long 1 BTC spot (``BTC_USDC``, crypto calendar: every day), ``es`` short the front
quarterly E-mini S&P 500 future (``ES``, 50 USD x index) sized to the same notional,
``−S_BTC / (50·S_SPX)`` contracts (NYSE sessions), and ``book`` holding both (NYSE sessions:
the joint calendar). Market: :func:`crossmargin.market.builder.snapshot_from_history` on each
date. Model: ``es`` with its file defaults (99%, 12-month lookback, 2-step MPOR, overlapping
moves, no APC), HS and FHS (λ = 0.97). Run ``python scripts/es_table.py`` to print the table,
``--write`` to replace it in docs/models/es.md (between the ``es-table`` markers).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from crossmargin.instruments import parse_symbol
from crossmargin.market.builder import snapshot_from_history
from crossmargin.market.history import MarketHistory
from crossmargin.models.var import ExpectedShortfallModel
from crossmargin.portfolio.book import Portfolio, Position
from crossmargin.report.docs import write_block

DOC = Path(__file__).resolve().parents[1] / "docs" / "models" / "es.md"
BLOCK = "es-table"
DATES = {
    "2019-06-28": "ESU19",
    "2020-03-31": "ESM20",
    "2022-11-30": "ESZ22",
    "2024-12-31": "ESH25",
}
HEADER = (
    "| as-of | BTC (USD) | SPX | ES contracts | BTC vol factor (book window) | ρ(BTC, SPX) "
    "| HS ES long BTC (USD) | HS ES short ES (USD) | HS ES book (USD) | FHS ES book (USD) "
    "| margin standalone (USD) | margin netted (USD) | benefit | book window (scenarios) "
    "| stressed window of the book |\n"
    "|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|"
)


def _book(history: MarketHistory, asof: str) -> tuple[Portfolio, Any, float]:
    year = int(asof[:4])
    market = snapshot_from_history(asof, ["BTC", "SPX"], history=history)
    btc, spx = market.spots["BTC"], market.spots["SPX"]
    qty = round(-btc / (50.0 * spx), 6)
    spot = parse_symbol("BTC_USDC")
    future = parse_symbol(DATES[asof], reference_year=year)
    book = Portfolio.from_positions(
        [
            Position(account="btc", instrument=spot, quantity=1.0),
            Position(account="es", instrument=future, quantity=qty),
            Position(account="book", instrument=spot, quantity=1.0),
            Position(account="book", instrument=future, quantity=qty),
        ]
    )
    return book, market, qty


def _vol_source(facts: dict[str, Any]) -> str:
    vol = facts["vol_factors"]["BTC"]
    return f"DVOL {vol['index_days']} d, fallback {vol['fallback_days']} d"


def es_row(history: MarketHistory, asof: str) -> dict[str, Any]:
    """One row of the table (money rounded to the cent, ratios to 4 decimals)."""
    book, market, qty = _book(history, asof)
    hs = ExpectedShortfallModel(method="hs", history=history).compute(book, market)
    fhs = ExpectedShortfallModel(method="fhs", history=history).compute(book, market)
    acc = {a.account: a for a in hs.accounts}
    facts = acc["book"].netting_set
    corr = hs.diagnostics["netting_sets"][facts["netting_set"]]["correlations"]["BTC"]["SPX"]
    window = facts["stressed_window"]
    lookback = facts["lookback"]
    return {
        "asof": asof,
        "btc": round(market.spots["BTC"], 2),
        "spx": round(market.spots["SPX"], 2),
        "es_contracts": qty,
        "btc_vol": _vol_source(facts),
        "corr": round(float(corr), 4),
        "es_btc": round(acc["btc"].components["core"], 2),
        "es_spx": round(acc["es"].components["core"], 2),
        "es_book": round(acc["book"].components["core"], 2),
        "fhs_book": round(
            next(a for a in fhs.accounts if a.account == "book").components["core"], 2
        ),
        "standalone": round(acc["book"].standalone, 2),
        "netted": round(acc["book"].netted, 2),
        "benefit": round(acc["book"].benefit_pct, 1),
        "window": f"{lookback['first']}..{lookback['last']} ({lookback['scenarios']})",
        "btc_window": acc["btc"].netting_set["lookback"]["scenarios"],
        "stress": f"{window['first']}..{window['last']}",
    }


def markdown(row: dict[str, Any]) -> str:
    """The row as a markdown table line."""
    return (
        f"| {row['asof']} | {row['btc']:,.2f} | {row['spx']:,.2f} | {row['es_contracts']:.6f} "
        f"| {row['btc_vol']} | {row['corr']:.4f} | {row['es_btc']:,.2f} | {row['es_spx']:,.2f} "
        f"| {row['es_book']:,.2f} | {row['fhs_book']:,.2f} | {row['standalone']:,.2f} "
        f"| {row['netted']:,.2f} | {row['benefit']:.1f}% | {row['window']} "
        f"| {row['stress']} |"
    )


def table(history: MarketHistory) -> str:
    """The whole markdown table."""
    return "\n".join([HEADER, *(markdown(es_row(history, asof)) for asof in DATES)])


def main(argv: list[str]) -> int:
    text = table(MarketHistory.load())
    if "--write" in argv:
        write_block(DOC, BLOCK, text)
        print(f"wrote {DOC}")
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
