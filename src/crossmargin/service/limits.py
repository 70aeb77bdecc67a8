"""Limits that keep the service answering: body size and arrival time, authentication,
computations at once, requests waiting, and a deadline per request.

* **Body** (:class:`LimitsMiddleware`): a declared ``Content-Length`` over ``max_body`` bytes
  is answered ``413`` before anything is read; a body that grows past it while arriving
  (chunked) is cut off with ``413``; a body that has not fully arrived ``body_timeout``
  seconds after the request started (a stalled client) is answered ``408``. These answers
  close the connection.
* **API keys** (same middleware): with keys configured, every ``/v1`` endpoint but
  ``/v1/health`` needs ``X-API-Key: KEY`` or ``Authorization: Bearer KEY``; anything else is
  ``401``. Keys are compared in constant time.
* **Work** (:class:`Gate`): ``concurrency`` computations run at once (threads of this
  process); up to ``queue`` more requests wait for one; beyond that a request is answered
  ``503`` with ``Retry-After`` at once, so a client is told to come back rather than left
  hanging or dropped. A request that waits or computes past ``request_timeout`` seconds is
  answered (``503`` while still waiting, ``504`` once computing); a computation that runs
  over keeps its slot until it ends, so timeouts never pile up more work than the limits
  allow.
* **Short answers on the event loop** (same gate): a request whose body is at most
  :data:`INLINE_MAX_BYTES`, arriving when nothing is computing or waiting, on a route whose
  last :data:`INLINE_RECENT` answers each took at most :data:`INLINE_MAX_SECONDS`, is
  computed on the event loop itself rather than handed to a worker thread and back. The
  hand-over cost more than a tenth of a short what-if's time at one client (two thread
  wake-ups, on another core as often as not). The loop waits meanwhile, as it mostly does
  anyway while a thread of the same process computes (the computation holds the GIL), and
  only when idle: under load every request goes through the threads and the limits above.
  An answer that took longer (a model context built afresh) sends the route's next
  requests to the threads until its answers are short again.
"""

from __future__ import annotations

import asyncio
import functools
import hmac
import json
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from crossmargin.service.errors import (
    ASGIApp,
    Message,
    Receive,
    Scope,
    Send,
    ServiceError,
    error_body,
)

T = TypeVar("T")

OPEN_PATHS = ("/v1/health",)
#: A body at most this large may be answered on the event loop (module docstring).
INLINE_MAX_BYTES = 64 * 1024
#: ... when the route's last this many answers each took at most INLINE_MAX_SECONDS.
INLINE_RECENT = 4
INLINE_MAX_SECONDS = 0.025


def replayed(messages: Sequence[Message], receive: Receive) -> Receive:
    """A ``receive`` giving ``messages`` (read already) in order, then the server's own (after
    the body: the disconnect, waited for as the server would)."""
    pending = list(messages)

    async def replay() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replay


