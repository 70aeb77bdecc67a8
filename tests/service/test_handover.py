"""The dispatcher (:mod:`crossmargin.service.handover`): the port is this service's alone, and
each new connection goes to the serving worker with the fewest open connections. The workers
here are Unix sockets of this test connected to the dispatcher, as a worker connects."""

from __future__ import annotations

import errno
import os
import socket
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from tests.service.conftest import ASOF, needs_data

from crossmargin.errors import InputError
from crossmargin.service import handover
from crossmargin.service.handover import CLOSED, Dispatcher, bind, hands_over_connections

pytestmark = pytest.mark.skipif(not hands_over_connections(), reason="SCM_RIGHTS hand-over: Linux")


@pytest.fixture
def dispatcher() -> Iterator[Dispatcher]:
    listener = bind("127.0.0.1", 0, 256)
    d = Dispatcher(listener, workers=2)
    d.start()
    yield d
    d.stop()
    listener.close()


def _join(d: Dispatcher) -> socket.socket:
    """A worker joining ``d``, once ``d`` has registered it."""
    before = len(d.open_connections())
    channel = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    channel.connect(d.path)
    _until(lambda: len(d.open_connections()) > before)
    return channel


def _until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def _handed(channel: socket.socket, n: int) -> list[socket.socket]:
    """The ``n`` connections handed to ``channel`` (each waited for up to 10 s), and then
    no more within 0.3 s."""
    out = []
    for timeout in [10.0] * n + [0.3]:
        channel.settimeout(timeout)
        try:
            data, fds, _, _ = socket.recv_fds(channel, 1, 1)
        except TimeoutError:
            assert len(out) == n, f"{len(out)} handed, {n} expected"
            return out
        assert data == b"c"
        assert len(fds) == 1
        out.append(socket.socket(fileno=fds[0]))
    raise AssertionError(f"more than {n} handed")


def _connect(d: Dispatcher, n: int) -> list[socket.socket]:
    return [socket.create_connection(d.listener.getsockname(), timeout=5) for _ in range(n)]


def _close_all(*groups: list[socket.socket]) -> None:
    for group in groups:
        for s in group:
            s.close()


def test_a_port_in_use_is_refused_by_name() -> None:
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen(1)
        port = other.getsockname()[1]
        with pytest.raises(InputError, match=f"cannot listen on 127.0.0.1:{port}"):
            bind("127.0.0.1", port, 16)


def test_a_second_service_cannot_share_the_port() -> None:
    held = bind("127.0.0.1", 0, 16)
    try:
        # two listening sockets on one port would split its connections between services
        with pytest.raises(InputError, match="cannot listen on"):
            bind("127.0.0.1", held.getsockname()[1], 16)
    finally:
        held.close()


def test_a_burst_of_clients_is_split_evenly_and_each_arrives_whole(dispatcher: Dispatcher) -> None:
    a, b = _join(dispatcher), _join(dispatcher)
    clients = _connect(dispatcher, 32)
    got_a, got_b = _handed(a, 16), _handed(b, 16)
    try:
        # each handed socket is a client's own connection: what a client sends arrives there
        ends = {s.getpeername(): s for s in got_a + got_b}
        for i, client in enumerate(clients):
            client.sendall(f"client {i}".encode())
            end = ends[client.getsockname()]
            end.settimeout(5)
            assert end.recv(64) == f"client {i}".encode()
        assert sorted(n for _, n in dispatcher.open_connections()) == [16, 16]
    finally:
        _close_all(clients, got_a, got_b)
        a.close()
        b.close()


def test_closed_connections_are_counted_and_new_ones_fill_the_gap(dispatcher: Dispatcher) -> None:
    a, b = _join(dispatcher), _join(dispatcher)
    first = _connect(dispatcher, 20)
    got_a, got_b = _handed(a, 10), _handed(b, 10)
    a.sendall(CLOSED * 6)  # worker a closed 6: it has 4 open against b's 10
    _until(lambda: sorted(n for _, n in dispatcher.open_connections()) == [4, 10])
    second = _connect(dispatcher, 8)
    more: list[socket.socket] = []
    try:
        # 6 go to a (4 -> 10), then they alternate from the tie: 10 + 1 and 10 + 1
        more += _handed(a, 7)
        more += _handed(b, 1)
    finally:
        _close_all(first, second, got_a, got_b, more)
        a.close()
        b.close()


def test_nothing_is_handed_over_until_every_worker_serves(dispatcher: Dispatcher) -> None:
    a = _join(dispatcher)
    clients = _connect(dispatcher, 4)  # they wait in the port's queue: one of two workers is up
    try:
        assert _handed(a, 0) == []
        b = _join(dispatcher)
        got_a, got_b = _handed(a, 2), _handed(b, 2)
        _close_all(got_a, got_b)
        b.close()
    finally:
        _close_all(clients)
        a.close()


