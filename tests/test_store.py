"""The run store: round trips, listing, diffs, history, atomicity under SIGKILL, locking."""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest

from crossmargin.errors import InputError, StoreError
from crossmargin.store import SCHEMA_VERSION, RunStore, default_store_path
from crossmargin.store_records import canonical_json, inputs_hash

ASOF = datetime(2026, 2, 11, 16, 0, tzinfo=UTC)
ROWS = [
    {"account": "A", "symbol": "BTC-PERP", "quantity": 2.0, "trade_price": None},
    {"account": "B", "symbol": "ETH-PERP", "quantity": -5.0, "trade_price": 3000.0},
]


def acct(
    name: str, total: float, standalone: float, netted: float, **components: float
) -> dict[str, Any]:
    """An account entry shaped like ``MarginResult.to_dict()['accounts'][i]``."""
    return {
        "account": name,
        "total": total,
        "netted": netted,
        "standalone": standalone,
        "benefit": standalone - netted,
        "components": components,
    }


def result(*accounts: dict[str, Any], model: str = "rules") -> dict[str, Any]:
    return {"model": model, "total": sum(a["total"] for a in accounts), "accounts": list(accounts)}


def record(
    store: RunStore,
    res: Mapping[str, Any],
    *,
    kind: str = "margin",
    model: str = "rules",
    parameters: Mapping[str, Any] | None = None,
    rows: list[dict[str, Any]] | None = None,
) -> str:
    return store.record(
        kind,
        model=model,
        parameters=parameters if parameters is not None else {"confidence": 0.99},
        market_asof=ASOF,
        market_source="history 2026-02-11",
        book_source="book.csv",
        book_rows=rows if rows is not None else ROWS,
        result=res,
    )


@pytest.fixture
def store(tmp_path: Path) -> RunStore:
    return RunStore(tmp_path / "runs.duckdb")


# ----------------------------------------------------------------------------- round trip
def test_record_get_round_trip(store: RunStore) -> None:
    res = result(acct("A", 100.0, 150.0, 90.0, scan=80.0, short_option=10.0))
    res["nan_field"] = math.nan
    before = datetime.now(UTC)
    run_id = record(store, res, parameters={"confidence": 0.99, "by": "underlying"})
    got = store.get(run_id)
    assert got.run_id == run_id
    assert run_id.startswith(f"r-{got.created_at:%Y%m%dT%H%M%S}-")
    assert len(run_id.split("-")[-1]) == 8
    assert got.kind == "margin"
    assert got.model == "rules"
    assert got.status == "ok"
    assert before <= got.created_at <= datetime.now(UTC)
    assert got.parameters == {"confidence": 0.99, "by": "underlying"}
    assert got.market_asof == ASOF
    assert got.market_source == "history 2026-02-11"
    assert got.book_source == "book.csv"
    assert got.version == __import__("crossmargin").__version__
    assert got.inputs_hash == inputs_hash(
        book_rows=ROWS,
        model="rules",
        parameters={"by": "underlying", "confidence": 0.99},
        market_source="history 2026-02-11",
    )
    assert got.result["accounts"] == res["accounts"]
    assert got.result["nan_field"] == "nan"  # JSON has no NaN: kept as a string
    (a,) = store.accounts(run_id)
    assert (a.account, a.total, a.standalone, a.netted, a.benefit) == ("A", 100, 150, 90, 60)
    assert a.components == {"scan": 80.0, "short_option": 10.0}
    assert got.to_dict()["run_id"] == run_id


def test_unknown_run_and_kind(store: RunStore) -> None:
    with pytest.raises(InputError, match=r"no run 'r-nope'.*runs list"):
        store.get("r-nope")  # store file does not exist yet
    record(store, result(acct("A", 1, 1, 1)))
    with pytest.raises(InputError, match="no run 'r-nope'"):
        store.diff("r-nope", "r-nope")
    with pytest.raises(InputError, match="unknown run kind 'var'"):
        record(store, result(), kind="var")


def test_reading_a_missing_store_creates_nothing(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "sub" / "runs.duckdb")
    assert store.list() == ()
    assert store.account_history("A") == ()
    assert not (tmp_path / "sub").exists()


def test_result_without_accounts(store: RunStore) -> None:
    run_id = record(store, {"scenarios": 3, "worst": -1.5}, kind="stress")
    assert store.accounts(run_id) == ()
    (summary,) = store.list()
    assert summary.accounts == 0
    assert summary.total is None
    assert summary.kind == "stress"


