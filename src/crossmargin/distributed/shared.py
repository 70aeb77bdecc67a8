"""The model's per-instrument work, done once on the client and shared with every worker.

``MarginModel.prepare`` is the expensive, per-instrument part of a margin run: the scenario
P&L of every instrument (``pm_grid``'s grids, SPAN's scan arrays) and, for ``es``/``hvar``,
the full revaluation of every instrument on each calendar's historical scenarios. A
distributed run prepares it **once** for every instrument of the book, prices the historical
calendars eagerly (:meth:`crossmargin.models.var_context.VarContext.price_calendars`: a lazy
context would otherwise be priced again by every worker), and broadcasts it
(:func:`crossmargin.distributed.tasks.map_units`). Each task then margins its accounts
through :class:`PreparedModel`, which maps the task's instruments onto the shared context's
columns (:func:`crossmargin.models.cache.remap`, the service cache's mapping): the same
context and the same rows give the same figures as the single-process path.

Per distinct factor set, what the workers add is cheap: the row selection of the set's
scenarios (:class:`~crossmargin.models.var_context.FactorSet`) and the tail measure.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import scipy.sparse as sp

from crossmargin.collateral.haircuts import load_haircuts
from crossmargin.collateral.valuation import collateral_positions
from crossmargin.errors import ModelError
from crossmargin.instruments import Instrument
from crossmargin.instruments.instrument import in_canonical_order
from crossmargin.market.snapshot import MarketSnapshot
from crossmargin.models.base import MarginModel, RowMargins
from crossmargin.models.cache import MappedContext, remap
from crossmargin.netting import cross_margin
from crossmargin.netting.core import eligibility_history
from crossmargin.netting.tiers import load_policy
from crossmargin.portfolio import Portfolio

if TYPE_CHECKING:
    from crossmargin.market.history import MarketHistory
    from crossmargin.models.result import MarginResult


@dataclass(frozen=True, slots=True, kw_only=True)
class SharedMargin:
    """Everything a margin task needs besides its accounts (broadcast once per run).

    ``instruments`` are the columns of ``context`` (``model.prepare(instruments, market)``);
    ``history`` is what the offset eligibility tests read, resolved on the client.
    """

    model: MarginModel
    market: MarketSnapshot
    instruments: tuple[Instrument, ...]
    context: Any
    by: str = "underlying"
    cap: float | None = None
    offsets: Any = None
    haircuts: Any = None
    history: MarketHistory | None = None
    columns: dict[Instrument, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "columns", {i: j for j, i in enumerate(self.instruments)})

    def margin(self, portfolio: Portfolio) -> MarginResult:
        """Margin some whole accounts of the book (what the single-process path gives them)."""
        model = PreparedModel(self)
        result = cross_margin(
            model,
            portfolio,
            self.market,
            by=self.by,
            cap=self.cap,
            offsets=self.offsets,
            history=self.history,
            haircuts=self.haircuts,
        )
        return dataclasses.replace(result, model=self.model.name)


class PreparedModel(MarginModel):
    """A model whose ``prepare`` returns the shared context, mapped onto the instruments
    asked for (every one must be among the shared ones)."""

    name: ClassVar[str] = "prepared"
    description: ClassVar[str] = "A model with its per-instrument work done once, shared"

    def __init__(self, shared: SharedMargin) -> None:
        self.shared = shared
        self.nets_collateral = shared.model.nets_collateral  # as its model (rules: never)

    def parameters(self) -> dict[str, Any]:
        """The wrapped model's parameters."""
        return self.shared.model.parameters()

    def parameters_for(self, underlyings: Collection[str]) -> dict[str, Any]:
        """The wrapped model's parameters for a book on ``underlyings``."""
        return self.shared.model.parameters_for(underlyings)

    def history(self) -> MarketHistory | None:
        """The eligibility history resolved on the client."""
        return self.shared.history

    def diagnostics(self, context: Any) -> dict[str, Any]:
        """The wrapped model's diagnostics of the shared context."""
        mapped: MappedContext = context
        return self.shared.model.diagnostics(mapped.context)

    def prepare(self, instruments: tuple[Instrument, ...], market: MarketSnapshot) -> Any:
        """The shared context with the column of each of ``instruments`` in it."""
        cols = self.shared.columns
        missing = [i.symbol for i in instruments if i not in cols]
        if missing:
            raise ModelError(
                f"instruments {', '.join(missing[:5])} are not in the prepared context: "
                "prepare it with every instrument of the book"
            )
        return MappedContext(
            context=self.shared.context,
            columns=np.fromiter((cols[i] for i in instruments), dtype=np.int64),
            width=len(self.shared.instruments),
        )

    def margin_rows(
        self, context: Any, holdings: sp.csr_matrix, *, detail: np.ndarray | None = None
    ) -> RowMargins:
        """Re-index ``holdings`` onto the shared columns and margin them."""
        mapped: MappedContext = context
        return self.shared.model.margin_rows(mapped.context, remap(mapped, holdings),
                                             detail=detail)  # fmt: skip


def book_instruments(portfolio: Portfolio) -> tuple[Instrument, ...]:
    """Every instrument a margin run of ``portfolio`` can price: its positions', and its
    coin and security collateral on underlyings the book holds (a superset of what
    :func:`crossmargin.netting.cross_margin` prices for any subset of its accounts), in
    canonical order as a layout lists them (``Instrument.sort_key``): every part's columns
    keep their relative order in the shared context, so its sums are those of its netting
    sets alone."""
    unds = set(portfolio.underlyings)
    coll = (inst for _, inst in collateral_positions(portfolio.collateral))
    return in_canonical_order([*portfolio.instruments, *(i for i in coll if i.underlying in unds)])


def history_folder(history: MarketHistory | None) -> Path | None:
    """The folder a history reads its series from (None without a history)."""
    return None if history is None else Path(history.data_dir)


def price_now(context: Any) -> None:
    """Do a lazy context's per-instrument work now (historical calendars; both contexts of a
    ``conservative`` pair), so that shipping it ships the P&L."""
    if isinstance(context, tuple):
        for inner in context:
            price_now(inner)
        return
    price = getattr(context, "price_calendars", None)
    if callable(price):
        price()


def share_margin(
    model: MarginModel,
    instruments: tuple[Instrument, ...],
    market: MarketSnapshot,
    *,
    by: str = "underlying",
    cap: float | None = None,
    offsets: Any = None,
    haircuts: Any = None,
    history: MarketHistory | None = None,
) -> SharedMargin:
    """Prepare ``model`` on ``instruments`` (checks the market data once, here), price it now
    and bundle what the tasks need (see the module docstring)."""
    policy = load_policy(offsets)  # a policy file is read here, once, and shipped
    schedule = load_haircuts(haircuts)  # so is a haircut file
    context = model.prepare(instruments, market)
    price_now(context)
    needs = policy.with_cap(cap).needs_history
    found = eligibility_history(model, history) if needs else None
    return SharedMargin(
        model=model,
        market=market,
        instruments=instruments,
        context=context,
        by=by,
        cap=cap,
        offsets=policy,
        haircuts=schedule,
        history=found,
    )


__all__ = [
    "PreparedModel",
    "SharedMargin",
    "book_instruments",
    "history_folder",
    "price_now",
    "share_margin",
]
