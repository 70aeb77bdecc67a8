"""Stress a book on a Dask cluster: the same :class:`StressReport` as the single-process path.

1. the margin held: :func:`crossmargin.distributed.margin.run_margin` (netted, no cap);
2. the per-netting-set stresses (hypothetical scenarios, crisis replays, reverse stress;
   :mod:`crossmargin.analysis.stress.netting_sets`) on parts of whole accounts in factor-set
   order, each part with the margin held by its own accounts; merged in book order;
3. the book-level stresses (correlation breakdown on the book's joint window, default of one
   account) on the client, through :func:`crossmargin.analysis.stress.report.run_stress`
   with the margin held and the merged parts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from distributed import Client

from crossmargin.analysis.stress.common import HeldMargin
from crossmargin.analysis.stress.correlation import Pair
from crossmargin.analysis.stress.factors import var_model
from crossmargin.analysis.stress.hypothetical import book_classes
from crossmargin.analysis.stress.netting_sets import (
    NettingSetStress,
    StressPlan,
    merge_parts,
    netting_set_stress,
    plan_stress,
)
from crossmargin.analysis.stress.report import StressReport
from crossmargin.analysis.stress.report import run_stress as report_stress
from crossmargin.market.history import MarketHistory
from crossmargin.market.snapshot import MarketSnapshot
from crossmargin.models.base import MarginModel
from crossmargin.models.var import HistoricalVaRModel
from crossmargin.portfolio import Portfolio

from .cluster import require_folders, worker_count
from .margin import run_margin
from .partition import BookPart, parts_for
from .tasks import Progress, map_units


@dataclass(frozen=True, slots=True, kw_only=True)
class _SharedStress:
    snapshot: MarketSnapshot
    es: HistoricalVaRModel
    history: MarketHistory
    plan: StressPlan
    underlyings: tuple[str, ...]


def stress_part(unit: tuple[BookPart, HeldMargin], shared: _SharedStress) -> NettingSetStress:
    """One task: the per-netting-set stresses of a part's accounts (runs on a worker)."""
    part, held = unit
    return netting_set_stress(part.portfolio(), shared.snapshot, shared.es, shared.history,
                              held, shared.plan, underlyings=shared.underlyings)  # fmt: skip


def run_stress(
    client: Client,
    book: Portfolio,
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
    chunk_positions: int | None = None,
    progress: Progress | None = None,
) -> StressReport:
    """:func:`crossmargin.analysis.stress.report.run_stress` on ``client``'s workers (module
    docstring); ``chunk_positions`` as in :func:`run_margin`."""
    plan = plan_stress(
        scenario=scenario,
        crisis=crisis,
        correlation=correlation,
        reverse=reverse,
        classes=book_classes(book),
    )
    require_folders(client, {"market history": Path(history.data_dir)})
    margin = run_margin(client, model, book, snapshot, chunk_positions=chunk_positions)
    held = HeldMargin.from_result(margin)
    parts = parts_for(book, worker_count(client), chunk_positions)
    units = [
        (
            p,
            HeldMargin(
                model=held.model,
                required={a: held.required[a] for a in p.accounts},
                standalone={a: held.standalone[a] for a in p.accounts},
            ),
        )
        for p in parts
    ]
    shared = _SharedStress(snapshot=snapshot, es=var_model(model, history), history=history,
                           plan=plan, underlyings=book.underlyings)  # fmt: skip
    found = map_units(client, stress_part, units, shared=shared, name="stress",
                      progress=progress)  # fmt: skip
    return report_stress(
        book,
        snapshot,
        model,
        history,
        scenario=scenario,
        crisis=crisis,
        correlation=correlation,
        pairs=pairs,
        blend=blend,
        stressed_window=stressed_window,
        stressed_matrix=stressed_matrix,
        reverse=reverse,
        default=default,
        held=held,
        parts=merge_parts(found, book.accounts),
    )


__all__ = ["run_stress", "stress_part"]
