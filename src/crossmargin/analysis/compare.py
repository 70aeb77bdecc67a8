"""Isolated vs cross margin under several models, per account: one table, many renderers.

For each model and account: ``isolated`` is the ``rules`` requirement (strategy-based,
no netting: what the account posts at a venue without portfolio margining), ``standalone``
the model's requirement on each position alone, ``netted`` the model on the whole account,
``benefit = standalone − netted`` and ``vs_isolated = isolated − netted``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crossmargin.defaults import COMPARED_MODELS
from crossmargin.market.snapshot import MarketSnapshot
from crossmargin.models import MarginResult, get_model, model_names
from crossmargin.models.var import VAR_MODELS
from crossmargin.portfolio import Portfolio

DEFAULT_MODELS = COMPARED_MODELS
ISOLATED = "rules"


@dataclass(frozen=True, slots=True, kw_only=True)
class ComparisonRow:
    """One model x account line (account ``"total"`` sums the accounts)."""

    model: str
    account: str
    isolated: float
    standalone: float
    netted: float

    @property
    def benefit(self) -> float:
        """Standalone minus netted."""
        return self.standalone - self.netted

    @property
    def benefit_pct(self) -> float | None:
        """Benefit as a percentage of standalone."""
        return 100.0 * self.benefit / self.standalone if self.standalone else None

    @property
    def vs_isolated_pct(self) -> float | None:
        """Saving against isolated margin, in percent of isolated."""
        return 100.0 * (self.isolated - self.netted) / self.isolated if self.isolated else None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "model": self.model,
            "account": self.account,
            "isolated": self.isolated,
            "standalone": self.standalone,
            "netted": self.netted,
            "benefit": self.benefit,
            "benefit_pct": self.benefit_pct,
            "vs_isolated_pct": self.vs_isolated_pct,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelComparison:
    """The results of every model and the comparison rows."""

    results: dict[str, MarginResult]
    rows: tuple[ComparisonRow, ...]


def compare_models(
    book: Portfolio,
    market: MarketSnapshot,
    models: Sequence[str] = DEFAULT_MODELS,
    *,
    data_dir: str | Path | None = None,
) -> ModelComparison:
    """Margin ``book`` under each available model of ``models`` and compare (module doc).

    ``data_dir`` is the market-history folder of the models that read history (es, hvar).
    """
    names = [m for m in dict.fromkeys((ISOLATED, *models)) if m in model_names()]
    results = {
        name: get_model(name, **({"data_dir": data_dir} if name in VAR_MODELS else {})).compute(
            book, market
        )
        for name in names
    }
    isolated = {a.account: a.total for a in results[ISOLATED].accounts}
    rows: list[ComparisonRow] = []
    for name in names:
        result = results[name]
        for acc in result.accounts:
            rows.append(
                ComparisonRow(
                    model=name,
                    account=acc.account,
                    isolated=isolated[acc.account],
                    standalone=acc.standalone,
                    netted=acc.netted,
                )
            )
        rows.append(
            ComparisonRow(
                model=name,
                account="total",
                isolated=results[ISOLATED].total,
                standalone=result.standalone_total,
                netted=result.netted_total,
            )
        )
    return ModelComparison(results=results, rows=tuple(rows))


def markdown_table(comparison: ModelComparison, currency: str = "USD") -> str:
    """The comparison as a Markdown table (docs)."""

    def pct(x: float | None) -> str:
        return "" if x is None else f"{x:.1f}"

    lines = [
        f"| model | account | isolated ({currency}) | standalone | netted | benefit | "
        "benefit % | vs isolated % |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in comparison.rows:
        account = f"**{r.account}**" if r.account == "total" else r.account
        lines.append(
            f"| {r.model} | {account} | {r.isolated:,.0f} | {r.standalone:,.0f} | "
            f"{r.netted:,.0f} | {r.benefit:,.0f} | {pct(r.benefit_pct)} | "
            f"{pct(r.vs_isolated_pct)} |"
        )
    return "\n".join(lines)
