"""How the service answers errors: always JSON with a reason, never a bare 500.

===================================  ======  ===================================================
error                                status  body
===================================  ======  ===================================================
malformed JSON                       400     ``{"error", "detail": [{"loc", "path", "msg",
                                             "type"}]}``
a field fails validation             422     same shape: ``path`` is ``body.positions.3.quantity``
:class:`~crossmargin.errors.SchemaError`  422  ``{"error", "kind", "issues": [{"source", "row",
                                             "column", "value", "reason"}]}``
InputError, MarketDataError,         422     ``{"error", "kind"}``
PricingError, ModelError
unknown run id                       404     ``{"error"}``
anything else (a bug)                500     ``{"error", "id"}``: the id is in the server log
                                             with the traceback
===================================  ======  ===================================================
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from crossmargin.errors import CrossMarginError, SchemaError

logger = logging.getLogger("crossmargin.service")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def _plain(value: Any) -> Any:
    """``value`` if JSON can carry it as is, else its text."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if value == value and abs(value) != float("inf") else str(value)
    return str(value)


def error_body(error: CrossMarginError) -> dict[str, Any]:
    """The JSON body of a domain error."""
    body: dict[str, Any] = {"error": str(error), "kind": type(error).__name__}
    if isinstance(error, SchemaError):
        body["error"] = str(error).split(":\n", 1)[0]
        body["issues"] = [
            {
                "source": i.source,
                "row": i.row,
                "column": i.column,
                "value": _plain(i.value),
                "reason": i.reason,
            }
            for i in error.issues
        ]
    return body


async def _domain_error(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, CrossMarginError)
    return JSONResponse(error_body(error), status_code=422)


async def _validation_error(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    detail = [
        {
            "loc": [_plain(x) for x in e.get("loc", ())],
            "path": ".".join(str(x) for x in e.get("loc", ())),
            "msg": str(e.get("msg", "")),
            "type": str(e.get("type", "")),
        }
        for e in error.errors()
    ]
    malformed = any(d["type"] == "json_invalid" for d in detail)
    if malformed:
        headline = "the request body is not valid JSON"
    else:
        headline = "; ".join(f"{d['path']}: {d['msg']}" for d in detail[:5])
        if len(detail) > 5:
            headline += f"; and {len(detail) - 5} more"
    return JSONResponse(
        {"error": headline, "detail": detail}, status_code=400 if malformed else 422
    )


class CatchAllMiddleware:
    """Answer any unexpected exception as ``500 {"error", "id"}`` and log it with that id."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            error_id = str(uuid.uuid4())
            logger.exception("unexpected error %s on %s", error_id, scope.get("path"))
            if started:
                return
            body = json.dumps(
                {"error": "internal error: this is a bug in crossmargin", "id": error_id}
            ).encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": 500,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})


def install(app: FastAPI) -> None:
    """Register the handlers and the catch-all middleware on ``app``."""
    app.add_exception_handler(CrossMarginError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_middleware(CatchAllMiddleware)


__all__ = ["CatchAllMiddleware", "error_body", "install"]
