"""`crossmargin backtest`: the JSON contract and bad input."""

from __future__ import annotations

import json
from collections.abc import Callable
from itertools import pairwise
from pathlib import Path

import pytest

from crossmargin.config import find_data_dir

needs_data = pytest.mark.skipif(find_data_dir() is None, reason="shared market history not found")
Run = Callable[..., "object"]
SAMPLE = str(Path(__file__).parents[2] / "src/crossmargin/data/sample_book.csv")


@needs_data
def test_backtest_json_contract(run_cli: Run, tmp_path: Path) -> None:
    series = tmp_path / "series.csv"
    res = run_cli("backtest", "--model", "rules", "--start", "2024-03-01", "--end", "2024-04-30",
                  "--mpor", "2", "--json", "--series", str(series))  # fmt: skip
    assert res.code == 0, res.err
    data = json.loads(res.out)
    for key in ("confidence", "mpor", "exceptions", "observations", "kupiec", "christoffersen",
                "traffic_light", "standalone", "netted"):  # fmt: skip
        assert key in data
    assert set(data["kupiec"]) == {"lr", "p_value"}
    assert set(data["christoffersen"]) == {"lr_ind", "lr_cc", "p_value"}
    assert data["mpor"] == 2
    assert data["confidence"] == 0.99
    assert data["observations"] == len(data["series"])
    assert series.read_text().startswith("date,horizon_end,margin,")
    assert "money" in data["units"]
    assert "pct" in data["units"]
    # procyclicality of the book's netted margin, against the series recomputed here
    margin = [r["margin"] for r in data["series"]]
    cyc = data["procyclicality"]
    assert cyc["peak_to_trough_ratio"] == pytest.approx(max(margin) / min(margin), rel=1e-12)
    rise = max(100 * (b / a - 1) for a, b in pairwise(margin))
    assert cyc["max_increase_pct"]["1"] == pytest.approx(rise, rel=1e-9, abs=1e-9)
    # the buffered margin M lies in [m, 1.25·m], so max M / min M <= 1.25 · max m / min m
    buf = cyc["apc_buffer"]
    assert buf["buffer"] == 0.25
    assert 1.0 <= buf["peak_to_trough_ratio"] <= 1.25 * max(margin) / min(margin) + 1e-12
    assert data["es_backtest"] is None  # rules is not an ES: no ES checks claimed


@needs_data
def test_backtest_of_a_book(run_cli: Run) -> None:
    res = run_cli("backtest", SAMPLE, "--model", "rules", "--start", "2025-01-06",
                  "--end", "2025-01-31")  # fmt: skip
    assert res.code == 0, res.err
    assert "gamma-xasset" in res.out
    assert "procyclicality" in " ".join(res.out.split())  # the per-account table is printed
    assert "peak/trough" in res.out


@pytest.mark.parametrize(
    ("args", "code", "needle"),
    [
        (["--start", "2024-05-01", "--end", "2024-04-01"], 2, "is after its end"),
        (["--start", "2031-01-01", "--end", "2031-12-31"], 3, "outside the common history"),
        (["--start", "2024-03-01", "--end", "2024-03-04", "--mpor", "10"], 2,
         "not shorter than the window"),
        (["--model", "nope"], 5, "unknown model 'nope'"),
    ],
)  # fmt: skip
@needs_data
def test_backtest_bad_input(run_cli: Run, args: list[str], code: int, needle: str) -> None:
    res = run_cli("backtest", "--model", "rules", *args)
    assert res.code == code, res.err
    assert needle in " ".join(res.err.split())
    assert "Traceback" not in res.err


@needs_data
def test_backtest_is_recorded_in_the_run_store(run_cli: Run, tmp_path: Path) -> None:
    store = tmp_path / "runs.duckdb"
    res = run_cli("backtest", "--model", "rules", "--start", "2024-03-01", "--end", "2024-03-29",
                  "--store", str(store), "--json")  # fmt: skip
    assert res.code == 0, res.err
    run_id = json.loads(res.out)["run_id"]
    shown = run_cli("runs", "show", run_id, "--store", str(store), "--json")
    assert shown.code == 0, shown.err
    record = json.loads(shown.out)
    assert record["kind"] == "backtest"
    assert record["model"] == "rules"


@needs_data
def test_a_backtest_runs_inputs_hash_covers_the_books_collateral_and_grouping(
    run_cli: Run, tmp_path: Path
) -> None:
    """The book's collateral enters the recorded inputs hash: the documented formula over the
    position and collateral rows written out here; another amount is another hash, and so
    is another grouping of the grouped margin (``--by``), which the result states."""
    from crossmargin.store_records import inputs_hash

    position = {
        "account": "a",
        "symbol": "BTC-PERPETUAL",
        "quantity": 20000.0,
        "quantity_unit": "usd",
        "trade_price": None,
        "position_id": None,
        "venue": None,
    }
    store = tmp_path / "runs.duckdb"
    hashes = []
    for amount, by in ((1.0, "underlying"), (2.0, "underlying"), (1.0, "account")):
        held = {"account": "a", "asset": "BTC", "amount": amount, "venue": None}
        book = tmp_path / f"book{amount:g}.json"
        book.write_text(json.dumps({"positions": [position], "collateral": [held]}))
        window = ["--start", "2025-01-06", "--end", "2025-01-31"]
        res = run_cli("backtest", str(book), "--model", "rules", "--by", by, *window,
                      "--store", str(store), "--json")  # fmt: skip
        assert res.code == 0, res.err
        answer = json.loads(res.out)
        assert answer["by"] == by
        run_id = answer["run_id"]
        shown = json.loads(run_cli("runs", "show", run_id, "--store", str(store), "--json").out)
        assert shown["parameters"]["by"] == by
        expected = inputs_hash(book_rows=[position, held], model=shown["model"],
                               parameters=shown["parameters"],
                               market_source=shown["market_source"])  # fmt: skip
        assert shown["inputs_hash"] == expected
        hashes.append(shown["inputs_hash"])
    assert len(set(hashes)) == 3


def test_backtest_table_reads_at_80_columns() -> None:
    """Every cell and header whole (no wrapping of numbers, no ellipsis) in 80 columns."""
    import io

    from rich.console import Console

    from crossmargin import api
    from crossmargin.cli.backtest import backtest_table

    result = api.backtest(None, "rules", "2024-03-01", "2024-03-29")
    out = io.StringIO()
    Console(file=out, width=80, force_terminal=False).print(backtest_table(result))
    lines = out.getvalue().splitlines()
    assert max(len(line) for line in lines) <= 80
    assert "…" not in out.getvalue()
    for account in result.paths.accounts:  # each account on one line, unbroken
        assert any(line.startswith(account + " ") for line in lines), account
    s = result.stats[("book", "standalone")]
    last = lines[-1].split()
    assert last[:3] == ["standalone", str(s.observations), str(s.exceptions)]
    assert last[-2] == f"{s.coverage_ratio:.1%}"
