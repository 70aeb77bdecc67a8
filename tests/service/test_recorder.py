"""Runs are recorded off the request path (issue 20, items 4 and 7; issue 19, item 1).

A store held by another process never turns a margin request into an error or a wait:
the answer comes at once with its run id, the run is written when the store frees up, and
``GET /v1/runs/<id>`` finds it.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from tests.service.conftest import ASOF, Client, needs_data, sample_rows

from crossmargin.errors import InputError
from crossmargin.service import ServiceConfig, ServiceState
from crossmargin.service import recorder as recorder_module
from crossmargin.service.recorder import RunRecorder
from crossmargin.store import RunStore

pytestmark = needs_data

HOLD = """
import sys, time, duckdb
con = duckdb.connect(sys.argv[1])
print("held", flush=True)
time.sleep(float(sys.argv[2]))
con.close()
"""


def _hold(path: Path, seconds: float) -> subprocess.Popen[str]:
    """Another process holding the store file's lock for ``seconds``."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(path), str(seconds)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "held"
    proc.stdout.close()
    return proc


def test_a_busy_store_delays_the_record_not_the_answer(tmp_path: Path) -> None:
    path = tmp_path / "runs.duckdb"
    RunStore(path).record(
        "margin", model="x", parameters={}, market_asof=None, book_source="seed",
        book_rows=[], result={},
    )  # fmt: skip
    client = Client(ServiceState(ServiceConfig(asof=ASOF, store=path)))
    try:
        body = {"positions": sample_rows(), "model": "rules"}
        client.post("/v1/margin", json={**body, "record": False})  # warm the caches
        holder = _hold(path, 2.0)
        try:
            ids, took = [], []
            for _ in range(3):
                t = time.monotonic()
                r = client.post("/v1/margin", json=body)
                took.append(time.monotonic() - t)
                assert r.status_code == 200, r.text  # never 422 "in use"
                assert r.json()["record_status"] == "queued"
                ids.append(r.json()["run_id"])
            assert max(took) < 1.5  # the answers did not wait for the 2 s lock
            assert holder.poll() is None  # the store was still held while they were answered
            fetched = client.get(f"/v1/runs/{ids[0]}")  # waits for the writer
        finally:
            holder.wait(timeout=30)
        assert fetched.status_code == 200, fetched.text
        assert fetched.json()["run_id"] == ids[0]
        assert client.state.recorder is not None
        assert client.state.recorder.close(30) == 0
    finally:
        client.close()
    stored = {s.run_id for s in RunStore(path).list(None)}
    assert set(ids) <= stored
    assert len(stored) == 4


def test_a_get_on_a_store_held_too_long_is_503(tmp_path: Path) -> None:
    path = tmp_path / "runs.duckdb"
    run_id = RunStore(path).record(
        "margin", model="x", parameters={}, market_asof=None, book_source="seed",
        book_rows=[], result={},
    )  # fmt: skip
    client = Client(ServiceState(ServiceConfig(asof=ASOF, store=path)))
    holder = _hold(path, 8.0)
    try:
        r = client.get(f"/v1/runs/{run_id}")
        assert r.status_code == 503
        assert r.json()["kind"] == "StoreBusy"
        assert r.headers["retry-after"] == "1"
    finally:
        holder.wait(timeout=30)
        client.close()
    client = Client(ServiceState(ServiceConfig(asof=ASOF, store=path)))
    try:
        assert client.get(f"/v1/runs/{run_id}").status_code == 200
    finally:
        client.close()


def test_queued_runs_are_written_at_shutdown(tmp_path: Path) -> None:
    path = tmp_path / "runs.duckdb"
    client = Client(ServiceState(ServiceConfig(asof=ASOF, store=path)))
    body = {"positions": sample_rows()[:4], "model": "rules"}
    ids = [client.post("/v1/margin", json=body).json()["run_id"] for _ in range(20)]
    client.close()  # closes the state: drains the writer
    assert {s.run_id for s in RunStore(path).list(None)} == set(ids)


