"""The FastAPI application: ``/v1`` endpoints over :mod:`crossmargin.api`.

``create_app(config)`` builds it; ``crossmargin serve`` runs it on uvicorn (one or several
worker processes). The OpenAPI schema is at ``/openapi.json`` and the interactive docs at
``/docs``, served from this process (Swagger UI from the ``swagger-ui-bundle-v2`` package:
no CDN, works offline). Endpoints, payloads, limits and errors: ``docs/service.md``.

Each computing endpoint parses its body on the event loop, then runs on a worker thread
through :class:`crossmargin.service.limits.Gate` (concurrency, queue, timeout); the answer
is rendered to JSON on that thread too. ``POST /v1/margin`` and ``POST /v1/what-if`` are
answered by :class:`crossmargin.service.hot_routes.HotRoutes` ahead of FastAPI's router,
with the same models, handlers, gate and error answers, for a third of the per-request cost.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Body, FastAPI, Path
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, Response

from crossmargin import __version__, api
from crossmargin.contracts import Contracts
from crossmargin.errors import InputError, ModelError
from crossmargin.instruments import contract_table
from crossmargin.models import get_model
from crossmargin.service.errors import ServiceError, install
from crossmargin.service.hot_routes import HotRoute, HotRoutes
from crossmargin.service.limits import Gate, LimitsMiddleware
from crossmargin.service.payloads import (
    ErrorBody,
    HealthResponse,
    MarginResponse,
    ModelInfo,
    RunResponse,
    SimmResponse,
    WhatIfResponse,
)
from crossmargin.service.payloads_capital import CascadeResponse
from crossmargin.service.recorder import StoreBusy
from crossmargin.service.responses import (
    TextJSONResponse,
    json_response,
    prefixed,
    register_roots,
    spliced,
    strict_json,
)
from crossmargin.service.schemas import (
    CASCADE_EXAMPLE,
    MARGIN_EXAMPLE,
    MAX_POPULATION,
    RUN_ID_PATTERN,
    SERVICE_MODELS,
    SIMM_EXAMPLE,
    WHAT_IF_EXAMPLE,
    CascadeRequest,
    MarginRequest,
    SimmRequest,
    WhatIfRequest,
)
from crossmargin.service.state import MB, ServiceConfig, ServiceState
from crossmargin.simm import simm_margin

logger = logging.getLogger("crossmargin.service")

_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "Malformed JSON"},
    401: {"model": ErrorBody, "description": "API key missing or wrong (when keys are set)"},
    408: {"model": ErrorBody, "description": "The body did not arrive in time"},
    413: {"model": ErrorBody, "description": "The body is larger than the limit"},
    415: {"model": ErrorBody, "description": "The body was not sent as JSON (Content-Type)"},
    422: {"model": ErrorBody, "description": "Invalid request or input the engine refuses"},
    503: {"model": ErrorBody, "description": "Busy: retry after Retry-After seconds"},
    504: {"model": ErrorBody, "description": "No answer within the request timeout"},
}
_DOCS_ASSETS = "/docs-assets"


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


def _cascade_options(
    state: ServiceState, req: CascadeRequest, contracts: Contracts
) -> dict[str, Any]:
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
        options["source"] = state.book(req.positions, contracts, req.collateral)
    return options


def _dated(asof: date, payload: dict[str, Any]) -> dict[str, Any]:
    return {"asof": asof.isoformat(), **payload}


def _margin(shared: ServiceState, req: MarginRequest) -> Response:
    mine = _contracts(shared, req)
    model = _model(shared, req, mine)
    asof = shared.request_asof(req.asof)
    book = shared.book(req.positions, mine, req.collateral, req.cross_margin)
    result, snap = shared.margin(
        book, model, by=req.by, cap=req.cap, offsets=req.offsets, contracts=mine, asof=asof
    )
    payload = result.to_dict()
    text = strict_json(payload)  # written once: the answer's body and the recorded result
    run_id, status = None, "off"
    if req.record and shared.recorder is not None:
        run_id, status = shared.recorder.submit(result, book, snap, payload, text)
    head = _dated(snap.valuation_time.date(), {"run_id": run_id, "record_status": status})
    return TextJSONResponse(prefixed(head, payload, text))


def _gated(
    gate: Gate, handler: Callable[[ServiceState, Any], Response], shared: ServiceState, route: str
) -> Callable[..., Awaitable[Response]]:
    """The answer of a hot route: ``handler`` through the gate (a ``small`` body may be
    answered on the event loop: :mod:`crossmargin.service.limits`)."""

    async def answer(req: Any, small: bool = False) -> Response:
        return await gate.run(handler, shared, req, route=route, small=small)

    return answer


def _what_if(shared: ServiceState, req: WhatIfRequest) -> Response:
    mine = _contracts(shared, req)
    model = _model(shared, req, mine)
    asof = shared.request_asof(req.asof)
    book = shared.book(req.positions, mine, req.holdings, req.cross_margin)
    result, snap, before = shared.what_if(
        book, req.account, req.trades, model,
        collateral=req.collateral, by=req.by, cap=req.cap, offsets=req.offsets, contracts=mine,
        asof=asof,
    )  # fmt: skip
    valued = snap.valuation_time.date()
    try:  # the "before" figures are the same for every what-if on the book: written once
        if before is None:
            raise ModelError("the before figures hold a non-finite value")
        text = spliced(_dated(valued, result.payload(None)), {"before": before})
    except ModelError:  # a non-finite figure: reported with its path in the whole answer
        text = strict_json(_dated(valued, result.to_dict()))
    return TextJSONResponse(text)


def _simm(req: SimmRequest) -> Response:
    rows = [r.model_dump(exclude_none=True) for r in req.crif]
    result = simm_margin(
        rows, version=req.version, mpor_days=req.mpor, include_post=req.post or None
    )
    return json_response(result.to_dict(), thorough=False)


def _run(shared: ServiceState, run_id: str) -> Response:
    if shared.recorder is None:
        raise ServiceError(404, "this service records no runs (--no-store)", kind="NotFound")
    try:
        record = shared.recorder.get(run_id)
    except StoreBusy as busy:
        raise ServiceError(
            503, f"{busy}: retry after Retry-After seconds", kind="StoreBusy",
            headers={"Retry-After": "1"},
        ) from None  # fmt: skip
    except InputError as missing:
        raise ServiceError(404, str(missing), kind="NotFound") from None
    return json_response(record.to_dict())


def _docs_page(title: str) -> HTMLResponse:
    """Swagger UI from this service's own static files (no external host)."""
    return get_swagger_ui_html(
        openapi_url="/openapi.json",
        title=title,
        swagger_js_url=f"{_DOCS_ASSETS}/swagger-ui-bundle.js",
        swagger_css_url=f"{_DOCS_ASSETS}/swagger-ui.css",
        swagger_favicon_url=f"{_DOCS_ASSETS}/favicon-32x32.png",
        swagger_ui_parameters={"validatorUrl": None, "tryItOutEnabled": True},
    )


