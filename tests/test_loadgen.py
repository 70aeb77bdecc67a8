"""The benchmarks' load generator (``benchmarks/loadgen.py``) against a stub HTTP server that
answers each request after a fixed delay: the open-loop client sends on its schedule and
charges a slow answer to every request it held back; the closed-loop client does not."""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from loadgen import encode, run_load, run_paced


@contextmanager
def stub_server(delay_s: float, body: bytes = b"") -> Iterator[tuple[str, list[tuple[int, int]]]]:
    """A loopback HTTP/1.1 server answering ``200`` with ``body`` ``delay_s`` after each
    request (a non-empty body sent 2 ms after the head), one at a time per connection;
    yields its URL and the ``(connection, request index)`` pairs it saw (the index is the
    body's ``k``)."""
    seen: list[tuple[int, int]] = []
    ready = threading.Event()
    box: dict[str, object] = {}

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = id(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    int(line.split(b":", 1)[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                )
                request = await reader.readexactly(length)
                seen.append((conn, int(request.decode().split(":")[1].strip(" }"))))
                await asyncio.sleep(delay_s)
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body))
                await writer.drain()
                if body:
                    await asyncio.sleep(0.002)
                    writer.write(body)
                    await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    def serve() -> None:
        loop = asyncio.new_event_loop()
        server = loop.run_until_complete(asyncio.start_server(handle, "127.0.0.1", 0))
        box["port"], box["loop"], box["server"] = server.sockets[0].getsockname()[1], loop, server
        ready.set()
        loop.run_forever()
        server.close()
        loop.run_until_complete(server.wait_closed())
        loop.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    ready.wait(10)
    try:
        yield f"http://127.0.0.1:{box['port']}", seen
    finally:
        loop = box["loop"]
        assert isinstance(loop, asyncio.AbstractEventLoop)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)


def _requests(n: int) -> list[bytes]:
    return [encode("/x", {"k": k}) for k in range(n)]


def test_open_loop_charges_a_slow_answer_to_every_request_it_held_back() -> None:
    # answers take 30 ms, requests are due every 10 ms on one connection: request k leaves
    # when answer k-1 comes (30 k ms) and is answered at 30 (k+1) ms, 10 k ms after it was
    # due, so its latency from its due time is at least 30 + 20 k ms
    with stub_server(0.030) as (url, _seen):
        paced = run_paced(url, _requests(10), clients=1, rate=100.0, max_seconds=30)
        closed = run_load(url, _requests(10), clients=1, per_client=10, max_seconds=30)
    lat = paced.latencies_ms
    assert paced.statuses == {200: 10}
    assert paced.dropped == 0
    assert np.all(lat >= 30.0 + 20.0 * np.arange(10) - 1.0), lat.round(1)
    assert lat[-1] < 30.0 + 20.0 * 9 + 150.0  # no more than the stall (a slack for the CI)
    # the closed loop sees each answer's own 30 ms only
    assert closed.statuses == {200: 10}
    assert np.all(closed.latencies_ms >= 29.0)
    assert closed.percentile(50) < 100.0
    assert "offered 100 req/s (open loop)" in paced.summary()
    assert "open loop" not in closed.summary()


def test_open_loop_sends_on_its_schedule_over_its_connections_in_turn() -> None:
    # a server that keeps up: 60 requests at 200 per second take the schedule's 0.295 s at
    # least, each sent once, request k on connection k % 4
    with stub_server(0.001) as (url, seen):
        start = time.perf_counter()
        paced = run_paced(url, _requests(60), clients=4, rate=200.0, max_seconds=30)
        took = time.perf_counter() - start
    assert paced.statuses == {200: 60}
    assert paced.dropped == 0
    assert took >= 59 / 200
    assert sorted(k for _, k in seen) == list(range(60))
    by_connection: dict[int, set[int]] = {}
    for conn, k in seen:
        by_connection.setdefault(conn, set()).add(k)
    assert sorted(sorted(ks) for ks in by_connection.values()) == [
        list(range(c, 60, 4)) for c in range(4)
    ]
    assert paced.throughput <= 200.0 * 1.05


def test_open_loop_refuses_a_rate_or_clients_it_cannot_keep() -> None:
    with pytest.raises(ValueError, match="rate"):
        run_paced("http://127.0.0.1:1", _requests(1), clients=1, rate=0.0, max_seconds=1)
    with pytest.raises(ValueError, match="loopback"):
        run_paced("http://example.com:80", _requests(1), clients=1, rate=1.0, max_seconds=1)


def test_polled_client_sends_in_turn_and_times_each_whole_answer() -> None:
    # a 300 kB body 2 ms after a head 5 ms after each request: each latency holds the whole
    # answer (a client stopping at the head would time 5 ms, and take the body left unread
    # for the next answer's head) and no more than that plus a slack; requests go in
    # order on one connection, each once
    from loadgen import run_polled

    with stub_server(0.005, body=b"x" * 300_000) as (url, seen):
        polled = run_polled(url, _requests(20), max_seconds=30)
    assert polled.statuses == {200: 20}
    assert polled.dropped == 0
    assert polled.latencies_ms.size == 20
    assert np.all(polled.latencies_ms >= 7.0 - 0.5), polled.latencies_ms.round(2)
    assert polled.percentile(50) < 5.0 + 50.0  # a slack for the CI
    assert [k for _, k in seen] == list(range(20))
    assert len({conn for conn, _ in seen}) == 1
    with pytest.raises(ValueError, match="loopback"):
        run_polled("http://example.com:80", _requests(1), max_seconds=1)


def test_polled_client_counts_a_connection_closed_without_answer_as_dropped() -> None:
    # a server that reads each request and closes the connection: every request dropped,
    # none answered, and the client reconnects for the next
    import socket as socket_module

    from loadgen import run_polled

    listener = socket_module.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    port = listener.getsockname()[1]

    def serve() -> None:
        for _ in range(3):
            conn, _ = listener.accept()
            conn.recv(1 << 16)
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        polled = run_polled(f"http://127.0.0.1:{port}", _requests(3), max_seconds=30)
    finally:
        thread.join(10)
        listener.close()
    assert polled.dropped == 3
    assert polled.answered == 0