# ----------------------------------------------------------------------------- list
def test_list_newest_first_with_filters_and_limit(store: RunStore) -> None:
    ids = [
        record(store, result(acct("A", 10, 10, 10)), model="rules"),
        record(store, result(acct("A", 20, 20, 20), acct("B", 5, 5, 5)), model="span"),
        record(store, result(acct("A", 30, 30, 30)), model="span", kind="stress"),
        record(store, result(acct("A", 40, 40, 40)), model="rules", kind="backtest"),
    ]
    assert [r.run_id for r in store.list()] == ids[::-1]
    assert [r.run_id for r in store.list(2)] == ids[:1:-1]
    assert [r.run_id for r in store.list(model="span")] == [ids[2], ids[1]]
    assert [r.run_id for r in store.list(kind="margin")] == [ids[1], ids[0]]
    assert [r.run_id for r in store.list(kind="margin", model="rules")] == [ids[0]]
    assert store.list(kind="simm") == ()
    two = store.list(model="span", kind="margin")[0]
    assert (two.accounts, two.total) == (2, 25.0)
    with pytest.raises(InputError, match="--limit"):
        store.list(0)
    with pytest.raises(InputError, match="unknown run kind"):
        store.list(kind="nope")


# ----------------------------------------------------------------------------- diff
def test_diff_by_hand(store: RunStore) -> None:
    first = record(
        store,
        result(acct("A", 100, 150, 90), acct("B", 50, 60, 50)),
        parameters={"confidence": 0.99, "by": "underlying", "cap": None},
    )
    second = record(
        store,
        result(acct("A", 120, 150, 110), acct("C", 7, 7, 7)),
        parameters={"by": "underlying", "confidence": 0.975, "horizon": 2},
    )
    d = store.diff(first, second)
    (a,) = d.accounts
    assert a.account == "A"
    # A: total 100 -> 120, standalone 150 -> 150, netted 90 -> 110, benefit 60 -> 40
    assert [a.delta(f) for f in ("total", "standalone", "netted", "benefit")] == [20, 0, 20, -20]
    assert d.only_in_first == ("B",)
    assert d.only_in_second == ("C",)
    assert d.total_delta == (120 + 7) - (100 + 50)
    assert d.parameter_changes == {
        "cap": (None, None),  # present in the first run only
        "confidence": (0.99, 0.975),
        "horizon": (None, 2),
    }
    assert d.inputs_changed  # parameters differ
    payload = d.to_dict()
    assert payload["accounts"][0]["benefit"] == {"first": 60, "second": 40, "delta": -20}
    same = store.diff(first, first)
    assert not same.inputs_changed
    assert same.parameter_changes == {}
    assert same.total_delta == 0


# ----------------------------------------------------------------------------- history
def test_account_history_time_ordered(store: RunStore) -> None:
    r1 = record(store, result(acct("A", 10, 12, 10), acct("B", 1, 1, 1)), model="rules")
    r2 = record(store, result(acct("B", 2, 2, 2)), model="rules")
    r3 = record(store, result(acct("A", 30, 35, 30)), model="span")
    r4 = record(store, result(acct("A", 40, 41, 40)), model="rules")
    hist = store.account_history("A")
    assert [(h.run_id, h.total, h.model) for h in hist] == [
        (r1, 10, "rules"),
        (r3, 30, "span"),
        (r4, 40, "rules"),
    ]
    assert [h.created_at for h in hist] == sorted(h.created_at for h in hist)
    assert [h.run_id for h in store.account_history("A", model="rules")] == [r1, r4]
    assert [h.run_id for h in store.account_history("B")] == [r1, r2]
    assert store.account_history("Z") == ()


# ----------------------------------------------------------------------------- inputs hash
def test_inputs_hash_stable_under_key_and_row_order() -> None:
    def digest(**change: Any) -> str:
        kwargs: dict[str, Any] = {
            "book_rows": ROWS,
            "model": "span",
            "parameters": {"a": 1, "b": {"x": 2}},
            "market_source": "m",
        }
        return inputs_hash(**(kwargs | change))

    base = digest()
    assert len(base) == 64
    reordered = [dict(reversed(list(r.items()))) for r in reversed(ROWS)]
    assert digest(book_rows=reordered, parameters={"b": {"x": 2.0}, "a": 1.0}) == base
    assert digest(book_rows=[dict(ROWS[0], quantity=3.0), ROWS[1]]) != base
    assert digest(book_rows=[dict(ROWS[0], quantity=2), ROWS[1]]) == base  # 2 == 2.0
    assert digest(model="rules") != base
    assert digest(market_source="n") != base
    assert digest(parameters={"a": 2, "b": {"x": 2}}) != base


