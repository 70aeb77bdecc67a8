"""Read-only results of a cascade: per step, per mode, and the modes side by side.

Units (every ``to_dict`` carries a ``units`` block): money in USD; notional is delta notional
``|q·D|`` in USD; prices in USD per unit of the underlying; flows in units of the underlying
(signed: buying > 0); impact in log-price points (−0.01 ≈ −1%); rates and shares decimal.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

UNITS: Mapping[str, str] = {
    "money": "USD",
    "notional": "USD of delta notional |quantity x dollar delta|",
    "prices": "USD per unit of the underlying",
    "flow": "units of the underlying per step, signed (buying > 0, liquidated longs sell)",
    "impact": "log-price points (d ln S; -0.01 is about -1%)",
    "iterations": "fixed-point iterations of a step (count)",
    "ratios": "decimal",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class StepRecord:
    """One step of the cascade after its fixed point."""

    label: str
    iterations: int
    converged: bool
    exogenous_prices: Mapping[str, float]
    prices: Mapping[str, float]
    impact: Mapping[str, float]
    flow: Mapping[str, float]
    units_liquidated: int
    accounts_liquidated: int
    notional: float
    deficits: float
    layers: Mapping[str, float]
    residual: float
    stable: Mapping[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "label": self.label,
            "iterations": self.iterations,
            "converged": self.converged,
            "exogenous_prices": dict(self.exogenous_prices),
            "prices": dict(self.prices),
            "impact": dict(self.impact),
            "flow": dict(self.flow),
            "units_liquidated": self.units_liquidated,
            "accounts_liquidated": self.accounts_liquidated,
            "notional": self.notional,
            "deficits": self.deficits,
            "layers": dict(self.layers),
            "residual": self.residual,
            "stable_prices": dict(self.stable),
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class Default:
    """A unit closed out with a deficit (its bankruptcy price where it had one underlying)."""

    unit: str
    account: str
    step: str
    equity0: float
    loss: float
    deficit: float
    bankruptcy_price: float | None
    underlying: str | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "unit": self.unit,
            "account": self.account,
            "step": self.step,
            "equity0": self.equity0,
            "loss": self.loss,
            "deficit": self.deficit,
            "bankruptcy_price": self.bankruptcy_price,
            "underlying": self.underlying,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class Ledger:
    """Where the losses of the closed-out units went (USD).

    ``losses = collateral_consumed + Σ layers + adl + residual``; ``losses`` and
    ``collateral_consumed`` come from the units' equity, the layers from the funds' balances,
    ``adl`` from what counterparties were charged, ``residual`` from what no layer paid.

    Over the units closed out: ``losses = Σ (max(E₀, 0) − E_final)`` and ``collateral_consumed
    = Σ (max(E₀, 0) − max(E_final, 0))`` (a unit that starts with negative equity counts from
    zero; one closed after a gain counts negatively); ``deficits = Σ max(−E_final, 0)``.
    """

    losses: float
    collateral_consumed: float
    deficits: float
    layers: Mapping[str, float]
    adl: float
    residual: float
    fund_inflow: float

    @property
    def allocated(self) -> float:
        """``collateral_consumed + Σ layers + adl + residual``."""
        return math.fsum([self.collateral_consumed, *self.layers.values(), self.adl, self.residual])

    @property
    def gap(self) -> float:
        """``losses − allocated`` (0 to the cent when the books balance)."""
        return self.losses - self.allocated

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "losses": self.losses,
            "collateral_consumed": self.collateral_consumed,
            "deficits": self.deficits,
            "layers": dict(self.layers),
            "adl": self.adl,
            "residual": self.residual,
            "allocated": self.allocated,
            "gap": self.gap,
            "fund_inflow": self.fund_inflow,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class CascadeResult:
    """One margin mode of a cascade run."""

    mode: str
    allocation: str
    units: int
    accounts: int
    in_breach_at_start: int
    accounts_liquidated: int
    units_liquidated: int
    units_closed: int
    units_bankrupt: int
    notional: float
    initial_margin: float
    open_interest: float
    steps: tuple[StepRecord, ...]
    ledger: Ledger
    waterfall: Mapping[str, Any]
    defaults: tuple[Default, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def iterations(self) -> int:
        """Iterations over every step."""
        return sum(s.iterations for s in self.steps)

    @property
    def converged(self) -> bool:
        """Whether every step reached its fixed point within the iteration bound."""
        return all(s.converged for s in self.steps)

    @property
    def fund_drawn(self) -> float:
        """What the funds paid (every layer but ADL and the defaulter's own margin)."""
        return math.fsum(self.ledger.layers.values())

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "mode": self.mode,
            "allocation": self.allocation,
            "units": self.units,
            "accounts": self.accounts,
            "in_breach_at_start": self.in_breach_at_start,
            "accounts_liquidated": self.accounts_liquidated,
            "units_liquidated": self.units_liquidated,
            "units_closed": self.units_closed,
            "units_bankrupt": self.units_bankrupt,
            "notional": self.notional,
            "initial_margin": self.initial_margin,
            "open_interest": self.open_interest,
            "fund_drawn": self.fund_drawn,
            "adl": self.ledger.adl,
            "iterations": self.iterations,
            "max_iterations_in_a_step": max((s.iterations for s in self.steps), default=0),
            "converged": self.converged,
            "ledger": self.ledger.to_dict(),
            "waterfall": dict(self.waterfall),
            "defaults": [d.to_dict() for d in self.defaults],
            "steps": [s.to_dict() for s in self.steps],
            "notes": list(self.notes),
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class CascadeReport:
    """A cascade run: the same population and shock under each margin mode."""

    population: str
    accounts: int
    positions: int
    shock: str
    shock_kind: str
    description: str
    market: str
    allocation: str
    parameters: Mapping[str, Any]
    underlyings: tuple[str, ...]
    start_prices: Mapping[str, float]
    results: tuple[CascadeResult, ...]
    notes: tuple[str, ...] = ()

    def mode(self, name: str) -> CascadeResult:
        """The result of margin mode ``name``."""
        for r in self.results:
            if r.mode == name:
                return r
        raise KeyError(name)

    def answer(self) -> str:
        """Does cross margining contain or amplify the cascade (cross vs isolated)?"""
        modes = {r.mode: r for r in self.results}
        if "cross" not in modes or "isolated" not in modes:
            return ""
        c, i = modes["cross"], modes["isolated"]
        verdict = (
            "contains"
            if (c.accounts_liquidated, c.fund_drawn + c.ledger.adl)
            < (i.accounts_liquidated, i.fund_drawn + i.ledger.adl)
            else "amplifies"
            if (c.accounts_liquidated, c.fund_drawn + c.ledger.adl)
            > (i.accounts_liquidated, i.fund_drawn + i.ledger.adl)
            else "neither contains nor amplifies"
        )
        return (
            f"cross margining {verdict} the cascade here: {c.accounts_liquidated} accounts "
            f"liquidated cross-margined vs {i.accounts_liquidated} isolated; notional "
            f"{c.notional:,.0f} vs {i.notional:,.0f} USD; funds drawn {c.fund_drawn:,.0f} vs "
            f"{i.fund_drawn:,.0f} USD; ADL {c.ledger.adl:,.0f} vs {i.ledger.adl:,.0f} USD"
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (the CLI's ``--json``, the service's payload, the run store's result)."""
        return {
            "kind": "cascade",
            "population": self.population,
            "account_count": self.accounts,
            "position_count": self.positions,
            "shock": self.shock,
            "shock_kind": self.shock_kind,
            "description": self.description,
            "market": self.market,
            "allocation": self.allocation,
            "parameters": dict(self.parameters),
            "underlyings": list(self.underlyings),
            "start_prices": dict(self.start_prices),
            "answer": self.answer(),
            "modes": [r.to_dict() for r in self.results],
            "notes": list(self.notes),
            "units": dict(UNITS),
        }

    def rows(self) -> Sequence[Mapping[str, Any]]:
        """One summary row per mode (CLI table, docs, report)."""
        return [
            {
                "mode": r.mode,
                "accounts_liquidated": r.accounts_liquidated,
                "units_liquidated": r.units_liquidated,
                "units_bankrupt": r.units_bankrupt,
                "notional": r.notional,
                "deficits": r.ledger.deficits,
                "fund_drawn": r.fund_drawn,
                "adl": r.ledger.adl,
                "residual": r.ledger.residual,
                "iterations": r.iterations,
                "converged": r.converged,
            }
            for r in self.results
        ]


__all__ = ["UNITS", "CascadeReport", "CascadeResult", "Default", "Ledger", "StepRecord"]
