"""One stress run: margin held, then every requested stress, in one read-only report.

:func:`run_stress` is what :func:`crossmargin.api.stress` calls. It margins the book under the
chosen model (the **netted margin held** per account), then runs, as asked:

* hypothetical scenarios from a file (:mod:`.hypothetical`);
* crisis replays, named or by dates (:mod:`.crisis`); with no scenario file, crisis or
  correlation mode given: **every named crisis**;
* a correlation breakdown (:mod:`.correlation`): ``break`` = ``plus`` and ``minus``, or
  ``plus``, ``minus``, ``flip``, ``stressed`` (comma-separated to combine);
* a reverse stress of every account (:mod:`.reverse`);
* the default of one account (:mod:`.default`) under its worst scenario among those run
  (crisis ``h``-day and hypothetical rows; the named crises when only a correlation
  breakdown was run).

The joint distribution (correlation, reverse stress) is the ES model's window: the chosen
model's when it is ``es``/``hvar``, else the ``es`` model with its file defaults.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crossmargin.analysis.stress.common import (
    AccountOutcome,
    HeldMargin,
    ScenarioOutcome,
    account_losses,
    held_margin,
)
from crossmargin.analysis.stress.correlation import (
    CorrelationBreakdown,
    Pair,
    correlation_breakdown,
    load_correlation_override,
)
from crossmargin.analysis.stress.crisis import (
    crisis_catalogue,
    crisis_correlation,
    crisis_moves,
    crisis_scenarios,
    default_stressed_window,
    resolve_window,
)
from crossmargin.analysis.stress.default import DefaultLoss, default_loss
from crossmargin.analysis.stress.factors import es_window, var_model
from crossmargin.analysis.stress.hypothetical import book_classes
from crossmargin.analysis.stress.netting_sets import (
    NettingSetStress,
    correlation_modes,
    netting_set_stress,
    plan_stress,
)
from crossmargin.analysis.stress.reverse import ReverseStress
from crossmargin.errors import InputError
from crossmargin.market.history import MarketHistory
from crossmargin.market.scenarios import ScenarioSet
from crossmargin.market.snapshot import MarketSnapshot
from crossmargin.models.base import MarginModel
from crossmargin.portfolio import Portfolio


@dataclass(frozen=True, slots=True, kw_only=True)
class StressReport:
    """Everything one stress run found (money in ``currency``)."""

    model: str
    currency: str
    market: str
    mpor: int
    held: HeldMargin
    scenarios: tuple[ScenarioOutcome, ...] = ()
    correlation: CorrelationBreakdown | None = None
    reverse: tuple[ReverseStress, ...] = ()
    default: DefaultLoss | None = None
    parameters: dict[str, Any] = field(default_factory=dict)

    def scenario(self, name: str) -> ScenarioOutcome:
        """The outcome named ``name`` (e.g. ``covid 1d``)."""
        for s in self.scenarios:
            if s.name == name:
                return s
        raise InputError(f"no stress scenario {name!r} in this report")

    def account_rows(self) -> list[dict[str, Any]]:
        """Per account: margin held, standalone, worst loss and shortfall over the scenarios."""
        rows = []
        for acc, margin in self.held.required.items():
            outs = [s.account(acc) for s in self.scenarios if s.account(acc).covered]
            worst: AccountOutcome | None = max(outs, key=lambda a: a.loss, default=None)
            name = next(
                (s.name for s in self.scenarios if worst is not None and s.account(acc) is worst),
                None,
            )
            loss = worst.loss if worst is not None else math.nan
            rows.append(
                {
                    "account": acc,
                    "total": margin,
                    "netted": margin,
                    "standalone": self.held.standalone[acc],
                    "margin": margin,
                    "worst_loss": None if worst is None else loss,
                    "worst_scenario": name,
                    "shortfall": None if worst is None else max(0.0, loss - margin),
                    "components": {
                        "worst_loss": 0.0 if worst is None else loss,
                        "shortfall": 0.0 if worst is None else max(0.0, loss - margin),
                    },
                }
            )
        return rows

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the CLI ``--json`` payload and the run-store result."""
        return {
            "model": self.model,
            "currency": self.currency,
            "market": self.market,
            "mpor": self.mpor,
            "parameters": self.parameters,
            "accounts": self.account_rows(),
            "scenarios": [s.to_dict() for s in self.scenarios],
            "correlation": None if self.correlation is None else self.correlation.to_dict(),
            "reverse": [r.to_dict() for r in self.reverse],
            "default": None if self.default is None else self.default.to_dict(),
        }

    def summary(self) -> str:
        """A few lines a person reads first."""
        lines = [f"stress of {self.model} netted margin ({self.currency}, MPOR {self.mpor}d)"]
        for s in self.scenarios:
            lines.append(f"  {s.name}: loss {s.loss:,.0f}, shortfall {s.shortfall:,.0f}")
        return "\n".join(lines)


