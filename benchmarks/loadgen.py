"""A small HTTP/1.1 load generator for the service (asyncio, keep-alive, loopback only).

Each client is one coroutine on one keep-alive connection sending its requests in turn
(a closed-loop client: the next request leaves when the answer has arrived). Requests are
pre-encoded bytes, so the generator spends little CPU next to the service on the same
machine. A request that gets no answer (the connection breaks or closes without a response)
is counted as **dropped** and the client reconnects; an answer >= 500 is an error.

Used by ``benchmarks/bench_service.py`` and ``tests/service/test_load.py``.

:func:`run_paced` is the open-loop twin: requests leave at fixed times (``rate`` per second
over all clients, in turn), whatever the answers do, and each latency counts from the
request's scheduled time, so a slow answer that holds back the next request of its
connection is charged to that request too (no "coordinated omission": a closed-loop client
waiting on a stalled server sends nothing, and the stall shows once instead of in every
request it delayed).

:func:`run_polled` is one closed-loop client that polls its socket for each answer instead
of sleeping until it comes: a latency without the client's own wake-up.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import numpy as np


def encode(path: str, body: dict[str, Any], headers: dict[str, str] | None = None) -> bytes:
    """A POST request with a JSON body, ready to send."""
    payload = json.dumps(body).encode()
    extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
    head = (
        f"POST {path} HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(payload)}\r\n{extra}\r\n"
    )
    return head.encode() + payload


@dataclass
class LoadResult:
    """What one load run saw."""

    clients: int
    seconds: float
    latencies_ms: np.ndarray
    statuses: Counter[int] = field(default_factory=Counter)
    dropped: int = 0
    #: requests per second offered (:func:`run_paced`); None for closed-loop clients
    rate: float | None = None

    @property
    def answered(self) -> int:
        return int(sum(self.statuses.values()))

    @property
    def throughput(self) -> float:
        return self.answered / self.seconds if self.seconds > 0 else 0.0

    @property
    def server_errors(self) -> int:
        return sum(n for s, n in self.statuses.items() if s >= 500)

    def percentile(self, q: float) -> float:
        return float(np.percentile(self.latencies_ms, q)) if self.latencies_ms.size else 0.0

    def summary(self) -> str:
        offered = f" offered {self.rate:.0f} req/s (open loop)," if self.rate else ""
        return (
            f"{self.clients} clients:{offered} {self.answered} answers in {self.seconds:.1f} s, "
            f"{self.throughput:.0f} req/s, p50 {self.percentile(50):.1f} ms, "
            f"p99 {self.percentile(99):.1f} ms, statuses {dict(sorted(self.statuses.items()))}, "
            f"dropped {self.dropped}"
        )


def _head(head: bytes) -> tuple[int, int, bool]:
    """A response head's status, body length and whether the server closes the connection;
    ConnectionError if it is not a response head (an earlier answer's body left unread)."""
    lines = head.decode("latin-1").split("\r\n")
    if not lines[0].startswith("HTTP/"):
        raise ConnectionError(f"not the head of an answer: {lines[0][:40]!r}")
    status = int(lines[0].split(" ", 2)[1])
    length, close = 0, False
    for line in lines[1:]:
        name, _, value = line.partition(":")
        name = name.strip().lower()
        if name == "content-length":
            length = int(value)
        elif name == "connection" and value.strip().lower() == "close":
            close = True
    return status, length, close


async def _answer(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """Read one response: (status, whether the server closes the connection)."""
    status, length, close = _head(await reader.readuntil(b"\r\n\r\n"))
    if length:
        await reader.readexactly(length)
    return status, close


async def _client(
    host: str, port: int, requests: Sequence[bytes], deadline: float, out: LoadResult,
    latencies: list[float], times: Sequence[float] | None = None,
) -> None:  # fmt: skip
    """Send ``requests`` in turn on one keep-alive connection: each when the previous answer
    has come, or (``times``, ``time.perf_counter()`` values) at its time or, if the previous
    answer comes later, then, its latency counted from its time."""
    reader = writer = None
    for k, raw in enumerate(requests):
        if time.monotonic() > deadline:
            break
        if writer is None:
            reader, writer = await asyncio.open_connection(host, port)
        assert reader is not None
        t = time.perf_counter()
        if times is not None:
            if times[k] > t:
                await asyncio.sleep(times[k] - t)
            t = times[k]
        try:
            writer.write(raw)
            await writer.drain()
            status, close = await _answer(reader)
        except (ConnectionError, asyncio.IncompleteReadError, OSError):
            out.dropped += 1
            writer.close()
            reader = writer = None
            continue
        latencies.append((time.perf_counter() - t) * 1e3)
        out.statuses[status] += 1
        if close:
            writer.close()
            reader = writer = None
    if writer is not None:
        writer.close()


def run_load(
    url: str, requests: Sequence[bytes], *, clients: int, per_client: int, max_seconds: float
) -> LoadResult:
    """``clients`` closed-loop clients, each sending ``per_client`` requests drawn in turn from
    ``requests`` (client ``c`` from offset ``c·per_client``: with ``clients·per_client``
    requests every one is sent once), stopping after ``max_seconds``."""
    host, port = _loopback(url)
    out = LoadResult(clients=clients, seconds=0.0, latencies_ms=np.zeros(0))
    latencies: list[float] = []

    async def main() -> None:
        deadline = time.monotonic() + max_seconds
        plans = [
            [requests[(c * per_client + i) % len(requests)] for i in range(per_client)]
            for c in range(clients)
        ]
        await asyncio.gather(
            *(_client(host, port, plan, deadline, out, latencies) for plan in plans)
        )

    t = time.perf_counter()
    asyncio.run(main())
    out.seconds = time.perf_counter() - t
    out.latencies_ms = np.asarray(latencies)
    return out


def run_paced(
    url: str,
    requests: Sequence[bytes],
    *,
    clients: int,
    rate: float,
    max_seconds: float,
) -> LoadResult:
    """Every request of ``requests`` sent once, open loop (module docstring): request ``k``
    leaves at ``k / rate`` seconds on client ``k % clients`` (its connection opened before),
    or when that connection's previous answer has come if later; latencies count from the
    scheduled times. Stops sending after ``max_seconds``."""
    if rate <= 0 or clients < 1:
        raise ValueError("rate must be positive and clients at least 1")
    host, port = _loopback(url)
    out = LoadResult(clients=clients, seconds=0.0, latencies_ms=np.zeros(0), rate=rate)
    latencies: list[float] = []

    async def main() -> None:
        deadline = time.monotonic() + max_seconds
        start = time.perf_counter() + 0.2  # every connection open before the first send
        plans = [range(c, len(requests), clients) for c in range(clients)]
        await asyncio.gather(
            *(
                _client(
                    host,
                    port,
                    [requests[k] for k in ks],
                    deadline,
                    out,
                    latencies,
                    times=[start + k / rate for k in ks],
                )
                for ks in plans
                if ks
            )
        )

    t = time.perf_counter()
    asyncio.run(main())
    out.seconds = time.perf_counter() - t - 0.2
    out.latencies_ms = np.asarray(latencies)
    return out


def run_polled(url: str, requests: Sequence[bytes], *, max_seconds: float) -> LoadResult:
    """One client sending ``requests`` in turn on one keep-alive connection, as
    :func:`run_load` with one client, but blocking on nothing: it polls its socket for the
    answer in a loop (``MSG_DONTWAIT``) instead of sleeping until the answer wakes it.

    On a virtual machine a client that sleeps through a 2 ms answer is woken by it, and the
    wake-up of its idle core is charged to the latency (0.1-0.25 ms on the benchmarks'
    machine, measured against a stub that answers after 1.8 ms of work). Polling keeps the
    client's core awake, so the latency is the service's and the loopback's alone; it costs
    that core whole, so it is for one client at a time."""
    host, port = _loopback(url)
    out = LoadResult(clients=1, seconds=0.0, latencies_ms=np.zeros(0))
    latencies: list[float] = []
    deadline = time.monotonic() + max_seconds
    sock: socket.socket | None = None
    start = time.perf_counter()
    for raw in requests:
        if time.monotonic() > deadline:
            break
        if sock is None:
            sock = socket.create_connection((host, port))
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        t = time.perf_counter()
        try:
            sock.sendall(raw)
            status, close = _polled_answer(sock, deadline)
        except (ConnectionError, OSError):
            out.dropped += 1
            sock.close()
            sock = None
            continue
        latencies.append((time.perf_counter() - t) * 1e3)
        out.statuses[status] += 1
        if close:
            sock.close()
            sock = None
    if sock is not None:
        sock.close()
    out.seconds = time.perf_counter() - start
    out.latencies_ms = np.asarray(latencies)
    return out


def _polled_answer(sock: socket.socket, deadline: float) -> tuple[int, bool]:
    """Read one response by polling (:func:`run_polled`): (status, whether the server
    closes the connection); ConnectionError if it closes first or ``deadline`` passes."""
    data = bytearray()

    def more() -> None:
        while True:
            try:
                chunk = sock.recv(1 << 20, socket.MSG_DONTWAIT)
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise ConnectionError("no answer before the deadline") from None
                continue
            if not chunk:
                raise ConnectionError("the server closed the connection")
            data.extend(chunk)
            return

    while b"\r\n\r\n" not in data:
        more()
    end = data.index(b"\r\n\r\n") + 4
    status, length, close = _head(bytes(data[:end]))
    while len(data) < end + length:
        more()
    return status, close


def _loopback(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise ValueError("the load generator only targets loopback")
    return host, port


__all__ = ["LoadResult", "encode", "run_load", "run_paced", "run_polled"]
