"""Margin a book on a Dask cluster: the same :class:`MarginResult` as the single-process path.

:func:`run_margin` prepares the model once on the client for every instrument of the book
(:mod:`.shared`), cuts the book into parts of whole accounts (:mod:`.partition`), margins each
part in a task (:func:`crossmargin.netting.cross_margin` on the part, through the shared
context) and merges the parts (:func:`merge_results`) in book order: accounts as
``book.accounts``, positions as ``book.positions``, groups account by account. Each account's
figures are the ones the single-process path gives it, since they depend on its own positions
only (``tests/test_netting_set_isolation.py``); the tests hold the two paths equal to 1e-9.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from distributed import Client

from crossmargin.errors import InputError
from crossmargin.instruments import Instrument
from crossmargin.market.snapshot import MarketSnapshot
from crossmargin.models.base import MarginModel
from crossmargin.models.result import GROUPINGS, GroupMargin, MarginResult, PositionMargin
from crossmargin.netting.assemble import worst_scenario_names
from crossmargin.netting.columnar import columnar_book
from crossmargin.netting.core import BY_TIER, result_parameters, run_tiers
from crossmargin.netting.tiers import load_policy
from crossmargin.portfolio import Portfolio
from crossmargin.portfolio.codes import object_array
from crossmargin.pricing.mtm import row_mtm
from crossmargin.pricing.terms import instrument_terms

from .cluster import require_folders, worker_count
from .output import PartFigures
from .partition import BookPart, parts_for
from .shared import PreparedModel, SharedMargin, book_instruments, history_folder, share_margin
from .tasks import Progress, map_units

if TYPE_CHECKING:
    from crossmargin.market.history import MarketHistory


def margin_part(part: BookPart, shared: SharedMargin) -> MarginResult:
    """One task: the margin of a part's accounts (runs on a worker)."""
    return shared.margin(part.portfolio())


def margin_columns(part: BookPart, shared: SharedMargin) -> PartFigures:
    """The figures :func:`margin_part` gives ``part``'s accounts and positions, as columns,
    with no object per position or account (the dataset path; module docstring of
    :mod:`crossmargin.distributed.dataset`).

    The same steps as :func:`crossmargin.netting.cross_margin`: the tier rows from the
    part's columns (:func:`~crossmargin.netting.columnar.columnar_book`, equal to
    :func:`~crossmargin.netting.layout.tier_layout` of ``part.portfolio()``), the margins and
    the tier walk (:func:`~crossmargin.netting.core.run_tiers`), MTM of the booked rows
    (:func:`~crossmargin.pricing.mtm.row_mtm`). A part from a dataset holds no collateral, so
    an account's equity is its MTM (:mod:`crossmargin.collateral.equity` with no holding).
    """
    if part.collateral:
        raise InputError("margin_columns takes parts without collateral: use margin_part")
    canon: dict[Instrument, int] = {}
    same = np.array([canon.setdefault(i, len(canon)) for i in part.instruments], np.int64)
    instruments = tuple(canon)
    row_instrument = same[part.instrument_index]
    layout, position = columnar_book(
        object_array(part.accounts)[part.account_index], instruments, row_instrument, part.quantity,
        part.venue or None,
    )  # fmt: skip
    policy = load_policy(shared.offsets).with_cap(shared.cap)
    run = run_tiers(PreparedModel(shared), layout, shared.market, by=shared.by, policy=policy,
                    history=shared.history)  # fmt: skip
    mtm, unrealised = row_mtm(instrument_terms(tuple(instruments), shared.market),
                              row_instrument, part.quantity,
                              part.trade_price, position, layout.n_positions)  # fmt: skip
    made = run.account_figures(mtm, unrealised)
    acc, alone, n_pos = run.accounts, run.positions, layout.n_positions
    netting_set = np.array([f.get("netting_set") for f in acc.facts] if acc.facts else
                           [None] * len(layout.accounts), dtype=object)  # fmt: skip
    account_names = object_array(layout.accounts)
    symbols = np.array([i.symbol for i in layout.instruments], dtype=object)
    by_tier = run.by_tier
    if by_tier == "position":
        group = np.full(n_pos, "", dtype=object)
        grouped_total = math.fsum(alone.total)
    else:
        group = layout.item_labels(by_tier)[:n_pos]
        grouped_total = math.fsum(run.figures.margin[by_tier])
    return PartFigures(
        currency=shared.market.reporting_currency,
        account=account_names,
        total=made.total,
        netted=made.netted,
        standalone=made.standalone,
        grouped=made.grouped,
        maintenance=made.maintenance,
        worst_scenario=worst_scenario_names(acc),
        netting_set=netting_set,
        components=dict(acc.components),
        equity=0.0 + made.mtm,  # collateral after haircut (none) + MTM
        position_account=account_names[layout.account[:n_pos]],
        symbol=symbols[layout.instrument[:n_pos]],
        quantity=layout.quantity[:n_pos],
        group=group,
        position_standalone=alone.total,
        position_maintenance=alone.maintenance,
        grouped_total=grouped_total,
    )