async def _send_error(
    send: Send, status: int, kind: str, message: str, headers: dict[str, str] | None = None
) -> None:
    payload = json.dumps(error_body(kind, message)).encode()
    raw = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(payload)).encode()),
        *((k.lower().encode(), v.encode()) for k, v in (headers or {}).items()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": payload})


def _key_of(headers: dict[bytes, bytes]) -> str | None:
    key = headers.get(b"x-api-key")
    if key is not None:
        return key.decode("latin-1").strip()
    auth = headers.get(b"authorization", b"").decode("latin-1").strip()
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip()
    return None


class LimitsMiddleware:
    """Body limits and API keys (module docstring); the body is read here, whole, and handed
    to the application from memory."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body: int,
        body_timeout: float,
        api_keys: tuple[str, ...] = (),
    ) -> None:
        self.app = app
        self.max_body = max_body
        self.body_timeout = body_timeout
        self.api_keys = tuple(k.encode() for k in api_keys)

    def _authorised(self, headers: dict[bytes, bytes]) -> bool:
        key = _key_of(headers)
        if key is None:
            return False
        given = key.encode()
        return any(hmac.compare_digest(given, k) for k in self.api_keys)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        path = str(scope.get("path", ""))
        guarded = self.api_keys and path.startswith("/v1/") and path not in OPEN_PATHS
        if guarded and not self._authorised(headers):
            await _send_error(
                send, 401, "Unauthorized",
                "this service needs an API key: send it as 'X-API-Key: KEY' or "
                "'Authorization: Bearer KEY'",
                {"www-authenticate": 'Bearer realm="crossmargin"'},
            )  # fmt: skip
            return
        declared = headers.get(b"content-length")
        if declared is not None:
            try:
                size = int(declared)
            except ValueError:
                size = -1
            if size > self.max_body:
                await self._too_large(send)
                return
        body, error = await self._read_body(receive)
        if error is not None:
            await error(send)
            return
        whole = {"type": "http.request", "body": body, "more_body": False}
        await self.app(scope, replayed([whole], receive), send)

    async def _read_body(
        self, receive: Receive
    ) -> tuple[bytes, Callable[[Send], Awaitable[None]] | None]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.body_timeout
        chunks: list[bytes] = []
        size = 0
        while True:
            left = deadline - loop.time()
            try:
                if left <= 0:
                    raise TimeoutError
                async with asyncio.timeout(left):  # a timer, not a task around receive()
                    message = await receive()
            except TimeoutError:
                return b"", self._timed_out
            if message["type"] == "http.disconnect":
                return b"", _gone
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                return b"", self._too_large
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks), None

    async def _too_large(self, send: Send) -> None:
        mb = self.max_body / (1024 * 1024)
        await _send_error(
            send, 413, "PayloadTooLarge",
            f"the request body is larger than this service takes ({mb:g} MiB); split the "
            "book or ask the operator to raise --max-body-mb",
            {"connection": "close"},
        )  # fmt: skip

    async def _timed_out(self, send: Send) -> None:
        await _send_error(
            send, 408, "RequestTimeout",
            f"the request body did not arrive within {self.body_timeout:g} s",
            {"connection": "close"},
        )  # fmt: skip


async def _gone(_send: Send) -> None:
    """The client went away before its body arrived: nothing to answer."""


class Gate:
    """Computations at once, requests waiting, and the request deadline (module docstring)."""

    def __init__(self, *, concurrency: int, queue: int, timeout: float) -> None:
        self.concurrency = concurrency
        self.queue = queue
        self.timeout = timeout
        self._executor = ThreadPoolExecutor(concurrency, thread_name_prefix="crossmargin-work")
        self._slots: asyncio.Semaphore | None = None
        self._waiting = 0
        self._running = 0
        self._took: dict[str, deque[float]] = {}  # per route, its last answers' seconds
        self.refused = 0
        self.timed_out = 0
        self.inline = 0

    def stats(self) -> dict[str, int | float]:
        """Requests running and waiting now, refused (503) and timed out so far."""
        return {
            "concurrency": self.concurrency,
            "queue": self.queue,
            "timeout_s": self.timeout,
            "running": self._running,
            "waiting": self._waiting,
            "refused": self.refused,
            "timed_out": self.timed_out,
            "inline": self.inline,
        }

    def _short(self, route: str) -> bool:
        """Whether the route's last :data:`INLINE_RECENT` answers were all short."""
        took = self._took.get(route)
        return took is not None and len(took) == INLINE_RECENT and max(took) <= INLINE_MAX_SECONDS

    def _timed(self, route: str, fn: Callable[..., T], *args: Any) -> T:
        started = time.perf_counter()
        try:
            return fn(*args)
        finally:
            took = self._took.get(route)
            if took is None:
                took = self._took.setdefault(route, deque(maxlen=INLINE_RECENT))
            took.append(time.perf_counter() - started)

    async def run(
        self, fn: Callable[..., T], *args: Any, route: str | None = None, small: bool = False
    ) -> T:
        """``fn(*args)`` on a worker thread within the limits; ServiceError 503/504 if not.
        A ``small`` request of a ``route`` with short answers lately, arriving with nothing
        else computing or waiting, is answered on the event loop (module docstring)."""
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.concurrency)
        slots = self._slots
        if self._running + self._waiting >= self.concurrency + self.queue:
            self.refused += 1
            raise ServiceError(
                503,
                f"the service is busy ({self._running} requests computing, {self._waiting} "
                "waiting): retry after the number of seconds in Retry-After",
                kind="Overloaded",
                headers={"Retry-After": "1"},
            )
        if (route is not None and small and not self._running and not self._waiting
                and self._short(route)):  # fmt: skip
            self._running += 1
            self.inline += 1
            try:
                return self._timed(route, fn, *args)
            finally:
                self._running -= 1
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        if not slots.locked() and not self._waiting:  # a free slot: taken at once
            await slots.acquire()
        else:
            self._waiting += 1
            try:
                await asyncio.wait_for(slots.acquire(), self.timeout)
            except TimeoutError:
                self.timed_out += 1
                raise ServiceError(
                    503,
                    f"the service stayed busy for {self.timeout:g} s: retry later",
                    kind="Overloaded",
                    headers={"Retry-After": "2"},
                ) from None
            finally:
                self._waiting -= 1
        self._running += 1

        def release(_: Any) -> None:
            self._running -= 1
            slots.release()

        call = (functools.partial(fn, *args) if route is None
                else functools.partial(self._timed, route, fn, *args))  # fmt: skip
        future = loop.run_in_executor(self._executor, call)
        future.add_done_callback(release)
        # asyncio.wait leaves the computation running at the deadline (it keeps its slot
        # until it ends), as a shielded wait_for would, without wrapping it twice
        done, _ = await asyncio.wait((future,), timeout=max(deadline - loop.time(), 0))
        if done:
            return future.result()
        self.timed_out += 1  # the deadline passed first
        raise ServiceError(
            504,
            f"no answer within {self.timeout:g} s (the request timeout): send a smaller "
            "book or fewer scenarios, or ask the operator to raise --timeout",
            kind="Timeout",
        )

    def close(self) -> None:
        """Stop the worker threads (after the computations running now)."""
        self._executor.shutdown(wait=False, cancel_futures=True)


__all__ = [
    "INLINE_MAX_BYTES",
    "INLINE_MAX_SECONDS",
    "INLINE_RECENT",
    "OPEN_PATHS",
    "Gate",
    "LimitsMiddleware",
    "replayed",
]
