"""How the service answers errors: one JSON shape for every error, never a bare 500.

Every 4xx and 5xx body is ``{"error": str, "kind": str, "issues": [...]}`` (a 500 adds
``"id"``): ``error`` is one line, ``kind`` names the class of error, ``issues`` lists what was
wrong where (each ``{"path", "source", "row", "column", "value", "reason"}``, fields that do
not apply are null; empty when there is nothing more to say).

======================================  ======  ==========================================
error                                   status  kind
======================================  ======  ==========================================
no or bad API key                       401     ``Unauthorized``
unknown run id, run not recorded        404     ``NotFound``
unknown path / method                   404/405 ``NotFound`` / ``MethodNotAllowed``
a body not sent as JSON (no or another  415     ``UnsupportedMediaType``
``Content-Type``)
body did not arrive in time             408     ``RequestTimeout``
body larger than the limit              413     ``PayloadTooLarge``
malformed JSON                          400     ``MalformedJSON``
a field fails validation                422     ``ValidationError`` (``path``:
                                                ``body.positions.3.quantity``)
:class:`~crossmargin.errors.SchemaError`  422   ``SchemaError`` (``source``, ``row``,
                                                ``column``, ``value``)
InputError, MarketDataError, ...        422     the class name
too many requests waiting               503     ``Overloaded`` (``Retry-After``)
the run store stays busy                503     ``StoreBusy`` (``Retry-After``)
no answer within the request timeout    504     ``Timeout``
anything else (a bug)                   500     ``InternalError``; ``id`` is in the server
                                                log with the traceback
======================================  ======  ==========================================

No server path reaches a body: messages pass through the response scrubber
(:mod:`crossmargin.service.responses`), and echoed values are cut to a few hundred characters.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from crossmargin.errors import CrossMarginError, SchemaError
from crossmargin.service.responses import json_response, scrub_text

logger = logging.getLogger("crossmargin.service")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

MAX_MESSAGE = 2_000  # characters of an error line
MAX_VALUE = 200  # characters of an echoed value
MAX_ISSUES = 100

_KIND_OF_STATUS = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    406: "NotAcceptable",
    408: "RequestTimeout",
    413: "PayloadTooLarge",
    415: "UnsupportedMediaType",
    422: "ValidationError",
    503: "Overloaded",
    504: "Timeout",
}


class ServiceError(Exception):
    """An error the service answers itself (not the engine's): status, kind, one line."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        kind: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.kind = kind or _KIND_OF_STATUS.get(status, "Error")
        self.headers = dict(headers or {})


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text):,} characters)"


def _plain(value: Any) -> Any:
    """``value`` if JSON can carry it as is (strings cut to :data:`MAX_VALUE`), else its text."""
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if value == value and abs(value) != float("inf") else str(value)
    return _cut(value if isinstance(value, str) else str(value), MAX_VALUE)


def issue(
    *,
    reason: str,
    path: str | None = None,
    source: str | None = None,
    row: int | None = None,
    column: str | None = None,
    value: Any = None,
) -> dict[str, Any]:
    """One entry of ``issues``."""
    return {
        "path": path,
        "source": source,
        "row": row,
        "column": column,
        "value": _plain(value),
        "reason": _cut(reason, MAX_MESSAGE),
    }


def error_body(kind: str, message: str, issues: Iterable[dict[str, Any]] = ()) -> dict[str, Any]:
    """The JSON body of every error (module docstring)."""
    listed = list(issues)
    return {
        "error": _cut(" ".join(message.split()) or kind, MAX_MESSAGE),
        "kind": kind,
        "issues": listed[:MAX_ISSUES],
    }


def domain_body(error: CrossMarginError) -> dict[str, Any]:
    """The body of an engine error (InputError, SchemaError, MarketDataError, ...)."""
    if isinstance(error, SchemaError):
        issues = [
            issue(source=i.source, row=i.row, column=i.column, value=i.value, reason=i.reason)
            for i in error.issues
        ]
        headline = str(error).split(":\n", 1)[0]
        if len(error.issues) > 1 and ":\n" not in str(error):
            headline = f"{len(error.issues)} problems in the request rows"
        return error_body("SchemaError", headline, issues)
    return error_body(type(error).__name__, str(error))


