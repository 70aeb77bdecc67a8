"""One listening socket per worker process (``SO_REUSEPORT``), so that the kernel spreads
connections evenly over the workers.

Why: with one socket shared by every worker, each worker's event loop accepts every
connection waiting when it wakes (asyncio accepts up to ``backlog`` in a row), so a burst of
new clients lands on whichever worker woke first. Measured with 32 keep-alive clients on two
workers: one worker held all 32 connections and the other sat idle in some runs (1.13 and
0.03 cores busy), halving throughput. With ``SO_REUSEPORT`` each worker has its own socket
and accept queue, and Linux hashes each new connection (its address and port) to one of
them: an even spread in expectation, whichever worker is awake.

The supervisor is uvicorn's own (:class:`uvicorn.supervisors.Multiprocess`: signals,
health checks, restarts); it hands each worker a :class:`WorkerListener`, which pickles as
*the address to listen on*, so every worker, restarted ones too, opens its own socket on
it. The supervisor holds a socket bound to the address with ``SO_REUSEPORT`` but not
listening: it keeps the port reserved for this service's workers (the kernel lets only
sockets of the same user with ``SO_REUSEPORT`` share it) and receives no connection.

Linux only (elsewhere ``SO_REUSEPORT`` does not balance, or does not exist): there the
service keeps uvicorn's shared socket (:func:`spreads_connections`).
"""

from __future__ import annotations

import logging
import socket
import sys
from collections.abc import Callable
from typing import Any, SupportsIndex

from crossmargin.errors import InputError

STARTUP_FAILURE = 3  # uvicorn's exit code for a worker that cannot start (stops the supervisor)

logger = logging.getLogger("uvicorn.error")


def spreads_connections() -> bool:
    """Whether this platform balances connections over ``SO_REUSEPORT`` sockets (Linux)."""
    return sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")


def _socket(family: int, *, reuse_addr: bool = False, reuse_port: bool = False) -> socket.socket:
    sock = socket.socket(family=family, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    if reuse_addr:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    return sock


def _family(host: str) -> int:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def reserve(host: str, port: int) -> socket.socket:
    """The supervisor's socket: ``host:port`` bound with ``SO_REUSEPORT``, not listening.

    A port in use, by another program or by another crossmargin service, is an
    :class:`InputError`. Linux lets two sockets bind one port when both set ``SO_REUSEPORT``
    (same user), or both set ``SO_REUSEADDR`` and neither listens. The reserved socket sets
    only the first, so a probe bind with only the second (which also passes the previous
    run's connections in ``TIME_WAIT``) fails on any socket on the port: another program's,
    or another service's reserved socket."""
    family = _family(host)
    with _bound(_socket(family, reuse_addr=True), host, port) as probe:
        port = probe.getsockname()[1]  # the port chosen, where 0 asked for any
    return _bound(_socket(family, reuse_port=True), host, port)


def _bound(sock: socket.socket, host: str, port: int) -> socket.socket:
    """``sock`` bound to ``host:port``; closed and an :class:`InputError` if it cannot be."""
    try:
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        raise InputError(f"cannot listen on {host}:{port}: {error.strerror or error}") from None
    return sock


def listen(family: int, host: str, port: int, backlog: int) -> socket.socket:
    """A worker's own listening socket on ``host:port`` (``SO_REUSEPORT``). Runs in the
    worker, as the unpickling of :class:`WorkerListener`; a failure ends the worker with
    uvicorn's start-up failure code, which stops the supervisor instead of a restart loop."""
    sock = _socket(family, reuse_addr=True, reuse_port=True)
    try:
        sock.bind((host, port))
        sock.listen(backlog)
    except OSError as error:
        sock.close()
        logger.error("worker cannot listen on %s:%s: %s", host, port, error)
        sys.exit(STARTUP_FAILURE)
    sock.set_inheritable(True)
    return sock


class WorkerListener(socket.socket):
    """The supervisor's reserved socket, pickled (to each worker it starts) as the order to
    open a listening socket of the worker's own on the same address (module docstring)."""

    backlog = 2048

    def __reduce_ex__(self, protocol: SupportsIndex) -> tuple[Any, tuple[int, str, int, int]]:
        host, port = self.getsockname()[:2]
        return listen, (int(self.family), host, port, self.backlog)


def run_workers(config: Any, *, announce: Callable[[], None] | None = None) -> None:
    """Serve ``config`` (a :class:`uvicorn.Config` with ``workers`` > 1) from worker
    processes that each listen on their own socket, under uvicorn's supervisor;
    ``announce()`` once the port is reserved."""
    import inspect

    from uvicorn.server import Server
    from uvicorn.supervisors import Multiprocess

    held = reserve(config.host, config.port)
    listener = WorkerListener(held.family, held.type, held.proto, fileno=held.detach())
    listener.backlog = config.backlog
    host, port = listener.getsockname()[:2]
    if announce is not None:
        announce()
    logger.info("crossmargin serving on http://%s:%d with %d workers (Press CTRL+C to quit)",
                host, port, config.workers)  # fmt: skip
    # older uvicorn (0.29 to 0.40 at least) takes the workers' target; newer makes it itself
    takes_target = "target" in inspect.signature(Multiprocess).parameters
    extra = {"target": Server(config).run} if takes_target else {}
    try:
        Multiprocess(config, sockets=[listener], **extra).run()
    except KeyboardInterrupt:
        pass
    finally:
        listener.close()


__all__ = ["WorkerListener", "listen", "reserve", "run_workers", "spreads_connections"]
