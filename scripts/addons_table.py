"""Real-data table of docs/models/es.md: liquidity and concentration add-ons of large positions.

Each position is one account margined alone by the ``es`` model with its file defaults (99%,
12-month lookback, 2-step MPOR, HS) as of 2026-02-11, market from
:func:`crossmargin.market.builder.snapshot_from_history`; then the accounts of the sample book
on the same date. Run ``python scripts/addons_table.py`` to print the table, ``--write`` to
replace it in docs/models/es.md (between the ``addons-table`` markers).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from crossmargin import api
from crossmargin.instruments import parse_symbol
from crossmargin.market.builder import snapshot_from_history
from crossmargin.market.history import MarketHistory
from crossmargin.models.var import ExpectedShortfallModel
from crossmargin.portfolio.book import Portfolio, Position
from crossmargin.report.docs import write_block

DOC = Path(__file__).resolve().parents[1] / "docs" / "models" / "es.md"
BLOCK = "addons-table"
ASOF = "2026-02-11"
POSITIONS: dict[str, tuple[str, float]] = {
    "short 2,500 BTC-27MAR26-70000-C (Deribit)": ("BTC-27MAR26-70000-C", -2_500),
    "short 5,000 BTC-27MAR26-70000-C (Deribit)": ("BTC-27MAR26-70000-C", -5_000),
    "short 5,000 BTC-26JUN26-70000-C (Deribit)": ("BTC-26JUN26-70000-C", -5_000),
    "short 50M BTC-PERPETUAL (500m USD face, Deribit)": ("BTC-PERPETUAL", -50_000_000),
    "long 2,000 BTCH26 (CME, 10,000 BTC)": ("BTCH26", 2_000),
    "short 20,000 ESH26 P6500 (CME)": ("ESH26 P6500", -20_000),
    "long 20,000 ESH26 (CME)": ("ESH26", 20_000),
    "long 400,000 ESH26 (CME)": ("ESH26", 400_000),
}
HEADER = (
    "| position | core ES (USD) | liquidity_delta (USD) | liquidity_vega (USD) "
    "| days to liquidate | MPOR (calendar days) | concentration (USD) | concentration / core |\n"
    "|---|---:|---:|---:|---:|---:|---:|---:|"
)


def _row(name: str, account: Any) -> dict[str, Any]:
    c = account.components
    return {
        "position": name,
        "core": c["core"],
        "liquidity_delta": c["liquidity_delta"],
        "liquidity_vega": c["liquidity_vega"],
        "days": account.info["days_to_liquidate"],
        "mpor_days": account.netting_set["mpor_calendar_days"]["mean"],
        "concentration": c["concentration"],
    }


def addon_rows(history: MarketHistory) -> list[dict[str, Any]]:
    """One dict per position, then per sample-book account."""
    model = ExpectedShortfallModel(history=history)
    out = []
    for name, (symbol, qty) in POSITIONS.items():
        inst = parse_symbol(symbol, reference_year=2026)
        book = Portfolio.from_positions([Position(account=name, instrument=inst, quantity=qty)])
        market = snapshot_from_history(ASOF, [inst.underlying], history=history)
        out.append(_row(name, model.compute(book, market).accounts[0]))
    book = api.sample_book()
    unds = sorted({i.underlying for i in book.instruments})
    result = model.compute(book, snapshot_from_history(ASOF, unds, history=history))
    out += [_row(f"sample book: {a.account}", a) for a in result.accounts]
    return out


def markdown(row: dict[str, Any]) -> str:
    """One table line."""
    share = row["concentration"] / row["core"] if row["core"] > 0 else 0.0
    return (
        f"| {row['position']} | {row['core']:,.0f} | {row['liquidity_delta']:,.0f} "
        f"| {row['liquidity_vega']:,.0f} | {row['days']:.2f} | {row['mpor_days']:.2f} "
        f"| {row['concentration']:,.0f} | {share:.1%} |"
    )


def table(history: MarketHistory) -> str:
    """The whole block."""
    return "\n".join([HEADER, *(markdown(r) for r in addon_rows(history))])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None)
    parser.add_argument("--write", action="store_true", help="replace the table in the doc")
    args = parser.parse_args()
    history = MarketHistory.load(args.data)
    text = table(history)
    if args.write:
        write_block(DOC, BLOCK, text)
        print(f"wrote {DOC}")
    else:
        print(text)


if __name__ == "__main__":
    main()
