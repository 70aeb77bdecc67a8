"""The hedge's inputs and answer: limits, cost model, per-candidate terms, trades, result.

Per candidate (:func:`candidate_terms`), in the reporting currency: bounds in contracts
(without bounds in the universe, up to twice the account's gross dollar delta, at least one
contract), the cost of buying/selling one contract against the engine's fair value (a quoted
bid/ask priced as trade prices, a half spread of the notional, or by default the es liquidity
half spreads ``s·|Δ| + h·|ν|`` of ``es.json``), the premium per contract (options and spot:
cash paid), the notional per contract (``m·S``; inverse futures and perpetuals their USD face)
and the dollar delta ``∂V/∂ln S`` (USD per 100% move, central difference, full revaluation).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from crossmargin.analysis.optimise.universe import Candidate
from crossmargin.errors import InputError
from crossmargin.market.snapshot import MarketSnapshot
from crossmargin.portfolio import parse_rows

FloatArray = NDArray[np.float64]
OBJECTIVES = ("margin", "margin+cost")


@dataclass(frozen=True, slots=True, kw_only=True)
class HedgeLimits:
    """Limits of a hedge (module docstring): USD notional, USD delta bands per underlying
    (``"*"`` for every underlying of the problem), integer contracts."""

    max_notional: float | None = None
    delta_bands: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    integer: bool = True

    def __post_init__(self) -> None:
        if self.max_notional is not None and not (
            math.isfinite(self.max_notional) and self.max_notional >= 0
        ):
            raise InputError(f"max notional must be a finite amount >= 0, got {self.max_notional}")
        for u, (lo, hi) in self.delta_bands.items():
            if not (lo <= hi):
                raise InputError(f"delta band of {u}: low {lo:g} exceeds high {hi:g}")


@dataclass(frozen=True, slots=True, kw_only=True)
class CostModel:
    """What trading costs: ``objective`` (``margin`` or ``margin+cost``), the funding rate
    (decimal per year) and the horizon (calendar days) over which margin and premium are
    funded."""

    objective: str = "margin"
    rate: float = 0.0
    horizon_days: float = 365.0

    def __post_init__(self) -> None:
        if self.objective not in OBJECTIVES:
            raise InputError(f"unknown objective {self.objective!r}: use {', '.join(OBJECTIVES)}")
        if not (math.isfinite(self.rate) and -1.0 < self.rate < 1.0):
            raise InputError(f"funding rate must be a decimal per year (0.0365), got {self.rate}")
        if not (math.isfinite(self.horizon_days) and self.horizon_days > 0):
            raise InputError(f"horizon must be > 0 days, got {self.horizon_days}")

    @property
    def carry(self) -> float:
        """``r·H/365``: funding cost of one unit of money over the horizon."""
        return self.rate * self.horizon_days / 365.0


@dataclass(frozen=True, slots=True, kw_only=True)
class CandidateTerms:
    """Per candidate, in the reporting currency: bounds (contracts), buy/sell cost and premium
    per contract, notional per contract and dollar delta per contract (USD per 100% move)."""

    candidates: tuple[Candidate, ...]
    lower: FloatArray
    upper: FloatArray
    buy: FloatArray
    sell: FloatArray
    premium: FloatArray
    notional: FloatArray
    delta: FloatArray
    underlying: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Trade:
    """A trade of the answer (contracts; money in the reporting currency)."""

    symbol: str
    quantity: float
    cost: float
    premium: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "symbol": self.symbol,
            "quantity": self.quantity,
            "cost": self.cost,
            "premium": self.premium,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class HedgeResult:
    """The hedge found, its promise and its verification (module docstring)."""

    account: str
    model: str
    currency: str
    objective: str
    trades: tuple[Trade, ...]
    margin_before: float
    requirement_before: float
    promised: float
    verified: float
    requirement_after: float
    objective_value: float
    greedy: float | None
    greedy_objective: float | None
    greedy_trades: tuple[Trade, ...]
    method: str
    exact: bool
    notes: tuple[str, ...]
    status: str
    gap: float | None
    seconds: float
    candidates: int
    rate: float
    horizon_days: float
    what_if: Any = None

    @property
    def saving(self) -> float:
        """Requirement before minus after (reporting currency; > 0 frees capital)."""
        return self.requirement_before - self.requirement_after

    @property
    def trading_cost(self) -> float:
        """Σ cost of the trades against fair value."""
        return math.fsum(t.cost for t in self.trades)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, with a units block."""
        ccy = self.currency
        return {
            "account": self.account,
            "model": self.model,
            "currency": ccy,
            "objective": self.objective,
            "trades": [t.to_dict() for t in self.trades],
            "margin_before": self.margin_before,
            "requirement_before": self.requirement_before,
            "promised": self.promised,
            "verified": self.verified,
            "requirement_after": self.requirement_after,
            "saving": self.saving,
            "trading_cost": self.trading_cost,
            "objective_value": self.objective_value,
            "greedy": self.greedy,
            "greedy_objective": self.greedy_objective,
            "greedy_trades": [t.to_dict() for t in self.greedy_trades],
            "method": self.method,
            "exact": self.exact,
            "notes": list(self.notes),
            "status": self.status,
            "gap": self.gap,
            "seconds": self.seconds,
            "candidates": self.candidates,
            "rate": self.rate,
            "horizon_days": self.horizon_days,
            "units": {
                "money": f"{ccy}: margins, requirements, saving, costs, premiums",
                "promised/verified": f"{ccy}: the model's margin of the account's netting set "
                "(the LP's figure and the model's on the answer)",
                "objective_value": f"{ccy}: margin (objective margin) or funding of the margin "
                "over the horizon plus trading cost and premium funding (margin+cost)",
                "requirement": f"{ccy}: what the account must hold after the offset tiers",
                "quantity": "contracts",
                "rate": "decimal per year",
                "horizon_days": "calendar days",
                "seconds": "wall-clock seconds of the optimiser",
                "gap": "relative MIP gap HiGHS proved (0.0001 = 0.01%)",
            },
        }


