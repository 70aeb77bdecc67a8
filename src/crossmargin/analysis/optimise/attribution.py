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
from collections.abc import Collection, Mapping
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
from crossmargin.models.distinct_rows import distinct_rows
from crossmargin.models.result import MarginResult, result_units
from crossmargin.netting.core import cross_margin
from crossmargin.netting.layout import BROAD_CLASS, TierLayout, tier_layout
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


class Recorder(MarginModel):
    """``model`` seen through :func:`cross_margin`: keeps the context, holdings and margins."""

    name = "recording"
    description = "records the context and rows of one cross_margin call"

    def __init__(self, model: MarginModel) -> None:
        self.model = model
        self.nets_collateral = model.nets_collateral
        self.context: Any = None
        self.holdings: sp.csr_matrix | None = None
        self.margins: RowMargins | None = None

    def parameters(self) -> dict[str, Any]:
        return self.model.parameters()

    def parameters_for(self, underlyings: Collection[str]) -> dict[str, Any]:
        return self.model.parameters_for(underlyings)

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


def _lookup(rows: EulerRows, row: NDArray[Any], col: NDArray[Any]) -> tuple[FloatArray, ...]:
    """Contribution, marginal and holding of (row, column) pairs (zeros where not held)."""
    h = rows.holdings
    width = h.shape[1]
    keys = row_of_data(h) * width + h.indices
    want = np.asarray(row, dtype=np.int64) * width + np.asarray(col, dtype=np.int64)
    zero = np.zeros(want.size)
    if keys.size == 0:
        return zero, zero.copy(), zero.copy()
    k = np.minimum(np.searchsorted(keys, want), keys.size - 1)
    hit = keys[k] == want
    return (
        np.where(hit, rows.contribution[k], zero),
        np.where(hit, rows.marginal[k], zero),
        np.where(hit, h.data[k], zero),
    )


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
    layout = tier_layout(portfolio, nets_collateral=model.nets_collateral)
    rec = Recorder(model)
    result = replace(cross_margin(rec, portfolio, market, cap=cap, offsets=offsets,
                                  layout=layout), model=model.name)  # fmt: skip
    extra = _incremental(portfolio, market, model, offsets, cap, result) if incremental else {}
    return attribution_of_run(rec, result, layout, portfolio, extra)


def attribution_of_run(
    rec: Recorder,
    result: MarginResult,
    layout: TierLayout,
    portfolio: Portfolio,
    incremental: Mapping[str, Mapping[int, float]] | None = None,
) -> Attribution:
    """The attribution of a margin run recorded by ``rec`` (Euler rows, then the tiers)."""
    if rec.holdings is None or rec.margins is None:
        raise ModelError("attribution: the model was not run")
    total = rec.margins.total
    if rec.holdings.shape[0] != layout.holdings.shape[0]:
        # cross_margin margined each distinct row once: every row takes its twin's figures
        total = total[distinct_rows(layout.holdings)[1]]
    rows = euler_rows(rec.model, rec.context, layout.holdings)
    bad = np.abs(rows.total - total) > 1e-9 * np.maximum(1.0, total)
    if np.any(bad):
        raise ModelError(f"attribution: {rec.model.name}'s Euler totals differ from its margins")
    return assemble(result, layout, rows, portfolio, incremental)


