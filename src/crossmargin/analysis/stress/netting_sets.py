"""The per-netting-set part of a stress run, which any subset of accounts can run on its own.

A stress run (:func:`crossmargin.analysis.stress.report.run_stress`) has two kinds of work:

* **per netting set**: hypothetical scenarios and crisis replays (each group of accounts with
  the same factor set on its own calendar and days), and the reverse stress of each account
  (on its netting set's window). An account's outcome depends on its own positions and margin
  held only, so the accounts can be split into parts, each part stressed on its own
  (:func:`netting_set_stress`), and the parts merged (:func:`merge_parts`) into what the whole
  book gives, figure for figure: this is how :mod:`crossmargin.distributed` scales it out;
* **book level**: the correlation breakdown (one joint window of the book's factors) and the
  default of one account (its worst scenario among every scenario run); they run once on the
  whole book.

:func:`plan_stress` resolves what to run from the user's options (one definition for both).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from crossmargin.analysis.stress.common import HeldMargin, ScenarioOutcome, netting_set_groups
from crossmargin.analysis.stress.correlation import MODES
from crossmargin.analysis.stress.crisis import (
    CrisisWindow,
    crisis_catalogue,
    crisis_replay,
    resolve_window,
)
from crossmargin.analysis.stress.factors import es_window, full_history
from crossmargin.analysis.stress.hypothetical import (
    Hypothetical,
    hypothetical_stress,
    load_scenarios,
)
from crossmargin.analysis.stress.reverse import ReverseStress, reverse_stress
from crossmargin.errors import InputError
from crossmargin.market.history import MarketHistory
from crossmargin.market.snapshot import MarketSnapshot
from crossmargin.models.var import HistoricalVaRModel
from crossmargin.portfolio import Portfolio


@dataclass(frozen=True, slots=True, kw_only=True)
class StressPlan:
    """What a stress run does: hypothetical scenarios, crisis windows, correlation modes and
    whether each account gets a reverse stress."""

    hypotheticals: tuple[Hypothetical, ...] = ()
    windows: tuple[CrisisWindow, ...] = ()
    modes: tuple[str, ...] = ()
    reverse: bool = False


def correlation_modes(text: str | Sequence[str]) -> tuple[str, ...]:
    """``break`` → adverse; ``all`` → every mode; else comma-separated mode names."""
    items = text.split(",") if isinstance(text, str) else list(text)
    out: list[str] = []
    for item in (i.strip() for i in items):
        if item == "break":
            out.append("adverse")
        elif item == "all":
            out += list(MODES)
        elif item in MODES:
            out.append(item)
        else:
            raise InputError(
                f"unknown correlation mode {item!r}: use break (= adverse), adverse, plus, "
                "minus, flip, stressed or all"
            )
    return tuple(dict.fromkeys(out))


def plan_stress(
    *,
    scenario: str | Path | None = None,
    crisis: str | Sequence[str] | None = None,
    correlation: str | Sequence[str] | None = None,
    reverse: bool = False,
    classes: Mapping[str, str] | None = None,
) -> StressPlan:
    """Resolve the options: with no scenario file, crisis or correlation mode, every named
    crisis. Unknown crisis names and modes fail here, before any work. ``classes`` adds the
    asset classes of underlyings the shipped table lacks (a book's own contracts,
    :func:`crossmargin.analysis.stress.hypothetical.book_classes`)."""
    modes = correlation_modes(correlation) if correlation is not None else ()
    hypos = load_scenarios(scenario, classes) if scenario is not None else ()
    if isinstance(crisis, str):
        crises: tuple[str, ...] = tuple(c.strip() for c in crisis.split(",") if c.strip())
    else:
        crises = tuple(crisis or ())
    if not crises and not hypos and not modes:
        crises = tuple(crisis_catalogue())
    windows = tuple(resolve_window(c) for c in crises)
    return StressPlan(hypotheticals=hypos, windows=windows, modes=modes, reverse=reverse)


@dataclass(frozen=True, slots=True, kw_only=True)
class NettingSetStress:
    """The per-netting-set outcomes of some accounts: hypothetical then crisis outcomes (in
    plan order) and the reverse stresses (in the accounts' order)."""

    outcomes: tuple[ScenarioOutcome, ...] = ()
    reverse: tuple[ReverseStress, ...] = ()


def netting_set_stress(
    portfolio: Portfolio,
    snapshot: MarketSnapshot,
    es: HistoricalVaRModel,
    history: MarketHistory,
    held: HeldMargin,
    plan: StressPlan,
    *,
    underlyings: Sequence[str] | None = None,
    step: Callable[[], None] | None = None,
) -> NettingSetStress:
    """The per-netting-set stresses of ``plan`` on ``portfolio`` (module docstring).

    ``underlyings`` are the whole book's when ``portfolio`` is a part of it (the hypothetical
    scenarios report their moves on every underlying of the book); default: the portfolio's.
    ``step()`` is called after each of :func:`plan_steps` units of work (a progress bar).
    """
    tick = step if step is not None else (lambda: None)
    outcomes: list[ScenarioOutcome] = []
    if plan.hypotheticals:
        outcomes += hypothetical_stress(
            portfolio, snapshot, held, plan.hypotheticals, underlyings=underlyings
        )
        tick()
    for w in plan.windows:
        outcomes += crisis_replay(portfolio, snapshot, held, history, w, mpor=es.mpor)
        tick()
    rev: tuple[ReverseStress, ...] = ()
    if plan.reverse:
        found: list[ReverseStress] = []
        for _, accounts in netting_set_groups(portfolio).items():
            sub = portfolio.subset(accounts)  # each netting set on its own factors
            window = es_window(es, sub, snapshot)
            daily, dates = full_history(es, sub, snapshot)
            found += reverse_stress(sub, snapshot, window, held, daily, dates)
            tick()
        order = {a: i for i, a in enumerate(portfolio.accounts)}
        rev = tuple(sorted(found, key=lambda r: order[r.account]))
    return NettingSetStress(outcomes=tuple(outcomes), reverse=rev)


def plan_steps(plan: StressPlan, portfolio: Portfolio) -> int:
    """Units of work :func:`netting_set_stress` reports through ``step``: the hypothetical
    file, each crisis window, and each netting set's reverse stress."""
    reverse = len(netting_set_groups(portfolio)) if plan.reverse else 0
    return int(bool(plan.hypotheticals)) + len(plan.windows) + reverse


def merge_parts(parts: Iterable[NettingSetStress], accounts: Sequence[str]) -> NettingSetStress:
    """One :class:`NettingSetStress` from those of disjoint parts of a book.

    The parts must come in the order of the book's netting-set groups (the accounts grouped by
    factor set in first-seen order, :func:`netting_set_groups`), a group possibly split over
    consecutive parts: then the merge equals the whole book's outcome, with accounts in
    ``accounts`` order, a crisis's single-row moves and notes as the whole book reports them.
    """
    order = {a: i for i, a in enumerate(accounts)}
    merged: dict[str, ScenarioOutcome] = {}
    reverse: list[ReverseStress] = []
    for part in parts:
        reverse += part.reverse
        for out in part.outcomes:
            seen = merged.get(out.name)
            if seen is None:
                merged[out.name] = out
                continue
            merged[out.name] = replace(
                seen,
                accounts=seen.accounts + out.accounts,
                moves={**out.moves, **seen.moves},  # the earlier group's row wins, as whole
                notes=tuple(dict.fromkeys(seen.notes + out.notes)),
            )
    return NettingSetStress(
        outcomes=tuple(
            replace(o, accounts=tuple(sorted(o.accounts, key=lambda a: order[a.account])))
            for o in merged.values()
        ),
        reverse=tuple(sorted(reverse, key=lambda r: order[r.account])),
    )


__all__ = [
    "NettingSetStress",
    "StressPlan",
    "correlation_modes",
    "merge_parts",
    "netting_set_stress",
    "plan_steps",
    "plan_stress",
]
