"""The offset-tier table of a result as Markdown (docs/netting.md's generated block).

One row per account and tier: the model's margin of the tier's groups (``N``, summed), the
base (their members' capped requirements, ``B``), the credit ``B − C`` and the requirement
``C``; the last column gives every pair of underlyings the tier tested for eligibility, with
the correlation found over the lookback and the stressed window (ρ and its one-sided lower
bound) and the verdict.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from crossmargin.models.result import MarginResult, TierGroup


def _window(test: Mapping[str, Any], key: str) -> str:
    w = test.get(key)
    if not w:
        return f"{key}: no data"
    return f"{key} ρ {w['rho']:+.2f} (bound {w['lower_bound']:+.2f})"


def _tested(groups: Sequence[TierGroup]) -> str:
    """Each tested pair: lookback and stressed-window ρ (lower bound), and the verdict."""
    out = []
    for g in groups:
        for t in g.tests:
            verdict = "eligible" if t.get("eligible", False) else "**refused**"
            out.append(
                f"{'/'.join(t['pair'])}: {_window(t, 'lookback')}, {_window(t, 'stressed')}: "
                f"{verdict}"
            )
        if not g.tests and not g.eligible:
            out.append(f"{g.group}: **refused** ({g.reason})")
    return "; ".join(out)


def tier_markdown(results: Sequence[MarginResult]) -> str:
    """Markdown table of every result's accounts and tiers (money in whole currency units)."""
    ccy = results[0].currency if results else "USD"
    lines = [
        f"| model | account | tier | cap | margin N ({ccy}) | base B ({ccy}) "
        f"| credit B − C ({ccy}) | requirement C ({ccy}) | eligibility tests (Art 27(1)) |",
        "|---|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for result in results:
        for acc in result.accounts:
            for t in acc.tiers:
                lines.append(
                    f"| {result.model} | {acc.account} | {t.tier} | {t.cap:g} | {t.margin:,.0f} "
                    f"| {t.base:,.0f} | {t.credit:,.0f} | {t.capped:,.0f} | {_tested(t.groups)} |"
                )
    return "\n".join(lines)


__all__ = ["tier_markdown"]
