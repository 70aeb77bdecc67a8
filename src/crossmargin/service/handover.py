"""New connections handed to the worker with the fewest open connections.

The supervisor process listens on the service's port itself. A thread of it, the
:class:`Dispatcher`, accepts each new connection and passes its file descriptor over a Unix
socket (``SCM_RIGHTS``) to the serving worker with the fewest open connections; ties go to the
worker handed a connection longest ago. Each worker tells the dispatcher of every connection
it closes (one byte on the same Unix socket), so the counts stay exact.

Why: a client's requests go where its connection went, so the split of connections sets the
split of work. Earlier designs left the split to chance:

* one socket shared by every worker: each worker's event loop accepts every connection
  waiting when it wakes, so a burst of clients lands on whichever woke first (measured: all
  32 clients on one worker, the other idle);
* one socket per worker (``SO_REUSEPORT``): Linux hashes each connection to a socket, an even
  split only on average. In the last full benchmark run with it, 32 clients kept one worker
  at 0.99 of a core and the other at 0.67, and the p99 was the busier worker's; in another,
  nearly all of 8 clients went to one worker (461 req/s, against 932 with an even split).

The hand-over costs one message per connection, not per request: once handed over, a
connection belongs to its worker until it closes.

A worker (:mod:`crossmargin.service.worker`) connects to the dispatcher once its application
is built and it serves, and from then on serves the connections handed to it. Until every
worker serves (or :data:`START_GRACE_S` has passed) the dispatcher accepts nothing, so the
first clients wait in the port's queue instead of all going to the first worker up. A worker
that exits drops out when its channel closes; its replacement joins when it serves. The
processes are this package's own supervisor's (:mod:`crossmargin.service.supervisor`).

The channels' socket lives in a directory only this user can enter (``mkdtemp``), and the
dispatcher also checks each peer's user (``SO_PEERCRED``). Linux only
(:func:`hands_over_connections`); elsewhere the workers share uvicorn's socket.
"""

from __future__ import annotations

import logging
import os
import selectors
import shutil
import socket
import struct
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from crossmargin.errors import InputError

START_GRACE_S = 30.0  # the longest the dispatcher waits for every worker before handing over
_HANDED = b"c"  # the byte sent with each connection's file descriptor
CLOSED = b"-"  # the byte a worker sends for each connection it closes

logger = logging.getLogger("uvicorn.error")


def hands_over_connections() -> bool:
    """Whether this platform hands connections to workers (Linux: ``SCM_RIGHTS`` and
    ``SO_PEERCRED``)."""
    return sys.platform.startswith("linux") and hasattr(socket, "send_fds")


