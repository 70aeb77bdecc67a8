"""Cross-margin aggregation: margins at every offset tier, capped credits, equity.

One code path for every model. For a portfolio it builds one sparse holdings matrix whose
rows are every netted position alone and every group of every offset tier of every netting
set (:mod:`crossmargin.netting.tiers`: product, underlying, asset class, netting set), and
asks the model to margin all rows in one call. Coin and security collateral joins the
groups of its underlying and venue from the ``underlying`` tier on, where positions on that
underlying sit (:mod:`crossmargin.collateral.valuation`). Then per account, tier by tier::

    C(position)  = margin(position alone)                                   standalone
    C(group)     = max(N, B − c·O)  where eligible, else max(N, B)          N = margin(group),
                   B = Σ C(members), O = Σ N(members) − N (the offset this tier adds)

and the account must hold ``C`` of its netting-set group (``total``); ``netted`` is ``N`` of
that group, ``grouped`` the sum of ``N`` over the groups of the ``by`` tier. Each tier's
margin, base, capped figure and credit, the eligibility of each offset and the account's
equity, initial and maintenance margin, excess and margin ratio
(:mod:`crossmargin.collateral.equity`) come with the result.

The rows come from :func:`crossmargin.netting.layout.tier_layout` (integer group codes, no
object per position), the tiers are walked on arrays (:class:`crossmargin.netting.offsets.TierBook`)
and the result is assembled from per-account arrays (:mod:`crossmargin.netting.assemble`).

Accounts never net against each other, and each row is margined on its own positions only:
a model never sees which other rows share the call, so adding, removing or reordering other
accounts cannot change an account's figures (a property test holds every model to it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp

from crossmargin.errors import InputError, MarketDataError
from crossmargin.instruments import Instrument
from crossmargin.market.snapshot import MarketSnapshot
from crossmargin.models.base import MarginModel, RowMargins
from crossmargin.models.distinct_rows import margin_distinct_rows
from crossmargin.models.result import GROUPINGS, MarginResult
from crossmargin.netting.assemble import (
    AccountFigures,
    account_figures,
    account_margins,
    account_modes,
    group_margins,
    paused_gc,
    position_margins,
)
from crossmargin.netting.layout import BROAD_CLASS, FloatArray, TierLayout, tier_layout
from crossmargin.netting.offsets import TierBook, TierFigures, tier_margins
from crossmargin.netting.tiers import TIERS, OffsetPolicy, capped, load_policy
from crossmargin.portfolio import Portfolio

if TYPE_CHECKING:
    from crossmargin.collateral.haircuts import HaircutSchedule
    from crossmargin.market.history import MarketHistory

#: The ``by`` groupings and the tier whose groups they report.
BY_TIER = {
    "position": "position",
    "product": "product",
    "underlying": "underlying",
    "asset-class": "asset-class",
    "account": "netting-set",
}


def capped_margin(standalone: float, netted: float, cap: float) -> float:
    """``max(netted, standalone − cap·(standalone − netted))`` (Art. 27(4) algebraic form)."""
    return capped(netted, standalone, standalone - netted, cap, True)


def netting_set_holdings(
    portfolio: Portfolio, model: MarginModel | None = None
) -> tuple[tuple[Instrument, ...], sp.csr_matrix]:
    """Each account's whole netting set as one row (accounts in book order) over the
    instruments it needs: its positions, plus the coin and security collateral that joins
    them where ``model`` nets collateral (as in :func:`cross_margin`'s netting-set tier)."""
    layout = tier_layout(portfolio, nets_collateral=model is None or model.nets_collateral)
    return layout.instruments, account_holdings(layout)


def account_holdings(layout: TierLayout) -> sp.csr_matrix:
    """Each account's whole netting set as one row (``layout.accounts`` order) over
    ``layout.instruments``."""
    return sp.csr_matrix(
        (layout.quantity, (layout.account, layout.instrument)),
        shape=(len(layout.accounts), len(layout.instruments)),
    )


def cross_margin(
    model: MarginModel,
    portfolio: Portfolio,
    market: MarketSnapshot,
    *,
    by: str = "underlying",
    cap: float | None = None,
    offsets: str | OffsetPolicy | None = None,
    history: MarketHistory | None = None,
    haircuts: Any = None,
    layout: TierLayout | None = None,
    detail: bool = True,
) -> MarginResult:
    """Margin ``portfolio`` under ``model`` at every tier, capped per ``offsets`` (``cap``:
    the Art 27(4) cap on the tiers across underlyings; ``haircuts``: a haircut file or
    :class:`~crossmargin.collateral.haircuts.HaircutSchedule`, default the shipped one); see
    the module docstring. ``layout`` may pass :func:`tier_layout` of ``portfolio`` (built with
    the model's ``nets_collateral``) already built. ``detail=False``: the accounts alone
    (no ``positions``, ``groups``, ``parameters`` or ``diagnostics``; every account figure
    the same), for a caller reporting accounts only, such as a what-if."""
    if by not in BY_TIER:
        raise InputError(f"unknown grouping {by!r}: use one of {', '.join(GROUPINGS)}")
    if not portfolio.positions:
        raise InputError("the book is empty: nothing to margin")
    from crossmargin.collateral.haircuts import load_haircuts

    policy = load_policy(offsets).with_cap(cap)
    schedule = load_haircuts(haircuts)
    if layout is None:
        layout = tier_layout(portfolio, nets_collateral=model.nets_collateral)
    run = run_tiers(model, layout, market, by=by, policy=policy, history=history)
    result = _assemble(run, portfolio, market, schedule, cap=cap, detail=detail)
    if not detail:
        return result
    return replace(result, diagnostics=model.diagnostics(run.context))


@dataclass(frozen=True, slots=True, kw_only=True)
class TierRun:
    """A margin run's figures before any result object is made (arrays, ``layout`` order):
    each netted position margined alone (``positions``), each netting set (``accounts``), the
    tier walk's figures (``figures``); ``context`` is the model's prepared context."""

    model: MarginModel
    layout: TierLayout
    positions: RowMargins
    accounts: RowMargins
    figures: TierFigures
    by: str
    policy: OffsetPolicy
    context: Any

    @property
    def by_tier(self) -> str:
        """The tier whose groups the ``by`` grouping reports."""
        return BY_TIER[self.by]

    def account_modes(self) -> dict[str, FloatArray]:
        """Each account's ``netted``, ``grouped`` and ``standalone`` margin (as in
        :meth:`account_figures`), ``layout.accounts`` order."""
        return account_modes(self.figures, self.accounts, self.by_tier)

    def account_figures(self, mtm: FloatArray, unrealised: FloatArray) -> AccountFigures:
        """Each account's figures, given each position's MTM and unrealised P&L."""
        return account_figures(self.layout, self.figures, self.accounts, self.by_tier, mtm,
                               unrealised)  # fmt: skip


def run_tiers(
    model: MarginModel,
    layout: TierLayout,
    market: MarketSnapshot,
    *,
    by: str,
    policy: OffsetPolicy,
    history: MarketHistory | None = None,
    detail: bool = True,
) -> TierRun:
    """Margin every row of ``layout`` under ``model`` (each distinct row once, the account
    rows in detail) and walk the tiers (module docstring): what :func:`cross_margin` and the
    columnar dataset path (:func:`crossmargin.distributed.margin.margin_columns`) share.
    ``detail=False``: no row in detail (a caller keeping the totals only, e.g. a backtest;
    the model may skip informational figures such as ES's stressed window)."""
    if by not in BY_TIER:
        raise InputError(f"unknown grouping {by!r}: use one of {', '.join(GROUPINGS)}")
    offsets_of, holdings = layout.offsets_of, layout.holdings
    start = holdings.shape[0]
    context = model.prepare(layout.instruments, market)
    detail_rows = np.zeros(start, dtype=bool)
    detail_rows[offsets_of["netting-set"] :] = detail  # the account rows are reported in full
    margins = margin_distinct_rows(model, context, holdings, detail=detail_rows)
    if margins.total.shape != (start,):
        raise AssertionError(f"{model.name}: margin_rows returned the wrong number of rows")
    n_pos = layout.n_positions
    pos_m = margins.take(slice(0, n_pos))
    book = TierBook(
        policy=policy,
        layout=layout,
        totals={
            t: margins.total[offsets_of[t] : offsets_of[t] + layout.n_groups(t)] for t in TIERS
        },
        standalone=pos_m.total,
        asof=market.valuation_time,
        history=eligibility_history(model, history) if policy.needs_history else None,
    )
    acc_offset = offsets_of["netting-set"]
    return TierRun(
        model=model,
        layout=layout,
        positions=pos_m,
        accounts=margins.take(slice(acc_offset, acc_offset + len(layout.accounts))),
        figures=book.evaluate(),
        by=by,
        policy=policy,
        context=context,
    )


def eligibility_history(model: MarginModel, history: MarketHistory | None) -> MarketHistory | None:
    """The history the offset eligibility tests read: ``history``, else the model's own, else
    the default one; None when there is none (then no credit needing a test is granted)."""
    if history is not None:
        return history
    own = getattr(model, "history", None)
    if callable(own):
        found = own()
        from crossmargin.market.history import MarketHistory as _History

        if isinstance(found, _History):
            return found
    try:
        from crossmargin.market.history import MarketHistory as _History

        return _History.load()
    except MarketDataError:
        return None


def _assemble(
    run: TierRun,
    portfolio: Portfolio,
    market: MarketSnapshot,
    schedule: Any,
    *,
    cap: float | None,
    detail: bool,
) -> MarginResult:
    from crossmargin.pricing.mtm import position_mtm

    layout, figures, by_tier = run.layout, run.figures, run.by_tier
    made = run.account_figures(*position_mtm(portfolio, market, layout))
    with paused_gc():
        tiers = tier_margins(layout, figures, run.policy)
        return MarginResult(
            model=run.model.name,
            currency=market.reporting_currency,
            by=run.by,
            cap=cap,
            accounts=account_margins(
                market, portfolio, layout, made, run.accounts, tiers, schedule
            ),
            groups=group_margins(layout, figures, by_tier, run.positions.total) if detail else (),
            positions=position_margins(portfolio, layout, by_tier, run.positions) if detail else (),
            parameters=(
                result_parameters(run.model.parameters_for(portfolio.underlyings), schedule)
                if detail
                else {}
            ),
            market=market.source or market.valuation_time.isoformat(),
            offsets=run.policy.to_dict(),
        )


def result_parameters(
    model_parameters: Mapping[str, Any], schedule: HaircutSchedule
) -> dict[str, Any]:
    """The parameters in force that a result reports: the model's (``parameters_for`` the
    book's underlyings) and the haircut schedule's identity (the equity's haircuts came from
    it; :meth:`~crossmargin.collateral.haircuts.HaircutSchedule.identity`)."""
    return {**model_parameters, "haircut_schedule": schedule.identity()}


__all__ = [
    "BROAD_CLASS",
    "BY_TIER",
    "TierLayout",
    "TierRun",
    "account_holdings",
    "capped_margin",
    "cross_margin",
    "eligibility_history",
    "netting_set_holdings",
    "result_parameters",
    "run_tiers",
    "tier_layout",
]
