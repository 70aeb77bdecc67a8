"""Response bodies of the capital-efficiency and cascade endpoints (OpenAPI documentation).

As in :mod:`crossmargin.service.payloads`: the answers are the engine's ``to_dict()``
payloads (the CLI's ``--json``); these models name the main fields and their units, allow
extra fields, and a test validates real answers against them.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from crossmargin.service.payloads import MONEY, Money, _Dated, _Open


class _Units(_Open):
    units: dict[str, str] = Field(description="The unit of every kind of figure")


class AttributionResponse(_Units):
    """``POST /v1/attribute``: Euler contributions of each account's requirement."""

    model: str
    currency: str
    method: str = Field(description="How the contributions are taken (binding scenario, "
                        "tail average, SIMM gradient ...)")  # fmt: skip
    by: str = Field(description="position, underlying, asset-class or tier")
    accounts: list[dict[str, Any]] = Field(
        description=f"Per account: total, its contributions (summing to it), incremental and "
        f"marginal margin, {MONEY}"
    )


class HedgeResponse(_Units):
    """``POST /v1/optimise/hedge``: the margin-minimising trades of one account, verified."""

    account: str
    model: str
    currency: str
    trades: list[dict[str, Any]] = Field(description="Proposed trades (quantity in contracts)")
    margin_before: Money = Field(description=MONEY)
    requirement_after: Money | None = Field(description=f"Verified through what-if, {MONEY}")
    saving: Money | None = Field(description=MONEY)
    trading_cost: Money | None = Field(description=MONEY)
    status: str


class AllocationResponse(_Units):
    """``POST /v1/optimise/allocate``: positions assigned to venues."""

    currency: str
    venues: Any
    total: Money = Field(description=f"Margin of the allocation, {MONEY}")
    isolated: Money = Field(description=f"Margin with every position on its own, {MONEY}")
    saving: Money = Field(description=MONEY)
    allocation: Any


class CapitalResponse(_Units):
    """``POST /v1/optimise/capital``: freed capital, funding value, ROE and utilisation."""

    model: str
    currency: str
    rate: float = Field(description="Funding rate, decimal per year")
    totals: dict[str, Any]
    accounts: list[dict[str, Any]]


class CascadeResponse(_Dated):
    """``POST /v1/cascade``: the cascade report (``crossmargin cascade --json``)."""

    run_id: str | None = Field(description="Id at /v1/runs/{run_id}; null when not recorded")
    record_status: str = Field(description="recorded, off, or why it was not recorded")
    account_count: int
    position_count: int
    shock: Any
    modes: Any = Field(description="Per margining mode: the price path, accounts liquidated, "
                       "notional, losses, iterations")  # fmt: skip


__all__ = [
    "AllocationResponse",
    "AttributionResponse",
    "CapitalResponse",
    "CascadeResponse",
    "HedgeResponse",
]