def _mount_docs(app: FastAPI) -> None:
    try:
        from swagger_ui_bundle import swagger_ui_path
    except ImportError:  # pragma: no cover - a declared dependency

        @app.get("/docs", include_in_schema=False)
        def no_docs() -> HTMLResponse:
            return HTMLResponse(
                "<html><body><p>Swagger UI is not installed (pip install swagger-ui-bundle-v2);"
                " the OpenAPI schema is at <a href='/openapi.json'>/openapi.json</a>.</p>"
                "</body></html>"
            )

        return
    from fastapi.staticfiles import StaticFiles

    app.mount(_DOCS_ASSETS, StaticFiles(directory=str(swagger_ui_path)), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return _docs_page(f"{app.title} {app.version}")


def _cascade(shared: ServiceState, req: CascadeRequest) -> Response:
    run = shared.cascade(_cascade_options(shared, req, shared.contracts))
    run_id, status = None, "off"
    if req.record and shared.recorder is not None:
        run_id, status = shared.recorder.record_now(api.record_cascade, run)
    asof = run.snapshot.valuation_time.date()
    payload = {"run_id": run_id, "record_status": status, **run.report.to_dict()}
    return json_response(_dated(asof, payload), thorough=False)


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
    cfg = shared.config
    register_roots([cfg.data_dir, cfg.store.parent if cfg.store else None,
                    cfg.market.parent if cfg.market else None,
                    cfg.contracts.parent if cfg.contracts else None])  # fmt: skip
    if shared.recorder is not None:
        register_roots([shared.recorder.store.path.parent])
    gate = Gate(concurrency=cfg.concurrency, queue=cfg.queue, timeout=cfg.request_timeout)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        shared.close()  # write the queued runs before the process ends
        gate.close()

    app = FastAPI(
        title="crossmargin",
        version=__version__,
        description="Cross-margining risk engine: margin, what-if, SIMM, capital optimisation "
        "and cascades over HTTP. Every figure states its unit (the `units` block); every margin "
        "and what-if answer states its valuation date (`asof`). Errors: `{error, kind, issues}`.",
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.crossmargin = shared
    app.state.gate = gate
    hot = {  # the busiest routes skip FastAPI's machinery (inside the catch-all); their
        # FastAPI routes below answer through the same HotRoute
        "/v1/margin": HotRoute(MarginRequest, _gated(gate, _margin, shared, "/v1/margin")),
        "/v1/what-if": HotRoute(WhatIfRequest, _gated(gate, _what_if, shared, "/v1/what-if")),
    }
    app.add_middleware(HotRoutes, routes=hot, handlers=app.exception_handlers)
    install(app)
    app.add_middleware(
        LimitsMiddleware,
        max_body=int(cfg.max_body_mb * MB),
        body_timeout=cfg.body_timeout,
        api_keys=cfg.api_keys,
    )
    _mount_docs(app)
    v1 = APIRouter(prefix="/v1")

    @v1.get("/health", response_model=HealthResponse)
    def health() -> Response:
        """Liveness, the valuation date, recording, limits and the context-cache counters."""
        recorder = shared.recorder
        return json_response({
            "status": "ok",
            "version": __version__,
            "asof": shared.asof.isoformat(),
            "market": shared.describe_market(),
            "contracts": "shipped" if shared.contracts.source == "shipped" else (
                f"shipped + {len(shared.contracts.added_products)} product(s), "
                f"{len(shared.contracts.added_series)} series from --contracts"),
            "store": "recording" if recorder is not None else "off",
            "queued_runs": recorder.queued() if recorder is not None else 0,
            "workers": cfg.workers,
            "auth": bool(cfg.api_keys),
            "cache": shared.contexts.stats().to_dict(),
            "limits": {"max_body_mb": cfg.max_body_mb, "body_timeout_s": cfg.body_timeout,
                       **gate.stats()},
        })  # fmt: skip

    @v1.get("/models", response_model=list[ModelInfo])
    def models() -> Response:
        """Models offered (``model`` / ``also`` values)."""
        out = []
        for name in SERVICE_MODELS:
            model = get_model(name)
            out.append(
                {"name": name, "description": model.description, "subadditive": model.subadditive}
            )
        return json_response(out)

    @v1.post("/margin", response_model=MarginResponse, responses=_ERRORS)
    async def margin(
        req: Annotated[MarginRequest, Body(openapi_examples={"book": {"value": MARGIN_EXAMPLE}})],
    ) -> Response:
        """Margin a book: the run id and the same payload as ``crossmargin margin --json``,
        valued on the service's date (or the request's ``asof``)."""
        return await hot["/v1/margin"].answer(req)

    @v1.post("/what-if", response_model=WhatIfResponse, responses=_ERRORS)
    async def what_if(
        req: Annotated[WhatIfRequest, Body(openapi_examples={"trade": {"value": WHAT_IF_EXAMPLE}})],
    ) -> Response:
        """An account's margin before and after proposed trades, against its collateral;
        before and after on one market (the service's date, or the request's ``asof``)."""
        return await hot["/v1/what-if"].answer(req)

    @v1.post("/simm", response_model=SimmResponse, responses=_ERRORS)
    async def simm(
        req: Annotated[SimmRequest, Body(openapi_examples={"crif": {"value": SIMM_EXAMPLE}})],
    ) -> Response:
        """ISDA SIMM of CRIF lines (the payload of ``crossmargin simm FILE --json``)."""
        return await gate.run(_simm, req)

    @v1.get(
        "/runs/{run_id}",
        response_model=RunResponse,
        responses={
            404: {"model": ErrorBody, "description": "No such run, or it was not recorded"},
            503: {"model": ErrorBody, "description": "The run store is busy: retry"},
            **{k: v for k, v in _ERRORS.items() if k in (401, 422)},
        },
    )
    async def run(run_id: Annotated[str, Path(pattern=RUN_ID_PATTERN)]) -> Response:
        """A recorded run (as ``crossmargin runs show ID --json``); a run answered moments
        ago may still be queued: this waits a few seconds for it."""
        return await gate.run(_run, shared, run_id)

    @v1.post("/cascade", response_model=CascadeResponse, responses=_ERRORS)
    async def cascade(
        req: Annotated[
            CascadeRequest, Body(openapi_examples={"population": {"value": CASCADE_EXAMPLE}})
        ],
    ) -> Response:
        """A failure-propagation cascade (the payload of ``crossmargin cascade --json``), a
        book valued on the service's date, a population on the close before its replay."""
        return await gate.run(_cascade, shared, req)

    app.include_router(v1)
    from crossmargin.service.optimise import router as optimise_router

    def book_of(rows: Any, source: str, collateral: Any = (), cross: str = "all") -> Any:
        return shared.book(rows, shared.contracts, collateral, cross)

    app.include_router(
        optimise_router(
            shared, book_of, lambda req: _model(shared, req, shared.contracts), gate, _ERRORS
        )
    )
    if cfg.api_keys:
        _document_keys(app)
    return app


def _document_keys(app: FastAPI) -> None:
    """Declare the API key in the OpenAPI schema (Swagger UI's Authorize button)."""
    base = app.openapi

    def openapi() -> dict[str, Any]:
        schema = base()
        schemes = schema.setdefault("components", {}).setdefault("securitySchemes", {})
        schemes["ApiKey"] = {"type": "apiKey", "in": "header", "name": "X-API-Key"}
        schema["security"] = [{"ApiKey": []}]
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


__all__ = ["create_app"]
