"""The busiest endpoints, answered without FastAPI's per-request machinery.

``POST /v1/margin`` and ``POST /v1/what-if`` are most of a loaded service's requests. Through
FastAPI each one passes a dozen ASGI layers, the router's match against every route, the
dependency solver, and a body read as ``json.loads`` then validated again from Python
objects: with the computation stubbed out, 0.66-0.77 ms of service CPU per request on this
machine, against 0.24-0.31 ms here (1 client, the same request, same moment; a what-if's
own computation is 2-4 ms).

:class:`HotRoutes` sits inside the catch-all middleware, behind the body limits and API
keys. A request it takes is ``POST`` to exactly one of the routes it is given, with a JSON
content type and no root path; its body is validated by the route's own pydantic model
straight from the bytes (``model_validate_json``, one pass) and its answer comes from the
route's own handler, through the same gate. Everything else passes to the application as it
came, body included. A body that does not validate passes too, so its error answer is
FastAPI's own, and so is any behaviour of a body this parser refuses and Python's ``json``
accepts (a byte-order mark, UTF-16). An error raised by the handler is answered by the
application's own exception handlers, looked up by the error's class as Starlette does;
an error none handles goes on to the catch-all (``500`` with an id).
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import Response

from crossmargin.service.errors import ASGIApp, Message, Receive, Scope, Send
from crossmargin.service.limits import INLINE_MAX_BYTES, replayed

Handler = Callable[[Request, Exception], Any]


@dataclass(frozen=True, slots=True)
class HotRoute:
    """A route taken here: its body model and the coroutine answering a validated body
    (``small``: a body of at most :data:`~crossmargin.service.limits.INLINE_MAX_BYTES`)."""

    model: type[BaseModel]
    answer: Callable[..., Awaitable[Response]]


def _is_json(headers: list[tuple[bytes, bytes]]) -> bool:
    """Whether the request says its body is ``application/json`` (any parameters)."""
    for name, value in headers:
        if name.lower() == b"content-type":
            return value.split(b";", 1)[0].strip().lower() == b"application/json"
    return False


class HotRoutes:
    """ASGI middleware answering the given ``POST`` routes directly (module docstring).

    Parameters
    ----------
    app:
        The application, for every request not taken here.
    routes:
        Path (``/v1/margin``) to its :class:`HotRoute`.
    handlers:
        The application's exception handlers by exception class (``app.exception_handlers``:
        the mapping itself, so handlers registered later are seen).
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        routes: Mapping[str, HotRoute],
        handlers: Mapping[Any, Handler],
    ) -> None:
        self.app = app
        self.routes = dict(routes)
        self.handlers = handlers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = None
        if scope["type"] == "http" and scope.get("method") == "POST" and not scope.get("root_path"):
            route = self.routes.get(scope.get("path", ""))
        if route is None or not _is_json(scope.get("headers") or []):
            await self.app(scope, receive, send)
            return
        received: list[Message] = []  # replayed as they came to a request passed on
        while not received or received[-1].get("more_body"):
            received.append(await receive())
            if received[-1]["type"] != "http.request":  # the client left: as the app would
                await self.app(scope, replayed(received, receive), send)
                return
        body = b"".join(m.get("body", b"") for m in received)
        try:
            request = route.model.model_validate_json(body)
        except ValidationError:  # FastAPI's path answers it, in its own words
            await self.app(scope, replayed(received, receive), send)
            return
        try:
            response = await route.answer(request, small=len(body) <= INLINE_MAX_BYTES)
        except Exception as error:
            handler = self._handler(error)
            if handler is None:
                raise
            response = handler(Request(scope, receive), error)
            if inspect.isawaitable(response):
                response = await response
            error.__traceback__ = None  # as Starlette does: no tracebacks kept across requests
        await response(scope, receive, send)

    def _handler(self, error: Exception) -> Handler | None:
        for cls in type(error).__mro__:
            if cls in self.handlers:
                return self.handlers[cls]
        return None


__all__ = ["HotRoute", "HotRoutes"]
