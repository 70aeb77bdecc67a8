"""One stress run: margin held, then every requested stress, in one read-only report.

:func:`run_stress` is what :func:`crossmargin.api.stress` calls. It margins the book under the
chosen model (the **netted margin held** per account), then runs, as asked:

* hypothetical scenarios from a file (:mod:`.hypothetical`);
* crisis replays, named or by dates (:mod:`.crisis`); with no scenario file, crisis or
  correlation mode given: **every named crisis**;
* a correlation break (:mod:`.correlation`), each netting set on its own window:
  ``break`` = ``adverse`` (per account, the direction of each pair that raises its ES), or
  the user's ``plus``, ``minus``, ``flip``, ``stressed`` (comma-separated to combine;
  ``all`` = every one);
* a reverse stress of every account (:mod:`.reverse`);
* the default of one account (:mod:`.default`), or of each (``default="all"``), under its
  worst scenario among those run (crisis ``h``-day rows on the account's own netting set and
  hypothetical rows; the named crises when only a correlation break was run).

The joint distribution (correlation, reverse stress) is the ES model's window: the chosen
model's when it is ``es``/``hvar``, else the ``es`` model with its file defaults.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from crossmargin.analysis.stress.common import (
    AccountOutcome,
    HeldMargin,
    ScenarioOutcome,
    account_losses,
    account_underlyings,
    held_margin,
    netting_set_groups,
)
from crossmargin.analysis.stress.correlation import (
    CorrelationBreakdown,
    Pair,
    correlation_breakdown,
    load_correlation_override,
    merge_breakdowns,
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
    plan_steps,
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
    defaults: tuple[DefaultLoss, ...] = ()
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
            "defaults": [d.to_dict() for d in self.defaults],
            "units": stress_units(self.currency),
        }

    def summary(self) -> str:
        """A few lines a person reads first: per account its worst scenario."""
        lines = [f"stress of {self.model} margin held ({self.currency}, MPOR {self.mpor}d)"]
        for r in self.account_rows():
            if r["worst_loss"] is None:
                lines.append(f"  {r['account']}: no covered scenario")
                continue
            lines.append(
                f"  {r['account']}: worst loss {r['worst_loss']:,.0f} ({r['worst_scenario']}), "
                f"margin {r['margin']:,.0f}, shortfall {r['shortfall']:,.0f}"
            )
        return "\n".join(lines)

    def account_scenario_rows(self) -> list[dict[str, Any]]:
        """One row per scenario and account: the row applied, loss, margin held, standalone
        and shortfall (every figure of one account on one scenario row; nothing summed)."""
        return [
            {
                "scenario": s.name,
                "kind": s.kind,
                "horizon": s.horizon,
                "account": a.account,
                "applied": a.scenario,
                "covered": a.covered,
                "loss": a.loss if a.covered else None,
                "margin": a.margin,
                "standalone": a.standalone,
                "shortfall": a.shortfall if a.covered else None,
                "standalone_shortfall": a.standalone_shortfall if a.covered else None,
                "note": a.note,
            }
            for s in self.scenarios
            for a in s.accounts
        ]


def stress_units(currency: str) -> dict[str, str]:
    """The units of a stress report's JSON fields."""
    return {
        "money": f"{currency}: losses (−P&L, loss > 0), margins held, standalone margins, "
        "shortfalls = max(0, loss − margin held), ES broken/unbroken, liquidation costs",
        "loss": "per account on one scenario row; a scenario's loss/shortfall is given only "
        "when every account took the same row (joint), else null: worst days never add up",
        "spot": "decimal relative move S1/S0 − 1 (−0.1 = −10%)",
        "vol": "decimal vol change (0.05 = +5 vol points), or relative when vol_type says so",
        "correlation": "dimensionless, −1 to 1 (normal-score correlation of the window)",
        "mahalanobis_distance": "dimensionless: standard deviations of the joint MPOR move",
        "plausibility": "decimal share of the history's MPOR moves at least that far",
        "mpor": "days",
        "horizon": "1d, the MPOR in days, or the crisis window",
    }


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
    progress: Callable[[int, int], None] | None = None,
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
    book_level = int(bool(plan.modes)) + (
        0 if default is None else len(portfolio.accounts) if default == "all" else 1
    )
    total = (plan_steps(plan, portfolio) if parts is None else 0) + book_level
    done = 0

    def step() -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, total)

    if progress is not None:
        progress(0, total)
    if parts is None:
        parts = netting_set_stress(portfolio, snapshot, es, history, held, plan, step=step)
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
        step()
    dflts: list[DefaultLoss] = []
    if default is not None:
        names = portfolio.accounts if default == "all" else (default,)
        for a in names:
            dflts.append(_default(portfolio, snapshot, held, history, a, mpor, windows, candidates))
            step()
    return StressReport(
        model=held.model,
        currency=snapshot.reporting_currency,
        market=snapshot.source,
        mpor=mpor,
        held=held,
        scenarios=tuple(outcomes),
        correlation=breakdown,
        reverse=parts.reverse,
        default=dflts[0] if dflts and default != "all" else None,
        defaults=tuple(dflts),
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
    """Every netting set broken on its own window (its calendar, lookback and MPOR)."""
    book = set(portfolio.priced_underlyings)
    for a, b in pairs or ():
        for u in (a, b):
            if u not in book:
                raise InputError(
                    f"pair {a}:{b}: {u} is not an underlying of the book "
                    f"({', '.join(sorted(book))})"
                )
    override = None
    if stressed_matrix is not None:
        labels, matrix = load_correlation_override(stressed_matrix)
        override = ((labels, matrix), f"correlation file {stressed_matrix}")
    win = None
    if "stressed" in modes and override is None:
        win = resolve_window(stressed_window) if stressed_window else default_stressed_window()
    parts = []
    for _, accounts in netting_set_groups(portfolio).items():
        sub = portfolio.subset(accounts)
        window = es_window(es, sub, snapshot)
        stressed, source = override if override is not None else (None, "")
        if win is not None:
            names, matrix, source = crisis_correlation(history, win, window.underlyings)
            stressed = (names, matrix)
        parts.append(
            correlation_breakdown(
                sub,
                snapshot,
                window,
                held,
                modes=modes,
                pairs=pairs,
                blend=blend,
                stressed=stressed,
                stressed_source=source,
            )
        )
    out = merge_breakdowns(parts, portfolio.accounts)
    if pairs:
        for a, b in pairs:
            if not any(f"{a}:{b}" in s.before for s in out.sets):
                out = replace(
                    out, notes=(*out.notes, f"no netting set holds both {a} and {b}: not broken")
                )
    return out


def _correlation_outcomes(
    breakdown: CorrelationBreakdown, held: HeldMargin
) -> list[ScenarioOutcome]:
    """One outcome per mode (every pair broken): each account's ES under its break."""
    out = []
    for mode in dict.fromkeys(r.mode for r in breakdown.rows):
        rows = [r for r in breakdown.rows if r.mode == mode and r.pair == "all"]
        notes = tuple(
            n for s in breakdown.sets for m in s.matrices if m.mode == mode
            for n in _repair_notes(m)
        )  # fmt: skip
        out.append(
            ScenarioOutcome(
                name=f"correlation {mode}",
                kind="correlation",
                horizon=f"{breakdown.mpor}d",
                description=_describe(breakdown, mode),
                accounts=tuple(
                    AccountOutcome(
                        account=r.account,
                        loss=r.broken,
                        margin=r.margin,
                        standalone=held.standalone[r.account],
                        scenario=_applied(r),
                    )
                    for r in rows
                ),
                notes=notes,
            )
        )
    return out


def _describe(breakdown: CorrelationBreakdown, mode: str) -> str:
    how = ": per account the direction of each pair that raises its ES" if mode == "adverse" else ""
    return (
        f"{breakdown.confidence:.2%} ES of each account with its offset correlations broken "
        f"({mode}{how}), each netting set on its own window; loss = ES under the break"
    )


def _applied(r: Any) -> str:
    if not r.target:
        return f"{r.mode}: no pair to break ({r.netting_set})"
    parts = [f"{k} {v:+.2f}" for k, v in r.target.items()]
    return f"{r.mode}: " + ", ".join(parts)


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
    mine = account_underlyings(portfolio)[account]
    alone = portfolio.subset([account])  # the account's own netting set and calendar
    pool = list(candidates)
    for w in windows or list(crisis_catalogue().values()):
        moves = crisis_moves(history, w, mine, mpor=mpor)
        held_unds = {p.instrument.underlying for p in alone.positions}
        if held_unds & set(moves.uncovered):
            continue
        sets = crisis_scenarios(moves, mpor)
        pool.append(
            (
                sets[f"{mpor}d"] if f"{mpor}d" in sets else sets["window"],
                f"{w.title or w.name} {w.start}..{w.end}, worst {mpor}-day move",
            )
        )
    best: tuple[float, ScenarioSet, int, str] | None = None
    for scen, desc in pool:
        loss = account_losses(alone, snapshot, scen)[:, 0]
        i = int(loss.argmax())
        if best is None or loss[i] > best[0]:
            best = (float(loss[i]), scen, i, desc)
    if best is None:
        raise InputError(f"no stress scenario covers every underlying of account {account}")
    _, scen, row, desc = best
    return default_loss(portfolio, snapshot, held, account, scen, row, mpor=mpor, description=desc)


__all__ = ["StressReport", "correlation_modes", "run_stress"]