def test_after_the_grace_time_the_workers_up_serve(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(handover, "START_GRACE_S", 0.3)
    listener = bind("127.0.0.1", 0, 16)
    d = Dispatcher(listener, workers=2)
    d.start()
    a = _join(d)
    clients = _connect(d, 3)
    try:
        got = _handed(a, 3)  # the second worker never comes
        _close_all(got)
    finally:
        _close_all(clients)
        a.close()
        d.stop()
        listener.close()


def test_a_worker_that_leaves_gets_nothing_and_with_none_left_clients_wait(
    dispatcher: Dispatcher,
) -> None:
    a, b = _join(dispatcher), _join(dispatcher)
    a.close()  # worker a exits
    _until(lambda: len(dispatcher.open_connections()) == 1)
    clients = _connect(dispatcher, 5)
    got_b = _handed(b, 5)
    b.close()  # no worker left: new clients wait, not refused and not closed
    _until(lambda: not dispatcher.open_connections())
    waiting = _connect(dispatcher, 3)
    try:
        c = _join(dispatcher)  # a replacement joins: they are handed to it
        got_c = _handed(c, 3)
        assert {s.getpeername() for s in got_c} == {s.getsockname() for s in waiting}
        _close_all(got_c)
        c.close()
    finally:
        _close_all(clients, got_b, waiting)


def test_a_worker_that_cannot_take_a_connection_now_keeps_it_waiting(
    dispatcher: Dispatcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = socket.send_fds
    refusals = [errno.ENOBUFS, errno.ETOOMANYREFS, errno.EAGAIN]  # "not now", never "gone"

    def send_fds(sock: socket.socket, *args: Any) -> int:
        if refusals:
            raise OSError(refusals.pop(0), "not now")
        return real(sock, *args)

    a, b = _join(dispatcher), _join(dispatcher)
    monkeypatch.setattr(socket, "send_fds", send_fds)
    clients = _connect(dispatcher, 4)
    try:
        # the first connection is refused by both workers, then by one: it waits, and is
        # handed once a worker takes it; no worker is dropped and no connection is closed
        got = _handed(a, 2) + _handed(b, 2)
        assert {s.getpeername() for s in got} == {c.getsockname() for c in clients}
        assert len(dispatcher.open_connections()) == 2
        _close_all(got)
    finally:
        _close_all(clients)
        a.close()
        b.close()


def test_stop_closes_the_port_and_the_channels(dispatcher: Dispatcher) -> None:
    a = _join(dispatcher)
    address = dispatcher.listener.getsockname()
    dispatcher.stop()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(address, timeout=2)
    a.settimeout(5)
    assert a.recv(1) == b""  # the worker sees its channel close, and stops
    a.close()
    dispatcher.stop()  # a second stop is harmless


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to connect as another user")
def test_a_channel_from_another_user_is_refused(dispatcher: Dispatcher) -> None:
    pid = os.fork()
    if pid == 0:  # the child: another user, joining as a worker would
        code = 1
        try:
            os.setuid(65534)
            channel = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            channel.connect(dispatcher.path)
            channel.settimeout(5)
            code = 0 if channel.recv(1) == b"" else 2  # closed at once, nothing handed
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert dispatcher.open_connections() == []


@needs_data
def test_the_banner_brackets_an_ipv6_host(run_cli: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import crossmargin.service.server as server

    seen: dict[str, Any] = {}

    def fake_serve(config: Any, **kw: Any) -> None:
        seen.update(kw)
        kw["announce"]()  # the port is free: the banner

    monkeypatch.setattr(server, "serve", fake_serve)
    result = run_cli("serve", "--host", "::1", "--port", "8123", "--asof", ASOF, "--no-store")
    assert result.code == 0, result.err
    assert "crossmargin service on http://[::1]:8123 (docs at /docs)" in result.out
    assert (seen["host"], seen["port"]) == ("::1", 8123)


@needs_data
def test_serving_on_a_port_in_use_is_a_clear_error(run_cli: Any) -> None:
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen(1)
        port = other.getsockname()[1]
        result = run_cli("serve", "--port", str(port), "--workers", "2", "--asof", ASOF,
                         "--no-store")  # fmt: skip
    assert result.code == 2, result.err
    assert f"cannot listen on 127.0.0.1:{port}: Address already in use" in result.err
    assert "Traceback" not in result.out + result.err
    assert "crossmargin service on" not in result.out  # no banner for a service never started