def _inputs_hash_twin(*, book_rows: Any, model: str, parameters: Any, market_source: str) -> str:
    """The hash as first written: each row to canonical JSON, sorted, read back, and the
    whole payload written again (the slow twin of ``inputs_hash``)."""
    rows = sorted(canonical_json(row) for row in book_rows)
    payload = canonical_json(
        {"book": [json.loads(r) for r in rows], "model": model, "parameters": parameters,
         "market_source": market_source}
    )  # fmt: skip
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def test_inputs_hash_is_the_sha256_of_the_canonical_text() -> None:
    # written out by hand: sorted keys, compact separators, integers as floats
    text = (
        '{"book":[{"account":"A","quantity":-0.5,"symbol":"BTC"},'
        '{"account":"A","quantity":2.0,"symbol":"ETH"}],'
        '"market_source":"m","model":"es","parameters":{"confidence":0.975}}'
    )
    rows = [{"symbol": "ETH", "quantity": 2, "account": "A"},
            {"account": "A", "symbol": "BTC", "quantity": -0.5}]  # fmt: skip
    got = inputs_hash(book_rows=rows, model="es", parameters={"confidence": 0.975},
                      market_source="m")  # fmt: skip
    assert got == hashlib.sha256(text.encode("utf-8")).hexdigest()


def test_inputs_hash_equals_its_slow_twin() -> None:
    rows: list[dict[str, Any]] = [
        *ROWS,
        {"account": "Zoë", "symbol": "BTC-27MAR26-70000-C", "quantity": -0.0, "trade_price": None},
        {"account": "B", "symbol": "ETH", "quantity": float("nan"), "trade_price": float("inf")},
        {"account": "B", "symbol": "ETH", "quantity": 10**20, "position_id": "p%1", "x": True},
        {"quantity": 1.5, "trade_price": 2.25},  # numbers only: the columnar writer
        {"trade_price": 3.0, "quantity": -1e-300},
        {"nested": {"b": [1, 2.5, {"c": date(2026, 2, 11)}], "a": 'é"q"'}},
        {},
    ]
    params: dict[str, Any] = {"b": [1, -0.0], "a": {"y": None, "x": "ü"}, "c": float("-inf")}
    for book in (rows, rows[::-1], rows[3:], []):
        kwargs: dict[str, Any] = dict(book_rows=book, model="es", parameters=params,
                                      market_source="history 2026-02-11")  # fmt: skip
        assert inputs_hash(**kwargs) == _inputs_hash_twin(**kwargs)


# ----------------------------------------------------------------------------- failures
class _Failing(RunStore):
    def _insert_rows(self, con: Any, table: str, rows: Any) -> None:
        if table != "run_accounts":
            return super()._insert_rows(con, table, rows)
        super()._insert_rows(con, table, rows[:1])  # the runs row and one account are in
        raise RuntimeError("disk full")


def test_failure_mid_run_rolls_back(store: RunStore) -> None:
    kept = record(store, result(acct("A", 1, 1, 1)))
    with pytest.raises(RuntimeError, match="disk full"):
        record(_Failing(store.path), result(acct("A", 2, 2, 2), acct("B", 3, 3, 3)))
    assert [r.run_id for r in store.list()] == [kept]
    assert [h.run_id for h in store.account_history("A")] == [kept]
    assert store.account_history("B") == ()


def test_each_operation_frees_the_file_and_leaves_nothing_behind(store: RunStore) -> None:
    """The file is attached to the process's one DuckDB instance for each operation and
    detached after it, a failed one included: nothing stays attached or registered, the
    detach checkpoints (no log for the next opener to replay), and another process can
    write the file at once."""
    import crossmargin.store as store_module

    kept = record(store, result(acct("A", 1, 1, 1)))
    with pytest.raises(RuntimeError, match="disk full"):
        record(_Failing(store.path), result(acct("A", 2, 2, 2), acct("B", 3, 3, 3)))
    host = store_module._host()
    attached = {
        d for (d,) in host.execute("SELECT database_name FROM duckdb_databases()").fetchall()
    }
    assert attached == {"memory", "system", "temp"}
    assert host.execute("SELECT count(*) FROM duckdb_views() WHERE NOT internal").fetchone() == (0,)
    assert not store.path.with_name(store.path.name + ".wal").exists()
    other = (
        "import duckdb, sys; con = duckdb.connect(sys.argv[1]);"
        " con.execute(\"INSERT INTO meta VALUES ('probe', 'written by another process')\");"
        " con.close()"
    )
    subprocess.run([sys.executable, "-c", other, str(store.path)], check=True, timeout=60)
    later = record(store, result(acct("A", 4, 4, 4)))  # and this process attaches it again
    assert [r.run_id for r in store.list()] == [later, kept]
    con = duckdb.connect(str(store.path), read_only=True)
    assert con.execute("SELECT value FROM meta WHERE key = 'probe'").fetchone() == (
        "written by another process",
    )
    con.close()


