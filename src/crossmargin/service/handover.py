"""New connections handed to the worker with the fewest open connections.

The supervisor process listens on the service's port itself. A thread of it, the
:class:`Dispatcher`, accepts each new connection and passes its file descriptor over a Unix
socket (``SCM_RIGHTS``) to the serving worker with the fewest open connections; ties go to the
worker handed a connection longest ago. Each worker tells the dispatcher of every connection
it closes (one byte on the same Unix socket).

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

The workers reach the dispatcher at an abstract Unix address (Linux: no file to clean up),
and the dispatcher refuses a peer of another user (``SO_PEERCRED``). Linux only
(:func:`hands_over_connections`); elsewhere the workers share uvicorn's socket.
"""

from __future__ import annotations

import errno
import logging
import os
import secrets
import selectors
import socket
import struct
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass

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


# a channel failing with these is gone (the worker exited or closed it); others (too many
# descriptors in flight, no buffer space) mean "not now"
_GONE = {errno.EPIPE, errno.ECONNRESET, errno.ENOTCONN, errno.EBADF}
RETRY_S = 0.05  # how soon connections no worker could take are offered again
PAUSE_S = 0.5  # how long accepting pauses when the process is out of descriptors


class Dispatcher:
    """Accepts the service's connections and hands each to the worker with the fewest open
    connections (module docstring). ``workers`` is how many the service starts; hand-over
    starts once that many serve, or :data:`START_GRACE_S` after :meth:`start`.

    Connections no worker can take at the moment (every channel full) wait here, and the
    port is not read meanwhile, so that later clients wait in its queue; a process out of
    file descriptors pauses accepting for :data:`PAUSE_S`. Nothing accepted is closed
    unserved while a worker serves."""

    def __init__(self, listener: socket.socket, workers: int) -> None:
        self.listener = listener
        self.expected = workers
        # an abstract Unix address (Linux): no file to clean up or to lose to a /tmp cleaner;
        # a channel from another user is refused (SO_PEERCRED, in _register)
        self.path = f"\0crossmargin-{os.getpid()}-{secrets.token_hex(8)}"
        self._registry = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self._registry.bind(self.path)
            self._registry.listen(64)
        except OSError:
            self._registry.close()
            raise
        self._wake_r, self._wake_w = socket.socketpair()
        self._workers: dict[int, _Worker] = {}  # by channel file descriptor
        self.served: set[int] = set()  # the process ids of every worker that has served
        self._pending: deque[socket.socket] = deque()  # accepted, not yet taken by a worker
        self._handed = 0
        self._open_for = 0.0  # when hand-over may start with fewer workers than expected
        self._paused_until = 0.0
        self._accepting = False
        self._stopped = False
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
        """Stop accepting (the port is closed) and handing over, and close the channels; the
        workers, seeing theirs close, stop too. Safe to call twice."""
        if self._stopped:
            return
        self._stopped = True
        if self._thread.is_alive():
            self._wake_w.send(b"x")
            self._thread.join(5)
        self.listener.close()
        for conn in self._pending:
            conn.close()
        self._pending.clear()
        for worker in self._workers.values():
            worker.channel.close()
        self._workers.clear()
        for sock in (self._registry, self._wake_r, self._wake_w):
            sock.close()
        self._selector.close()

    def running(self) -> bool:
        """Whether the dispatcher's thread is handing over (false once stopped or failed)."""
        return self._thread.is_alive()

    def open_connections(self) -> list[tuple[int, int]]:
        """``(process id, open connections)`` of each serving worker, in the order they
        joined (a snapshot)."""
        return [(w.pid, w.open) for w in list(self._workers.values())]

    # --- the dispatcher's thread ----------------------------------------------------------

    def _run(self) -> None:
        try:
            self._serve()
        except Exception:  # a fault outside one event's handling: the supervisor stops
            logger.exception("the connection dispatcher failed")

    def _serve(self) -> None:
        while True:
            for key, _ in self._selector.select(self._timeout()):
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
            self._offer_pending()
            self._gate()

    def _timeout(self) -> float | None:
        """How long the next wait may last: for ever unless start-up, waiting connections or
        a pause have a time of their own."""
        now = time.monotonic()
        times = []
        if self._workers and not self._accepting and now < self._open_for:
            times.append(self._open_for - now)  # the rest of the start-up
        if self._pending and self._workers:
            times.append(RETRY_S)
        if self._paused_until > now:
            times.append(self._paused_until - now)
        return max(0.0, min(times)) if times else None

    def _gate(self) -> None:
        """Read the port only while a worker serves (at start, once every worker serves or
        the grace time is over), no accepted connection waits, and accepting is not paused."""
        now = time.monotonic()
        everyone = len(self._workers) >= self.expected or now >= self._open_for
        ready = bool(self._workers) and everyone
        if ready:
            self._open_for = 0.0  # from now on one worker is enough
        want = ready and not self._pending and now >= self._paused_until
        if want and not self._accepting:
            self._selector.register(self.listener, selectors.EVENT_READ, None)
            self._accepting = True
        elif not want and self._accepting:
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
        while not self._pending:  # a connection no worker took stops the accepting
            try:
                conn, _ = self.listener.accept()
            except BlockingIOError:
                return
            except OSError as error:  # e.g. out of file descriptors: pause, then try again
                logger.warning("cannot accept a connection (%s): pausing %.1f s", error, PAUSE_S)
                self._paused_until = time.monotonic() + PAUSE_S
                return
            if self._hand(conn):
                conn.close()  # this process's copy: the worker has its own
            else:
                self._pending.append(conn)

    def _offer_pending(self) -> None:
        while self._pending and self._hand(self._pending[0]):
            self._pending.popleft().close()

    def _hand(self, conn: socket.socket) -> bool:
        """Pass ``conn`` to the least-loaded worker that takes it (whether one did). A worker
        whose channel is gone is dropped; one that cannot take it now is passed over."""
        for worker in sorted(self._workers.values(), key=lambda w: (w.open, w.last)):
            try:
                socket.send_fds(worker.channel, [_HANDED], [conn.fileno()])
            except OSError as error:
                if error.errno in _GONE:
                    self._drop(worker)
                continue
            self._handed += 1
            worker.open += 1
            worker.last = self._handed
            return True
        return False


__all__ = [
    "CLOSED",
    "PAUSE_S",
    "RETRY_S",
    "START_GRACE_S",
    "Dispatcher",
    "bind",
    "hands_over_connections",
]
