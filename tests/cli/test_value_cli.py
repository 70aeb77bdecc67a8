"""`crossmargin value` / `sample` / `demo`: real output and the bad-input contract.

Bad input must give one clear message naming the problem and a non-zero exit code, never a
traceback (issue: core engine, "Must show").
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from crossmargin import api
from crossmargin.config import find_data_dir
from crossmargin.market import MarketSnapshot

needs_data = pytest.mark.skipif(
    find_data_dir() is None, reason="shared market history not found (../shared/data/market)"
)

Run = Callable[..., "object"]


def _book(tmp_path: Path, body: str, name: str = "book.csv") -> Path:
    path = tmp_path / name
    path.write_text(body, encoding="utf-8")
    return path


def _no_traceback(result: object) -> None:
    text = result.out + result.err  # type: ignore[attr-defined]
    assert "Traceback" not in text


@needs_data
def test_value_json_on_sample_book(tmp_path: Path, run_cli: Run) -> None:
    book = tmp_path / "sample.json"
    res = run_cli("sample", "--out", str(book))
    assert res.code == 0
    assert book.exists()
    res = run_cli("value", str(book), "--asof", "2026-02-11", "--json")
    assert res.code == 0, res.err
    data = json.loads(res.out)
    assert [a["account"] for a in data["accounts"]] == [
        "alpha-crypto", "beta-macro", "gamma-xasset", "delta-mixed",
    ]  # fmt: skip
    for acc in data["accounts"]:
        # Net MTM is the netting of the positive and negative legs.
        assert acc["net_mtm"] == pytest.approx(acc["gross_positive"] + acc["gross_negative"])
        assert acc["gross_positive"] >= 0 >= acc["gross_negative"]
    # SPY 1,000 shares at the 2026-02-11 close of the adjusted series (691.960022).
    spy = next(p for p in data["positions"] if p["symbol"] == "SPY")
    assert spy["mtm"] == pytest.approx(691_960.022, rel=1e-9)
    assert spy["delta"] == pytest.approx(1000.0)


@needs_data
def test_value_tables(run_cli: Run, tmp_path: Path) -> None:
    book = tmp_path / "s.csv"
    run_cli("sample", "--out", str(book))
    res = run_cli("value", str(book), "--asof", "2026-02-11")
    assert res.code == 0, res.err
    assert "Mark-to-market per account" in res.out
    assert "gamma-xasset" in res.out


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ("account,symbol,quantity\na,BTC-27MAR26-100000-X,1\n", "unknown symbol"),
        ("account,symbol,quantity\na,BTC-27MAR26--100-C,1\n", "strike must be positive"),
        ("account,symbol,quantity\na,SPY,ten\n", "column 'quantity'"),
        ("account,symbol\na,SPY\n", "column 'quantity': required column is missing"),
        (
            "account,symbol,quantity,position_id\na,SPY,1,p1\nb,QQQ,2,p1\n",
            "duplicate position id (first used on row 2)",
        ),
    ],
)
def test_bad_book_one_clear_message(tmp_path: Path, run_cli: Run, body: str, needle: str) -> None:
    path = _book(tmp_path, body)
    res = run_cli("value", str(path), "--market", str(tmp_path / "unused.json"))
    assert res.code == 2
    assert needle in " ".join(res.err.split())
    assert str(path) in " ".join(res.err.split())
    _no_traceback(res)


def test_every_bad_row_listed_together(tmp_path: Path, run_cli: Run) -> None:
    path = _book(tmp_path, "account,symbol,quantity\na,SPY,x\nb,NOPE-1,1\nc,QQQ,3\n,SPY,1\n")
    res = run_cli("value", str(path))
    err = " ".join(res.err.split())
    assert res.code == 2
    assert "3 bad entries" in err
    assert "row 2, column 'quantity'" in err
    assert "row 3, column 'symbol'" in err
    assert "row 5, column 'account'" in err


def _snapshot_file(tmp_path: Path, **overrides: object) -> Path:
    data = {
        "valuation_time": "2026-02-11T21:00:00+00:00",
        "spots": {"BTC": 67000.0},
        "rates": {"USD": 0.036},
        "vols": {},
    }
    data.update(overrides)
    path = tmp_path / "snap.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_missing_vol_for_option_underlying(tmp_path: Path, run_cli: Run) -> None:
    book = _book(tmp_path, "account,symbol,quantity\na,BTC-27MAR26-70000-C,1\n")
    res = run_cli("value", str(book), "--market", str(_snapshot_file(tmp_path)))
    assert res.code == 3
    assert "missing vol for option underlying 'BTC'" in " ".join(res.err.split())
    _no_traceback(res)


def test_expired_option_without_settlement(tmp_path: Path, run_cli: Run) -> None:
    book = _book(tmp_path, "account,symbol,quantity\na,BTC-30JAN26-70000-C,1\n")
    snap = _snapshot_file(tmp_path, vols={"BTC": {"expiries": [1.0], "moneyness": [0.0],
                                                   "vols": [[0.5]]}})  # fmt: skip
    res = run_cli("value", str(book), "--market", str(snap))
    assert res.code == 4
    err = " ".join(res.err.split())
    assert "BTC-30JAN26-70000-C expired" in err
    assert "no settlement price" in err


def test_expired_option_with_settlement_values_at_intrinsic(tmp_path: Path) -> None:
    book = api.load_book(_book(tmp_path, "account,symbol,quantity\na,BTC-30JAN26-70000-C,2\n"))
    snap = MarketSnapshot.load(_snapshot_file(tmp_path, settlements={"BTC-30JAN26-70000-C": 80000}))
    v = api.value(book, snap)
    # Inverse call settles (80,000 − 70,000)/80,000 = 0.125 BTC per contract, 2 contracts,
    # worth 0.25 BTC x 67,000 USD = 16,750 USD at today's spot.
    assert v.positions[0].value_per_contract == pytest.approx(0.125)
    assert v.positions[0].mtm == pytest.approx(16_750.0)


@needs_data
def test_snapshot_date_outside_history(tmp_path: Path, run_cli: Run) -> None:
    book = _book(tmp_path, "account,symbol,quantity\na,SPY,1\n")
    res = run_cli("value", str(book), "--asof", "2031-01-02")
    assert res.code == 3
    err = " ".join(res.err.split())
    assert "2031-01-02" in err
    assert "outside the history" in err
    _no_traceback(res)


def test_unknown_file_type_and_missing_file(tmp_path: Path, run_cli: Run) -> None:
    res = run_cli("value", str(tmp_path / "book.xlsx"))
    assert res.code == 2
    assert "unsupported file type .xlsx" in res.err
    res = run_cli("value", str(tmp_path / "nope.csv"))
    assert res.code == 2
    assert "not found" in res.err


def test_both_asof_and_market_rejected(tmp_path: Path, run_cli: Run) -> None:
    book = _book(tmp_path, "account,symbol,quantity\na,SPY,1\n")
    res = run_cli("value", str(book), "--asof", "2026-02-11", "--market", "x.json")
    assert res.code == 2
    assert "either --asof DATE or --market FILE" in res.err


@needs_data
def test_demo_writes_output(tmp_path: Path, run_cli: Run) -> None:
    res = run_cli("demo", "--out", str(tmp_path / "out"))
    assert res.code == 0, res.err
    data = json.loads((tmp_path / "out" / "demo.json").read_text())
    assert {r["account"] for r in data["stress_grid"]} == set(api.sample_book().accounts)
    assert "Worst P&L on a joint grid" in res.out
    assert {"rules", "span", "pm_grid", "es"} <= set(data["margin"])
    assert data["stress"]
    assert (tmp_path / "out" / "report.html").stat().st_size > 1_000_000  # plotly.js inlined
    quiet = run_cli("demo", "--out", str(tmp_path / "out2"), "--json")
    assert quiet.code == 0, quiet.err
    assert json.loads(quiet.out)["files"][1].endswith("report.html")


def test_usage_errors_are_one_message_not_a_crash(run_cli: Run) -> None:
    res = run_cli("value")
    assert res.code == 2
    assert "Missing argument 'book'" in res.err
    assert "internal error" not in res.err
    res = run_cli("margin", "x.csv", "--cap", "lots")
    assert res.code == 2
    assert "Invalid value for '--cap'" in res.err