def assemble(
    result: MarginResult,
    layout: TierLayout,
    rows: EulerRows,
    portfolio: Portfolio,
    incremental: Mapping[str, Mapping[int, float]] | None = None,
) -> Attribution:
    """The tier recursion (module docstring), item-wise for every account at once.

    Each item (a position, or collateral that offsets) sits in one group per tier, so on the
    branch that binds its contribution to its group's capped figure is ``N`` (its Euler share
    of the group's margin), ``C_prev − c·N_prev + c·N`` (the cap binds) or ``C_prev``.
    """
    n_legs, n_items = layout.n_positions, int(layout.quantity.size)
    cols, qty = layout.instrument, layout.quantity
    standalone_c, standalone_g, _ = _lookup(rows, np.arange(n_legs), cols[:n_legs])
    c_prev = np.concatenate([standalone_c, np.zeros(n_items - n_legs)])
    g_prev = np.concatenate([standalone_g, np.zeros(n_items - n_legs)])
    n_prev, m_prev = c_prev.copy(), g_prev.copy()
    per_tier = {"position": c_prev.copy()}
    accounts = {a.account: a for a in result.accounts}
    for ti, tier in enumerate(TIERS):
        gid = layout.group_of[tier]
        member = gid >= 0
        row = layout.offsets_of[tier] + np.maximum(gid, 0)
        c, g, y = _lookup(rows, row, cols)
        share = np.divide(qty, y, out=np.zeros_like(qty), where=y != 0)
        n_now, m_now = np.where(member, c * share, 0.0), np.where(member, g, 0.0)
        branch, capv = _branches(layout, tier, accounts, ti + 1)
        b, kc = branch[np.maximum(gid, 0)], capv[np.maximum(gid, 0)]
        new_c = np.where(b == 0, n_now, np.where(b == 1, c_prev - kc * n_prev + kc * n_now, c_prev))
        new_g = np.where(b == 0, m_now, np.where(b == 1, g_prev - kc * m_prev + kc * m_now, g_prev))
        c_prev, g_prev = np.where(member, new_c, 0.0), np.where(member, new_g, 0.0)
        n_prev, m_prev = n_now, m_now
        per_tier[tier] = c_prev.copy()
    by_account: dict[str, list[int]] = {}
    for k, a in enumerate(layout.account.tolist()):
        by_account.setdefault(layout.accounts[a], []).append(k)
    positions = portfolio.positions
    out = []
    for acc in portfolio.accounts:
        am = accounts[acc]
        incr = (incremental or {}).get(acc, {})
        made = []
        for k in by_account.get(acc, []):
            is_leg = k < n_legs
            inst = layout.instruments[int(cols[k])]
            currency = layout.facts[int(layout.fact[k])][3]
            made.append(ItemAttribution(
                account=acc,
                name=inst.symbol if is_leg else f"collateral {currency}",
                kind="position" if is_leg else "collateral",
                position_id=positions[k].position_id if is_leg else None,
                underlying=inst.underlying,
                asset_class=BROAD_CLASS.get(inst.asset_class, inst.asset_class),
                quantity=float(qty[k]),
                contribution=float(c_prev[k]),
                marginal=float(g_prev[k]),
                standalone=float(standalone_c[k]) if is_leg else None,
                incremental=incr.get(k) if is_leg else None,
                tiers={t: float(per_tier[t][k]) for t in ALL_TIERS},
            ))  # fmt: skip
        out.append(AccountAttribution(
            account=acc, total=am.total, netted=am.netted, standalone=am.standalone,
            items=tuple(made), residual=float(am.total - math.fsum(i.contribution for i in made)),
            tier_credits={t.tier: t.credit for t in am.tiers[1:]},
        ))  # fmt: skip
    return Attribution(model=result.model, currency=result.currency, method=rows.method,
                       accounts=tuple(out), market=result.market, offsets=result.offsets,
                       result=result)  # fmt: skip


def _branches(
    layout: TierLayout, tier: str, accounts: Mapping[str, Any], level: int
) -> tuple[NDArray[np.int64], FloatArray]:
    """Per group of a tier: the binding branch (0: N, 1: the cap, 2: not eligible) and the
    tier's cap, from the result's tier groups (in group-code order per account)."""
    owner = layout.group_account[tier]
    branch = np.zeros(owner.size, dtype=np.int64)
    caps = np.zeros(owner.size)
    seen: dict[int, int] = {}
    for g, a in enumerate(owner.tolist()):
        tm = accounts[layout.accounts[a]].tiers[level]
        tg = tm.groups[seen.get(a, 0)]
        seen[a] = seen.get(a, 0) + 1
        caps[g] = tm.cap
        branch[g] = 0 if tg.capped == tg.margin else (1 if tg.eligible else 2)
    return branch, caps


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
    "Recorder",
    "assemble",
    "attribute",
    "attribution_of_run",
    "attribution_units",
]
