"""From the model's row margins to the :class:`~crossmargin.models.result.MarginResult`.

Per account (money in the reporting currency), first as arrays (:class:`AccountFigures`,
``layout.accounts`` order), then as the result's objects:

* ``standalone`` = Σ of its positions margined alone; ``total`` = ``capped`` = the capped
  requirement ``C`` of its netting-set group (:mod:`crossmargin.netting.offsets`);
  ``netted`` = the model's margin ``N`` of that group; ``grouped`` = Σ ``N`` over the groups
  of the ``by`` tier;
* ``maintenance`` = the model's maintenance figure of the netting set scaled like the
  requirement, ``MM·(total / netted)`` where ``netted > 0`` (else as is; NaN: none);
* ``mtm`` and ``unrealised_pnl`` = its positions' (:func:`crossmargin.pricing.mtm.position_mtm`)
  summed, which with the collateral give its equity (:mod:`crossmargin.collateral.equity`).

The objects (hundreds of thousands for a large book, none in a reference cycle) are built
with the cyclic garbage collector paused (:func:`paused_gc`): its passes over the growing
heap took about as long as building them.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from crossmargin.market.snapshot import MarketSnapshot
from crossmargin.models.base import RowMargins
from crossmargin.models.result import AccountMargin, GroupMargin, PositionMargin
from crossmargin.netting.layout import TierLayout
from crossmargin.netting.offsets import TierFigures
from crossmargin.netting.sums import group_sum
from crossmargin.portfolio import Portfolio
from crossmargin.portfolio.codes import object_array

FloatArray = npt.NDArray[np.float64]
ObjArray = npt.NDArray[np.object_]


@contextmanager
def paused_gc() -> Iterator[None]:
    """The cyclic garbage collector off inside the block (back on after it if it was on;
    reference counting still frees everything as usual)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


@dataclass(frozen=True, slots=True, kw_only=True)
class AccountFigures:
    """Each account's figures (module docstring), one entry per ``accounts``."""

    accounts: tuple[str, ...]
    total: FloatArray
    netted: FloatArray
    standalone: FloatArray
    grouped: FloatArray
    maintenance: FloatArray | None
    mtm: FloatArray
    unrealised_pnl: FloatArray


def account_figures(
    layout: TierLayout,
    figures: TierFigures,
    accounts: RowMargins,
    by_tier: str,
    mtm: FloatArray,
    unrealised: FloatArray,
) -> AccountFigures:
    """The per-account arrays of a run: ``accounts`` are the model's margins of the netting-set
    rows, ``mtm`` and ``unrealised`` per position."""
    n_acc = len(layout.accounts)
    owner = layout.account[: layout.n_positions]
    total = figures.account_capped["netting-set"]
    netted = accounts.total
    mm = None
    if accounts.maintenance is not None:
        raw = accounts.maintenance
        positive = netted > 0
        mm = np.where(positive, raw * (total / np.where(positive, netted, 1.0)), raw)
    modes = account_modes(figures, accounts, by_tier)
    return AccountFigures(
        accounts=layout.accounts,
        total=total,
        netted=modes["netted"],
        standalone=modes["standalone"],
        grouped=modes["grouped"],
        maintenance=mm,
        mtm=group_sum(owner, mtm, n_acc),
        unrealised_pnl=group_sum(owner, unrealised, n_acc),
    )


def account_modes(
    figures: TierFigures, accounts: RowMargins, by_tier: str
) -> dict[str, FloatArray]:
    """Each account's ``netted`` (the model's margin of its netting set), ``grouped`` (Σ of
    its ``by_tier`` groups' margins) and ``standalone`` (Σ of its positions margined alone)
    margins."""
    return {
        "netted": accounts.total,
        "grouped": figures.account_margin[by_tier],
        "standalone": figures.account_margin["position"],
    }


def worst_scenario_names(margins: RowMargins) -> ObjArray:
    """Each row's worst scenario by name (None where the model names none)."""
    n = margins.total.shape[0]
    if margins.worst_scenario is None:
        return np.full(n, None, dtype=object)
    names = margins.scenario_names  # thousands; only the rows' own are looked up
    return object_array([names[k] if k >= 0 else None for k in margins.worst_scenario.tolist()])


