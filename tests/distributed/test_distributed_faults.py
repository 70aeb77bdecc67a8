"""Failures a cluster brings: a worker process killed mid-run, a scheduler that never answers.

* A worker process is killed (SIGKILL) while a margin run is under way: Dask reschedules its
  tasks on the other worker (and the nanny starts a replacement), the broadcast context
  survives on the other worker, and the result is still the single-process one.
* An address where no scheduler listens: a clear InputError naming it within the timeout
  (library), a one-line error with exit code 2 (CLI), never a hang.
"""

from __future__ import annotations

import os
import signal
import socket
import time

import pytest
from same import assert_same

from crossmargin import api
from crossmargin.distributed import client_for, connect, run_margin
from crossmargin.errors import InputError
from crossmargin.models import get_model
from crossmargin.portfolio import Portfolio, Position
from market_inputs import history, sample_market


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port  # closed again: nothing listens there


def test_unreachable_scheduler_is_a_clear_error_within_the_timeout() -> None:
    address = f"tcp://127.0.0.1:{_free_port()}"
    start = time.monotonic()
    with pytest.raises(InputError, match=r"no Dask scheduler answered at tcp://127\.0\.0\.1:\d+ "
                       r"within 2 s") as info:  # fmt: skip
        client_for(address, timeout=2.0)
    elapsed = time.monotonic() - start
    assert 1.5 <= elapsed < 8.0, elapsed
    assert "dask scheduler" in str(info.value)


@pytest.mark.parametrize("address", ["localhost", "http://host:8786/path", "tcp://a b:1"])
def test_a_malformed_address_is_refused_before_connecting(address: str) -> None:
    with pytest.raises(InputError, match="is not a scheduler address: give tcp://HOST:PORT"):
        client_for(address, timeout=0.5)


def test_cli_unreachable_scheduler(run_cli, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr("crossmargin.distributed.cluster.DEFAULT_TIMEOUT", 2.0)
    book = tmp_path / "book.csv"
    api.write_sample(book)
    start = time.monotonic()
    res = run_cli("margin", str(book), "--model", "rules", "--market",
                  str(_market_file(tmp_path)), "--distributed", "--scheduler",
                  f"tcp://127.0.0.1:{_free_port()}", "--no-store")  # fmt: skip
    assert res.code == 2, res.err
    assert "no Dask scheduler answered" in res.err
    assert "within 2 s" in res.err
    assert "Traceback" not in res.err
    assert time.monotonic() - start < 15.0
    res = run_cli("margin", str(book), "--scheduler", "tcp://127.0.0.1:1", "--no-store")
    assert res.code == 2
    assert "add --distributed" in res.err


def _market_file(tmp_path) -> object:  # type: ignore[no-untyped-def]
    """A market snapshot file of the sample book (no history needed to read it back)."""
    path = tmp_path / "market.json"
    sample_market().save(path)
    return path


@pytest.mark.realdata
def test_a_killed_worker_is_retried_and_the_result_is_unchanged() -> None:
    book0, market = api.sample_book(), sample_market()
    book = Portfolio.from_positions(  # 24 copies of the sample accounts: many parts
        Position(account=f"{p.account}-{k}", instrument=p.instrument, quantity=p.quantity * (k + 1))
        for k in range(24)
        for p in book0.positions
    )
    model = get_model("es", history=history())
    single = model.compute(book, market)
    killed: list[int] = []
    with connect(workers=2) as client:
        pids = client.run(os.getpid)
        before = set(pids)

        def kill_one(done: int, total: int) -> None:
            if done == 1 and not killed:
                assert total > 10  # most of the run is still to come
                victim = next(iter(pids.values()))
                os.kill(victim, signal.SIGKILL)
                killed.append(victim)

        spread = run_margin(client, model, book, market, chunk_positions=8, progress=kill_one)
        client.wait_for_workers(2, timeout=60)
        after = set(client.run(os.getpid))
    assert killed
    assert after != before  # the nanny replaced the killed worker
    assert_same(spread.to_dict(), single.to_dict())


def test_a_folder_the_workers_cannot_see_is_named(client, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from crossmargin.distributed.cluster import require_folders

    require_folders(client, {"market history": tmp_path, "output": None})  # visible: passes
    with pytest.raises(InputError, match=r"worker tcp://.* cannot see the output folder .*nope"):
        require_folders(client, {"market history": tmp_path, "output": tmp_path / "nope"})


def test_embedded_workers_run_single_threaded_without_profiler_or_malloc_trim(client) -> None:  # type: ignore[no-untyped-def]
    env = client.run(
        lambda: {
            k: os.environ.get(k)
            for k in ("NUMBA_NUM_THREADS", "MALLOC_TRIM_THRESHOLD_",
                      "DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED")
        }
    )  # fmt: skip
    assert len(env) == 2
    for found in env.values():
        assert found == {"NUMBA_NUM_THREADS": "1", "MALLOC_TRIM_THRESHOLD_": None,
                         "DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED": "False"}  # fmt: skip
    assert client.nthreads() == dict.fromkeys(env, 1)
