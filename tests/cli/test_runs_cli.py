"""`crossmargin runs …` and the recording of `crossmargin margin` runs."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from crossmargin.config import find_data_dir
from crossmargin.store import RunStore

needs_data = pytest.mark.skipif(
    find_data_dir() is None, reason="shared market history not found (../shared/data/market)"
)
Run = Callable[..., Any]
SAMPLE = str(Path(__file__).parents[2] / "src/crossmargin/data/sample_book.csv")


def _acct(name: str, total: float, standalone: float, netted: float) -> dict[str, Any]:
    return {
        "account": name,
        "total": total,
        "standalone": standalone,
        "netted": netted,
        "benefit": standalone - netted,
        "components": {"scan": netted},
    }


@pytest.fixture
def populated(tmp_path: Path) -> tuple[Path, str, str]:
    """A store with two synthetic margin runs of different models."""
    path = tmp_path / "runs.duckdb"
    store = RunStore(path)
    common: dict[str, Any] = {
        "market_asof": datetime(2026, 2, 11, tzinfo=UTC),
        "market_source": "history 2026-02-11",
        "book_source": "book.csv",
        "book_rows": [{"account": "A", "symbol": "BTC-PERP", "quantity": 1.0}],
    }
    first = store.record(
        "margin",
        model="rules",
        parameters={"cap": None},
        result={"accounts": [_acct("A", 100, 150, 90), _acct("B", 10, 10, 10)]},
        **common,
    )
    second = store.record(
        "margin",
        model="span",
        parameters={"cap": 0.8},
        result={"accounts": [_acct("A", 130, 150, 120), _acct("C", 5, 5, 5)]},
        **common,
    )
    return path, first, second


def test_runs_json(run_cli: Run, populated: tuple[Path, str, str]) -> None:
    path, first, second = populated
    store = ("--store", str(path))
    res = run_cli("runs", "list", *store, "--json")
    assert res.code == 0, res.err
    assert [r["run_id"] for r in json.loads(res.out)] == [second, first]
    res = run_cli("runs", "list", *store, "--model", "rules", "--json")
    assert [r["run_id"] for r in json.loads(res.out)] == [first]
    res = run_cli("runs", "list", *store, "--kind", "stress", "--json")
    assert json.loads(res.out) == []
    res = run_cli("runs", "list", *store, "--limit", "1", "--json")
    assert [(r["run_id"], r["total"], r["accounts"]) for r in json.loads(res.out)] == [
        (second, 135.0, 2)
    ]

    shown = json.loads(run_cli("runs", "show", first, *store, "--json").out)
    assert shown["run_id"] == first
    assert shown["model"] == "rules"
    assert shown["result"]["accounts"][0]["total"] == 100

    diff = json.loads(run_cli("runs", "diff", first, second, *store, "--json").out)
    (a,) = diff["accounts"]
    assert a["account"] == "A"
    assert a["total"] == {"first": 100, "second": 130, "delta": 30}
    assert a["benefit"] == {"first": 60, "second": 30, "delta": -30}
    assert (diff["only_in_first"], diff["only_in_second"]) == (["B"], ["C"])
    assert diff["parameter_changes"] == {"cap": {"first": None, "second": 0.8}}
    assert diff["total_delta"] == 135 - 110

    hist = json.loads(run_cli("runs", "history", "A", *store, "--json").out)
    assert [(h["run_id"], h["total"]) for h in hist] == [(first, 100), (second, 130)]
    hist = json.loads(run_cli("runs", "history", "A", *store, "--model", "span", "--json").out)
    assert [h["run_id"] for h in hist] == [second]


def test_runs_tables(run_cli: Run, populated: tuple[Path, str, str]) -> None:
    path, first, second = populated
    store = ("--store", str(path))
    res = run_cli("runs", "list", *store)
    assert res.code == 0, res.err
    assert first in res.out
    assert second in res.out
    res = run_cli("runs", "show", second, *store)
    assert res.code == 0, res.err
    assert "span" in res.out
    assert "cap = 0.8" in res.out
    res = run_cli("runs", "diff", first, second, *store)
    assert res.code == 0, res.err
    assert "only in the first run: B" in res.out
    assert "only in the second run: C" in res.out
    assert "parameter cap: None -> 0.8" in res.out
    assert "+30" in res.out
    res = run_cli("runs", "history", "A", *store)
    assert res.code == 0, res.err
    assert "history of A" in res.out
    res = run_cli("runs", "history", "nobody", *store)
    assert "no runs of account 'nobody'" in res.out


def test_empty_store_and_unknown_run(run_cli: Run, tmp_path: Path) -> None:
    store = ("--store", str(tmp_path / "runs.duckdb"))
    res = run_cli("runs", "list", *store)
    assert res.code == 0, res.err
    assert "no runs recorded" in res.out
    res = run_cli("runs", "show", "r-20260101T000000-deadbeef", *store)
    assert res.code == 2
    assert "no run 'r-20260101T000000-deadbeef'" in res.err
    assert "Traceback" not in res.err
    res = run_cli("runs", "diff", "r-x", "r-y", *store)
    assert res.code == 2
    assert "no run 'r-x'" in res.err


def test_locked_store(
    run_cli: Run, populated: tuple[Path, str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = populated[0]
    monkeypatch.setenv("CROSSMARGIN_STORE_WAIT", "0.5")  # a bounded wait, then a clear error
    holder = textwrap.dedent(
        """
        import sys, time
        from crossmargin.store import RunStore
        with RunStore(sys.argv[1])._connect():
            print("ready", flush=True)
            time.sleep(120)
        """
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", holder, str(path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        res = run_cli("runs", "list", "--store", str(path))
    finally:
        proc.kill()
        proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
    assert res.code == 6  # the store cannot be used (docs/cli.md)
    assert f"run store {path} is in use by another process" in res.err.replace("\n", "")
    assert "Traceback" not in res.err


# ----------------------------------------------------------------------------- margin
def test_store_and_no_store_conflict(run_cli: Run, tmp_path: Path) -> None:
    res = run_cli("margin", SAMPLE, "--store", str(tmp_path / "r.duckdb"), "--no-store")
    assert res.code == 2
    assert "either --store PATH or --no-store" in res.err


@needs_data
def test_margin_runs_are_recorded(run_cli: Run, tmp_path: Path) -> None:
    path = tmp_path / "runs.duckdb"
    args = ("margin", SAMPLE, "--model", "rules", "--asof", "2026-02-11", "--store", str(path))
    first = json.loads(run_cli(*args, "--json").out)
    res = run_cli(*args, "--cap", "0.8")
    assert res.code == 0, res.err
    assert "recorded as run r-" in res.out
    second = RunStore(path).list()[0].run_id
    assert second in res.out

    shown = json.loads(run_cli("runs", "show", first["run_id"], "--store", str(path), "--json").out)
    assert shown["kind"] == "margin"
    assert shown["model"] == "rules"
    assert shown["book_source"] == SAMPLE
    assert shown["market_asof"].startswith("2026-02-11")
    assert shown["result"]["total"] == pytest.approx(first["total"])
    assert shown["parameters"]["by"] == "underlying"

    diff = json.loads(run_cli("runs", "diff", first["run_id"], second, "--store", str(path),
                              "--json").out)  # fmt: skip
    assert diff["parameter_changes"]["cap"] == {"first": None, "second": 0.8}
    assert diff["inputs_changed"] is True
    account = first["accounts"][0]["account"]
    hist = json.loads(run_cli("runs", "history", account, "--store", str(path), "--json").out)
    assert [h["run_id"] for h in hist] == [first["run_id"], second]
    assert hist[0]["total"] == pytest.approx(first["accounts"][0]["total"])

    again = json.loads(run_cli(*args, "--json").out)  # same inputs, same hash
    records = {r: RunStore(path).get(r) for r in (first["run_id"], again["run_id"])}
    assert len({rec.inputs_hash for rec in records.values()}) == 1


@needs_data
def test_margin_default_store_and_no_store(
    run_cli: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CROSSMARGIN_STORE", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    default = tmp_path / "xdg" / "crossmargin" / "runs.duckdb"
    args = ("margin", SAMPLE, "--model", "rules", "--asof", "2026-02-11", "--json")
    res = run_cli(*args, "--no-store")
    assert res.code == 0, res.err
    assert json.loads(res.out)["run_id"] is None
    assert not default.exists()
    run_id = json.loads(run_cli(*args).out)["run_id"]
    assert [r.run_id for r in RunStore(default).list()] == [run_id]


def test_runs_diff_shows_only_what_differs(run_cli: Run, tmp_path: Path) -> None:
    path = tmp_path / "runs.duckdb"
    store = RunStore(path)
    common: dict[str, Any] = {
        "model": "span",
        "parameters": {},
        "market_asof": datetime(2026, 2, 11, tzinfo=UTC),
        "market_source": "history 2026-02-11",
        "book_source": "book.csv",
        "book_rows": [{"account": "A", "symbol": "BTC-PERP", "quantity": 1.0}],
    }
    first = store.record(
        "margin", result={"accounts": [_acct("A", 100, 150, 90), _acct("D", 7, 9, 7)]}, **common
    )
    second = store.record(
        "margin", result={"accounts": [_acct("A", 130, 150, 120), _acct("D", 7, 9, 7)]}, **common
    )
    res = run_cli("runs", "diff", first, second, "--store", str(path))
    assert res.code == 0, res.err
    assert "1 account in both runs unchanged: D" in res.out
    table = [line for line in res.out.splitlines() if "│" in line or "┃" in line]
    assert any(line.split("│")[1].strip() == "A" for line in table if "│" in line)
    assert not any(line.split("│")[1].strip() == "D" for line in table if "│" in line)
    header = next(line for line in table if "┃" in line)
    assert "Δ total" in header
    assert "Δ benefit" in header
    assert "standalone" not in header  # 150 in both runs: not shown
    everything = json.loads(
        run_cli("runs", "diff", first, second, "--store", str(path), "--json").out
    )
    assert [a["account"] for a in everything["accounts"]] == ["A", "D"]  # JSON keeps all