def run_stress(
    portfolio: Portfolio,
    snapshot: MarketSnapshot,
    model: MarginModel,
    history: MarketHistory,
    *,
    scenario: str | Path | None = None,
    crisis: str | Sequence[str] | None = None,
    correlation: str | Sequence[str] | None = None,
    pairs: Sequence[Pair] | None = None,
    blend: float = 1.0,
    stressed_window: str | None = None,
    stressed_matrix: str | Path | None = None,
    reverse: bool = False,
    default: str | None = None,
    held: HeldMargin | None = None,
    parts: NettingSetStress | None = None,
) -> StressReport:
    """Run the requested stresses (see the module docstring).

    ``held`` and ``parts`` (the per-netting-set outcomes,
    :func:`crossmargin.analysis.stress.netting_sets.netting_set_stress`) may be passed when
    already computed, e.g. on a cluster; the book-level stresses still run here.
    """
    es = var_model(model, history)
    mpor = es.mpor
    classes = book_classes(portfolio)
    plan = plan_stress(
        scenario=scenario, crisis=crisis, correlation=correlation, reverse=reverse, classes=classes
    )
    held = held if held is not None else held_margin(model, portfolio, snapshot)
    if parts is None:
        parts = netting_set_stress(portfolio, snapshot, es, history, held, plan)
    outcomes = list(parts.outcomes)
    candidates: list[tuple[ScenarioSet, str]] = [
        (h.scenario_set(portfolio.underlyings, classes), h.description) for h in plan.hypotheticals
    ]
    windows = list(plan.windows)
    breakdown = None
    if plan.modes:
        breakdown = _breakdown(
            portfolio,
            snapshot,
            es,
            history,
            held,
            plan.modes,
            pairs,
            blend,
            stressed_window,
            stressed_matrix,
        )
        outcomes += _correlation_outcomes(breakdown, held)
    dflt = None
    if default is not None:
        dflt = _default(portfolio, snapshot, held, history, default, mpor, windows, candidates)
    return StressReport(
        model=held.model,
        currency=snapshot.reporting_currency,
        market=snapshot.source,
        mpor=mpor,
        held=held,
        scenarios=tuple(outcomes),
        correlation=breakdown,
        reverse=parts.reverse,
        default=dflt,
        parameters={
            "model": held.model,
            "model_parameters": model.parameters(),
            "scenario_file": None if scenario is None else str(scenario),
            "crises": [w.name for w in windows],
            "correlation": list(plan.modes),
            "pairs": None if pairs is None else [f"{a}:{b}" for a, b in pairs],
            "blend": blend,
            "stressed_window": stressed_window,
            "stressed_matrix": None if stressed_matrix is None else str(stressed_matrix),
            "reverse": reverse,
            "default": default,
        },
    )