def position_margins(
    portfolio: Portfolio, layout: TierLayout, by_tier: str, alone: RowMargins
) -> tuple[PositionMargin, ...]:
    """Each position margined alone, labelled with its group of the ``by`` tier."""
    n_pos = layout.n_positions
    labels = [""] * n_pos if by_tier == "position" else layout.item_labels(by_tier)[:n_pos]
    mm = [None] * n_pos if alone.maintenance is None else alone.maintenance.tolist()
    return tuple(
        PositionMargin(
            account=p.account,
            symbol=p.instrument.symbol,
            quantity=p.quantity,
            group=g,
            standalone=s,
            maintenance=m,
        )
        for p, g, s, m in zip(
            portfolio.positions, list(labels), alone.total.tolist(), mm, strict=True
        )
    )


def group_margins(
    layout: TierLayout, figures: TierFigures, by_tier: str, standalone: FloatArray
) -> tuple[GroupMargin, ...]:
    """The groups of the ``by`` tier, account by account (each position its own group for
    ``position``)."""
    names = object_array(layout.accounts)
    if by_tier == "position":
        n_pos = layout.n_positions
        symbols = [i.symbol for i in layout.instruments]
        alone = standalone.tolist()
        return tuple(
            GroupMargin(account=a, group=symbols[j], margin=s, standalone=s)
            for a, j, s in zip(
                names[layout.account[:n_pos]].tolist(),
                layout.instrument[:n_pos].tolist(),
                alone,
                strict=True,
            )
        )
    owner = layout.group_account[by_tier]
    order = np.argsort(owner, kind="stable")
    return tuple(
        GroupMargin(account=a, group=g, margin=n, standalone=s)
        for a, g, n, s in zip(
            names[owner[order]].tolist(),
            layout.group_labels(by_tier)[order].tolist(),
            figures.margin[by_tier][order].tolist(),
            figures.standalone[by_tier][order].tolist(),
            strict=True,
        )
    )


def account_margins(
    market: MarketSnapshot,
    portfolio: Portfolio,
    layout: TierLayout,
    made: AccountFigures,
    accounts: RowMargins,
    tiers: list[Any],
    schedule: Any,
) -> tuple[AccountMargin, ...]:
    """Each account's :class:`AccountMargin`, its tiers and equity included."""
    from crossmargin.collateral.equity import account_equity, by_account
    from crossmargin.collateral.valuation import value_collateral

    values = (
        by_account(value_collateral(portfolio.collateral, market, schedule))
        if portfolio.collateral
        else {}
    )
    n_acc = len(layout.accounts)
    none: list[float | None] = [None] * n_acc
    mm = none if made.maintenance is None else made.maintenance.tolist()
    comps = {k: v.tolist() for k, v in accounts.components.items()}
    info = {k: v.tolist() for k, v in accounts.info.items()}
    worst = worst_scenario_names(accounts).tolist()
    facts = accounts.facts
    total, netted = made.total.tolist(), made.netted.tolist()
    standalone, grouped = made.standalone.tolist(), made.grouped.tolist()
    mtm, unrealised = made.mtm.tolist(), made.unrealised_pnl.tolist()
    out = []
    for a, acc in enumerate(layout.accounts):
        out.append(
            AccountMargin(
                account=acc,
                total=total[a],
                netted=netted[a],
                standalone=standalone[a],
                grouped=grouped[a],
                capped=total[a],
                maintenance=mm[a],
                components={k: v[a] for k, v in comps.items()},
                info={k: v[a] for k, v in info.items()},
                worst_scenario=worst[a],
                netting_set=dict(facts[a]) if facts else {},
                tiers=tiers[a],
                equity=account_equity(
                    currency=market.reporting_currency,
                    holdings=values.get(acc, ()),
                    mtm=mtm[a],
                    unrealised_pnl=unrealised[a],
                    initial_margin=total[a],
                    maintenance_margin=mm[a],
                ),
            )
        )
    return tuple(out)


__all__ = [
    "AccountFigures",
    "account_figures",
    "account_margins",
    "account_modes",
    "group_margins",
    "paused_gc",
    "position_margins",
    "worst_scenario_names",
]