def candidate_terms(
    candidates: Sequence[Candidate],
    market: MarketSnapshot,
    *,
    gross_delta: float,
) -> CandidateTerms:
    """Bounds, costs, premium, notional and delta of each candidate (module docstring)."""
    from crossmargin.models.params import load_parameters
    from crossmargin.models.var_addon_params import bucket_parameters
    from crossmargin.models.var_addons import dollar_deltas, vegas
    from crossmargin.pricing.mtm import position_mtm
    from crossmargin.pricing.terms import instrument_terms
    from crossmargin.pricing.valuation import base_fx, base_values

    insts = tuple(c.instrument for c in candidates)
    terms = instrument_terms(insts, market)
    value = base_values(terms) * base_fx(terms)
    delta = dollar_deltas(insts, market, bump=0.01)
    vega = vegas(insts, market, bump=0.01)
    quote = np.array([market.fx_rate(i.spec.quote_currency) for i in insts])
    face = terms.inverse & np.isin(terms.kind, _face_kinds())  # USD face per contract
    notional = np.where(face, terms.multiplier, terms.multiplier * terms.spot) * quote
    es = load_parameters("es")
    buy, sell = np.zeros(len(insts)), np.zeros(len(insts))
    for j, c in enumerate(candidates):
        if c.bid is not None and c.ask is not None:
            rows = parse_rows(
                [
                    {"account": "q", "symbol": c.symbol, "quantity": 1.0, "trade_price": c.ask},
                    {"account": "s", "symbol": c.symbol, "quantity": -1.0, "trade_price": c.bid},
                ],
                source="quotes",
            )
            _, unrealised = position_mtm(rows, market)
            buy[j], sell[j] = -unrealised[0], -unrealised[1]
        elif c.half_spread is not None:
            buy[j] = sell[j] = c.half_spread * abs(notional[j])
        else:
            bp = bucket_parameters(es, c.instrument.underlying, c.instrument.spec.style)
            buy[j] = sell[j] = bp.half_spread * abs(delta[j]) + bp.vol_half_spread * abs(vega[j])
    premium = np.where(np.isin(terms.kind, _paid_kinds()), value, 0.0)
    bound = np.where(
        np.abs(delta) > 0, np.ceil(2.0 * gross_delta / np.maximum(np.abs(delta), 1e-12)), 1.0
    )
    bound = np.clip(np.maximum(bound, 1.0), 1.0, 1e9)
    lower = np.array(
        [-b if c.lower is None else c.lower for c, b in zip(candidates, bound, strict=True)]
    )
    upper = np.array(
        [b if c.upper is None else c.upper for c, b in zip(candidates, bound, strict=True)]
    )
    return CandidateTerms(
        candidates=tuple(candidates),
        lower=lower,
        upper=upper,
        buy=buy,
        sell=sell,
        premium=premium,
        notional=np.abs(notional),
        delta=delta,
        underlying=tuple(i.underlying for i in insts),
    )


def _paid_kinds() -> tuple[int, ...]:
    from crossmargin.pricing.terms import OPTION, SPOT

    return (OPTION, SPOT)


def _face_kinds() -> tuple[int, ...]:
    from crossmargin.pricing.terms import FUTURE, PERPETUAL

    return (FUTURE, PERPETUAL)


__all__ = [
    "OBJECTIVES",
    "CandidateTerms",
    "CostModel",
    "HedgeLimits",
    "HedgeResult",
    "Trade",
    "candidate_terms",
]
