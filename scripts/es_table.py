"""Real-data table of docs/models/es.md: 99% 2-day ES of long 1 BTC vs short SPX.

Book (one account): long 1 BTC spot (``BTC_USDC``, 1 BTC per unit) and short the front
quarterly E-mini S&P 500 future (``ES``, 50 USD x index) sized to the same notional, i.e.
``−S_BTC / (50·S_SPX)`` contracts (a fractional quantity: an SPX exposure of equal USD notional).
Market: :func:`crossmargin.market.builder.snapshot_from_history` on each as-of date (BTC's ATM vol
from
30-day realised vol before BTC_DVOL starts on 2021-03-24; the linear book does not depend on it).
Model: ``es`` with its file defaults (99%, 250-day lookback, 2-day MPOR, overlapping returns,
no APC) in HS and FHS (λ = 0.97). Run ``python scripts/es_table.py`` and paste the output.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np
import scipy.sparse as sp

from crossmargin.instruments import parse_symbol
from crossmargin.market.builder import snapshot_from_history
from crossmargin.market.history import MarketHistory
from crossmargin.models.var import ExpectedShortfallModel, implied_correlations
from crossmargin.portfolio.book import Portfolio, Position

DATES = {
    "2019-06-28": "ESU19",
    "2020-03-31": "ESM20",
    "2022-11-30": "ESZ22",
    "2024-12-31": "ESH25",
}
HEADER = (
    "| as-of | BTC (USD) | SPX | ES contracts | BTC vol factor | ρ(BTC, SPX) | HS ES long BTC "
    "| HS ES short ES | HS ES book | FHS ES book | margin standalone | margin netted "
    "| benefit | stressed window |\n"
    "|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"
)


def es_row(history: MarketHistory, asof: str) -> dict[str, Any]:
    """One row of the table (money rounded to the cent, ratios to 4 decimals)."""
    year = int(asof[:4])
    market = snapshot_from_history(asof, ["BTC", "SPX"], history=history)
    btc, spx = market.spots["BTC"], market.spots["SPX"]
    qty = round(-btc / (50.0 * spx), 6)
    future = parse_symbol(DATES[asof], reference_year=year)
    book = Portfolio.from_positions(
        [
            Position(account="book", instrument=parse_symbol("BTC_USDC"), quantity=1.0),
            Position(account="book", instrument=future, quantity=qty),
        ]
    )
    hs = ExpectedShortfallModel(method="hs", history=history)
    ctx = hs.prepare(book.instruments, market)
    legs = book.quantity_matrix().toarray()[0]
    rows = sp.csr_matrix(np.vstack([np.diag(legs), legs]))  # BTC alone, ES alone, book
    core = hs.margin_rows(ctx, rows).components["core"]
    window = hs.stress_slice(ctx, rows[2:])
    assert window is not None
    assert ctx.history is not None
    names = ctx.history.scenarios.names
    result = hs.compute(book, market)  # the one netting path: standalone vs netted margin
    acc = result.accounts[0]
    fhs = ExpectedShortfallModel(method="fhs", history=history)
    fhs_core = fhs.margin_rows(fhs.prepare(book.instruments, market), rows).components["core"]
    corr = implied_correlations(hs, book.instruments, market)
    source = next(s for s in ctx.vol_sources if s.underlying == "BTC")
    window_start = ctx.core.scenarios.names[0]
    if source.first_proxy_day is None:
        vol = "RV30 (no DVOL yet)"
    elif f"{source.first_proxy_day:%Y-%m-%d}" <= window_start:
        vol = "BTC_DVOL (RV30 in gaps > 3 days)"
    else:
        vol = f"RV30 until {source.first_proxy_day:%Y-%m-%d}, then BTC_DVOL"
    return {
        "asof": asof,
        "btc": round(btc, 2),
        "spx": round(spx, 2),
        "es_contracts": qty,
        "btc_vol": vol,
        "corr": round(float(corr.loc["BTC", "SPX"]), 4),
        "es_btc": round(float(core[0]), 2),
        "es_spx": round(float(core[1]), 2),
        "es_book": round(float(core[2]), 2),
        "standalone": round(acc.standalone, 2),
        "netted": round(acc.netted, 2),
        "benefit": round(acc.benefit_pct, 1),
        "fhs_book": round(float(fhs_core[2]), 2),
        "stress": f"{names[window[0]]}..{names[window[1] - 1]}",
    }


def markdown(row: dict[str, Any]) -> str:
    """The row as a markdown table line."""
    return (
        f"| {row['asof']} | {row['btc']:,.2f} | {row['spx']:,.2f} | {row['es_contracts']:.6f} "
        f"| {row['btc_vol']} | {row['corr']:.4f} | {row['es_btc']:,.2f} | {row['es_spx']:,.2f} "
        f"| {row['es_book']:,.2f} | {row['fhs_book']:,.2f} | {row['standalone']:,.2f} "
        f"| {row['netted']:,.2f} | {row['benefit']:.1f}% "
        f"| {row['stress']} |"
    )


def main() -> int:
    history = MarketHistory.load()
    print(HEADER)
    for asof in DATES:
        print(markdown(es_row(history, asof)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