def test_a_failed_checkpoint_at_close_keeps_the_run_and_frees_the_file(
    store: RunStore, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A detach that fails (no space for its checkpoint) closes the whole host instance,
    which frees the file, and warns; the committed run stands (replayed from the log)."""
    import crossmargin.store as store_module

    real = store_module._host()

    class FailingDetach:
        def __getattr__(self, name: str) -> Any:
            return getattr(real, name)

        def execute(self, sql: str, *args: Any) -> Any:
            if sql.startswith("DETACH"):
                raise duckdb.IOException("IO Error: No space left on device")
            return real.execute(sql, *args)

    monkeypatch.setattr(store_module, "_host", lambda: FailingDetach())
    with caplog.at_level("WARNING", logger="crossmargin.store"):
        kept = record(store, result(acct("A", 5, 5, 5)))
    assert "checkpoint at close failed (IO Error: No space left on device)" in caplog.text
    monkeypatch.undo()
    other = "import duckdb, sys; duckdb.connect(sys.argv[1]).close()"
    subprocess.run([sys.executable, "-c", other, str(store.path)], check=True, timeout=60)
    assert store.get(kept).result["accounts"][0]["total"] == 5


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this platform")
@pytest.mark.parametrize("busy", [False, True], ids=["idle", "another-thread-in-the-store"])
def test_a_forked_child_records_and_the_parent_goes_on(store: RunStore, busy: bool) -> None:
    """A child forked after the parent used the store records through a DuckDB instance of
    its own: the parent's is closed before the fork, or, when another thread is using it at
    that moment, left unreleased in the child (its destructor would hang there) and its lock
    renewed. The parent goes on recording either way."""
    import threading

    import crossmargin.store as store_module

    first = record(store, result(acct("A", 1, 1, 1)))
    entered, leave = threading.Event(), threading.Event()

    def in_the_store() -> None:  # holds the host as an operation does
        with store_module._HOST_LOCK:
            store_module._host()
            entered.set()
            leave.wait(30)

    holder = threading.Thread(target=in_the_store)
    if busy:
        holder.start()
        assert entered.wait(30)
    try:
        pid = os.fork()
        if pid == 0:  # the child: record one run, exit 0 on success
            code = 1
            try:
                record(store, result(acct("C", 7, 7, 7)))
                code = 0
            finally:
                os._exit(code)
    finally:
        leave.set()
        if busy:
            holder.join(30)
    deadline = time.monotonic() + 60
    while (done := os.waitpid(pid, os.WNOHANG)) == (0, 0) and time.monotonic() < deadline:
        time.sleep(0.05)
    if done == (0, 0):
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        pytest.fail("the forked child did not finish recording within 60 s")
    assert os.waitstatus_to_exitcode(done[1]) == 0
    last = record(store, result(acct("A", 2, 2, 2)))
    runs = store.list()
    assert len(runs) == 3
    assert {runs[0].run_id, runs[-1].run_id} == {last, first}
    assert [h.total for h in store.account_history("C")] == [7]


def test_newer_schema_is_refused(store: RunStore) -> None:
    record(store, result())
    con = duckdb.connect(str(store.path))
    con.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", [SCHEMA_VERSION + 1])
    con.close()
    with pytest.raises(StoreError, match="newer than this crossmargin"):
        store.list()


def test_not_a_store(tmp_path: Path) -> None:
    bad = tmp_path / "runs.duckdb"
    bad.write_text("not a database\n" * 100)
    with pytest.raises(StoreError, match=str(bad)):
        RunStore(bad).list()


def test_default_path_follows_xdg_and_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CROSSMARGIN_STORE", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert default_store_path() == tmp_path / "xdg" / "crossmargin" / "runs.duckdb"
    monkeypatch.setenv("XDG_DATA_HOME", "relative/is/ignored")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    expected = tmp_path / "home" / ".local" / "share" / "crossmargin" / "runs.duckdb"
    assert default_store_path() == expected
    assert RunStore().path == expected
    monkeypatch.setenv("CROSSMARGIN_STORE", str(tmp_path / "explicit.duckdb"))
    assert RunStore().path == tmp_path / "explicit.duckdb"


# ----------------------------------------------------------------------------- processes
_PAUSED_WRITER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from crossmargin.store import RunStore

    class Paused(RunStore):
        def _insert_rows(self, con, table, rows):
            if table != "run_accounts":
                return super()._insert_rows(con, table, rows)
            run_id = rows[0][0]
            super()._insert_rows(con, table, rows[:2])  # some rows, not all
            runs = con.execute(
                "SELECT count(*) FROM runs WHERE run_id = ?", [run_id]
            ).fetchone()[0]
            accounts = con.execute(
                "SELECT count(*) FROM run_accounts WHERE run_id = ?", [run_id]
            ).fetchone()[0]
            seen = f"{run_id} {runs} {accounts}"
            tmp = Path(sys.argv[2] + ".tmp")
            tmp.write_text(seen)
            tmp.rename(sys.argv[2])
            time.sleep(120)  # killed here, before COMMIT
            super()._insert_rows(con, table, rows[2:])

    accounts = [{"account": f"X{i}", "total": 1.0, "standalone": 2.0, "netted": 1.0}
                for i in range(4)]
    Paused(sys.argv[1]).record(
        "margin", model="rules", parameters={}, market_asof=None, book_source="b",
        book_rows=[], result={"accounts": accounts},
    )
    """
)

