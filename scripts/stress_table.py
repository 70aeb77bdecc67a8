"""Real-data table of docs/stress.md: margin held vs loss in each named crisis (sample book).

Book: ``crossmargin/data/sample_book.csv``. Market: the shared history as of 2026-02-11
(:func:`crossmargin.api.market_for`). Margin held: the ``es`` model's netted margin per account
(file defaults: 99%, 250-day lookback, 2-day MPOR, HS, liquidity and concentration add-ons).
Losses: full revaluation of today's book under each named crisis of ``crisis_windows.json``
(worst day, worst 2-day move starting in the window, whole window); see docs/stress.md.

A second table (block ``correlation-table``): the correlation break of each account of the
sample book, each netting set on its own window (adverse direction and the user modes
``plus``/``minus``), against the margin held, with the single-underlying controls.

Run ``python scripts/stress_table.py`` to print the tables, ``--write`` to replace them in
docs/stress.md (between the ``stress-table`` and ``correlation-table`` markers).
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
CORRELATION_BLOCK = "correlation-table"
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


def correlation_table(data_dir: str | None = None) -> str:
    """The correlation-break table of the sample book (block ``correlation-table``)."""
    book = api.sample_book()
    market = api.market_for(book, asof=ASOF, data_dir=data_dir)
    report = api.stress(
        book, "es", market=market, correlation="adverse,plus,minus", data_dir=data_dir
    )
    c = report.correlation
    assert c is not None
    sets = {s.key: s for s in c.sets}
    out = [
        "| account | netting set (calendar, scenarios) | ES unbroken | adverse ES | adverse "
        "direction | ES all +1 | ES all −1 | margin held | shortfall (adverse) | largest "
        "change of a one-underlying leg |",
        "|---|---|---:|---:|---|---:|---:|---:|---:|---:|",
    ]
    for acc in book.accounts:
        adverse = c.row(acc, "adverse")
        s = sets[adverse.netting_set]
        legs = max(r.max_change for r in c.controls if r.account == acc)
        direction = ", ".join(f"{k} → {v}" for k, v in adverse.direction.items())
        out.append(
            f"| {acc} | {s.key} ({s.calendar}, {s.scenarios}) | {_money(adverse.baseline)} | "
            f"{_money(adverse.broken)} | {direction} | {_money(c.row(acc, 'plus').broken)} | "
            f"{_money(c.row(acc, 'minus').broken)} | {_money(adverse.margin)} | "
            f"{_money(adverse.shortfall)} | {legs:.1e} |"
        )
    per_pair = [r for r in c.rows if r.mode == "adverse" and r.pair != "all"]
    if per_pair:
        out += [
            "",
            "| account | pair broken alone | worse direction | before | target | achieved | ES "
            "| change vs unbroken |",
            "|---|---|---|---:|---:|---:|---:|---:|",
        ]
        for r in per_pair:
            before = sets[r.netting_set].before[r.pair]
            out.append(
                f"| {r.account} | {r.pair} | {r.direction[r.pair]} | {before:+.2f} | "
                f"{r.target[r.pair]:+.2f} | "
                f"{r.achieved[r.pair]:+.2f} | {_money(r.broken)} | "
                f"{_money(r.broken - r.baseline)} |"
            )
    return "\n".join(out)


def main(argv: list[str]) -> None:
    text, corr = table(), correlation_table()
    if "--write" in argv:
        write_block(DOC, BLOCK, text)
        write_block(DOC, CORRELATION_BLOCK, corr)
        print(f"wrote {DOC}")
    else:
        print(text)
        print()
        print(corr)


if __name__ == "__main__":
    main(sys.argv[1:])
