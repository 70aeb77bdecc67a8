"""Response bodies of the HTTP service, as pydantic models for the OpenAPI schema.

The service builds its answers from the engine's ``to_dict()`` payloads (the same JSON as
the CLI's ``--json``); these models document them field by field, with units. They allow
extra fields, so a figure the engine adds later is never dropped, and a test validates real
answers against them so the documentation cannot drift from what is sent.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


Money = float
MONEY = "in the reporting currency (``currency``; USD)"


class ErrorIssue(BaseModel):
    """What was wrong where (fields that do not apply are null)."""

    path: str | None = Field(None, description="JSON path of a request field, e.g. "
                             "body.positions.3.quantity")  # fmt: skip
    source: str | None = Field(None, description="Which input (request, trades, collateral)")
    row: int | None = Field(None, description="1-based row of that input")
    column: str | None = Field(None, description="Column / key of the row")
    value: Any = Field(None, description="The offending value (cut to 200 characters)")
    reason: str


class ErrorBody(BaseModel):
    """Every error: one line, its kind, and the issues found (docs/service.md, Errors)."""

    error: str = Field(description="One line saying what is wrong and what to do")
    kind: str = Field(description="ValidationError, SchemaError, InputError, MarketDataError, "
                      "NotFound, PayloadTooLarge, RequestTimeout, Unauthorized, Overloaded, "
                      "StoreBusy, Timeout, InternalError ...")  # fmt: skip
    issues: list[ErrorIssue] = Field(default_factory=list)
    id: str | None = Field(None, description="500 only: the id logged with the traceback")


class AccountPayload(_Open):
    """One netting set (account) of a margin result; money"""

    account: str
    total: Money = Field(description=f"Requirement after the offset tiers, {MONEY}")
    netted: Money = Field(description=f"The model's margin of the whole netting set, {MONEY}")
    standalone: Money = Field(description=f"Sum of every position margined alone, {MONEY}")
    grouped: Money = Field(description=f"Sum of the group margins (``by``), {MONEY}")
    capped: Money | None = Field(description=f"Requirement after the caps, {MONEY}")
    maintenance: Money | None = Field(description=f"Maintenance margin, {MONEY}")
    benefit: Money = Field(description=f"standalone - netted, {MONEY}")
    benefit_pct: float = Field(description="benefit as a percent of standalone (51.3 = 51.3%)")
    components: dict[str, Money] = Field(description=f"The model's components, {MONEY}")
    info: dict[str, Any] = Field(description="Figures reported but not charged (e.g. the "
                                 "stressed-window measure, days to liquidate)")  # fmt: skip
    worst_scenario: str | None
    netting_set: dict[str, Any] = Field(description="How the set was margined (calendar, "
                                        "MPOR, windows) for historical models")  # fmt: skip
    tiers: list[dict[str, Any]] = Field(description="Margin, base, capped figure and credit "
                                        f"per offset tier, {MONEY}")  # fmt: skip
    equity: dict[str, Any] | None = Field(
        description="Collateral, haircut, MTM, equity, IM, MM, excess, margin ratio (decimal), "
        "ladder status"
    )


class GroupPayload(_Open):
    """A group of ``by`` within an account."""

    account: str
    group: str
    margin: Money
    standalone: Money
    benefit: Money


class PositionPayload(_Open):
    """A netted position and its standalone margin."""

    account: str
    symbol: str
    quantity: float
    quantity_unit: str = Field(description="contracts (netted positions hold contracts)")
    group: str
    standalone: Money
    maintenance: Money | None


class _Dated(_Open):
    asof: str = Field(description="The valuation date used (YYYY-MM-DD): the service's, "
                      "fixed at start, or the request's asof", examples=["2026-02-11"])  # fmt: skip
    market: str = Field(description="Where the market snapshot came from (no server paths)")
    units: dict[str, str] = Field(description="The unit of every kind of figure")


class MarginResponse(_Dated):
    """``POST /v1/margin``: the run id and the ``crossmargin margin --json`` payload."""

    run_id: str | None = Field(description="Id to fetch the run at /v1/runs/{run_id}; null "
                               "when the run is not recorded")  # fmt: skip
    record_status: str = Field(description="queued (written in the background), off (not "
                               "asked or --no-store) or why it was not recorded")  # fmt: skip
    model: str
    currency: str
    by: str
    cap: float | None
    total: Money = Field(description=f"Sum of the accounts' requirements, {MONEY}")
    maintenance: Money | None
    standalone_total: Money
    grouped_total: Money
    netted_total: Money
    benefit: Money
    benefit_pct: float = Field(description="percent of standalone (51.3 = 51.3%)")
    components: dict[str, Money]
    accounts: list[AccountPayload]
    groups: list[GroupPayload]
    positions: list[PositionPayload]
    parameters: dict[str, Any] = Field(description="The model's parameters in force")
    diagnostics: dict[str, Any]
    offsets: dict[str, Any] = Field(description="The offset policy applied")


class WhatIfResponse(_Dated):
    """``POST /v1/what-if``: the account before and after the trades, on one market."""

    account: str
    model: str
    currency: str
    by: str
    cap: float | None
    collateral: Money = Field(description=f"Extra cash on top of the holdings, {MONEY}")
    premium_paid: Money = Field(description=f"What the trades cost in cash, {MONEY}")
    margin_before: Money
    margin_after: Money
    incremental_margin: Money = Field(description=f"after - before, {MONEY}")
    equity_before: Money
    equity_after: Money
    excess: Money = Field(description=f"equity after - margin after (< 0: shortfall), {MONEY}")
    passes: bool = Field(description="Whether the equity covers the requirement after")
    before: AccountPayload
    after: AccountPayload


class SimmResponse(_Open):
    """``POST /v1/simm``: the ``crossmargin simm FILE --json`` payload."""

    total: float = Field(description="SIMM initial margin in calculation_currency")
    delta: float
    vega: float
    curvature: float
    base_corr: float
    add_on: float
    by_product_class: dict[str, float]
    by_risk_class: dict[str, float]
    buckets: list[dict[str, Any]]
    version: str
    mpor_days: int
    calculation_currency: str
    side: str


class ModelInfo(BaseModel):
    """A model offered by the service."""

    name: str
    description: str
    subadditive: bool


class HealthResponse(BaseModel):
    """``GET /v1/health``: liveness and how the service values, records and limits."""

    status: str
    version: str
    asof: str = Field(description="The service's valuation date (YYYY-MM-DD)")
    market: str = Field(description="How snapshots are made")
    contracts: str
    store: str = Field(description="recording (runs written in the background) or off")
    queued_runs: int = Field(description="Runs waiting to be written by this process")
    workers: int
    auth: bool = Field(description="Whether /v1 endpoints need an API key")
    cache: dict[str, Any] = Field(description="Context-cache counters; bytes held / max_bytes "
                                  "(this process)")  # fmt: skip
    limits: dict[str, Any] = Field(description="Body, timeout and concurrency limits")


class RunResponse(_Open):
    """``GET /v1/runs/{run_id}``: a recorded run (``crossmargin runs show ID --json``)."""

    run_id: str
    kind: str
    created_at: str
    model: str
    parameters: dict[str, Any]
    market_asof: str | None
    market_source: str
    inputs_hash: str
    book_source: str
    status: str
    version: str
    result: dict[str, Any]


__all__ = [
    "AccountPayload",
    "ErrorBody",
    "ErrorIssue",
    "HealthResponse",
    "MarginResponse",
    "ModelInfo",
    "RunResponse",
    "SimmResponse",
    "WhatIfResponse",
]
