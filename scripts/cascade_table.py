"""Generated table of docs/cascade.md: the four replays on a generated population of 10,000
accounts, isolated vs cross-margined, at a crypto venue and at a CCP.

Population: ``PopulationSpec(accounts=10_000, seed=14)`` with the documented default
distributions (:mod:`crossmargin.analysis.cascade.population`), drawn on the close before
each replay's first day (the same accounts in USD, sized at that day's prices). Shocks: the
named replays of ``crossmargin/data/cascade.json`` from the shared history. Parameters: the
shipped ``cascade.json``. Columns: accounts liquidated (at least one unit partially or fully
closed), delta notional closed (USD), the deficits beyond collateral, what the funds paid
(insurance fund; or the default-fund layers, skin in the game and assessments at a CCP), ADL
and the residual (USD).

Run ``python scripts/cascade_table.py`` to print the table, ``--write`` to replace it in
docs/cascade.md (between the ``cascade-table`` markers).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from crossmargin.analysis.cascade import CascadeReport
from crossmargin.analysis.cascade.runner import cascade
from crossmargin.market.history import MarketHistory
from crossmargin.report.docs import write_block

DOC = Path(__file__).resolve().parents[1] / "docs" / "cascade.md"
BLOCK = "cascade-table"
SPEC = {"accounts": 10_000, "seed": 14}
REPLAYS = ("2020-03-12", "ftx", "2024-08-05", "2025-10-10")
MODES = ("isolated", "cross")
HEADER = (
    "| replay | loss allocation | margin | accounts liquidated | notional closed (USD) "
    "| deficits (USD) | funds drawn (USD) | ADL (USD) | residual (USD) | iterations |\n"
    "|---|---|---|---:|---:|---:|---:|---:|---:|---:|"
)


def reports(history: MarketHistory) -> list[tuple[str, str, CascadeReport]]:
    """Every (replay, allocation) run of the table."""
    out = []
    for crisis in REPLAYS:
        for allocation in ("venue", "ccp"):
            run = cascade(
                population=SPEC,
                crisis=crisis,
                mode=allocation,
                modes=MODES,
                data_dir=history.data_dir,
            )
            out.append((crisis, allocation, run.report))
    return out


def _usd(x: float) -> str:
    return f"{x:,.0f}"


def table(history: MarketHistory) -> str:
    """The markdown table (see the module docstring)."""
    lines = [HEADER]
    for crisis, allocation, report in reports(history):
        for r in report.results:
            lines.append(
                f"| {crisis} | {allocation} | {r.mode} | {r.accounts_liquidated:,} "
                f"| {_usd(r.notional)} | {_usd(r.ledger.deficits)} | {_usd(r.fund_drawn)} "
                f"| {_usd(r.ledger.adl)} | {_usd(r.ledger.residual)} | {r.iterations} |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None)
    parser.add_argument("--write", action="store_true", help="replace the table in the doc")
    args = parser.parse_args()
    text = table(MarketHistory.load(args.data))
    if args.write:
        write_block(DOC, BLOCK, text)
        print(f"wrote {DOC}")
    else:
        print(text)


if __name__ == "__main__":
    main()