def _family(host: str) -> int:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def bind(host: str, port: int, backlog: int) -> socket.socket:
    """The service's listening socket on ``host:port``; a port in use, by another program or
    another crossmargin service, is an :class:`InputError`. ``SO_REUSEADDR`` lets a restarted
    service take the port over its last run's connections in ``TIME_WAIT``; on Linux it does
    not let two sockets listen on one port."""
    sock = socket.socket(_family(host), socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(backlog)
    except OSError as error:
        sock.close()
        raise InputError(f"cannot listen on {host}:{port}: {error.strerror or error}") from None
    return sock


@dataclass
class _Worker:
    """A serving worker, as the dispatcher sees it."""

    channel: socket.socket
    fd: int
    pid: int
    open: int = 0  # connections handed over and not yet reported closed
    last: int = 0  # the number of the last hand-over to it (ties go to the smallest)


class Dispatcher:
    """Accepts the service's connections and hands each to the worker with the fewest open
    connections (module docstring). ``workers`` is how many the service starts; hand-over
    starts once that many serve, or :data:`START_GRACE_S` after :meth:`start`."""

    def __init__(self, listener: socket.socket, workers: int) -> None:
        self.listener = listener
        self.expected = workers
        self._dir = Path(tempfile.mkdtemp(prefix="crossmargin-"))
        self.path = str(self._dir / "workers")
        self._registry = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._registry.bind(self.path)
        self._registry.listen(64)
        self._wake_r, self._wake_w = socket.socketpair()
        self._workers: dict[int, _Worker] = {}  # by channel file descriptor
        self.served: set[int] = set()  # the process ids of every worker that has served
        self._handed = 0
        self._open_for = 0.0  # when hand-over may start with fewer workers than expected
        self._accepting = False
        self._selector = selectors.DefaultSelector()
        self._thread = threading.Thread(target=self._run, name="cm-dispatcher", daemon=True)

    # --- life cycle ---------------------------------------------------------------------

    def start(self) -> None:
        self.listener.setblocking(False)
        self._registry.setblocking(False)
        self._open_for = time.monotonic() + START_GRACE_S
        self._selector.register(self._registry, selectors.EVENT_READ, None)
        self._selector.register(self._wake_r, selectors.EVENT_READ, None)
        self._thread.start()

    def stop(self) -> None:
        """Stop handing over, close the channels and remove their directory."""
        if self._thread.is_alive():
            self._wake_w.send(b"x")
            self._thread.join(5)
        for worker in self._workers.values():
            worker.channel.close()
        self._workers.clear()
        for sock in (self._registry, self._wake_r, self._wake_w):
            sock.close()
        self._selector.close()
        shutil.rmtree(self._dir, ignore_errors=True)

    def open_connections(self) -> list[tuple[int, int]]:
        """``(process id, open connections)`` of each serving worker, in the order they
        joined (a snapshot)."""
        return [(w.pid, w.open) for w in list(self._workers.values())]

    # --- the dispatcher's thread ----------------------------------------------------------

    def running(self) -> bool:
        """Whether the dispatcher's thread is handing over (false once stopped or failed)."""
        return self._thread.is_alive()

    def _run(self) -> None:
        try:
            self._serve()
        except Exception:  # a fault outside one event's handling: the supervisor stops
            logger.exception("the connection dispatcher failed")

    def _serve(self) -> None:
        while True:
            waiting = self._workers and not self._accepting  # for the rest of the start-up
            timeout = max(0.0, self._open_for - time.monotonic()) if waiting else None
            for key, _ in self._selector.select(timeout):
                if key.fileobj is self._wake_r:
                    return
                try:
                    if key.fileobj is self._registry:
                        self._register()
                    elif key.fileobj is self.listener:
                        self._accept()
                    else:
                        self._reports(key.data)
                except Exception:  # a fault here must not stop the service's hand-over
                    logger.exception("the dispatcher failed on an event; it goes on")
            self._gate()

    def _gate(self) -> None:
        """Accept from the port only while a worker serves, and at start only once every
        worker serves or the grace time is over (module docstring)."""
        ready = bool(self._workers) and (
            len(self._workers) >= self.expected or time.monotonic() >= self._open_for
        )
        if ready and not self._accepting:
            self._open_for = 0.0  # from now on one worker is enough
            self._selector.register(self.listener, selectors.EVENT_READ, None)
            self._accepting = True
        elif not ready and self._accepting:
            self._selector.unregister(self.listener)
            self._accepting = False

    def _register(self) -> None:
        while True:
            try:
                channel, _ = self._registry.accept()
            except BlockingIOError:
                return
            pid, uid, _gid = struct.unpack("3i", channel.getsockopt(
                socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i")))  # fmt: skip
            if uid != os.getuid():
                logger.warning("refused a channel from process %d of user %d", pid, uid)
                channel.close()
                continue
            channel.setblocking(False)
            worker = _Worker(channel, channel.fileno(), pid)
            self.served.add(pid)
            self._workers[worker.fd] = worker
            self._selector.register(channel, selectors.EVENT_READ, worker)

    def _drop(self, worker: _Worker) -> None:
        if self._workers.pop(worker.fd, None) is not None:
            self._selector.unregister(worker.channel)
            worker.channel.close()

    def _reports(self, worker: _Worker) -> None:
        if worker.fd not in self._workers:  # dropped earlier in this round of events
            return
        try:
            data = worker.channel.recv(4096)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:  # the worker stopped serving or exited
            self._drop(worker)
            return
        worker.open = max(0, worker.open - data.count(CLOSED))

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except BlockingIOError:
                return
            except OSError as error:  # e.g. out of file descriptors: retry on the next wake
                logger.warning("cannot accept a connection: %s", error)
                return
            with conn:
                self._hand(conn)

    def _hand(self, conn: socket.socket) -> None:
        """Pass ``conn`` to the least-loaded worker that takes it; a worker whose channel has
        failed is dropped, and one whose channel is full is passed over."""
        for worker in sorted(self._workers.values(), key=lambda w: (w.open, w.last)):
            try:
                socket.send_fds(worker.channel, [_HANDED], [conn.fileno()])
            except BlockingIOError:
                continue
            except OSError:
                self._drop(worker)
                continue
            self._handed += 1
            worker.open += 1
            worker.last = self._handed
            return
        logger.warning("no worker took a new connection: closed")


__all__ = ["CLOSED", "START_GRACE_S", "Dispatcher", "bind", "hands_over_connections"]
