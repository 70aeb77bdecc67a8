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

Accounts never net against each other, and each row is margined on its own positions only:
a model never sees which other rows share the call, so adding, removing or reordering other
accounts cannot change an account's figures (a property test holds every model to it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp

from crossmargin.errors import InputError, MarketDataError
from crossmargin.instruments import Instrument
from crossmargin.market.snapshot import MarketSnapshot
from crossmargin.models.base import MarginModel, RowMargins
from crossmargin.models.result import (
    GROUPINGS,
    AccountMargin,
    GroupMargin,
    MarginResult,
    PositionMargin,
    TierMargin,
)
from crossmargin.netting.offsets import TierBook, group_label
from crossmargin.netting.tiers import TIERS, OffsetPolicy, capped, load_policy, venue_of
from crossmargin.portfolio import Portfolio

if TYPE_CHECKING:
    from crossmargin.market.history import MarketHistory

#: The ``by`` groupings and the tier whose groups they report.
BY_TIER = {
    "position": "position",
    "product": "product",
    "underlying": "underlying",
    "asset-class": "asset-class",
    "account": "netting-set",
}
#: Broad asset classes of the ``asset-class`` tier (contract-table classes not listed stay).
BROAD_CLASS = {"equity_index": "equity", "etf": "equity", "equity": "equity", "crypto": "crypto"}


def capped_margin(standalone: float, netted: float, cap: float) -> float:
    """``max(netted, standalone − cap·(standalone − netted))`` (Art. 27(4) algebraic form)."""
    return capped(netted, standalone, standalone - netted, cap, True)


@dataclass(slots=True)
class _Leg:
    account: str
    instrument: Instrument
    quantity: float
    venue: str
    currency: str
    collateral: bool
    keys: dict[str, tuple[Any, ...]] = field(default_factory=dict)


def _legs(portfolio: Portfolio) -> tuple[list[_Leg], list[_Leg]]:
    """Position legs (in ``portfolio.positions`` order) and collateral legs that can offset."""
    from crossmargin.collateral.valuation import collateral_positions

    legs = []
    for p in portfolio.positions:
        inst = p.instrument
        leg = _Leg(
            account=p.account,
            instrument=inst,
            quantity=p.quantity,
            venue=venue_of(inst, p.venue),
            currency=inst.settlement_currency,
            collateral=False,
        )
        legs.append(leg)
    coll = []
    for k, inst in collateral_positions(portfolio.collateral):
        h = portfolio.collateral[k]
        coll.append(
            _Leg(
                account=h.account,
                instrument=inst,
                quantity=h.amount,
                venue=h.venue or "house",
                currency=h.asset,  # a coin meets the contracts settled in it
                collateral=True,
            )
        )
    for leg in [*legs, *coll]:
        inst = leg.instrument
        cls = BROAD_CLASS.get(inst.asset_class, inst.asset_class)
        leg.keys = {
            "product": (leg.account, leg.venue, inst.spec.product),
            "underlying": (leg.account, leg.venue, inst.underlying, leg.currency),
            "asset-class": (leg.account, cls),
            "netting-set": (leg.account,),
        }
    held = {leg.keys["underlying"] for leg in legs}
    return legs, [c for c in coll if c.keys["underlying"] in held]


def netting_set_holdings(
    portfolio: Portfolio, model: MarginModel | None = None
) -> tuple[tuple[Instrument, ...], sp.csr_matrix]:
    """Each account's whole netting set as one row (accounts in book order) over the
    instruments it needs: its positions, plus the coin and security collateral that joins
    them where ``model`` nets collateral (as in :func:`cross_margin`'s netting-set tier)."""
    legs, coll = _legs(portfolio)
    if model is not None and not model.nets_collateral:
        coll = []
    instruments = tuple(dict.fromkeys([*portfolio.instruments, *(c.instrument for c in coll)]))
    col = {inst: j for j, inst in enumerate(instruments)}
    row = {a: i for i, a in enumerate(portfolio.accounts)}
    both = [*legs, *coll]
    matrix = sp.csr_matrix(
        (
            [leg.quantity for leg in both],
            ([row[leg.account] for leg in both], [col[leg.instrument] for leg in both]),
        ),
        shape=(len(portfolio.accounts), len(instruments)),
    )
    return instruments, matrix


@dataclass(frozen=True, slots=True, kw_only=True)
class TierLayout:
    """The rows :func:`cross_margin` margins: every position alone (``legs`` order), then the
    groups of each tier (``offsets_of[tier] + group_ids[tier][key]``); columns ``instruments``
    (positions' then offsetting collateral's)."""

    legs: list[_Leg]
    coll: list[_Leg]
    instruments: tuple[Instrument, ...]
    group_ids: dict[str, dict[tuple[Any, ...], int]]
    offsets_of: dict[str, int]
    holdings: sp.csr_matrix


