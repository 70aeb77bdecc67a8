"""Default of one account: liquidate its netted legs over the MPOR under stress, with costs.

When account ``a`` defaults, the clearing house closes its positions over the margin period
of risk ``h`` while the market moves by a stress scenario ``s`` (default: the account's worst
``h``-day crisis replay over every named window; or a chosen crisis / hypothetical scenario).
Per position ``i`` (quantity ``qᵢ``):

* market P&L ``Pᵢ(s)`` by full revaluation
  (:meth:`crossmargin.pricing.revalue.BookPnL.position_pnl`);
* liquidation cost, with ``Nᵢ = |Δᵢ·S|`` the delta notional (reporting currency, today's
  market) and parameters per underlying or asset class from
  ``crossmargin/data/liquidation_costs.json``::

      costᵢ = Nᵢ·(half_spread + impact·√(Nᵢ / (h·ADV))) + option_half_spread·|Vᵢ|  (options)

  the square-root impact law (Almgren et al. 2005; Tóth et al. 2011) with the liquidation
  spread evenly over ``h`` days (``impact`` = Y·σ_daily);
* loss ``ℓᵢ = −Pᵢ(s) + costᵢ``.

Reported: the account loss ``L = Σᵢ ℓᵢ`` and its split across the netted legs (``ℓᵢ`` and
``ℓᵢ/L``), the netted margin held ``M``, ``loss beyond margin = max(0, L − M)`` and whether
``L > M``, and the loss that would have been covered had the account been margined
standalone: ``min(L, M_standalone)`` (vs ``min(L, M)`` netted; the difference is the cost
of the netting benefit in this default).

This is the static view of one account: nothing moves for anyone else, no fund is touched.
The venue-level tool (everyone's liquidations, price impact, insurance fund and ADL or a CCP's
waterfall, isolated vs cross-margined) is :mod:`crossmargin.analysis.cascade`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from crossmargin.analysis.stress.common import HeldMargin, Move, package_json, scenario_moves
from crossmargin.errors import InputError
from crossmargin.market.scenarios import ScenarioSet
from crossmargin.market.snapshot import MarketSnapshot
from crossmargin.portfolio import Portfolio
from crossmargin.pricing.mtm import value_portfolio
from crossmargin.pricing.revalue import revalue

COST_FILE = "liquidation_costs.json"


@dataclass(frozen=True, slots=True, kw_only=True)
class CostParams:
    """Liquidation-cost parameters of one underlying (see the module docstring)."""

    half_spread: float
    impact: float
    adv_usd: float
    option_half_spread: float

    def __post_init__(self) -> None:
        if min(self.half_spread, self.impact, self.option_half_spread) < 0 or self.adv_usd <= 0:
            raise InputError("liquidation costs: spreads and impact must be >= 0, ADV > 0")


def cost_params(
    underlying: str, asset_class: str, doc: Mapping[str, Any] | None = None
) -> CostParams:
    """The parameters of ``underlying`` (its entry over its asset class's)."""
    data = package_json(COST_FILE) if doc is None else doc
    base = data["asset_classes"].get(asset_class)
    if base is None:
        raise InputError(f"{COST_FILE}: no liquidation costs for asset class {asset_class!r}")
    merged = {**base, **data.get("underlyings", {}).get(underlying, {})}
    return CostParams(
        half_spread=float(merged["half_spread"]),
        impact=float(merged["impact"]),
        adv_usd=float(merged["adv_usd"]),
        option_half_spread=float(merged["option_half_spread"]),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class LegLoss:
    """One netted position of the defaulted account."""

    symbol: str
    underlying: str
    quantity: float
    pnl: float
    cost: float
    standalone_margin: float | None

    @property
    def loss(self) -> float:
        """``−P&L + cost``."""
        return -self.pnl + self.cost

    def to_dict(self, total: float) -> dict[str, Any]:
        """JSON-ready, with the leg's share of the account loss."""
        return {
            "symbol": self.symbol,
            "underlying": self.underlying,
            "quantity": self.quantity,
            "pnl": self.pnl,
            "cost": self.cost,
            "loss": self.loss,
            "share": self.loss / total if total else None,
            "standalone_margin": self.standalone_margin,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class DefaultLoss:
    """The liquidation of a defaulted account under one stress scenario."""

    account: str
    scenario: str
    description: str
    mpor: int
    legs: tuple[LegLoss, ...]
    margin: float
    standalone: float
    moves: Mapping[str, Move]

    @property
    def loss(self) -> float:
        """Market loss plus liquidation cost over every leg."""
        return math.fsum(leg.loss for leg in self.legs)

    @property
    def cost(self) -> float:
        """Liquidation cost over every leg."""
        return math.fsum(leg.cost for leg in self.legs)

    @property
    def beyond_margin(self) -> float:
        """``max(0, loss − netted margin held)``."""
        return max(0.0, self.loss - self.margin)

    @property
    def exceeds_netted(self) -> bool:
        """True when the loss is larger than the netted margin held."""
        return self.loss > self.margin

    @property
    def covered_netted(self) -> float:
        """The part of the loss the netted margin covers."""
        return max(0.0, min(self.loss, self.margin))

    @property
    def covered_standalone(self) -> float:
        """The part of the loss a standalone margin would have covered."""
        return max(0.0, min(self.loss, self.standalone))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "account": self.account,
            "scenario": self.scenario,
            "description": self.description,
            "mpor": self.mpor,
            "loss": self.loss,
            "liquidation_cost": self.cost,
            "margin": self.margin,
            "standalone": self.standalone,
            "shortfall": self.beyond_margin,
            "exceeds_netted": self.exceeds_netted,
            "covered_netted": self.covered_netted,
            "covered_standalone": self.covered_standalone,
            "moves": {u: m.to_dict() for u, m in self.moves.items()},
            "legs": [leg.to_dict(self.loss) for leg in self.legs],
        }


def default_loss(
    portfolio: Portfolio,
    snapshot: MarketSnapshot,
    held: HeldMargin,
    account: str,
    scenarios: ScenarioSet,
    row: int,
    *,
    mpor: int,
    description: str = "",
    costs: Mapping[str, Any] | None = None,
) -> DefaultLoss:
    """Liquidate ``account`` under scenario ``row`` of ``scenarios`` (module docstring)."""
    if account not in portfolio.accounts:
        raise InputError(
            f"unknown account {account!r} to default (book has {', '.join(portfolio.accounts)})"
        )
    if mpor < 1:
        raise InputError(f"the MPOR must be >= 1 day, got {mpor}")
    book = portfolio.subset([account])
    cols = [scenarios.index(u) for u in book.underlyings]
    one = ScenarioSet(
        underlyings=book.underlyings,
        spot_shocks=scenarios.spot_shocks[row : row + 1, cols],
        vol_shocks=scenarios.vol_shocks[row : row + 1, cols],
        time_steps=scenarios.time_steps[row : row + 1],
        names=(scenarios.names[row],),
        spot_shock_type=scenarios.spot_shock_type,
        vol_shock_type=scenarios.vol_shock_type,
        label=scenarios.label,
    )
    pnl = revalue(book, snapshot, one).position_pnl()[0]
    values = value_portfolio(book, snapshot).positions
    standalone = {}
    if held.result is not None:
        standalone = {(p.account, p.symbol): p.standalone for p in held.result.positions}
    legs = []
    for pos, p, v in zip(book.positions, pnl, values, strict=True):
        inst = pos.instrument
        prm = cost_params(inst.underlying, inst.spec.asset_class, costs)
        notional = abs(v.delta * snapshot.spot(inst.underlying))
        cost = notional * (
            prm.half_spread + prm.impact * math.sqrt(notional / (mpor * prm.adv_usd))
        )
        if inst.spec.kind == "option":
            cost += prm.option_half_spread * abs(v.mtm)
        legs.append(
            LegLoss(
                symbol=pos.symbol,
                underlying=inst.underlying,
                quantity=pos.quantity,
                pnl=float(p),
                cost=float(cost),
                standalone_margin=standalone.get((account, pos.symbol)),
            )
        )
    return DefaultLoss(
        account=account,
        scenario=scenarios.names[row]
        if not scenarios.label
        else f"{scenarios.label} {scenarios.names[row]}",
        description=description,
        mpor=mpor,
        legs=tuple(legs),
        margin=held.required[account],
        standalone=held.standalone[account],
        moves=scenario_moves(one, 0, book.underlyings),
    )


def worst_row(
    portfolio: Portfolio, snapshot: MarketSnapshot, account: str, scenarios: ScenarioSet
) -> tuple[int, float]:
    """The row of ``scenarios`` with the largest market loss for ``account`` and that loss."""
    book = portfolio.subset([account])
    pnl = revalue(book, snapshot, scenarios).account_pnl_by_scenario[:, 0]
    i = int(np.argmin(pnl))
    return i, float(-pnl[i])


__all__ = ["CostParams", "DefaultLoss", "LegLoss", "cost_params", "default_loss", "worst_row"]