def _breakdown(
    portfolio: Portfolio,
    snapshot: MarketSnapshot,
    es: Any,
    history: MarketHistory,
    held: HeldMargin,
    modes: tuple[str, ...],
    pairs: Sequence[Pair] | None,
    blend: float,
    stressed_window: str | None,
    stressed_matrix: str | Path | None,
) -> CorrelationBreakdown:
    window = es_window(es, portfolio, snapshot)
    stressed = None
    source = ""
    if stressed_matrix is not None:
        labels, matrix = load_correlation_override(stressed_matrix)
        stressed, source = (labels, matrix), f"correlation file {stressed_matrix}"
    elif "stressed" in modes:
        win = resolve_window(stressed_window) if stressed_window else default_stressed_window()
        labels, matrix, source = crisis_correlation(history, win, window.underlyings)
        stressed = (labels, matrix)
    return correlation_breakdown(
        portfolio,
        snapshot,
        window,
        held,
        modes=modes,
        pairs=pairs,
        blend=blend,
        stressed=stressed,
        stressed_source=source,
    )


def _correlation_outcomes(
    breakdown: CorrelationBreakdown, held: HeldMargin
) -> list[ScenarioOutcome]:
    out = []
    for m in breakdown.matrices:
        rows = [r for r in breakdown.rows if r.mode == m.mode and r.pair == "all"]
        after = ", ".join(f"{k} {v:+.2f}" for k, v in m.achieved.items())
        out.append(
            ScenarioOutcome(
                name=f"correlation {m.mode}",
                kind="correlation",
                horizon=f"{breakdown.mpor}d",
                description=(
                    f"{breakdown.confidence:.2%} ES of each account with offset correlations "
                    f"broken ({m.mode}: {after}); loss = ES under the broken correlation"
                ),
                accounts=tuple(
                    AccountOutcome(
                        account=r.account,
                        loss=r.broken,
                        margin=r.margin,
                        standalone=held.standalone[r.account],
                        scenario=f"{m.mode} all pairs",
                    )
                    for r in rows
                ),
                notes=_repair_notes(m),
            )
        )
    return out


def _repair_notes(m: Any) -> tuple[str, ...]:
    if not m.repaired:
        return ()
    moved = ", ".join(f"{k} {a:+.2f}->{b:+.2f}" for k, (a, b) in m.side_effects.items())
    return (
        f"{m.mode}: nearest-correlation repair, Frobenius distance {m.frobenius_repair:.4f}"
        + (f"; the repair also moved {moved}" if moved else ""),
    )


def _default(
    portfolio: Portfolio,
    snapshot: MarketSnapshot,
    held: HeldMargin,
    history: MarketHistory,
    account: str,
    mpor: int,
    windows: list[Any],
    candidates: list[tuple[ScenarioSet, str]],
) -> DefaultLoss:
    if account not in portfolio.accounts:
        raise InputError(
            f"unknown account {account!r} to default (book has {', '.join(portfolio.accounts)})"
        )
    pool = list(candidates)
    for w in windows or list(crisis_catalogue().values()):
        moves = crisis_moves(history, w, portfolio.underlyings, mpor=mpor)
        held_unds = {p.instrument.underlying for p in portfolio.account(account).positions}
        if held_unds & set(moves.uncovered):
            continue
        sets = crisis_scenarios(moves, mpor)
        pool.append(
            (
                sets[f"{mpor}d"] if f"{mpor}d" in sets else sets["window"],
                f"{w.title or w.name} {w.start}..{w.end}, worst {mpor}-day move",
            )
        )
    j = portfolio.accounts.index(account)
    best: tuple[float, ScenarioSet, int, str] | None = None
    for scen, desc in pool:
        loss = account_losses(portfolio, snapshot, scen)[:, j]
        i = int(loss.argmax())
        if best is None or loss[i] > best[0]:
            best = (float(loss[i]), scen, i, desc)
    if best is None:
        raise InputError(f"no stress scenario covers every underlying of account {account}")
    _, scen, row, desc = best
    return default_loss(portfolio, snapshot, held, account, scen, row, mpor=mpor, description=desc)


__all__ = ["StressReport", "correlation_modes", "run_stress"]
