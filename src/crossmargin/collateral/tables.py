"""Markdown tables of collateral and equity (docs/collateral.md's generated blocks).

* :func:`haircut_markdown`: the haircut schedule per venue and asset kind (and asset
  overrides), as loaded;
* :func:`equity_markdown`: per account of margin results, collateral value, haircut, MTM,
  equity, IM, MM, excess, margin ratio (equity / MM) and utilisation (IM / equity).
"""

from __future__ import annotations

from collections.abc import Sequence

from crossmargin.collateral.equity import ladder_status
from crossmargin.collateral.haircuts import HaircutSchedule
from crossmargin.collateral.holdings import ASSET_KINDS
from crossmargin.models.result import MarginResult


def haircut_markdown(schedule: HaircutSchedule) -> str:
    """One row per venue: the haircut of each asset kind, the asset overrides, what it refuses."""
    lines = [
        f"Schedule `{schedule.path}`, version {schedule.version}; haircuts as decimals "
        "(0.1 = 10% of the value does not count).",
        "",
        "| venue | " + " | ".join(ASSET_KINDS) + " | asset overrides | not accepted |",
        "|---|" + "---:|" * len(ASSET_KINDS) + "---|---|",
    ]
    for name, venue in schedule.venues.items():
        kinds = " | ".join(f"{venue['kinds'][k]:g}" for k in ASSET_KINDS)
        overrides = ", ".join(f"{a} {h:g}" for a, h in venue.get("assets", {}).items())
        refused = ", ".join(venue.get("not_accepted", []))
        lines.append(f"| {name} | {kinds} | {overrides} | {refused} |")
    return "\n".join(lines)


def _pct(x: float | None) -> str:
    return "" if x is None else f"{x:.1%}"


def equity_markdown(results: Sequence[MarginResult]) -> str:
    """Equity against the requirement, per model and account (money in whole units)."""
    ccy = results[0].currency if results else "USD"
    lines = [
        f"| model | account | collateral ({ccy}) | haircut ({ccy}) | MTM ({ccy}) "
        f"| equity ({ccy}) | IM ({ccy}) | MM ({ccy}) | excess ({ccy}) | margin ratio "
        "(equity / MM) | ladder | utilisation (IM / equity) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|",
    ]
    for result in results:
        for a in result.accounts:
            e = a.equity
            if e is None:
                continue
            mm = "" if e.maintenance_margin is None else f"{e.maintenance_margin:,.0f}"
            status = ladder_status(e.margin_ratio) or ""
            lines.append(
                f"| {result.model} | {a.account} | {e.collateral_value:,.0f} | {e.haircut:,.0f} "
                f"| {e.mtm:,.0f} | {e.equity:,.0f} | {e.initial_margin:,.0f} | {mm} "
                f"| {e.excess:,.0f} | {_pct(e.margin_ratio)} | {status} "
                f"| {_pct(e.utilisation)} |"
            )
    return "\n".join(lines)


__all__ = ["equity_markdown", "haircut_markdown"]