def tier_layout(portfolio: Portfolio, *, nets_collateral: bool = True) -> TierLayout:
    """The holdings matrix of every position and every tier group of ``portfolio`` (coin and
    security collateral joins the groups where ``nets_collateral``)."""
    legs, coll = _legs(portfolio)
    if not nets_collateral:
        coll = []
    instruments = tuple(dict.fromkeys([*portfolio.instruments, *(c.instrument for c in coll)]))
    col = {inst: j for j, inst in enumerate(instruments)}
    group_ids: dict[str, dict[tuple[Any, ...], int]] = {t: {} for t in TIERS}
    for leg in legs:
        for t in TIERS:
            group_ids[t].setdefault(leg.keys[t], len(group_ids[t]))
    for leg in coll:
        for t in TIERS[1:]:
            group_ids[t].setdefault(leg.keys[t], len(group_ids[t]))
    offsets_of = {}
    start = len(legs)
    for t in TIERS:
        offsets_of[t] = start
        start += len(group_ids[t])
    rows, cols, data = [], [], []
    for i, leg in enumerate(legs):
        j = col[leg.instrument]
        rows.append(i)
        cols.append(j)
        data.append(leg.quantity)
        for t in TIERS:
            rows.append(offsets_of[t] + group_ids[t][leg.keys[t]])
            cols.append(j)
            data.append(leg.quantity)
    for leg in coll:
        j = col[leg.instrument]
        for t in TIERS[1:]:
            rows.append(offsets_of[t] + group_ids[t][leg.keys[t]])
            cols.append(j)
            data.append(leg.quantity)
    holdings = sp.csr_matrix((data, (rows, cols)), shape=(start, len(instruments)))
    return TierLayout(
        legs=legs,
        coll=coll,
        instruments=instruments,
        group_ids=group_ids,
        offsets_of=offsets_of,
        holdings=holdings,
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
) -> MarginResult:
    """Margin ``portfolio`` under ``model`` at every tier, capped per ``offsets`` (``cap``:
    the Art 27(4) cap on the tiers across underlyings; ``haircuts``: a haircut file or
    :class:`~crossmargin.collateral.haircuts.HaircutSchedule`, default the shipped one); see
    the module docstring. ``layout`` may pass :func:`tier_layout` of ``portfolio`` (built with
    the model's ``nets_collateral``) already built."""
    if by not in BY_TIER:
        raise InputError(f"unknown grouping {by!r}: use one of {', '.join(GROUPINGS)}")
    if not portfolio.positions:
        raise InputError("the book is empty: nothing to margin")
    from crossmargin.collateral.haircuts import load_haircuts

    policy = load_policy(offsets).with_cap(cap)
    schedule = load_haircuts(haircuts)
    if layout is None:
        layout = tier_layout(portfolio, nets_collateral=model.nets_collateral)
    legs, coll, instruments = layout.legs, layout.coll, layout.instruments
    group_ids, offsets_of, holdings = layout.group_ids, layout.offsets_of, layout.holdings
    start = holdings.shape[0]
    context = model.prepare(instruments, market)
    detail = np.zeros(start, dtype=bool)
    detail[offsets_of["netting-set"] :] = True  # the account rows are reported in full
    margins = model.margin_rows(context, holdings, detail=detail)
    if margins.total.shape != (start,):
        raise AssertionError(f"{model.name}: margin_rows returned the wrong number of rows")
    result = _assemble(
        model, portfolio, market, by, policy, legs, coll, group_ids, offsets_of, margins,
        history, schedule,
    )  # fmt: skip
    return replace(result, cap=cap, diagnostics=model.diagnostics(context))


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
    model: MarginModel,
    portfolio: Portfolio,
    market: MarketSnapshot,
    by: str,
    policy: OffsetPolicy,
    legs: list[_Leg],
    coll: list[_Leg],
    group_ids: dict[str, dict[tuple[Any, ...], int]],
    offsets_of: dict[str, int],
    margins: RowMargins,
    history: MarketHistory | None,
    schedule: Any,
) -> MarginResult:
    n_pos = len(legs)
    pos_m = margins.take(slice(0, n_pos))
    book = TierBook(
        policy=policy,
        legs=legs,
        coll=coll,
        group_ids=group_ids,
        totals={t: margins.total[offsets_of[t] : offsets_of[t] + len(group_ids[t])] for t in TIERS},
        standalone=pos_m.total,
        asof=market.valuation_time,
        history=eligibility_history(model, history) if policy.needs_history else None,
    )
    tiers = book.evaluate()
    by_tier = BY_TIER[by]
    acc_offset = offsets_of["netting-set"]
    acc_m = margins.take(slice(acc_offset, acc_offset + len(group_ids["netting-set"])))
    account_row = {key[0]: g for key, g in group_ids["netting-set"].items()}
    positions = tuple(
        PositionMargin(
            account=p.account,
            symbol=p.symbol,
            quantity=p.quantity,
            group=_label(by_tier, legs[i].keys),
            standalone=float(pos_m.total[i]),
            maintenance=None if pos_m.maintenance is None else float(pos_m.maintenance[i]),
        )
        for i, p in enumerate(portfolio.positions)
    )
    groups = _groups(by_tier, book, tiers, pos_m.total, legs)
    equities = _equities(portfolio, market, legs, schedule)
    accounts = []
    for acc in portfolio.accounts:
        a = account_row[acc]
        per_tier = tiers[acc]
        standalone = per_tier[0].capped
        netted = float(acc_m.total[a])
        total = per_tier[-1].capped
        grouped = next(t.margin for t in per_tier if t.tier == by_tier)
        mm = None
        if acc_m.maintenance is not None:
            raw_mm = float(acc_m.maintenance[a])
            mm = raw_mm * (total / netted) if netted > 0 else raw_mm
        worst = None
        if acc_m.worst_scenario is not None and acc_m.worst_scenario[a] >= 0:
            worst = acc_m.scenario_names[int(acc_m.worst_scenario[a])]
        accounts.append(
            AccountMargin(
                account=acc,
                total=total,
                netted=netted,
                standalone=standalone,
                grouped=grouped,
                capped=total,
                maintenance=mm,
                components={k: float(v[a]) for k, v in acc_m.components.items()},
                info={k: float(v[a]) for k, v in acc_m.info.items()},
                worst_scenario=worst,
                netting_set=dict(acc_m.facts[a]) if acc_m.facts else {},
                tiers=per_tier,
                equity=equities[acc](total, mm),
            )
        )
    return MarginResult(
        model=model.name,
        currency=market.reporting_currency,
        by=by,
        cap=None,
        accounts=tuple(accounts),
        groups=groups,
        positions=positions,
        parameters=model.parameters(),
        market=market.source or market.valuation_time.isoformat(),
        offsets=policy.to_dict(),
    )


