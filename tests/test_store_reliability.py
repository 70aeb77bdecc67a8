"""A run store that never blocks a computation or discards its result (issue 20, item 4).

* two processes recording at once both end up recorded (the second waits, boundedly);
* a store busy beyond the wait: the CLI still prints the result, says it was not recorded
  and exits 6; nothing half-written;
* a DuckDB file that belongs to something else is refused and left untouched; a corrupt
  store (wrong columns, truncated, garbage) is one clear error, never an internal one;
* an OS error while writing (a full disk) is reported as itself, not hidden behind a failed
  rollback, and earlier runs are kept.

The SIGKILL-before-commit test stays in ``tests/test_store.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

from crossmargin.errors import StoreError
from crossmargin.store import RunStore

Run = Callable[..., "object"]
SRC = Path(__file__).resolve().parents[1] / "src"
ENV = {**os.environ, "PYTHONPATH": str(SRC)}

_HOLD = textwrap.dedent(
    """
    import sys, time
    from crossmargin.store import RunStore
    with RunStore(sys.argv[1])._connect():
        print("ready", flush=True)
        time.sleep(float(sys.argv[2]))
    """
)

_WRITER = textwrap.dedent(
    """
    import sys
    from crossmargin.store import RunStore
    name, n = sys.argv[2], int(sys.argv[3])
    accounts = [{"account": f"{name}-{i}", "total": float(i), "standalone": 2.0 * i,
                 "netted": float(i)} for i in range(n)]
    run_id = RunStore(sys.argv[1], wait=60).record(
        "margin", model="rules", parameters={"writer": name}, market_asof=None,
        book_source=name, book_rows=[{"account": name}], result={"accounts": accounts},
    )
    print(run_id, flush=True)
    """
)


@pytest.fixture
def store(tmp_path: Path) -> RunStore:
    runs = RunStore(tmp_path / "runs.duckdb", wait=5)
    runs.record("margin", model="rules", parameters={}, market_asof=None, book_source="seed",
                book_rows=[], result={"accounts": [{"account": "seed", "total": 1.0}]})  # fmt: skip
    return runs


@pytest.fixture
def hold(store: RunStore) -> Iterator[Callable[[float], subprocess.Popen[str]]]:
    """Start a process that holds the store's lock for some seconds."""
    procs: list[subprocess.Popen[str]] = []

    def start(seconds: float) -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            [sys.executable, "-c", _HOLD, str(store.path), str(seconds)],
            stdout=subprocess.PIPE, text=True, env=ENV,
        )  # fmt: skip
        procs.append(proc)
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        return proc

    yield start
    for proc in procs:
        proc.kill()
        proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def test_two_processes_recording_at_once_are_both_recorded(
    store: RunStore, hold: Callable[[float], subprocess.Popen[str]]
) -> None:
    """A third process holds the file while two writers of 20,000 accounts each start: both
    wait (bounded retry), both commit, no account is lost."""
    hold(4.0)  # longer than the writers take to start: they must wait for it
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", _WRITER, str(store.path), name, "20000"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=ENV,
        )
        for name in ("first", "second")
    ]
    ids = []
    for proc in writers:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        ids.append(out.strip())
    listed = {r.run_id: r for r in store.list(limit=None)}
    for run_id in ids:
        assert listed[run_id].accounts == 20_000
        assert listed[run_id].total == pytest.approx(sum(range(20_000)))
    assert len(listed) == 3  # the seed run is still there


