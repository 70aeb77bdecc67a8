"""A worker process of a multi-worker service: a uvicorn server with no listening socket of
its own, serving the connections the supervisor's dispatcher hands it
(:mod:`crossmargin.service.handover`).

Once its application is built (uvicorn's start-up, lifespan included), the worker connects
to the dispatcher's Unix socket and reads handed-over file descriptors from it; each becomes
a connection of the event loop (``loop.connect_accepted_socket``) served by uvicorn's own
HTTP protocol, exactly as an accepted one would be. When a connection closes, the worker
sends the dispatcher one byte, so that the dispatcher knows how many connections each worker
has open (a descriptor lost on the way counts as closed; the service turns off WebSocket
upgrades, which would change a connection's protocol). At shutdown it leaves the dispatcher
first (nothing new is handed to it), then finishes its connections as uvicorn does. When the
dispatcher closes the channel (the service is stopping, or its supervisor has gone), the
worker stops too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import sys
from collections.abc import Callable
from typing import Any

import uvicorn

from crossmargin.service.handover import CLOSED

STARTUP_FAILURE = 3  # uvicorn's exit code for a worker that cannot start

logger = logging.getLogger("uvicorn.error")


class HandedServer(uvicorn.Server):
    """uvicorn's server, serving connections handed over through the dispatcher's Unix
    socket address ``channel_path`` instead of a socket of its own (module docstring)."""

    def __init__(self, config: uvicorn.Config, channel_path: str) -> None:
        super().__init__(config)
        self.channel_path = channel_path
        self._channel: socket.socket | None = None
        self._joining: set[asyncio.Future[Any]] = set()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=[])  # the application, and no listening socket
        channel = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            channel.connect(self.channel_path)
        except OSError as error:
            channel.close()
            logger.error("worker %d cannot reach the dispatcher: %s", os.getpid(), error)
            await self.lifespan.shutdown()  # as uvicorn does when it cannot listen
            sys.exit(STARTUP_FAILURE)
        channel.setblocking(False)
        self._channel = channel
        loop = asyncio.get_running_loop()
        loop.add_reader(channel.fileno(), self._take, loop, self._protocols())

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        self._leave()
        await super().shutdown(sockets=sockets)

    def _leave(self) -> None:
        """Stop taking connections: the dispatcher sees the channel close and drops this
        worker."""
        channel, self._channel = self._channel, None
        if channel is not None:
            asyncio.get_running_loop().remove_reader(channel.fileno())
            channel.close()

    def _report_closed(self) -> None:
        channel = self._channel
        if channel is not None:  # else this worker has left the dispatcher already
            with contextlib.suppress(OSError):  # full or gone: nothing left to count for
                channel.send(CLOSED)

    def _protocols(self) -> Callable[[], asyncio.Protocol]:
        """uvicorn's HTTP protocol, as uvicorn makes it for a connection it accepts, with
        its ``connection_lost`` also reporting the close to the dispatcher."""
        config, state, app_state = self.config, self.server_state, self.lifespan.state
        report = self._report_closed

        def protocol() -> asyncio.Protocol:
            made: asyncio.Protocol = config.http_protocol_class(  # type: ignore[call-arg]
                config=config, server_state=state, app_state=app_state
            )
            lost = made.connection_lost

            def connection_lost(exc: Exception | None) -> None:
                try:
                    lost(exc)
                finally:
                    report()

            made.connection_lost = connection_lost  # type: ignore[method-assign]
            return made

        return protocol

    def _take(self, loop: asyncio.AbstractEventLoop, protocol: Callable[[], Any]) -> None:
        """Serve every connection waiting in the channel."""
        while self._channel is not None:
            try:
                data, fds, _flags, _ = socket.recv_fds(self._channel, 1, 1, socket.MSG_CMSG_CLOEXEC)
            except BlockingIOError:
                return
            except OSError:
                data, fds = b"", []
            if not data:  # the service is stopping (or its supervisor has gone)
                logger.info("the dispatcher closed worker %d's channel: it stops", os.getpid())
                self._leave()
                self.should_exit = True
                return
            if not fds:  # the descriptor was lost on the way (this process had no room)
                self._report_closed()
            for fd in fds:
                self._join(loop, protocol, socket.socket(fileno=fd))

    def _join(
        self, loop: asyncio.AbstractEventLoop, protocol: Callable[[], Any], conn: socket.socket
    ) -> None:
        joining = asyncio.ensure_future(loop.connect_accepted_socket(protocol, conn))
        self._joining.add(joining)

        def joined(done: asyncio.Future[Any]) -> None:
            self._joining.discard(done)
            if done.cancelled() or done.exception() is not None:  # never made a connection
                conn.close()
                self._report_closed()

        joining.add_done_callback(joined)


def run_worker(config: uvicorn.Config, channel_path: str) -> None:
    """A worker process's body (started by :mod:`crossmargin.service.supervisor`)."""
    config.configure_logging()
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C while starting: no traceback
        HandedServer(config, channel_path).run()


__all__ = ["HandedServer", "run_worker"]