_HOLDER = textwrap.dedent(
    """
    import sys, time
    from crossmargin.store import RunStore

    with RunStore(sys.argv[1])._connect():
        print("ready", flush=True)
        time.sleep(120)
    """
)


def _wait_for(path: Path, proc: subprocess.Popen[str], timeout: float = 15.0) -> str:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None:
            raise AssertionError(f"helper exited early: {proc.communicate()}")
        if time.monotonic() > deadline:
            raise AssertionError("helper did not reach its pause")
        time.sleep(0.02)
    return path.read_text()


@pytest.fixture
def holder(store: RunStore) -> Iterator[subprocess.Popen[str]]:
    """A process holding the store file open (DuckDB's write lock)."""
    record(store, result())
    proc = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(store.path)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    yield proc
    proc.kill()
    proc.wait()
    proc.stdout.close()


def test_sigkill_before_commit_leaves_no_trace(store: RunStore, tmp_path: Path) -> None:
    kept = record(store, result(acct("A", 100, 150, 90), acct("X0", 5, 5, 5)))
    marker = tmp_path / "paused"
    proc = subprocess.Popen(
        [sys.executable, "-c", _PAUSED_WRITER, str(store.path), str(marker)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        run_id, runs_seen, accounts_seen = _wait_for(marker, proc).split()
        # inside its transaction the writer had the runs row and two of four account rows
        assert (runs_seen, accounts_seen) == ("1", "2")
    finally:
        proc.send_signal(signal.SIGKILL)  # no-op if it already exited
        proc.communicate()
    assert proc.returncode == -signal.SIGKILL

    fresh = RunStore(store.path)
    assert [r.run_id for r in fresh.list()] == [kept]
    with pytest.raises(InputError, match="no run"):
        fresh.get(run_id)
    assert [h.run_id for h in fresh.account_history("X0")] == [kept]
    assert fresh.account_history("X1") == ()
    con = duckdb.connect(str(store.path))
    counts = con.execute(
        "SELECT (SELECT count(*) FROM runs), (SELECT count(*) FROM run_accounts),"
        " (SELECT count(*) FROM run_accounts WHERE run_id = ?)",
        [run_id],
    ).fetchone()
    con.close()
    assert counts == (1, 2, 0)
    assert fresh.get(kept).result["accounts"][0]["total"] == 100  # earlier run intact
    later = record(fresh, result(acct("A", 1, 1, 1)))  # and the file still takes writes
    assert [r.run_id for r in fresh.list()] == [later, kept]


def test_locked_store_is_a_clear_store_error(
    store: RunStore, holder: subprocess.Popen[str]
) -> None:
    impatient = RunStore(store.path, wait=0.3)
    message = f"run store {store.path} is in use by another process (waited 0.3 s)"
    started = time.monotonic()
    with pytest.raises(StoreError, match=re.escape(message)):
        impatient.list()
    assert time.monotonic() - started >= 0.3  # it waited, boundedly
    with pytest.raises(StoreError, match="in use by another process"):
        record(impatient, result())
    holder.kill()
    holder.wait()
    assert len(store.list()) == 1  # usable again once the other process is gone
