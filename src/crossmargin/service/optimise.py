"""Capital-efficiency endpoints: attribution, the hedge, allocation and capital figures.

======================  ======================================================================
``POST /v1/attribute``   Euler attribution of each account (``crossmargin attribute --json``)
``POST /v1/optimise/     the margin-minimising hedge of one account (``crossmargin optimise
hedge``                  hedge --json``)
``POST /v1/optimise/     allocation of the positions across venues (``... allocate --json``;
allocate``               the venues file's content in ``venues``)
``POST /v1/optimise/     freed capital, funding value, ROE, utilisation, liquidation distance
capital``
======================  ======================================================================

Bodies are checked by pydantic (unknown keys refused); what only the engine can check comes
back as a 422 with the reason (:mod:`crossmargin.service.errors`).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body
from fastapi.responses import Response
from pydantic import Field, field_validator

from crossmargin import api
from crossmargin.errors import InputError, ModelError
from crossmargin.portfolio import Portfolio
from crossmargin.service.limits import Gate
from crossmargin.service.payloads_capital import (
    AllocationResponse,
    AttributionResponse,
    CapitalResponse,
    HedgeResponse,
)
from crossmargin.service.responses import json_response
from crossmargin.service.schemas import (
    MAX_ROWS,
    SERVICE_MODELS,
    CollateralRow,
    Money,
    PositionRow,
    Text,
    _ModelChoice,
    _Strict,
)
from crossmargin.service.state import ServiceState


class AttributeRequest(_ModelChoice):
    """``POST /v1/attribute``: a book, the model (or ``simm``) and the grouping."""

    model: str = Field(
        default="es",
        description="Margin model, or simm",
        json_schema_extra={"enum": [*SERVICE_MODELS, "simm"]},
    )
    positions: list[PositionRow] = Field(min_length=1, max_length=MAX_ROWS)
    collateral: list[CollateralRow] = Field(default_factory=list, max_length=MAX_ROWS)
    group: Literal["position", "underlying", "asset-class", "tier"] = "position"
    incremental: bool = Field(False, description="Also run each account without each position")

    @field_validator("model")
    @classmethod
    def _known(cls, value: str) -> str:
        if value not in (*SERVICE_MODELS, "simm"):
            raise ValueError(
                f"unknown model {value!r}: choose one of {', '.join([*SERVICE_MODELS, 'simm'])}"
            )
        return value


class CandidateRow(_Strict):
    """A hedge candidate: contracts bounds and quoted costs (as a universe file's entry)."""

    symbol: Text
    min: Money | None = None
    max: Money | None = None
    bid: Money | None = None
    ask: Money | None = None
    half_spread: float | None = Field(default=None, ge=0.0, le=1.0)


class HedgeRequest(_ModelChoice):
    """``POST /v1/optimise/hedge``: the account, its book, limits and costs."""

    model: str = Field(default="es", json_schema_extra={"enum": list(SERVICE_MODELS)})
    account: Text
    positions: list[PositionRow] = Field(min_length=1, max_length=MAX_ROWS)
    collateral: list[CollateralRow] = Field(default_factory=list, max_length=MAX_ROWS)
    universe: list[CandidateRow] | None = Field(default=None, max_length=100)
    objective: Literal["margin", "margin+cost"] = "margin"
    rate: float | None = Field(default=None, gt=-1.0, lt=1.0, description="decimal per year")
    horizon_days: float = Field(default=365.0, gt=0.0, le=3650.0)
    max_notional: float | None = Field(default=None, ge=0.0, le=1e15)
    delta_bands: dict[Text, tuple[Money, Money]] = Field(default_factory=dict, max_length=50)
    integer: bool = True
    greedy: bool = True
    time_limit: float = Field(default=10.0, gt=0.0, le=30.0, description="seconds")


class AllocateRequest(_Strict):
    """``POST /v1/optimise/allocate``: positions and the venues file's content."""

    positions: list[PositionRow] = Field(min_length=1, max_length=2_000)
    venues: dict[str, Any]
    split: bool = False
    time_limit: float = Field(default=20.0, gt=0.0, le=60.0, description="seconds")


class CapitalRequest(_ModelChoice):
    """``POST /v1/optimise/capital``: a book, the model, the rate and the strategy return."""

    model: str = Field(default="es", json_schema_extra={"enum": list(SERVICE_MODELS)})
    positions: list[PositionRow] = Field(min_length=1, max_length=MAX_ROWS)
    collateral: list[CollateralRow] = Field(default_factory=list, max_length=MAX_ROWS)
    rate: float | None = Field(default=None, gt=-1.0, lt=1.0, description="decimal per year")
    strategy_return: float = Field(default=0.10, ge=-10.0, le=10.0)
    cash: float | Literal["isolated"] | None = Field(default=None)
    liquidation: bool = Field(False, description="Reverse-stress each account (slower)")


def _guard(fn: Any) -> Any:
    """Numerical failures on odd inputs come back as a 422 ModelError, never a 500."""
    try:
        return fn()
    except (ValueError, ArithmeticError) as bad:
        if isinstance(bad, InputError):
            raise
        raise ModelError(f"the optimiser cannot run on these inputs: {bad}") from None


_EXAMPLE_BOOK: list[dict[str, Any]] = [
    {"account": "acc-1", "symbol": "BTC-PERPETUAL", "quantity": 2000.0},
    {"account": "acc-1", "symbol": "BTC-25DEC26-100000-C", "quantity": -5.0},
    {"account": "acc-2", "symbol": "SPY", "quantity": 100.0},
]
EXAMPLES: dict[str, dict[str, Any]] = {
    "attribute": {"positions": _EXAMPLE_BOOK, "model": "pm_grid", "group": "underlying"},
    "hedge": {
        "account": "acc-1",
        "positions": _EXAMPLE_BOOK[:2],
        "model": "pm_grid",
        "universe": [{"symbol": "BTC-PERPETUAL", "min": -20000, "max": 20000}],
        "time_limit": 5,
    },
    "allocate": {
        "positions": _EXAMPLE_BOOK,
        "venues": {
            "venues": [{"name": "deribit", "model": "pm_grid"}, {"name": "cme", "model": "span"}]
        },
    },
    "capital": {"positions": _EXAMPLE_BOOK, "model": "pm_grid", "rate": 0.05},
}


def _example(name: str) -> Any:
    return Body(openapi_examples={name: {"value": EXAMPLES[name]}})


def router(
    shared: ServiceState,
    book: Any,
    model_of: Any,
    gate: Gate,
    errors: dict[int | str, dict[str, Any]],
) -> APIRouter:
    """The endpoints (``book``/``model_of``: the app's helpers for books and models; each
    runs through ``gate``, the service's concurrency and timeout limits; ``errors``: the
    documented error answers)."""
    r = APIRouter(prefix="/v1")

    def snapshot(portfolio: Portfolio) -> Any:
        return shared.market(portfolio.priced_underlyings)[1]

    @r.post("/attribute", response_model=AttributionResponse, responses=errors)
    async def attribute(req: Annotated[AttributeRequest, _example("attribute")]) -> Response:
        """Euler attribution of each account's requirement."""
        return await gate.run(_attribute, req)

    def _attribute(req: AttributeRequest) -> Response:
        portfolio = book(req.positions, "request", req.collateral, req.cross_margin)
        snap = snapshot(portfolio)
        model = "simm" if req.model == "simm" else model_of(req)
        att = _guard(
            lambda: api.attribute(
                portfolio,
                snap,
                model,
                offsets=req.offsets,
                cap=req.cap,
                incremental=req.incremental,
            )
        )
        return json_response(att.to_dict(by=req.group), thorough=False)

    @r.post("/optimise/hedge", response_model=HedgeResponse, responses=errors)
    async def hedge(req: Annotated[HedgeRequest, _example("hedge")]) -> Response:
        """The margin-minimising hedge of one account, verified through what-if."""
        return await gate.run(_hedge, req)

    def _hedge(req: HedgeRequest) -> Response:
        from crossmargin.analysis.optimise import Candidate, CostModel, HedgeLimits
        from crossmargin.analysis.optimise.capital import funding_rate
        from crossmargin.instruments import parse_symbol

        portfolio = book(req.positions, "request", req.collateral, req.cross_margin)
        portfolio.account(req.account)
        cands = None
        if req.universe is not None:
            cands = [
                Candidate(
                    instrument=parse_symbol(c.symbol),
                    lower=c.min,
                    upper=c.max,
                    bid=c.bid,
                    ask=c.ask,
                    half_spread=c.half_spread,
                    source="request",
                )
                for c in req.universe
            ]
        unds = tuple(
            dict.fromkeys(
                [*portfolio.priced_underlyings, *(c.instrument.underlying for c in cands or ())]
            )
        )
        snap = shared.market(unds)[1]
        rate = req.rate
        if rate is None:
            rate = funding_rate(snap, shared.history())[0] if req.objective != "margin" else 0.0
        costs = CostModel(objective=req.objective, rate=rate, horizon_days=req.horizon_days)
        limits = HedgeLimits(
            max_notional=req.max_notional, delta_bands=dict(req.delta_bands), integer=req.integer
        )
        model = model_of(req).model
        result = _guard(
            lambda: api.hedge(
                portfolio,
                req.account,
                snap,
                model,
                universe=cands,
                limits=limits,
                costs=costs,
                offsets=req.offsets,
                cap=req.cap,
                greedy=req.greedy,
                time_limit=req.time_limit,
            )
        )
        return json_response(result.to_dict(), thorough=False)

    @r.post("/optimise/allocate", response_model=AllocationResponse, responses=errors)
    async def allocate(req: Annotated[AllocateRequest, _example("allocate")]) -> Response:
        """Allocation of the positions across the venues given."""
        return await gate.run(_allocate, req)

    def _allocate(req: AllocateRequest) -> Response:
        from crossmargin.analysis.optimise import parse_venues
        from crossmargin.analysis.optimise.allocate import allocate as run

        venues = parse_venues(req.venues, "request")
        portfolio = book(req.positions, "request")
        snap = snapshot(portfolio)
        result = _guard(
            lambda: run(
                portfolio,
                snap,
                venues,
                split=req.split,
                time_limit=req.time_limit,
                history=shared.history(),
            )
        )
        return json_response(result.to_dict(), thorough=False)

    @r.post("/optimise/capital", response_model=CapitalResponse, responses=errors)
    async def capital(req: Annotated[CapitalRequest, _example("capital")]) -> Response:
        """Capital figures of every account."""
        return await gate.run(_capital, req)

    def _capital(req: CapitalRequest) -> Response:
        from crossmargin.analysis.optimise import capital as run

        portfolio = book(req.positions, "request", req.collateral, req.cross_margin)
        snap = snapshot(portfolio)
        model = model_of(req).model
        result = _guard(
            lambda: run(
                portfolio,
                snap,
                model,
                history=shared.history(),
                rate=req.rate,
                strategy_return=req.strategy_return,
                cash=req.cash,
                offsets=req.offsets,
                cap=req.cap,
                liquidation=req.liquidation,
            )
        )
        return json_response(result.to_dict(), thorough=False)

    return r


__all__ = ["AllocateRequest", "AttributeRequest", "CapitalRequest", "HedgeRequest", "router"]