def test_busy_store_prints_the_result_and_says_it_was_not_recorded(
    tmp_path: Path,
    store: RunStore,
    hold: Callable[[float], subprocess.Popen[str]],
    run_cli: Run,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    book = tmp_path / "book.csv"
    book.write_text("account,symbol,quantity\na,SPY,10\nb,SPY,-5\n", encoding="utf-8")
    market = tmp_path / "snap.json"
    market.write_text(json.dumps({"valuation_time": "2026-02-11T21:00:00+00:00",
                                  "spots": {"SPY": 690.0}, "rates": {"USD": 0.036}}))  # fmt: skip
    args = ["margin", str(book), "--model", "rules", "--market", str(market)]
    monkeypatch.setenv("CROSSMARGIN_STORE_WAIT", "0.5")
    hold(120)
    res = run_cli(*args, "--store", str(store.path), "--json")
    assert res.code == 6
    payload = json.loads(res.out)  # the whole result, as valid JSON
    assert payload["run_id"] is None
    assert "in use by another process" in payload["not_recorded"]
    reference = json.loads(run_cli(*args, "--no-store", "--json").out)
    assert payload["total"] == reference["total"] > 0
    err = " ".join(res.err.split())
    assert err.startswith("not recorded: run store")
    assert "the result above is complete" in err
    table = run_cli(*args, "--store", str(store.path))
    assert table.code == 6
    assert "rules margin" in table.out  # the tables are printed before the note


def test_foreign_duckdb_file_is_refused_and_untouched(tmp_path: Path) -> None:
    path = tmp_path / "prices.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE prices (day DATE, close DOUBLE)")
    con.close()
    runs = RunStore(path, wait=0)
    for action in (runs.list, lambda: runs.get("r-x"), lambda: _record(runs)):
        with pytest.raises(StoreError, match="is a DuckDB database but not a crossmargin run"):
            action()
    con = duckdb.connect(str(path), read_only=True)
    tables = {t for (t,) in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    con.close()
    assert tables == {"prices"}  # never adopted


@pytest.mark.parametrize(
    ("damage", "named"),
    [
        ("ALTER TABLE run_accounts DROP COLUMN benefit", "table run_accounts has columns run_id"),
        ("DROP TABLE run_accounts", "table run_accounts has columns none, expected run_id"),
    ],
)
def test_store_with_wrong_columns_is_corrupt(store: RunStore, damage: str, named: str) -> None:
    con = duckdb.connect(str(store.path))
    con.execute(damage)
    con.close()
    with pytest.raises(StoreError, match=f"is corrupt: {named}"):
        store.list()
    with pytest.raises(StoreError, match="is corrupt"):
        _record(store)


@pytest.mark.parametrize("damage", ["truncate", "garbage", "zeros"])
def test_damaged_store_files_are_clear_errors(store: RunStore, damage: str) -> None:
    data = store.path.read_bytes()
    if damage == "truncate":
        store.path.write_bytes(data[: len(data) // 3])
    elif damage == "garbage":
        store.path.write_bytes(data[:4096] + os.urandom(len(data) - 4096))
    else:
        store.path.write_bytes(b"\0" * len(data))
    for action in (store.list, lambda: _record(store)):
        with pytest.raises(StoreError) as caught:
            action()
        assert str(store.path) in str(caught.value)
        assert "\n" not in str(caught.value)


def test_full_disk_is_reported_as_itself(store: RunStore) -> None:
    class Full(RunStore):
        def _insert_rows(self, con: Any, table: str, rows: Any) -> None:
            if table != "run_accounts":
                return super()._insert_rows(con, table, rows)
            super()._insert_rows(con, table, rows[:1])
            raise duckdb.IOException("IO Error: No space left on device")

    with pytest.raises(StoreError, match=r"was not recorded in .*No space left on device"):
        _record(Full(store.path, wait=0), accounts=3)
    assert [r.book_source for r in store.list()] == ["seed"]  # earlier runs kept, no trace


def test_wait_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CROSSMARGIN_STORE_WAIT", "2.5")
    assert RunStore(tmp_path / "x.duckdb").wait == 2.5
    assert RunStore(tmp_path / "x.duckdb", wait=0.1).wait == 0.1
    monkeypatch.setenv("CROSSMARGIN_STORE_WAIT", "soon")
    with pytest.raises(Exception, match="CROSSMARGIN_STORE_WAIT 'soon' is not a number"):
        RunStore(tmp_path / "x.duckdb")


def _record(store: RunStore, accounts: int = 1) -> str:
    rows = [{"account": f"A{i}", "total": 1.0} for i in range(accounts)]
    return store.record("margin", model="rules", parameters={}, market_asof=None,
                        book_source="b", book_rows=[], result={"accounts": rows})  # fmt: skip


@pytest.mark.parametrize(
    ("runs", "named"),
    [
        (1, "run r-0 was not recorded"),
        (2, "2 runs (r-0, r-1) were not recorded"),
        (230, "230 runs (r-0, r-1 and 228 more) were not recorded"),
    ],
)
def test_a_failed_batch_names_its_size_not_every_run(
    store: RunStore, runs: int, named: str
) -> None:
    """A batch the file refuses (here: result text that is not JSON) fails as a whole, and
    its error names how many runs and the first two, not hundreds of ids."""
    batch = [
        {"kind": "margin", "model": "rules", "parameters": {}, "market_asof": None,
         "book_source": "b", "book_rows": [], "result": {"accounts": []},
         "result_json": "not json", "run_id": f"r-{i}"}
        for i in range(runs)
    ]  # fmt: skip
    before = store.list()
    with pytest.raises(StoreError) as caught:
        store.record_many(batch)
    text = str(caught.value)
    assert text.startswith(named), text
    assert "r-2," not in text, text
    assert len(text) < 400, text
    assert store.list() == before  # all or none