def _label(tier: str, keys: dict[str, tuple[Any, ...]]) -> str:
    return "" if tier == "position" else group_label(tier, keys[tier])


def _groups(
    tier: str,
    book: Any,
    tiers: dict[str, tuple[TierMargin, ...]],
    standalone: np.ndarray,
    legs: list[_Leg],
) -> tuple[GroupMargin, ...]:
    """The groups of the ``by`` tier (each position its own group for ``position``)."""
    if tier == "position":
        return tuple(
            GroupMargin(
                account=leg.account,
                group=leg.instrument.symbol,
                margin=float(standalone[i]),
                standalone=float(standalone[i]),
            )
            for i, leg in enumerate(legs)
        )
    out = []
    for acc, per_tier in tiers.items():
        level = next(t for t in per_tier if t.tier == tier)
        for g in level.groups:
            out.append(GroupMargin(account=acc, group=g.group, margin=g.margin,
                                   standalone=g.standalone))  # fmt: skip
    return tuple(out)


def _equities(
    portfolio: Portfolio, market: MarketSnapshot, legs: list[_Leg], schedule: Any
) -> dict[str, Any]:
    """Per account, a function of (initial, maintenance) giving its :class:`Equity`."""
    from crossmargin.collateral.equity import account_equity, by_account
    from crossmargin.collateral.valuation import value_collateral
    from crossmargin.pricing.mtm import position_mtm

    mtm, unrealised = position_mtm(portfolio, market)
    acc_mtm: dict[str, list[float]] = {a: [] for a in portfolio.accounts}
    acc_unr: dict[str, list[float]] = {a: [] for a in portfolio.accounts}
    for i, leg in enumerate(legs):
        acc_mtm[leg.account].append(float(mtm[i]))
        acc_unr[leg.account].append(float(unrealised[i]))
    values = (
        by_account(value_collateral(portfolio.collateral, market, schedule))
        if portfolio.collateral
        else {}
    )

    def maker(acc: str) -> Any:
        def make(im: float, mm: float | None) -> Any:
            return account_equity(
                currency=market.reporting_currency,
                holdings=values.get(acc, ()),
                mtm=math.fsum(acc_mtm[acc]),
                unrealised_pnl=math.fsum(acc_unr[acc]),
                initial_margin=im,
                maintenance_margin=mm,
            )

        return make

    return {acc: maker(acc) for acc in portfolio.accounts}


__all__ = [
    "BY_TIER",
    "TierLayout",
    "capped_margin",
    "cross_margin",
    "eligibility_history",
    "netting_set_holdings",
    "tier_layout",
]
