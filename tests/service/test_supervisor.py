"""The supervisor and its workers (:mod:`crossmargin.service.supervisor`,
:mod:`crossmargin.service.worker`), end to end, on a tiny application that answers with
its worker's process id: the connections are split evenly, a worker reports the ones it
closes, a worker that dies is replaced, a worker that cannot start stops the service with
a clear error, and ``SIGTERM`` stops it all."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from tests.service.live import free_port

from crossmargin.errors import CrossMarginError
from crossmargin.service.handover import hands_over_connections
from crossmargin.service.supervisor import MAX_DEATHS, run_workers

pytestmark = pytest.mark.skipif(not hands_over_connections(), reason="SCM_RIGHTS hand-over: Linux")

ROOT = Path(__file__).resolve().parents[2]
SERVE = (
    "import sys, uvicorn; from crossmargin.service.supervisor import run_workers; "
    "run_workers(uvicorn.Config('tests.service.tiny_app:app', host='127.0.0.1', "
    "port=int(sys.argv[1]), workers=2, log_level='warning', timeout_keep_alive=60))"
)


class Client:
    """A keep-alive HTTP/1.1 connection that asks which worker serves it."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.file = self.sock.makefile("rb")

    def pid(self, path: str = "/") -> int:
        self.ask(path)
        return self.answer()

    def ask(self, path: str) -> None:
        self.sock.sendall(f"GET {path} HTTP/1.1\r\nHost: t\r\n\r\n".encode())

    def answer(self) -> int:
        assert self.file.readline().startswith(b"HTTP/1.1 200")
        length = 0
        while (line := self.file.readline()) not in (b"\r\n", b""):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        return int(self.file.read(length))

    def close(self) -> None:
        self.file.close()
        self.sock.close()


@pytest.fixture
def service() -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    port = free_port()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "src")])}
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVE, str(port)], cwd=ROOT, env=env, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 60
    while True:  # up once a request is answered (every worker serves by then)
        try:
            Client(port).close()
            probe = Client(port)
            probe.pid()
            probe.close()
            break
        except OSError:
            assert proc.poll() is None, "the service stopped"
            assert time.monotonic() < deadline, "the service did not start"
            time.sleep(0.1)
    yield proc, port
    if proc.poll() is None:
        proc.terminate()
    proc.communicate(timeout=60)  # waits, reading (and closing) its error stream


def _workers(proc: subprocess.Popen[bytes]) -> set[int]:
    import psutil

    workers = set()
    for p in psutil.Process(proc.pid).children():
        try:  # not multiprocessing's resource tracker, the other child of a spawning parent
            if any("spawn_main" in part for part in p.cmdline()):
                workers.add(p.pid)
        except psutil.Error:  # gone meanwhile
            continue
    return workers


def test_connections_are_split_evenly_and_closes_counted(
    service: tuple[subprocess.Popen[bytes], int],
) -> None:
    proc, port = service
    clients = [Client(port) for _ in range(32)]
    try:
        owner = {c: c.pid() for c in clients}
        split = Counter(owner.values())
        assert sorted(split.values()) == [16, 16], split
        assert set(split) == _workers(proc)
        # a connection stays with its worker
        assert all(c.pid() == owner[c] for c in clients[:8])
        # close 6 of one worker's: the next 6 new connections all go to it
        busy = split.most_common(1)[0][0]
        for c in [c for c in clients if owner[c] == busy][:6]:
            c.close()
            clients.remove(c)
        time.sleep(1.0)  # the worker's reports reach the dispatcher (within milliseconds)
        new = [Client(port) for _ in range(6)]
        clients += new
        assert [c.pid() for c in new] == [busy] * 6
    finally:
        for c in clients:
            c.close()


def test_a_worker_that_dies_is_replaced(service: tuple[subprocess.Popen[bytes], int]) -> None:
    proc, port = service
    first = _workers(proc)
    victim = min(first)
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + 60
    while True:
        now = _workers(proc)
        if len(now) == 2 and victim not in now:
            break
        assert time.monotonic() < deadline, f"not replaced: {now}"
        time.sleep(0.2)
    # the service answers throughout, and the replacement takes its share once it serves
    seen: Counter[int] = Counter()
    clients = []
    deadline = time.monotonic() + 60
    while len(seen) < 2:
        clients.append(Client(port))
        seen[clients[-1].pid()] += 1
        assert time.monotonic() < deadline, seen
    for c in clients:
        c.close()
    assert set(seen) == now
    assert victim not in seen


