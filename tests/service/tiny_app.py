"""A minimal ASGI application for the supervisor tests: it answers every request with the
process id of the worker that served it, so a test sees which worker holds a connection
without building crossmargin's application in each worker. ``/slow`` answers after 1 s;
``/die`` ends its worker's process."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from typing import Any


async def app(
    scope: dict[str, Any],
    receive: Callable[[], Awaitable[dict[str, Any]]],
    send: Callable[[dict[str, Any]], Awaitable[None]],
) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["path"] == "/slow":  # a request still in flight when the service is stopped
        await asyncio.sleep(1.0)
    elif scope["path"] == "/die":  # a worker that crashes
        os._exit(1)
    body = str(os.getpid()).encode()
    headers = [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})
