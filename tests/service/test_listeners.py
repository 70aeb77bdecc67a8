"""Per-worker listening sockets (:mod:`crossmargin.service.listeners`): the port is reserved
for this service alone, each worker opens its own socket on it, and the kernel spreads new
connections over the workers' sockets instead of one worker taking every waiting one."""

from __future__ import annotations

import pickle
import socket
from typing import Any

import pytest
from tests.service.conftest import ASOF, needs_data

from crossmargin.errors import InputError
from crossmargin.service.listeners import WorkerListener, listen, reserve, spreads_connections

pytestmark = pytest.mark.skipif(not spreads_connections(), reason="SO_REUSEPORT balancing: Linux")


def _accept_all(sock: socket.socket) -> int:
    """How many connections wait in ``sock``'s accept queue (accepted and closed)."""
    sock.setblocking(False)
    n = 0
    while True:
        try:
            conn, _ = sock.accept()
        except BlockingIOError:
            return n
        conn.close()
        n += 1


def test_a_port_in_use_is_refused_by_name() -> None:
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen(1)
        port = other.getsockname()[1]
        with pytest.raises(InputError, match=f"cannot listen on 127.0.0.1:{port}"):
            reserve("127.0.0.1", port)


def test_a_second_service_cannot_share_the_port() -> None:
    held = reserve("127.0.0.1", 0)
    try:
        port = held.getsockname()[1]
        # a second reservation would let two services split one port's connections
        with pytest.raises(InputError, match="cannot listen on"):
            reserve("127.0.0.1", port)
    finally:
        held.close()


def test_the_reserved_socket_takes_no_connection() -> None:
    held = reserve("127.0.0.1", 0)
    try:
        with socket.socket() as client, pytest.raises(ConnectionRefusedError):
            client.connect(held.getsockname())  # bound, not listening: nothing to accept
    finally:
        held.close()


def test_a_listener_pickles_as_a_new_listening_socket_on_its_port() -> None:
    held = reserve("127.0.0.1", 0)
    listener = WorkerListener(held.family, held.type, held.proto, fileno=held.detach())
    listener.backlog = 16
    try:
        opened = pickle.loads(pickle.dumps(listener))  # what a worker receives
        try:
            assert type(opened) is socket.socket
            assert opened.fileno() != listener.fileno()
            assert opened.getsockname() == listener.getsockname()
            with socket.create_connection(listener.getsockname(), timeout=5):
                assert _accept_all(opened) == 1
        finally:
            opened.close()
    finally:
        listener.close()


def test_new_connections_are_spread_over_the_workers_sockets() -> None:
    held = reserve("127.0.0.1", 0)
    host, port = held.getsockname()
    socks = [listen(socket.AF_INET, host, port, 256) for _ in range(2)]
    clients = []
    try:
        # a burst of 64 connections, as 64 clients starting at once; with one shared socket
        # the first worker to wake accepts them all
        clients = [socket.create_connection((host, port), timeout=5) for _ in range(64)]
        counts = [_accept_all(s) for s in socks]
        assert sum(counts) == 64
        # the kernel hashes each connection to a socket: both get some (all 64 on one
        # socket has probability 2**-63 if the hash is fair), neither all
        assert min(counts) >= 8, counts
    finally:
        for c in clients:
            c.close()
        for s in socks:
            s.close()
        held.close()


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
