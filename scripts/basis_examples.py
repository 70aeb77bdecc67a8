"""Real-data table of docs/models/basis.md: basis and funding charges against the span model.

Books (one account each; quantities in contracts):

- ``calendar``: long 100,000 ``BTC-27MAR26``, short 100,000 ``BTC-26JUN26`` (Deribit inverse
  futures, 10 USD face: 1M USD a leg);
- ``spot-future``: long 10 ``BTC_USDC`` (1 BTC each), short 2 ``BTCH26`` (CME, 5 BTC each);
- ``es-calendar``: long 1 ``ESH26``, short 1 ``ESM26`` (CME E-mini S&P 500, 50 USD x index);
- ``spot-perp``: long 10 ``BTC_USDC``, short ``BTC-PERPETUAL`` for the same USD notional
  (10 USD face, rounded to whole contracts).

Market: :func:`crossmargin.market.builder.snapshot_from_history` on each as-of date (February
2026, before the March expiries). ``span``: the repo's span model with its shipped parameters,
its netted margin of the book (offset policy ``none``: the charge SPAN itself computes).
``basis`` and ``funding``: :func:`crossmargin.models.basis.basis_terms` with the shipped
``basis.json``, at its reference horizon (2 days). Run ``python scripts/basis_examples.py``
and paste the output into the doc.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np

from crossmargin import api
from crossmargin.instruments import parse_symbol
from crossmargin.market.builder import snapshot_from_history
from crossmargin.market.history import MarketHistory
from crossmargin.models.basis import basis_terms
from crossmargin.portfolio.book import Portfolio, Position
from crossmargin.report.docs import write_block

DATES = ("2026-02-02", "2026-02-11")
DOC = Path(__file__).resolve().parents[1] / "docs" / "models" / "basis.md"
ACCEPTANCE = ("calendar", "spot-future")  # basis / span must lie in [0.25, 4]
HEADER = (
    "| as-of | book | BTC (USD) | span | basis (2d) | funding (2d) | basis / span |\n"
    "|---|---|---:|---:|---:|---:|---:|"
)


def books(btc_spot: float) -> dict[str, list[tuple[str, float]]]:
    """The example books (symbol, quantity); the perpetual leg is sized off ``btc_spot``."""
    return {
        "calendar": [("BTC-27MAR26", 100_000.0), ("BTC-26JUN26", -100_000.0)],
        "spot-future": [("BTC_USDC", 10.0), ("BTCH26", -2.0)],
        "es-calendar": [("ESH26", 1.0), ("ESM26", -1.0)],
        "spot-perp": [("BTC_USDC", 10.0), ("BTC-PERPETUAL", -float(round(10 * btc_spot / 10)))],
    }


def example_rows(history: MarketHistory, asof: str) -> list[dict[str, Any]]:
    """One row per book on ``asof`` (money rounded to the cent, the ratio to 4 decimals)."""
    btc = snapshot_from_history(asof, ["BTC"], history=history).spots["BTC"]
    out = []
    for name, legs in books(btc).items():
        book = Portfolio.from_positions(
            Position(account=name, instrument=parse_symbol(s, reference_year=2026), quantity=q)
            for s, q in legs
        )
        market = snapshot_from_history(asof, book.underlyings, history=history)
        # span's own margin of the book, every offset granted (the charge to compare with)
        span = api.margin(book, market, "span", offsets="none").total
        terms = basis_terms(book.instruments, market)
        q = book.quantity_matrix()
        h = np.full(q.shape[0], terms.reference_days)
        basis = float(terms.basis(q, h)[0])
        funding = float(terms.funding(q, h)[0])
        out.append(
            {
                "asof": asof,
                "book": name,
                "btc": round(btc, 2),
                "span": round(span, 2),
                "basis": round(basis, 2),
                "funding": round(funding, 2),
                "ratio": round(basis / span, 4),
            }
        )
    return out


def markdown(row: dict[str, Any]) -> str:
    """The row as a markdown table line."""
    return (
        f"| {row['asof']} | {row['book']} | {row['btc']:,.2f} | {row['span']:,.2f} "
        f"| {row['basis']:,.2f} | {row['funding']:,.2f} | {row['ratio']:.4f} |"
    )


def main(argv: list[str]) -> None:
    args = [a for a in argv[1:] if a != "--write"]
    history = MarketHistory.load(args[0] if args else None)
    lines = [HEADER]
    for asof in DATES:
        lines += [markdown(row) for row in example_rows(history, asof)]
    text = "\n".join(lines)
    if "--write" in argv:
        print(f"wrote {write_block(DOC, 'basis-table', text)}")
    else:
        print(text)


if __name__ == "__main__":
    main(sys.argv)