def respond(request: Request | None, status: int, body: dict[str, Any], **kw: Any) -> Response:
    """An error response, scrubbed of server paths."""
    return json_response(body, status_code=status, request=request, **kw)


async def _domain_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, CrossMarginError)
    return respond(request, 422, domain_body(error))


async def _service_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, ServiceError)
    body = error_body(error.kind, str(error))
    return respond(request, error.status, body, headers=error.headers)


async def _http_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, StarletteHTTPException)
    kind = _KIND_OF_STATUS.get(error.status_code, "Error")
    detail = error.detail if isinstance(error.detail, str) else json.dumps(error.detail)
    if error.status_code == 404:
        detail = f"no such endpoint: {request.method} {_cut(request.url.path, MAX_VALUE)}"
    elif error.status_code == 405:
        detail = f"{request.method} is not allowed on {_cut(request.url.path, MAX_VALUE)}"
    return respond(request, error.status_code, error_body(kind, detail), headers=error.headers)


def _json_declared(request: Request) -> bool:
    """Whether the request's content type is one FastAPI reads as JSON (``application/json``
    or ``application/...+json``)."""
    kind = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    return kind == "application/json" or (
        kind.startswith("application/") and kind.endswith("+json")
    )


async def _validation_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, RequestValidationError)
    if not _json_declared(request) and any(
        tuple(e.get("loc", ())) == ("body",) for e in error.errors()
    ):  # the body was never read as JSON: say so, not "Input should be a valid dictionary"
        given = request.headers.get("content-type")
        return respond(request, 415, error_body(
            "UnsupportedMediaType",
            "the request body must be JSON sent with 'Content-Type: application/json' "
            f"(got {_cut(given, MAX_VALUE) if given else 'no Content-Type'})",
        ))  # fmt: skip
    issues = []
    malformed = False
    for e in error.errors():
        loc = [str(x) for x in e.get("loc", ())]
        kind = str(e.get("type", ""))
        malformed = malformed or kind == "json_invalid"
        reason = str(e.get("msg", ""))
        ctx = e.get("ctx") or {}
        if kind == "json_invalid" and ctx.get("error"):
            reason = f"{reason}: {ctx['error']}"
        issues.append(issue(path=".".join(loc), reason=reason, value=_echo(e)))
    if malformed:
        return respond(request, 400, error_body(
            "MalformedJSON", "the request body is not valid JSON: " + issues[0]["reason"], issues
        ))  # fmt: skip
    headline = "; ".join(f"{i['path']}: {i['reason']}" for i in issues[:5])
    if len(issues) > 5:
        headline += f"; and {len(issues) - 5} more"
    return respond(request, 422, error_body("ValidationError", headline, issues))


def _echo(e: Mapping[str, Any]) -> Any:
    """The offending input of a validation error when it is a scalar (objects are not echoed)."""
    value = e.get("input")
    return value if value is None or isinstance(value, str | int | float | bool) else None


class CatchAllMiddleware:
    """Answer any unexpected exception as ``500`` in the one error shape, with an id that the
    server log carries next to the traceback."""

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
            body = error_body("InternalError", "internal error: this is a bug in crossmargin")
            payload = json.dumps({**body, "id": error_id}).encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": 500,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(payload)).encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": payload})


def install(app: FastAPI) -> None:
    """Register the handlers and the catch-all middleware on ``app``."""
    app.add_exception_handler(CrossMarginError, _domain_error)
    app.add_exception_handler(ServiceError, _service_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_middleware(CatchAllMiddleware)


__all__ = [
    "CatchAllMiddleware",
    "ServiceError",
    "domain_body",
    "error_body",
    "install",
    "issue",
    "scrub_text",
]
