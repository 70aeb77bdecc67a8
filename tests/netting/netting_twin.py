"""The per-group tier walk as it was before the vectorised one: a slow twin, for tests only.

``cross_margin_twin`` is :func:`crossmargin.netting.core.cross_margin` as of the commit before
the tier walk went onto arrays: one ``_Leg`` object and four tuple keys per position
(``tier_layout_twin``), a Python loop over every group of every tier with ``math.fsum`` over
its members and the eligibility decided per group (``TierBookTwin``), and the result
assembled per position and per account (``position_mtm_twin`` loops over the booked rows).
tests/netting/test_tier_walk_twin.py holds the fast path equal to it.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from crossmargin.errors import InputError
from crossmargin.instruments import Instrument
from crossmargin.market.history import MarketHistory
from crossmargin.market.snapshot import MarketSnapshot
from crossmargin.models.base import MarginModel, RowMargins
from crossmargin.models.result import (
    GROUPINGS,
    AccountMargin,
    GroupMargin,
    MarginResult,
    PositionMargin,
    TierGroup,
    TierMargin,
)
from crossmargin.netting.core import BROAD_CLASS, BY_TIER, eligibility_history
from crossmargin.netting.tiers import TIERS, OffsetPolicy, capped, load_policy, venue_of
from crossmargin.portfolio import Portfolio
from crossmargin.pricing.terms import FUTURE, PERPETUAL, instrument_terms
from crossmargin.pricing.valuation import base_fx, base_values


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


@dataclass(frozen=True, slots=True, kw_only=True)
class TierLayoutTwin:
    """The rows :func:`cross_margin` margins: every position alone (``legs`` order), then the
    groups of each tier (``offsets_of[tier] + group_ids[tier][key]``); columns ``instruments``
    (positions' then offsetting collateral's)."""

    legs: list[_Leg]
    coll: list[_Leg]
    instruments: tuple[Instrument, ...]
    group_ids: dict[str, dict[tuple[Any, ...], int]]
    offsets_of: dict[str, int]
    holdings: sp.csr_matrix


def tier_layout_twin(portfolio: Portfolio, *, nets_collateral: bool = True) -> TierLayoutTwin:
    """The holdings matrix of every position and every tier group of ``portfolio`` (coin and
    security collateral joins the groups where ``nets_collateral``)."""
    legs, coll = _legs(portfolio)
    if not nets_collateral:
        coll = []
    # columns in canonical order (Instrument.sort_key), as the layout's spec says
    instruments = tuple(
        sorted(
            dict.fromkeys([*portfolio.instruments, *(c.instrument for c in coll)]),
            key=lambda i: i.sort_key,
        )
    )
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
    return TierLayoutTwin(
        legs=legs,
        coll=coll,
        instruments=instruments,
        group_ids=group_ids,
        offsets_of=offsets_of,
        holdings=holdings,
    )


def cross_margin_twin(
    model: MarginModel,
    portfolio: Portfolio,
    market: MarketSnapshot,
    *,
    by: str = "underlying",
    cap: float | None = None,
    offsets: str | OffsetPolicy | None = None,
    history: MarketHistory | None = None,
    haircuts: Any = None,
    layout: TierLayoutTwin | None = None,
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
        layout = tier_layout_twin(portfolio, nets_collateral=model.nets_collateral)
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
    book = TierBookTwin(
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
        parameters={
            **model.parameters_for(portfolio.underlyings),
            "haircut_schedule": {
                "file": schedule.path,
                "version": schedule.version,
                "sha256": schedule.sha256,
            },
        },
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

    mtm, unrealised = position_mtm_twin(portfolio, market)
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


@dataclass(frozen=True, slots=True, kw_only=True)
class TierBookTwin:
    """Inputs of the tier walk (built by :func:`crossmargin.netting.core.cross_margin`)."""

    policy: OffsetPolicy
    legs: Sequence[Any]
    coll: Sequence[Any]
    group_ids: dict[str, dict[tuple[Any, ...], int]]
    totals: dict[str, NDArray[np.float64]]
    standalone: NDArray[np.float64]
    asof: datetime
    history: MarketHistory | None
    _unds: dict[str, dict[tuple[Any, ...], set[str]]] = field(default_factory=dict)
    _tests: dict[tuple[str, str, int], tuple[bool, str, dict[str, Any]]] = field(
        default_factory=dict
    )  # pair tests met so far, per pair and rule: many groups test the same pairs

    def evaluate(self) -> dict[str, tuple[TierMargin, ...]]:
        """Per account, the tiers ``position`` .. ``netting-set`` (module docstring)."""
        accounts = list(dict.fromkeys(leg.account for leg in self.legs))
        alone_of_account: dict[str, float] = dict.fromkeys(accounts, 0.0)
        alone_of: dict[str, dict[tuple[Any, ...], float]] = {t: {} for t in TIERS}
        unds_of: dict[str, dict[tuple[Any, ...], set[str]]] = {t: {} for t in TIERS}
        for i, leg in enumerate(self.legs):  # one pass: per-group sums and underlyings
            alone = float(self.standalone[i])
            alone_of_account[leg.account] += alone
            for tier in TIERS:
                key = leg.keys[tier]
                alone_of[tier][key] = alone_of[tier].get(key, 0.0) + alone
                unds_of[tier].setdefault(key, set()).add(leg.instrument.underlying)
        for leg in self.coll:
            for tier in TIERS[1:]:
                unds_of[tier].setdefault(leg.keys[tier], set()).add(leg.instrument.underlying)
        self._unds.update(unds_of)
        made: dict[str, list[list[TierGroup]]] = {}
        index = {a: k for k, a in enumerate(accounts)}
        below_capped = {("leg", i): float(c) for i, c in enumerate(self.standalone)}
        below_netted = dict(below_capped)
        prev = "position"
        for tier in TIERS:
            rule = self.policy.rule(tier)
            members = self._members(tier, prev)
            made[tier] = [[] for _ in accounts]
            capped_here: dict[tuple[Any, ...], float] = {}
            netted_here: dict[tuple[Any, ...], float] = {}
            for key, g in self.group_ids[tier].items():
                netted = float(self.totals[tier][g])
                kids = members.get(key, [])
                base = math.fsum(below_capped[k] for k in kids)
                offset = math.fsum(below_netted[k] for k in kids) - netted
                eligible, reason = True, ""
                tests: tuple[dict[str, Any], ...] = ()
                if rule.eligibility is not None and len(kids) > 1:
                    eligible, reason, tests = self._eligible(prev, kids, rule)
                value = capped(netted, base, offset, rule.cap, eligible)
                capped_here[key], netted_here[key] = value, netted
                made[tier][index[key[0]]].append(
                    TierGroup(
                        tier=tier,
                        group=group_label(tier, key),
                        margin=netted,
                        base=base,
                        capped=value,
                        standalone=alone_of[tier].get(key, 0.0),
                        eligible=eligible,
                        reason=reason,
                        tests=tests,
                    )
                )
            below_capped = {(tier, *k): v for k, v in capped_here.items()}
            below_netted = {(tier, *k): v for k, v in netted_here.items()}
            prev = tier
        out: dict[str, tuple[TierMargin, ...]] = {}
        for acc in accounts:
            alone = alone_of_account[acc]
            rows = [TierMargin(tier="position", cap=1.0, margin=alone, base=alone, capped=alone)]
            for tier in TIERS:
                groups = tuple(made[tier][index[acc]])
                rows.append(
                    TierMargin(
                        tier=tier,
                        cap=self.policy.rule(tier).cap,
                        margin=math.fsum(g.margin for g in groups),
                        base=math.fsum(g.base for g in groups),
                        capped=math.fsum(g.capped for g in groups),
                        groups=groups,
                    )
                )
            out[acc] = tuple(rows)
        return out

    def _members(self, tier: str, prev: str) -> dict[tuple[Any, ...], list[tuple[Any, ...]]]:
        """For each group of ``tier``, the ids of its members one tier below."""
        out: dict[tuple[Any, ...], list[tuple[Any, ...]]] = {}
        if prev == "position":
            for i, leg in enumerate(self.legs):
                out.setdefault(leg.keys[tier], []).append(("leg", i))
            return out
        seen = set()
        for leg in self.legs:
            child = (prev, *leg.keys[prev])
            if child not in seen:
                seen.add(child)
                out.setdefault(leg.keys[tier], []).append(child)
        for leg in self.coll:  # a collateral-only group below (coin held where it offsets)
            if leg.keys[prev] in self.group_ids[prev]:
                child = (prev, *leg.keys[prev])
                if child not in seen:
                    seen.add(child)
                    out.setdefault(leg.keys[tier], []).append(child)
        return out

    def _eligible(
        self, prev: str, kids: list[tuple[Any, ...]], rule: Any
    ) -> tuple[bool, str, tuple[dict[str, Any], ...]]:
        """Whether every pair of distinct underlyings across ``kids`` passes the rule."""
        from crossmargin.netting.eligibility import pair_test

        sets = [self._unds[prev][k[1:]] for k in kids]
        pairs = sorted(
            {
                tuple(sorted((a, b)))
                for x, y in itertools.combinations(sets, 2)
                for a in x
                for b in y
                if a != b
            }
        )
        if not pairs:
            return True, "one underlying: no correlation to test", ()
        if self.history is None:
            return False, "no market history to test the correlation: no credit granted", ()
        tests = []
        for a, b in pairs:
            key = (a, b, id(rule.eligibility))
            if key not in self._tests:
                found = pair_test(self.history, (a, b), self.asof, rule.eligibility)
                self._tests[key] = (found.eligible, found.reason, found.to_dict())
            tests.append(self._tests[key])
        failed = [t for t in tests if not t[0]]
        reason = "; ".join(t[1] for t in failed) if failed else "every pair passes"
        return not failed, reason, tuple(t[2] for t in tests)


def position_mtm_twin(
    portfolio: Portfolio, snapshot: MarketSnapshot
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """MTM and unrealised P&L of every netted position (reporting currency, positions' order).

    MTM as in the module docstring, per booked row against that row's own trade price and
    summed into the netted position the row belongs to (a netted position whose rows were
    traded at different prices keeps each row's variation). Unrealised P&L against the trade
    price where one is given: futures and perpetuals their MTM; options and spot
    ``MTM − q·m·P·X`` (the premium or price paid); 0 without a trade price.
    """
    terms = instrument_terms(portfolio.instruments, snapshot)
    v0 = base_values(terms)
    x0 = base_fx(terms)
    col = {inst: j for j, inst in enumerate(portfolio.instruments)}
    netted = {(p.account, p.instrument, p.venue): i for i, p in enumerate(portfolio.positions)}
    mtm = np.zeros(len(portfolio.positions))
    unrealised = np.zeros(len(portfolio.positions))
    for pos in portfolio.raw:
        i = netted[(pos.account, pos.instrument, pos.venue)]
        j = col[pos.instrument]
        q, m = pos.quantity, terms.multiplier[j]
        kind, inverse = terms.kind[j], terms.inverse[j]
        price = pos.trade_price
        if kind in (FUTURE, PERPETUAL):
            mark = terms.spot[j] * (np.exp(terms.carry[j] * terms.t[j]) if kind == FUTURE else 1.0)
            if price is None or terms.expired[j]:
                value = 0.0
            elif inverse:
                value = q * m * (1.0 / price - 1.0 / mark) * x0[j]
            else:
                value = q * m * (mark - price) * x0[j]
            mtm[i] += value
            unrealised[i] += value
        else:
            row_mtm = q * v0[j] * x0[j]
            mtm[i] += row_mtm
            if price is not None:
                unrealised[i] += row_mtm - q * m * price * x0[j]
    return mtm, unrealised


def group_label(tier: str, key: tuple[Any, ...]) -> str:
    """A readable name of a tier's group: ``BTC (deribit, BTC)``, ``deribit_btc_future
    (deribit)``, ``crypto``, or the netting set's name (``key`` as the tier's key: account
    first)."""
    if tier == "product":
        return f"{key[2]} ({key[1]})"
    if tier == "underlying":
        return f"{key[2]} ({key[1]}, {key[3]})"
    if tier == "asset-class":
        return str(key[1])
    return str(key[0])
