"""`crossmargin cascade` and `crossmargin population`: JSON contract, tables, the run store and
bad input (one line, exit code 2)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest

from crossmargin.config import find_data_dir
from crossmargin.store import RunStore

needs_data = pytest.mark.skipif(
    find_data_dir() is None, reason="shared market history not found (../shared/data/market)"
)
Run = Callable[..., "object"]


@needs_data
def test_population_then_cascade_json(run_cli: Run, tmp_path: Path) -> None:
    out = tmp_path / "pop.json"
    res = run_cli(
        "population",
        "--accounts",
        "400",
        "--seed",
        "2",
        "--out",
        str(out),
        "--asof",
        "2025-10-09",
        "--json",
    )
    assert res.code == 0, res.err
    facts = json.loads(res.out)
    assert facts["accounts"] == 400
    assert facts["asof"] == "2025-10-09"
    assert facts["cross_margined"] + facts["isolated"] == 400
    res = run_cli(
        "cascade",
        str(out),
        "--crisis",
        "2025-10-10",
        "--asof",
        "2025-10-09",
        "--json",
        "--no-store",
    )
    assert res.code == 0, res.err
    data = json.loads(res.out)
    assert data["kind"] == "cascade"
    assert data["run_id"] is None
    assert data["account_count"] == 400
    assert data["units"]["money"] == "USD"
    assert [m["mode"] for m in data["modes"]] == ["population", "isolated", "grouped", "cross"]
    for m in data["modes"]:
        assert abs(m["ledger"]["gap"]) < 0.005
        assert len(m["steps"]) == 12
        assert m["converged"] is True
    # the written population carries each account's own mode: the 'population' run of the
    # file equals the run of the same spec generated in memory
    res = run_cli(
        "cascade", "--population", "400:2", "--crisis", "2025-10-10", "--json", "--no-store"
    )
    again = json.loads(res.out)
    for a, b in zip(data["modes"], again["modes"], strict=True):
        assert a["accounts_liquidated"] == b["accounts_liquidated"]
        assert a["ledger"]["losses"] == pytest.approx(b["ledger"]["losses"], rel=1e-6)


@needs_data
def test_cascade_ccp_is_recorded(run_cli: Run, tmp_path: Path) -> None:
    store = tmp_path / "runs.duckdb"
    res = run_cli(
        "cascade",
        "--population",
        "300:1",
        "--crisis",
        "ftx",
        "--mode",
        "ccp",
        "--modes",
        "isolated,cross",
        "--store",
        str(store),
        "--json",
    )
    assert res.code == 0, res.err
    data = json.loads(res.out)
    assert data["allocation"] == "ccp"
    assert data["parameters"]["default_fund"]["sizing"] == "cover2"
    record = RunStore(store).get(data["run_id"])
    assert record.kind == "cascade"
    assert record.result["modes"][1]["mode"] == "cross"
    res = run_cli("runs", "list", "--kind", "cascade", "--store", str(store), "--json")
    assert res.code == 0, res.err
    assert data["run_id"] in res.out


@needs_data
def test_cascade_tables_on_a_book(run_cli: Run, tmp_path: Path) -> None:
    book = tmp_path / "book.json"
    book.write_text(
        json.dumps(
            {
                "positions": [
                    {"account": "a", "symbol": "BTC_USDC-PERPETUAL", "quantity": 20000},
                    {"account": "a", "symbol": "ETH_USDC-PERPETUAL", "quantity": -6000},
                    {"account": "b", "symbol": "BTC_USDC-PERPETUAL", "quantity": 5000},
                ],
                "collateral": [
                    {"account": "a", "asset": "USDC", "amount": 60000},
                    {"account": "b", "asset": "USD", "amount": 40000},
                ],
            }
        )
    )
    res = run_cli(
        "cascade",
        str(book),
        "--scenario",
        str(_scenario(tmp_path)),
        "--steps",
        "--asof",
        "2026-02-11",
        "--no-store",
    )
    assert res.code == 0, res.err
    assert "Cascade: crash on" in res.out
    assert "Layers consumed (USD)" in res.out
    assert "price path" in res.out
    assert "cross margining" in res.out


def _scenario(tmp_path: Path) -> Path:
    path = tmp_path / "scen.json"
    path.write_text(
        json.dumps(
            {"scenarios": [{"name": "crash", "moves": [{"asset_class": "crypto", "spot": -0.3}]}]}
        )
    )
    return path


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--population", "0:1", "--crisis", "ftx"), "greater than or equal to 1"),
        (("--population", "10:1"), "choose one shock"),
        (("--population", "10:1", "--crisis", "ftx", "--spread", "BTC:ETH:17"), "choose one shock"),
        (("--population", "10:1", "--crisis", "black-monday"), "unknown crisis"),
        (("--population", "10:1", "--crisis", "ftx", "--mode", "exchange"), "unknown --mode"),
        (
            ("--population", "10:1", "--crisis", "ftx", "--modes", "portfolio"),
            "unknown margin mode",
        ),
        (("--crisis", "ftx"), "give either a book"),
        (("--population", "10:1", "--crisis", "ftx", "--model", "nope"), "unknown model"),
    ],
)
def test_bad_input_is_one_line(run_cli: Run, args: tuple[str, ...], message: str) -> None:
    res = run_cli("cascade", *args, "--no-store")
    assert res.code in (2, 5), res.err
    assert message in res.err
    assert "Traceback" not in res.err
    assert "internal error" not in res.err


def test_bad_parameter_file_names_key(run_cli: Run, tmp_path: Path) -> None:
    from importlib import resources

    doc = json.loads(resources.files("crossmargin").joinpath("data/cascade.json").read_text())
    doc["impact"]["exponent"] = 2.0
    bad = tmp_path / "cascade.json"
    bad.write_text(json.dumps(doc))
    res = run_cli(
        "cascade", "--population", "10:1", "--crisis", "ftx", "--params", str(bad), "--no-store"
    )
    assert res.code == 2
    assert "impact.exponent" in res.err
    assert "2.0" in res.err


def test_population_zero_accounts(run_cli: Run, tmp_path: Path) -> None:
    res = run_cli("population", "--accounts", "0", "--out", str(tmp_path / "p.json"))
    assert res.code == 2
    assert "accounts" in res.err
    assert "greater than or equal to 1" in res.err


def test_an_older_store_takes_cascade_runs(tmp_path: Path) -> None:
    # a store written before the 'cascade' kind existed: its check lists four kinds
    path = tmp_path / "old.duckdb"
    store = RunStore(path)
    first = store.record(
        "margin",
        model="rules",
        parameters={},
        market_asof=None,
        book_source="b",
        book_rows=[],
        result={"accounts": []},
    )
    con = duckdb.connect(str(path))
    con.execute("ALTER TABLE runs RENAME TO r0")
    con.execute(
        "CREATE TABLE runs (run_id VARCHAR PRIMARY KEY, kind VARCHAR NOT NULL CHECK (kind IN "
        "('margin', 'stress', 'backtest', 'simm')), created_at TIMESTAMP NOT NULL, model VARCHAR "
        "NOT NULL, parameters JSON NOT NULL, market_asof TIMESTAMP, market_source VARCHAR NOT "
        "NULL, inputs_hash VARCHAR NOT NULL, book_source VARCHAR NOT NULL, status VARCHAR NOT "
        "NULL, version VARCHAR NOT NULL, result JSON NOT NULL)"
    )
    con.execute("INSERT INTO runs SELECT * FROM r0")
    con.execute("DROP TABLE r0")
    with pytest.raises(duckdb.ConstraintException):
        con.execute("UPDATE runs SET kind = 'cascade'")
    con.close()
    second = store.record(
        "cascade",
        model="cascade",
        parameters={},
        market_asof=None,
        book_source="b",
        book_rows=[],
        result={"kind": "cascade"},
    )
    assert store.get(second).kind == "cascade"
    assert store.get(first).kind == "margin"
    assert {r.run_id for r in store.list()} == {first, second}