@pytest.mark.parametrize("record", [True, False])
def test_record_flag(tmp_path: Path, record: bool) -> None:
    path = tmp_path / "runs.duckdb"
    client = Client(ServiceState(ServiceConfig(asof=ASOF, store=path)))
    try:
        r = client.post("/v1/margin", json={"positions": sample_rows()[:2], "record": record})
        assert (r.json()["run_id"] is not None) is record
        assert r.json()["record_status"] == ("queued" if record else "off")
    finally:
        client.close()
    assert len(RunStore(path).list(None)) == int(record)


def test_a_runs_inputs_hash_covers_the_books_collateral(tmp_path: Path) -> None:
    """Two margin requests of the same positions and other collateral are other inputs (the
    collateral nets in the scenarios); the same holdings in another order are the same."""
    path = tmp_path / "runs.duckdb"
    client = Client(ServiceState(ServiceConfig(asof=ASOF, store=path)))
    held = [{"account": "alpha-crypto", "asset": "BTC", "amount": 2.0},
            {"account": "alpha-crypto", "asset": "USDC", "amount": 10_000.0}]  # fmt: skip
    bodies = [
        {"positions": sample_rows()[:4], "model": "rules"},
        {"positions": sample_rows()[:4], "model": "rules", "collateral": held},
        {"positions": sample_rows()[:4], "model": "rules", "collateral": held[::-1]},
        {"positions": sample_rows()[:4], "model": "rules",
         "collateral": [dict(held[0], amount=3.0), held[1]]},
    ]  # fmt: skip
    try:
        ids = [client.post("/v1/margin", json=body).json()["run_id"] for body in bodies]
        hashes = [client.get(f"/v1/runs/{run_id}").json()["inputs_hash"] for run_id in ids]
    finally:
        client.close()
    bare, held_, reordered, other = hashes
    assert held_ == reordered
    assert len({bare, held_, other}) == 3


def test_record_many_writes_a_batch_all_or_nothing(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "runs.duckdb")
    run = {"kind": "margin", "model": "m", "parameters": {}, "market_asof": None,
           "book_source": "b", "book_rows": [],
           "result": {"accounts": [{"account": "a", "total": 1.0}]}}  # fmt: skip
    given = "r-20260101T000000-0000000a"
    ids = store.record_many([{**run, "run_id": given}, run])
    assert ids[0] == given
    assert len(set(ids)) == 2
    assert {s.run_id for s in store.list(None)} == set(ids)
    assert store.get(given).result["accounts"][0]["total"] == 1.0
    with pytest.raises(InputError, match="unknown run kind"):
        store.record_many([run, {**run, "kind": "nope"}])
    with pytest.raises(Exception, match=r"(?i)constraint|duplicate"):
        store.record_many([run, {**run, "run_id": given}])  # the second collides: rollback
    assert len(store.list(None)) == 2  # nothing of either failed batch


