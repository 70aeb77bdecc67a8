"""The FastAPI application: ``/v1`` endpoints over :mod:`crossmargin.api`.

``create_app(config)`` builds it; ``crossmargin serve`` runs it on uvicorn. The OpenAPI
schema is at ``/openapi.json`` and the interactive docs at ``/docs``. Endpoints, payloads
and errors: ``docs/service.md``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Path
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from crossmargin import __version__, api
from crossmargin.collateral.holdings import parse_collateral_rows
from crossmargin.contracts import Contracts
from crossmargin.errors import InputError
from crossmargin.instruments import contract_table
from crossmargin.models import get_model
from crossmargin.portfolio import Portfolio, parse_rows
from crossmargin.service.errors import install
from crossmargin.service.schemas import (
    MAX_POPULATION,
    RUN_ID_PATTERN,
    SERVICE_MODELS,
    CascadeRequest,
    CollateralRow,
    MarginRequest,
    PositionRow,
    SimmRequest,
    WhatIfRequest,
)
from crossmargin.service.state import ServiceConfig, ServiceState
from crossmargin.simm import simm_margin


class ErrorBody(BaseModel):
    """A domain or validation error (``docs/service.md``, Errors)."""

    error: str
    kind: str | None = None
    issues: list[dict[str, Any]] | None = None
    detail: list[dict[str, Any]] | None = None


_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "Malformed JSON"},
    422: {"model": ErrorBody, "description": "Invalid request or input the engine refuses"},
}


def _book(
    rows: list[PositionRow],
    source: str,
    contracts: Contracts,
    collateral: list[CollateralRow] | None = None,
    cross_margin: str = "all",
) -> Portfolio:
    from crossmargin.netting.venues import parse_cross_margin, split_netting_sets

    book = parse_rows([r.model_dump() for r in rows], source=source, table=contracts.table)
    if collateral:
        held = parse_collateral_rows(
            [r.model_dump(exclude_none=True) for r in collateral], source=f"{source} collateral"
        )
        orphans = sorted({h.account for h in held} - set(book.accounts))
        if orphans:
            raise InputError(f"collateral of account(s) {', '.join(orphans)} with no position")
        book = book.with_collateral(held)
    declared = parse_cross_margin(cross_margin, source=f"{source} cross_margin")
    return split_netting_sets(book, declared)


def _contracts(state: ServiceState, req: MarginRequest | WhatIfRequest) -> Contracts:
    document = None if req.contracts is None else req.contracts.model_dump()
    return state.contracts_for(document)


def _model(state: ServiceState, req: MarginRequest | WhatIfRequest, contracts: Contracts) -> Any:
    try:
        params = req.parameters.for_model(req.model)
    except ValueError as bad:
        raise InputError(str(bad)) from None
    if req.also is not None and req.also == req.model:
        raise InputError("also names the same model as model: choose a different one")
    return state.model(req.model, req.also, params, contracts)


def _cascade_options(req: CascadeRequest, contracts: Contracts) -> dict[str, Any]:
    """``api.cascade`` keyword arguments of a request (every domain check in the engine)."""
    from crossmargin.analysis.stress.hypothetical import Hypothetical, ShockEntry

    if req.population is not None and req.positions:
        raise InputError("give either positions (a book) or a population, not both")
    if req.population is None and not req.positions:
        raise InputError("give positions (a book) or a population spec")
    options: dict[str, Any] = {
        "crisis": req.crisis, "spread": req.spread, "scale": req.scale, "mode": req.mode,
        "modes": tuple(req.modes), "model": req.model,
    }  # fmt: skip
    if req.scenario is not None:
        classes = {spec.asset_class for spec in contract_table().specs}
        entries = tuple(
            ShockEntry(spot=m, asset_class=k) if k in classes else ShockEntry(spot=m, underlying=k)
            for k, m in req.scenario.moves.items()
        )
        options["scenario"] = Hypothetical(name=req.scenario.name, entries=entries)
    if req.population is not None:
        from crossmargin.analysis.cascade import load_spec

        spec = load_spec(req.population)
        if spec.accounts > MAX_POPULATION:
            raise InputError(
                f"population.accounts is {spec.accounts}: the service runs up to "
                f"{MAX_POPULATION:,} accounts; use the CLI for more"
            )
        options["population"] = spec
    else:
        options["source"] = _book(req.positions, "request", contracts, req.collateral)
    return options


def create_app(config: ServiceConfig | None = None, state: ServiceState | None = None) -> FastAPI:
    """The service application (see the module docstring).

    Parameters
    ----------
    config:
        Start-up options; ignored when ``state`` is given.
    state:
        Shared caches (tests pass one to inspect it).
    """
    shared = state if state is not None else ServiceState(config)
    app = FastAPI(
        title="crossmargin",
        version=__version__,
        description="Cross-margining risk engine: margin, what-if, SIMM and cascades over HTTP.",
    )
    app.state.crossmargin = shared
    install(app)
    v1 = APIRouter(prefix="/v1")

    @v1.get("/health")
    def health() -> dict[str, Any]:
        """Liveness, the market policy, the run store and the context-cache counters."""
        return {
            "status": "ok",
            "version": __version__,
            "market": shared.describe_market(),
            "contracts": shared.contracts.source,
            "store": str(shared.store.path) if shared.store is not None else None,
            "cache": shared.contexts.stats().to_dict(),
        }

    @v1.get("/models")
    def models() -> list[dict[str, Any]]:
        """Models offered (``model`` / ``also`` values)."""
        out = []
        for name in SERVICE_MODELS:
            model = get_model(name)
            out.append(
                {"name": name, "description": model.description, "subadditive": model.subadditive}
            )
        return out

    @v1.post("/margin", responses=_ERRORS)
    def margin(req: MarginRequest) -> JSONResponse:
        """Margin a book: the same payload as ``crossmargin margin --json``."""
        mine = _contracts(shared, req)
        model = _model(shared, req, mine)
        book = _book(req.positions, "request", mine, req.collateral, req.cross_margin)
        result, snap = shared.margin(
            book, model, by=req.by, cap=req.cap, offsets=req.offsets, contracts=mine
        )
        run_id = None
        if req.record and shared.store is not None:
            run_id = shared.record(result, book, snap)
        return JSONResponse({"run_id": run_id, **result.to_dict()})

    @v1.post("/what-if", responses=_ERRORS)
    def what_if(req: WhatIfRequest) -> JSONResponse:
        """An account's margin before and after proposed trades, against its collateral."""
        mine = _contracts(shared, req)
        model = _model(shared, req, mine)
        book = _book(req.positions, "request", mine, req.holdings, req.cross_margin)
        result = shared.what_if(
            book,
            req.account,
            [t.model_dump() for t in req.trades],
            model,
            collateral=req.collateral,
            by=req.by,
            cap=req.cap,
            offsets=req.offsets,
            contracts=mine,
        )
        return JSONResponse(result.to_dict())

    @v1.post("/simm", responses=_ERRORS)
    def simm(req: SimmRequest) -> JSONResponse:
        """ISDA SIMM of CRIF lines (the payload of ``crossmargin simm FILE --json``)."""
        rows = [r.model_dump(exclude_none=True) for r in req.crif]
        result = simm_margin(
            rows, version=req.version, mpor_days=req.mpor, include_post=req.post or None
        )
        return JSONResponse(result.to_dict())

    @v1.post("/cascade", responses=_ERRORS)
    def cascade(req: CascadeRequest) -> JSONResponse:
        """A failure-propagation cascade (the payload of ``crossmargin cascade --json``)."""
        result = shared.cascade(_cascade_options(req, shared.contracts))
        run_id = None
        if req.record and shared.store is not None:
            with shared.store_lock:
                run_id = api.record_cascade(result, shared.store)
        return JSONResponse({"run_id": run_id, **result.report.to_dict()})

    @v1.get("/runs/{run_id}", responses={404: {"model": ErrorBody, "description": "No such run"}})
    def run(run_id: Annotated[str, Path(pattern=RUN_ID_PATTERN)]) -> JSONResponse:
        """A recorded run (as ``crossmargin runs show ID --json``)."""
        if shared.store is None:
            return JSONResponse({"error": "this service records no runs (--no-store)"}, 404)
        try:
            record = shared.store.get(run_id)
        except InputError as missing:
            return JSONResponse({"error": str(missing)}, 404)
        return JSONResponse(record.to_dict())

    app.include_router(v1)
    from crossmargin.service.optimise import router as optimise_router

    def book_of(rows: Any, source: str, collateral: Any = None, cross: str = "all") -> Portfolio:
        return _book(rows, source, shared.contracts, collateral, cross)

    app.include_router(
        optimise_router(shared, book_of, lambda req: _model(shared, req, shared.contracts))
    )
    return app


__all__ = ["ErrorBody", "create_app"]