def test_sigterm_stops_the_supervisor_and_its_workers(
    service: tuple[subprocess.Popen[bytes], int],
) -> None:
    import psutil

    proc, port = service
    workers = [psutil.Process(pid) for pid in _workers(proc)]
    client = Client(port)
    serving = client.pid()
    client.ask("/slow")  # answered 1 s from now
    time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    assert client.answer() == serving  # a request in flight is finished
    assert proc.wait(30) == 0
    for w in workers:
        w.wait(5)  # gone (raises psutil.TimeoutExpired otherwise)
    client.close()
    with pytest.raises(ConnectionRefusedError):  # the port is closed with the supervisor
        socket.create_connection(("127.0.0.1", port), timeout=2)


def test_a_worker_that_cannot_start_stops_the_service_with_a_clear_error() -> None:
    config = uvicorn.Config(
        "tests.service.no_such_module:app", host="127.0.0.1", port=free_port(), workers=2,
        log_level="critical",
    )  # fmt: skip
    started = time.monotonic()
    with pytest.raises(CrossMarginError, match="stopped before it could serve"):
        run_workers(config)
    assert time.monotonic() - started < 60  # stopped, not restarted in a loop


def test_workers_dying_over_and_over_stop_the_service(
    service: tuple[subprocess.Popen[bytes], int],
) -> None:
    proc, port = service
    deadline = time.monotonic() + 120
    while proc.poll() is None:  # each /die ends the worker that takes it
        assert time.monotonic() < deadline, "the supervisor kept restarting its workers"
        with contextlib.suppress(OSError):  # the port closed: the supervisor is stopping
            client = Client(port)
            try:
                client.ask("/die")
                assert client.file.readline() == b""  # no answer: the worker has ended
            finally:
                client.close()
        time.sleep(0.3)
    assert proc.wait(60) == 1
    assert proc.stderr is not None
    err = proc.stderr.read().decode()
    assert f"{MAX_DEATHS} workers of the service died within 60 s" in err


def test_workers_stop_when_their_supervisor_is_killed(
    service: tuple[subprocess.Popen[bytes], int],
) -> None:
    import psutil

    proc, _ = service
    workers = [psutil.Process(pid) for pid in _workers(proc)]
    assert len(workers) == 2
    proc.kill()  # no chance to stop them: they see the dispatcher's channel close
    proc.wait(10)
    gone, alive = psutil.wait_procs(workers, timeout=30)
    assert alive == []
    assert len(gone) == 2


def test_a_failed_dispatcher_stops_the_service(monkeypatch: pytest.MonkeyPatch) -> None:
    from crossmargin.service.handover import Dispatcher, bind
    from crossmargin.service.supervisor import Supervisor

    def broken(self: Dispatcher) -> None:
        raise RuntimeError("a fault outside any one event")

    monkeypatch.setattr(Dispatcher, "_gate", broken)
    listener = bind("127.0.0.1", 0, 16)
    dispatcher = Dispatcher(listener, workers=2)
    try:
        dispatcher.start()
        worker = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        worker.connect(dispatcher.path)  # an event: the dispatcher fails after handling it
        worker.close()
        deadline = time.monotonic() + 5
        while dispatcher.running():
            assert time.monotonic() < deadline
            time.sleep(0.01)
        reason = Supervisor(uvicorn.Config("x:app", workers=2), dispatcher)._keep_alive()
        assert reason is not None
        assert "connection dispatcher stopped" in reason
    finally:
        dispatcher.stop()
        listener.close()


def test_a_worker_process_that_cannot_be_made_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from multiprocessing.process import BaseProcess

    def refuse(self: BaseProcess) -> None:
        raise OSError(11, "Resource temporarily unavailable")

    monkeypatch.setattr(BaseProcess, "start", refuse)
    config = uvicorn.Config("tests.service.tiny_app:app", host="127.0.0.1", port=free_port(),
                            workers=2)  # fmt: skip
    with pytest.raises(CrossMarginError, match=r"cannot start a worker process: .*unavailable"):
        run_workers(config)