def _recorder_with_calls(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[RunRecorder, list[int], Any]:
    """A recorder over ``path`` whose store counts the runs of each transaction, and a
    margin result to submit."""
    from crossmargin import api
    from crossmargin.market.builder import snapshot_from_history
    from crossmargin.portfolio import parse_rows

    recorder = RunRecorder(path)
    calls: list[int] = []
    write_prepared = recorder.store.write_prepared

    def counted(runs: Any) -> None:
        calls.append(len(runs))
        write_prepared(runs)

    monkeypatch.setattr(recorder.store, "write_prepared", counted)
    book = parse_rows(sample_rows()[:3], source="test")
    snap = snapshot_from_history(ASOF, sorted(book.priced_underlyings))
    return recorder, calls, (api.margin(book, snap, "rules"), book, snap)


def test_a_stream_of_runs_shares_one_transaction(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # runs 20 ms apart never leave the writer idle for LINGER_S: one batch (the cap is
    # raised so a slow machine cannot split it)
    monkeypatch.setattr(recorder_module, "LINGER_S", 0.5)
    monkeypatch.setattr(recorder_module, "MAX_LINGER_S", 30.0)
    recorder, calls, run = _recorder_with_calls(tmp_path / "runs.duckdb", monkeypatch)
    ids = []
    for _ in range(12):
        ids.append(recorder.submit(*run)[0])
        time.sleep(0.02)
    assert recorder.close() == 0
    assert calls == [12]
    assert {s.run_id for s in RunStore(tmp_path / "runs.duckdb").list(None)} == set(ids)


def test_a_steady_stream_is_written_every_max_linger(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # runs keep arriving (never a pause of LINGER_S), so batches close at MAX_LINGER_S
    monkeypatch.setattr(recorder_module, "LINGER_S", 5.0)
    monkeypatch.setattr(recorder_module, "MAX_LINGER_S", 0.3)
    recorder, calls, run = _recorder_with_calls(tmp_path / "runs.duckdb", monkeypatch)
    start = time.monotonic()
    while time.monotonic() - start < 1.5:
        recorder.submit(*run)
        time.sleep(0.02)
    while recorder.queued() and time.monotonic() - start < 30:
        time.sleep(0.05)
    assert len(calls) >= 3  # not one batch held back by the 5 s pause rule
    assert recorder.close() == 0
    assert sum(calls) == len(RunStore(tmp_path / "runs.duckdb").list(None))


def test_the_recorded_result_is_the_answer(tmp_path: Path) -> None:
    """The answer's JSON is written once and recorded as the run's result: the stored run
    reads back as the answer without its own three fields, and the answer's text is the
    compact JSON of its fields in order."""
    import json

    from crossmargin.service.responses import strict_json

    path = tmp_path / "runs.duckdb"
    client = Client(ServiceState(ServiceConfig(asof=ASOF, store=path)))
    try:
        r = client.post("/v1/margin", json={"positions": sample_rows(), "model": "pm_grid"})
        assert r.status_code == 200, r.text
        answer = r.json()
        assert r.text == strict_json(answer)  # one object, keys in order, no gap
        assert list(answer)[:3] == ["asof", "run_id", "record_status"]
        assert client.state.recorder is not None
        assert client.state.recorder.close(30) == 0
    finally:
        client.close()
    stored = RunStore(path).get(answer["run_id"])
    body = {k: v for k, v in answer.items() if k not in ("asof", "run_id", "record_status")}
    assert stored.result == body
    assert json.loads(_stored_text(path, answer["run_id"])) == body


def _stored_text(path: Path, run_id: str) -> str:
    """The ``result`` column of run ``run_id`` as stored."""
    import duckdb

    con = duckdb.connect(str(path), read_only=True)
    try:
        row = con.execute("SELECT result FROM runs WHERE run_id = ?", [run_id]).fetchone()
    finally:
        con.close()
    assert row is not None
    return str(row[0])


def test_a_run_that_cannot_be_made_rows_is_answered_not_recorded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The request makes the run's rows: one that cannot be made is refused at once, with
    the reason, and nothing is queued or written."""
    from crossmargin import api

    recorder, _calls, run = _recorder_with_calls(tmp_path / "runs.duckdb", monkeypatch)

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise ValueError("no rows for this one")

    monkeypatch.setattr(api, "margin_record", broken)
    run_id, status = recorder.submit(*run)
    assert run_id is None
    assert status.startswith("not recorded")
    assert "no rows for this one" in status
    assert recorder.queued() == 0
    monkeypatch.undo()
    good, status = recorder.submit(*run)  # the next run is recorded as before
    assert status == "queued"
    assert good is not None
    assert recorder.close() == 0
    assert [s.run_id for s in RunStore(tmp_path / "runs.duckdb").list(None)] == [good]


def test_a_full_queue_and_a_shutdown_refuse_before_the_rows_are_made(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run that would not be queued (the queue full, the service shutting down) is
    answered "not recorded" with the reason, and its rows are not made for nothing."""
    from crossmargin import api

    monkeypatch.setattr(recorder_module, "LINGER_S", 5.0)  # the writer holds its batch
    monkeypatch.setattr(recorder_module, "MAX_LINGER_S", 30.0)
    recorder, _calls, run = _recorder_with_calls(tmp_path / "runs.duckdb", monkeypatch)
    recorder.max_queue = 2
    made: list[int] = []
    margin_record = api.margin_record

    def counted(*args: Any, **kwargs: Any) -> Any:
        made.append(1)
        return margin_record(*args, **kwargs)

    monkeypatch.setattr(api, "margin_record", counted)
    kept = [recorder.submit(*run)[0] for _ in range(2)]
    run_id, status = recorder.submit(*run)
    assert run_id is None
    assert status.startswith("not recorded: 2 runs are waiting for the run store")
    assert len(made) == 2
    assert recorder.close() == 0
    run_id, status = recorder.submit(*run)
    assert run_id is None
    assert status == "not recorded: the service is shutting down"
    assert len(made) == 2
    assert {s.run_id for s in RunStore(tmp_path / "runs.duckdb").list(None)} == set(kept)


def _priority_of_writes(
    path: Path, monkeypatch: pytest.MonkeyPatch, runs: int = 3
) -> tuple[list[int], list[int]]:
    """Submit ``runs`` runs and close: the nice value of the thread writing each batch, and
    of the thread that submitted them (before and after)."""
    import os
    import threading

    recorder, _calls, run = _recorder_with_calls(path, monkeypatch)
    write_prepared = recorder.store.write_prepared
    seen: list[int] = []

    def noted(prepared: Any) -> None:
        seen.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
        write_prepared(prepared)

    monkeypatch.setattr(recorder.store, "write_prepared", noted)
    mine = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    for _ in range(runs):
        recorder.submit(*run)
    assert recorder.close() == 0
    after = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    return seen, [mine, after]


linux_only = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="a thread's own priority is Linux's"
)


@linux_only
def test_a_batch_is_written_below_the_requests_priority_while_the_writer_keeps_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the requests' thread keeps its priority (the nice value is the writing thread's own)
    seen, (mine, after) = _priority_of_writes(tmp_path / "runs.duckdb", monkeypatch)
    assert seen, "nothing was written"
    assert set(seen) == {min(19, mine + recorder_module.WRITER_NICE)}
    assert after == mine
    assert len(RunStore(tmp_path / "runs.duckdb").list(None)) == 3


@linux_only
def test_a_batch_that_waited_too_long_is_written_at_the_requests_priority(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a writer starved of CPU at a lower priority could fall behind for good: a batch whose
    # first run waited longer than BEHIND_S (here: any) is written at the priority of the
    # thread that queued it
    import os
    import threading

    if os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) >= 19:
        pytest.skip("the tests run at the lowest priority already: nothing to tell apart")
    monkeypatch.setattr(recorder_module, "BEHIND_S", -1.0)
    seen, (mine, _after) = _priority_of_writes(tmp_path / "runs.duckdb", monkeypatch)
    assert seen, "nothing was written"
    assert set(seen) == {mine}
    assert len(RunStore(tmp_path / "runs.duckdb").list(None)) == 3


@linux_only
def test_lower_priority_lowers_the_calling_thread_only() -> None:
    import os
    import threading

    out: dict[str, Any] = {}

    def probe() -> None:
        me = threading.get_native_id()
        out["lowered"] = recorder_module.lower_priority(4)
        out["at"] = os.getpriority(os.PRIO_PROCESS, me)
        out["again"] = recorder_module.lower_priority(30)  # past the lowest: the lowest
        out["still"] = os.getpriority(os.PRIO_PROCESS, me)

    main = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    thread = threading.Thread(target=probe)
    thread.start()
    thread.join()
    assert out == {"lowered": True, "at": min(19, main + 4), "again": True, "still": 19}
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == main


def test_a_file_system_without_locks_still_gets_its_runs_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the writers' turn is an advisory lock; where taking it fails, the batch is written
    # without it (the store's own file lock still keeps writers apart)
    fcntl = pytest.importorskip("fcntl")
    flock = fcntl.flock
    refused: list[int] = []

    def no_exclusive_lock(fd: int, operation: int) -> None:
        if operation == fcntl.LOCK_EX:
            refused.append(fd)
            raise OSError(37, "No locks available")
        flock(fd, operation)

    monkeypatch.setattr(fcntl, "flock", no_exclusive_lock)
    recorder, calls, run = _recorder_with_calls(tmp_path / "runs.duckdb", monkeypatch)
    ids = [recorder.submit(*run)[0] for _ in range(3)]
    assert recorder.close() == 0
    assert refused, "the lock was never asked for"
    assert sum(calls) == 3
    assert {s.run_id for s in RunStore(tmp_path / "runs.duckdb").list(None)} == set(ids)