def run_margin(
    client: Client,
    model: MarginModel,
    portfolio: Portfolio,
    market: MarketSnapshot,
    *,
    by: str = "underlying",
    cap: float | None = None,
    offsets: Any = None,
    haircuts: Any = None,
    history: MarketHistory | None = None,
    chunk_positions: int | None = None,
    progress: Progress | None = None,
    timings: list[float] | None = None,
) -> MarginResult:
    """``model.compute(portfolio, market, by=, cap=, offsets=, haircuts=)`` on ``client``'s workers.

    ``chunk_positions`` overrides the chunk size (netted positions per task;
    :func:`crossmargin.distributed.partition.chunk_positions` by default); ``progress`` and
    ``timings`` as in :func:`crossmargin.distributed.tasks.map_units`.
    """
    if by not in BY_TIER:
        raise InputError(f"unknown grouping {by!r}: use one of {', '.join(GROUPINGS)}")
    if not portfolio.positions:
        raise InputError("the book is empty: nothing to margin")
    shared = share_margin(model, book_instruments(portfolio), market, by=by, cap=cap,
                          offsets=offsets, haircuts=haircuts,
                          history=history)  # fmt: skip
    require_folders(client, {"market history": history_folder(shared.history)})
    parts = parts_for(portfolio, worker_count(client), chunk_positions)
    results = map_units(client, margin_part, parts, shared=shared, name="margin",
                        progress=progress, timings=timings)  # fmt: skip
    # each part reports the parameters of its own underlyings; the book has them all (as
    # cross_margin reports them for the whole book)
    return dataclasses.replace(
        merge_results(results, portfolio),
        parameters=result_parameters(model.parameters_for(portfolio.underlyings), shared.haircuts),
    )


def merge_results(results: Sequence[MarginResult], book: Portfolio) -> MarginResult:
    """One result from those of disjoint parts of ``book`` (whole accounts each), in the
    order the single-process path reports: accounts as ``book.accounts``, positions as
    ``book.positions``, groups account by account (position by position for ``by=position``).
    """
    if not results:
        raise InputError("nothing to merge: no part was margined")
    first = results[0]
    order = {a: i for i, a in enumerate(book.accounts)}
    accounts = sorted((a for r in results for a in r.accounts), key=lambda a: order[a.account])
    positions = _in_position_order([p for r in results for p in r.positions], book)
    if first.by == "position":
        groups: tuple[GroupMargin, ...] = _in_position_order(
            [g for r in results for g in r.groups], book
        )
    else:
        groups = tuple(
            sorted((g for r in results for g in r.groups), key=lambda g: order[g.account])
        )
    return dataclasses.replace(
        first,
        accounts=tuple(accounts),
        positions=positions,
        groups=groups,
        diagnostics=merge_diagnostics([r.diagnostics for r in results]),
    )


def _in_position_order(rows: Sequence[Any], book: Portfolio) -> tuple[Any, ...]:
    """Per-position rows (``PositionMargin``, or ``GroupMargin`` of ``by=position``) in
    ``book.positions`` order: within an account a part keeps the book's order, so the k-th row
    of an account is its k-th position."""
    by_account: dict[str, list[PositionMargin | GroupMargin]] = {}
    for row in rows:
        by_account.setdefault(row.account, []).append(row)
    taken = dict.fromkeys(by_account, 0)
    out = []
    for p in book.positions:
        k = taken[p.account]
        out.append(by_account[p.account][k])
        taken[p.account] = k + 1
    return tuple(out)


def merge_diagnostics(parts: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The parts' diagnostics as one: mappings (e.g. ``netting_sets``, keyed by factor set)
    are united, the first part's entry kept for a key met twice (the shared context gives
    every part the same figures for it); other values are the first part's."""
    out: dict[str, Any] = {}
    for diag in parts:
        for key, value in diag.items():
            if key not in out:
                out[key] = dict(value) if isinstance(value, Mapping) else value
            elif isinstance(value, Mapping) and isinstance(out[key], dict):
                for k, v in value.items():
                    out[key].setdefault(k, v)
    return out


__all__ = ["margin_columns", "margin_part", "merge_diagnostics", "merge_results", "run_margin"]
