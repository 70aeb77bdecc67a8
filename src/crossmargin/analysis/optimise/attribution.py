"""Margin attribution of each account: Euler contributions through the offset tiers.

An account's requirement ``C`` is its netting-set group's capped figure after the offset tiers
(:mod:`crossmargin.netting.tiers`): at each tier ``C(g) = max(N(g), B − c·O)`` with ``N`` the
model's margin of the group, ``B = Σ C(members)``, ``O = Σ N(members) − N(g)`` (``C = max(N,
B)`` where the tier's eligibility fails). On the branch that binds, ``C(g)`` is a linear
combination of model margins::

    N binds          C(g) = N(g)
    the cap binds    C(g) = Σ C(m) − c·Σ N(m) + c·N(g)
    not eligible     C(g) = Σ C(m)

so with each ``N`` split by its Euler contributions (:mod:`.euler`) the account's requirement
splits exactly into its positions (and the collateral that offsets them), recursively from
the standalone figures up. Per position this also gives its contribution at every tier; the
drop from one tier to the next is the **credit** that tier grants it (the credits of a tier sum
to the tier's ``base − capped``). The **marginal** margin is ``∂C/∂qᵢ`` along the same branches
(reporting currency per contract) and the **incremental** margin ``C(book) − C(book without
the position)``: two full runs of the model (all variants in one call; accounts never net).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from crossmargin.analysis.optimise.euler import EulerRows, euler_rows, row_of_data
from crossmargin.errors import InputError, ModelError
from crossmargin.instruments import Instrument
from crossmargin.market.snapshot import MarketSnapshot
from crossmargin.models.base import MarginModel, RowMargins
from crossmargin.models.result import MarginResult, result_units
from crossmargin.netting.core import BROAD_CLASS, cross_margin, tier_layout
from crossmargin.netting.tiers import ALL_TIERS, TIERS
from crossmargin.portfolio import Portfolio, Position

FloatArray = NDArray[np.float64]
BY_CHOICES = ("position", "underlying", "asset-class", "tier")


@dataclass(frozen=True, slots=True, kw_only=True)
class ItemAttribution:
    """One position (or offsetting collateral holding) of an account.

    ``contribution`` (reporting currency) sums over the account's items to its requirement;
    ``marginal`` is ``∂requirement/∂quantity`` (reporting currency per contract, or per unit of
    the collateral asset); ``standalone`` the position margined alone; ``incremental`` the
    requirement with it minus without it (None: not computed, or collateral); ``tiers`` the
    contribution to the capped figure of its group at each tier (``position`` .. the account).
    """

    account: str
    name: str
    kind: str
    position_id: str | None
    underlying: str
    asset_class: str
    quantity: float
    contribution: float
    marginal: float
    standalone: float | None
    incremental: float | None
    tiers: Mapping[str, float]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "account": self.account,
            "name": self.name,
            "kind": self.kind,
            "position_id": self.position_id,
            "underlying": self.underlying,
            "asset_class": self.asset_class,
            "quantity": self.quantity,
            "contribution": self.contribution,
            "marginal_per_unit": self.marginal,
            "standalone": self.standalone,
            "incremental": self.incremental,
            "tiers": dict(self.tiers),
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class AccountAttribution:
    """Attribution of one account: ``total`` = Σ contributions (``residual`` is what the model's
    Euler sums left before any allocation rule, 0 up to rounding for homogeneous models)."""

    account: str
    total: float
    netted: float
    standalone: float
    items: tuple[ItemAttribution, ...]
    residual: float
    tier_credits: Mapping[str, float] = field(default_factory=dict)

    @property
    def contributions_sum(self) -> float:
        """Σ contributions (equals ``total`` to rounding)."""
        return math.fsum(i.contribution for i in self.items)

    def by(self, key: str) -> list[tuple[str, float]]:
        """Contributions summed by ``position``, ``underlying``, ``asset-class``, or the tier
        staircase (``tier``: standalone, then each tier's credit as a negative figure)."""
        if key not in BY_CHOICES:
            raise InputError(f"unknown attribution grouping {key!r}: use {', '.join(BY_CHOICES)}")
        if key == "tier":
            if not self.tier_credits:
                raise InputError(
                    f"account {self.account} has no offset tiers (SIMM margins an account as one "
                    "netting set): use position, underlying or asset-class"
                )
            rows = [
                (
                    "position (standalone)",
                    math.fsum(i.tiers.get("position", 0.0) for i in self.items),
                )
            ]
            rows += [(f"{t} credit", 0.0 - self.tier_credits.get(t, 0.0)) for t in TIERS]
            return rows
        out: dict[str, list[float]] = {}
        for item in self.items:
            label = {
                "position": item.name,
                "underlying": item.underlying,
                "asset-class": item.asset_class,
            }[key]
            out.setdefault(label, []).append(item.contribution)
        return [(k, math.fsum(v)) for k, v in out.items()]


@dataclass(frozen=True, slots=True, kw_only=True)
class Attribution:
    """Attribution of every account of a book under one model (money in ``currency``)."""

    model: str
    currency: str
    method: str
    accounts: tuple[AccountAttribution, ...]
    market: str = ""
    offsets: Mapping[str, Any] = field(default_factory=dict)
    result: MarginResult | None = None

    def account(self, name: str) -> AccountAttribution:
        """The attribution of account ``name``."""
        for a in self.accounts:
            if a.account == name:
                return a
        raise InputError(
            f"unknown account {name!r} (accounts: {', '.join(a.account for a in self.accounts)})"
        )

    def to_dict(self, by: str = "position") -> dict[str, Any]:
        """JSON-ready: per account the items, the grouping ``by`` and the tier credits."""
        return {
            "model": self.model,
            "currency": self.currency,
            "method": self.method,
            "by": by,
            "market": self.market,
            "offsets": dict(self.offsets),
            "accounts": [
                {
                    "account": a.account,
                    "total": a.total,
                    "netted": a.netted,
                    "standalone": a.standalone,
                    "contributions_sum": a.contributions_sum,
                    "residual": a.residual,
                    "tier_credits": dict(a.tier_credits),
                    "groups": [
                        {
                            "group": g,
                            "contribution": v,
                            "share_pct": 100.0 * v / a.total if a.total else 0.0,
                        }
                        for g, v in a.by(by)
                    ],
                    "items": [i.to_dict() for i in a.items],
                }
                for a in self.accounts
            ],
            "units": attribution_units(self.currency),
        }


def attribution_units(currency: str) -> dict[str, str]:
    """Units of the attribution JSON fields."""
    return {
        **result_units(currency),
        "contribution": f"{currency}: the item's share of the account's requirement",
        "marginal_per_unit": f"{currency} per contract (collateral: per unit of the asset)",
        "incremental": f"{currency}: requirement with the item minus without it",
        "standalone": f"{currency}: the position margined alone",
        "tiers": f"{currency}: contribution to the capped figure of the item's group per tier",
        "tier_credits": f"{currency}: base minus capped figure of each tier (>= 0 saves)",
        "share_pct": "percent of the account's requirement",
        "residual": f"{currency}: requirement minus the Euler sum before any allocation rule",
    }


class _Recording(MarginModel):
    """``model`` seen through :func:`cross_margin`: keeps the context, holdings and margins."""

    name = "recording"
    description = "records the context and rows of one cross_margin call"

    def __init__(self, model: MarginModel) -> None:
        self.model = model
        self.context: Any = None
        self.holdings: sp.csr_matrix | None = None
        self.margins: RowMargins | None = None

    def parameters(self) -> dict[str, Any]:
        return self.model.parameters()

    def diagnostics(self, context: Any) -> dict[str, Any]:
        return self.model.diagnostics(context)

    def history(self) -> Any:
        own = getattr(self.model, "history", None)
        return own() if callable(own) else None

    def prepare(self, instruments: tuple[Instrument, ...], market: MarketSnapshot) -> Any:
        self.context = self.model.prepare(instruments, market)
        return self.context

    def margin_rows(
        self, context: Any, holdings: sp.csr_matrix, *, detail: NDArray[np.bool_] | None = None
    ) -> RowMargins:
        self.margins = self.model.margin_rows(context, holdings, detail=detail)
        self.holdings = holdings
        return self.margins


class _Lookup:
    """Contribution and marginal of (row, column) in Euler rows."""

    def __init__(self, rows: EulerRows) -> None:
        h = rows.holdings
        self.width = h.shape[1]
        self.keys = row_of_data(h) * self.width + h.indices
        self.rows = rows

    def at(self, row: int, col: int) -> tuple[float, float, float]:
        """(contribution, marginal, holding) of ``col`` in ``row`` (zeros if not held)."""
        key = row * self.width + col
        k = int(np.searchsorted(self.keys, key))
        if k >= self.keys.size or self.keys[k] != key:
            return 0.0, 0.0, 0.0
        r = self.rows
        return float(r.contribution[k]), float(r.marginal[k]), float(r.holdings.data[k])


def attribute(
    portfolio: Portfolio,
    market: MarketSnapshot,
    model: MarginModel,
    *,
    offsets: Any = None,
    cap: float | None = None,
    incremental: bool = True,
) -> Attribution:
    """Attribute every account's requirement under ``model`` (module docstring)."""
    rec = _Recording(model)
    result = replace(
        cross_margin(rec, portfolio, market, cap=cap, offsets=offsets), model=model.name
    )
    if rec.holdings is None or rec.margins is None:
        raise ModelError("attribution: the model was not run")
    layout = tier_layout(portfolio)
    rows = euler_rows(model, rec.context, rec.holdings)
    bad = np.abs(rows.total - rec.margins.total) > 1e-9 * np.maximum(1.0, rec.margins.total)
    if np.any(bad):
        raise ModelError(f"attribution: {model.name}'s Euler totals differ from its margins")
    look = _Lookup(rows)
    col = {inst: j for j, inst in enumerate(layout.instruments)}
    extra = _incremental(portfolio, market, model, offsets, cap, result) if incremental else {}
    accounts = tuple(
        _account(acc, result, layout, look, col, extra.get(acc, {}), portfolio.positions)
        for acc in portfolio.accounts
    )
    return Attribution(
        model=model.name,
        currency=result.currency,
        method=rows.method,
        accounts=accounts,
        market=result.market,
        offsets=result.offsets,
        result=result,
    )


def _account(
    acc: str,
    result: MarginResult,
    layout: Any,
    look: _Lookup,
    col: Mapping[Instrument, int],
    incr: Mapping[int, float],
    positions: Sequence[Position],
) -> AccountAttribution:
    """The tier recursion of one account (module docstring)."""
    items = [("leg", i) for i, leg in enumerate(layout.legs) if leg.account == acc]
    items += [("coll", i) for i, leg in enumerate(layout.coll) if leg.account == acc]
    pos = {it: k for k, it in enumerate(items)}
    n = len(items)

    def leg_of(it: tuple[str, int]) -> Any:
        return (layout.legs if it[0] == "leg" else layout.coll)[it[1]]

    def leg_position_id(it: tuple[str, int]) -> str | None:
        return positions[it[1]].position_id if it[0] == "leg" else None

    am = next(a for a in result.accounts if a.account == acc)
    c_vec: dict[tuple[Any, ...], tuple[FloatArray, FloatArray]] = {}
    n_vec: dict[tuple[Any, ...], tuple[FloatArray, FloatArray]] = {}
    per_tier = {t: np.zeros(n) for t in ALL_TIERS}
    standalone = np.full(n, np.nan)
    for it in items:
        if it[0] != "leg":
            continue
        leg = leg_of(it)
        c, m, _ = look.at(it[1], col[leg.instrument])
        v, g = np.zeros(n), np.zeros(n)
        v[pos[it]], g[pos[it]] = c, m
        c_vec[it] = n_vec[it] = (v, g)
        per_tier["position"][pos[it]] = c
        standalone[pos[it]] = c
    prev = "position"
    credits: dict[str, float] = {}
    for ti, tier in enumerate(TIERS):
        level = am.tiers[ti + 1]
        keys = [k for k in layout.group_ids[tier] if k[0] == acc]
        members = _members(layout, tier, prev, acc)
        new_c: dict[tuple[Any, ...], tuple[FloatArray, FloatArray]] = {}
        new_n: dict[tuple[Any, ...], tuple[FloatArray, FloatArray]] = {}
        for key, tg in zip(keys, level.groups, strict=True):
            row = layout.offsets_of[tier] + layout.group_ids[tier][key]
            v, g = np.zeros(n), np.zeros(n)
            for it in items:
                leg = leg_of(it)
                if leg.keys.get(tier) != key:
                    continue
                c, m, y = look.at(row, col[leg.instrument])
                v[pos[it]] = c * leg.quantity / y if y else 0.0
                g[pos[it]] = m
            kids = members.get(key, [])
            if tg.capped == tg.margin:
                cv = (v, g)
            else:
                sum_c = _sum([c_vec[k] for k in kids], n)
                if tg.eligible:
                    sum_n = _sum([n_vec[k] for k in kids], n)
                    cv = (
                        sum_c[0] - level.cap * sum_n[0] + level.cap * v,
                        sum_c[1] - level.cap * sum_n[1] + level.cap * g,
                    )
                else:
                    cv = sum_c
            child = (tier, *key)
            new_c[child], new_n[child] = cv, (v, g)
            per_tier[tier] += cv[0]
        credits[tier] = level.credit
        c_vec.update(new_c)
        n_vec.update(new_n)
        prev = tier
    final = c_vec[("netting-set", acc)]
    out = []
    for it in items:
        leg = leg_of(it)
        k = pos[it]
        inst = leg.instrument
        out.append(
            ItemAttribution(
                account=acc,
                name=inst.symbol if it[0] == "leg" else f"collateral {inst.symbol}",
                kind="position" if it[0] == "leg" else "collateral",
                position_id=leg_position_id(it),
                underlying=inst.underlying,
                asset_class=BROAD_CLASS.get(inst.asset_class, inst.asset_class),
                quantity=leg.quantity,
                contribution=float(final[0][k]),
                marginal=float(final[1][k]),
                standalone=None if math.isnan(standalone[k]) else float(standalone[k]),
                incremental=incr.get(it[1]) if it[0] == "leg" else None,
                tiers={t: float(per_tier[t][k]) for t in ALL_TIERS},
            )
        )
    total = am.total
    return AccountAttribution(
        account=acc,
        total=total,
        netted=am.netted,
        standalone=am.standalone,
        items=tuple(out),
        residual=float(total - math.fsum(final[0])),
        tier_credits=credits,
    )


def _sum(vecs: Sequence[tuple[FloatArray, FloatArray]], n: int) -> tuple[FloatArray, FloatArray]:
    v, g = np.zeros(n), np.zeros(n)
    for a, b in vecs:
        v, g = v + a, g + b
    return v, g


def _members(layout: Any, tier: str, prev: str, acc: str) -> dict[tuple[Any, ...], list[Any]]:
    """Members one tier below of each group of ``tier`` (as :class:`TierBook`)."""
    out: dict[tuple[Any, ...], list[Any]] = {}
    if prev == "position":
        for i, leg in enumerate(layout.legs):
            if leg.account == acc:
                out.setdefault(leg.keys[tier], []).append(("leg", i))
        return out
    seen = set()
    for leg in [*layout.legs, *layout.coll]:
        if leg.account != acc or leg.keys[prev] not in layout.group_ids[prev]:
            continue
        child = (prev, *leg.keys[prev])
        if child not in seen:
            seen.add(child)
            out.setdefault(leg.keys[tier], []).append(child)
    return out


def _incremental(
    portfolio: Portfolio,
    market: MarketSnapshot,
    model: MarginModel,
    offsets: Any,
    cap: float | None,
    result: MarginResult,
) -> dict[str, dict[int, float]]:
    """Requirement minus the requirement without each position (one run of every variant:
    each variant is its own account, and accounts never net)."""
    variants: list[Position] = []
    coll = []
    names: dict[str, tuple[str, int]] = {}
    legs = list(portfolio.positions)
    for acc in portfolio.accounts:
        mine = [i for i, p in enumerate(legs) if p.account == acc]
        if len(mine) < 2:
            continue
        for i in mine:
            name = f"{acc} without #{i}"
            names[name] = (acc, i)
            variants += [replace(legs[j], account=name) for j in mine if j != i]
            coll += [replace(h, account=name) for h in portfolio.collateral_of(acc)]
    total = {a.account: a.total for a in result.accounts}
    out: dict[str, dict[int, float]] = {acc: {} for acc in portfolio.accounts}
    for i, p in enumerate(legs):
        if sum(1 for q in legs if q.account == p.account) == 1:
            out[p.account][i] = total[p.account]  # without it the account holds nothing
    if not variants:
        return out
    book = Portfolio.from_positions(variants, collateral=coll)
    without = model.compute(book, market, cap=cap, offsets=offsets)
    for a in without.accounts:
        acc, i = names[a.account]
        out[acc][i] = total[acc] - a.total
    return out


__all__ = [
    "BY_CHOICES",
    "AccountAttribution",
    "Attribution",
    "ItemAttribution",
    "attribute",
    "attribution_units",
]
