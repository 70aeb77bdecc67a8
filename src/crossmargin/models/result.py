"""Read-only margin results: per account, per group, per position, with the netting benefit."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

GROUPINGS = ("position", "product", "underlying", "asset-class", "account")


@dataclass(frozen=True, slots=True, kw_only=True)
class PositionMargin:
    """A netted position margined on its own (its standalone requirement)."""

    account: str
    symbol: str
    quantity: float
    group: str
    standalone: float
    maintenance: float | None


@dataclass(frozen=True, slots=True, kw_only=True)
class GroupMargin:
    """One group (``by`` key) within an account: netted inside the group only."""

    account: str
    group: str
    margin: float
    standalone: float

    @property
    def benefit(self) -> float:
        """Standalone minus grouped margin."""
        return self.standalone - self.margin


@dataclass(frozen=True, slots=True, kw_only=True)
class TierGroup:
    """One group of one offset tier of an account (:mod:`crossmargin.netting.tiers`).

    ``margin`` is the model's margin of the group (netted inside it), ``base`` the sum of its
    members' capped requirements at the tier below, ``capped`` its requirement after the
    tier's cap and eligibility; ``standalone`` the sum of its positions margined alone.
    ``tests`` are the eligibility tests of the pairs of underlyings it nets (JSON-ready).
    """

    tier: str
    group: str
    margin: float
    base: float
    capped: float
    standalone: float
    eligible: bool = True
    reason: str = ""
    tests: tuple[Mapping[str, Any], ...] = ()

    @property
    def credit(self) -> float:
        """``base − capped``: the offset credit granted in this group."""
        return self.base - self.capped

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "group": self.group,
            "margin": self.margin,
            "base": self.base,
            "capped": self.capped,
            "credit": self.credit,
            "standalone": self.standalone,
            "eligible": self.eligible,
            "reason": self.reason,
            "tests": [dict(t) for t in self.tests],
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class TierMargin:
    """One offset tier of an account: its groups summed (money in the result's currency).

    ``credit = base − capped`` is what netting at this tier saved after the cap; the credits
    of the tiers add up to the account's ``standalone − total``.
    """

    tier: str
    cap: float
    margin: float
    base: float
    capped: float
    groups: tuple[TierGroup, ...] = ()

    @property
    def credit(self) -> float:
        """``base − capped``."""
        return self.base - self.capped

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "tier": self.tier,
            "cap": self.cap,
            "margin": self.margin,
            "base": self.base,
            "capped": self.capped,
            "credit": self.credit,
            "groups": [g.to_dict() for g in self.groups],
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class AccountMargin:
    """An account's requirement under full netting, with its standalone and grouped views.

    ``total`` is what the account must hold: the requirement after the offset tiers
    (``tiers``: margin, base, capped figure and credit per tier) — ``capped`` is the same
    figure, ``netted`` the model's margin of the whole netting set before any cap.
    ``netting_set`` holds JSON-ready facts about how the account was margined where the model
    reports them (historical models: calendar, MPOR in calendar days, lookback and stressed
    windows, vol sources). ``equity``: collateral, MTM, equity, initial and maintenance margin,
    excess and margin ratio (:class:`crossmargin.collateral.equity.Equity`).
    """

    account: str
    total: float
    netted: float
    standalone: float
    grouped: float
    capped: float | None
    maintenance: float | None
    components: Mapping[str, float]
    worst_scenario: str | None
    info: Mapping[str, float] = field(default_factory=dict)
    netting_set: Mapping[str, Any] = field(default_factory=dict)
    tiers: tuple[TierMargin, ...] = ()
    equity: Any = None

    @property
    def benefit(self) -> float:
        """Standalone minus netted margin (negative if netting costs margin)."""
        return self.standalone - self.netted

    @property
    def benefit_pct(self) -> float:
        """Benefit as a percentage of standalone margin."""
        return 100.0 * self.benefit / self.standalone if self.standalone > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: one entry of a result's ``accounts`` (and a what-if's before/after)."""
        return {
            "account": self.account,
            "total": self.total,
            "netted": self.netted,
            "standalone": self.standalone,
            "grouped": self.grouped,
            "capped": self.capped,
            "maintenance": self.maintenance,
            "benefit": self.benefit,
            "benefit_pct": self.benefit_pct,
            "components": dict(self.components),
            "info": dict(self.info),
            "worst_scenario": self.worst_scenario,
            "netting_set": dict(self.netting_set),
            "tiers": [t.to_dict() for t in self.tiers],
            "equity": None if self.equity is None else self.equity.to_dict(),
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class MarginResult:
    """The result of ``MarginModel.compute``; money in ``currency``."""

    model: str
    currency: str
    by: str
    cap: float | None
    accounts: tuple[AccountMargin, ...]
    groups: tuple[GroupMargin, ...]
    positions: tuple[PositionMargin, ...]
    parameters: Mapping[str, Any] = field(default_factory=dict)
    market: str = ""
    diagnostics: Mapping[str, Any] = field(default_factory=dict)
    offsets: Mapping[str, Any] = field(default_factory=dict)

    @property
    def total(self) -> float:
        """Sum of the accounts' requirements (after the offset tiers)."""
        return math.fsum(a.total for a in self.accounts)

    @property
    def netted_total(self) -> float:
        """Sum of the fully netted account margins."""
        return math.fsum(a.netted for a in self.accounts)

    @property
    def standalone_total(self) -> float:
        """Sum of every position margined alone."""
        return math.fsum(a.standalone for a in self.accounts)

    @property
    def grouped_total(self) -> float:
        """Sum of the group margins."""
        return math.fsum(g.margin for g in self.groups)

    @property
    def maintenance_total(self) -> float | None:
        """Sum of maintenance margins where the method has one."""
        if any(a.maintenance is None for a in self.accounts):
            return None
        return math.fsum(a.maintenance or 0.0 for a in self.accounts)

    @property
    def benefit(self) -> float:
        """Standalone minus what the accounts must hold."""
        return self.standalone_total - self.total

    @property
    def benefit_pct(self) -> float:
        """Benefit as a percentage of standalone margin."""
        s = self.standalone_total
        return 100.0 * self.benefit / s if s > 0 else 0.0

    def components(self) -> dict[str, float]:
        """Each component summed over accounts (netted figures)."""
        names = dict.fromkeys(k for a in self.accounts for k in a.components)
        return {k: math.fsum(a.components.get(k, 0.0) for a in self.accounts) for k in names}

    def summary(self) -> str:
        """A few lines a person reads first."""
        cap = f", cap {self.cap:g}" if self.cap is not None else ""
        policy = self.offsets.get("name")
        offsets = f", offsets {policy}" if policy else ""
        lines = [
            f"{self.model} margin ({self.currency}{offsets}{cap}): total {self.total:,.2f}",
            f"  standalone {self.standalone_total:,.2f}, grouped by {self.by} "
            f"{self.grouped_total:,.2f}, netted {self.netted_total:,.2f}",
            f"  cross-margin benefit {self.benefit:,.2f} ({self.benefit_pct:.1f}%)",
        ]
        for a in self.accounts:
            saved = 100.0 * (a.standalone - a.total) / a.standalone if a.standalone > 0 else 0.0
            netted = (
                f", netted {a.netted:,.2f} before the caps"
                if a.capped is not None and abs(a.capped - a.netted) > 1e-9
                else ""
            )
            lines.append(
                f"  {a.account}: {a.total:,.2f} (standalone {a.standalone:,.2f}{netted}, "
                f"benefit {saved:.1f}%)"
            )
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the CLI ``--json`` and service payload."""
        return {
            "model": self.model,
            "currency": self.currency,
            "by": self.by,
            "cap": self.cap,
            "total": self.total,
            "maintenance": self.maintenance_total,
            "standalone_total": self.standalone_total,
            "grouped_total": self.grouped_total,
            "netted_total": self.netted_total,
            "benefit": self.benefit,
            "benefit_pct": self.benefit_pct,
            "components": self.components(),
            "accounts": [a.to_dict() for a in self.accounts],
            "groups": [
                {
                    "account": g.account,
                    "group": g.group,
                    "margin": g.margin,
                    "standalone": g.standalone,
                    "benefit": g.benefit,
                }
                for g in self.groups
            ],
            "positions": [
                {
                    "account": p.account,
                    "symbol": p.symbol,
                    "quantity": p.quantity,
                    "quantity_unit": "contracts",  # netted positions hold contracts
                    "group": p.group,
                    "standalone": p.standalone,
                    "maintenance": p.maintenance,
                }
                for p in self.positions
            ],
            "parameters": dict(self.parameters),
            "market": self.market,
            "diagnostics": dict(self.diagnostics),
            "offsets": dict(self.offsets),
            "units": result_units(self.currency),
        }


def result_units(currency: str) -> dict[str, str]:
    """The units of a result's JSON fields (the ``units`` block of every margin payload):
    every figure's unit by its key, see :mod:`crossmargin.field_units`."""
    from crossmargin.field_units import margin_units

    return margin_units(currency)
