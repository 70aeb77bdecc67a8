"""Real-data table of docs/stress.md: margin held vs loss in each named crisis (sample book).

Book: ``crossmargin/data/sample_book.csv``. Market: the shared history as of 2026-02-11
(:func:`crossmargin.api.market_for`). Margin held: the ``es`` model's netted margin per account
(file defaults: 99%, 250-day lookback, 2-day MPOR, HS, liquidity and concentration add-ons).
Losses: full revaluation of today's book under each named crisis of ``crisis_windows.json``
(worst day, worst 2-day move starting in the window, whole window); see docs/stress.md.

Run ``python scripts/stress_table.py`` to print the table, ``--write`` to replace it in
docs/stress.md (between the ``stress-table`` markers).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from crossmargin import api
from crossmargin.cli.stress import stress_rows
from crossmargin.report.docs import write_block

ASOF = "2026-02-11"
DOC = Path(__file__).resolve().parents[1] / "docs" / "stress.md"
BLOCK = "stress-table"
HEADER = (
    "| crisis | account | margin held | loss 1d (worst day) | loss 2d (worst) | loss whole window "
    "| shortfall |\n|---|---|---:|---:|---:|---:|---:|"
)


def rows(data_dir: str | None = None) -> list[dict[str, Any]]:
    """The table's rows (see :func:`crossmargin.cli.stress.stress_rows`)."""
    book = api.sample_book()
    market = api.market_for(book, asof=ASOF, data_dir=data_dir)
    return stress_rows(api.stress(book, "es", market=market, data_dir=data_dir))


def _money(x: float | None) -> str:
    return "n/a" if x is None else f"{x:,.0f}"


def markdown(row: dict[str, Any]) -> str:
    """One table line."""
    cells = [
        row["crisis"],
        row["account"],
        _money(row["margin"]),
        _money(row["loss_1d"]),
        _money(row["loss_h"]),
        _money(row["loss_window"]),
        _money(row["shortfall"]),
    ]
    return "| " + " | ".join(cells) + " |"


def table(data_dir: str | None = None) -> str:
    """The whole markdown table."""
    return "\n".join([HEADER, *(markdown(r) for r in rows(data_dir))])


def main(argv: list[str]) -> None:
    text = table()
    if "--write" in argv:
        write_block(DOC, BLOCK, text)
        print(f"wrote {DOC}")
    else:
        print(text)


if __name__ == "__main__":
    main(sys.argv[1:])
