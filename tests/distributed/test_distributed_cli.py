"""``--distributed`` at the CLI: the same JSON as the single process (margin, stress,
backtest), a book folder streamed to partitioned results, and one-line errors for misuse."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from same import assert_same

from crossmargin import api
from crossmargin.portfolio import portfolio_records
from market_inputs import history

pytestmark = pytest.mark.realdata


def _json(res: Any) -> dict[str, Any]:
    assert res.code == 0, res.err
    out: dict[str, Any] = json.loads(res.out)
    out.pop("run_id", None)
    return out


@pytest.mark.parametrize(
    "args",
    [
        ("margin", "--model", "pm_grid", "--asof", "2026-02-11"),
        ("stress", "--crisis", "covid", "--asof", "2026-02-11"),
        ("backtest", "--model", "rules", "--start", "2024-05-01", "--end", "2024-05-10"),
    ],
)
def test_distributed_json_equals_single(run_cli, tmp_path: Path, args: tuple[str, ...]) -> None:  # type: ignore[no-untyped-def]
    history()
    book = tmp_path / "book.csv"
    api.write_sample(book)
    command = (args[0], str(book), *args[1:], "--json", "--no-store")
    single = _json(run_cli(*command))
    spread = _json(run_cli(*command, "--distributed", "--workers", "2"))
    assert_same(spread, single)


def test_margin_of_a_book_folder(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    history()
    folder = tmp_path / "book"
    folder.mkdir()
    rows = pd.DataFrame(portfolio_records(api.sample_book()))
    for k, (_, frame) in enumerate(rows.groupby("account", sort=False)):
        frame.to_parquet(folder / f"part-{k}.parquet", index=False)
    single = _json(run_cli("margin", _csv(tmp_path), "--model", "span", "--asof",
                           "2026-02-11", "--json", "--no-store"))  # fmt: skip
    out = tmp_path / "out"
    res = run_cli("margin", str(folder), "--model", "span", "--asof", "2026-02-11",
                  "--distributed", "--workers", "1", "--out", str(out),
                  "--store", str(tmp_path / "runs.duckdb"))  # fmt: skip
    assert res.code == 0, res.err
    assert "span margin of 4 accounts (17 positions" in res.out
    assert "recorded as run" in res.out
    summary = json.loads((out / "summary.json").read_text())
    assert summary["total"] == pytest.approx(single["total"], rel=0.0)
    assert summary["accounts_count"] == len(single["accounts"])
    got = pd.read_parquet(out / "accounts").set_index("account")["total"].to_dict()
    assert got == pytest.approx({a["account"]: a["total"] for a in single["accounts"]}, rel=0.0)


def _csv(tmp_path: Path) -> str:
    path = tmp_path / "same-book.csv"
    api.write_sample(path)
    return str(path)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--workers", "2"), "--workers applies with --distributed only"),
        (("--out", "OUT"), "--out writes the results of a book dataset"),
        (("--distributed", "--scheduler", "nonsense"), "is not a scheduler address"),
        (("--distributed", "--scheduler", "tcp://127.0.0.1:9", "--workers", "2"),
         "--workers sizes the embedded local cluster"),
    ],
)  # fmt: skip
def test_misuse_is_a_one_line_error(run_cli, tmp_path: Path, args: tuple[str, ...],
                                    message: str) -> None:  # type: ignore[no-untyped-def]  # fmt: skip
    book = tmp_path / "book.csv"
    api.write_sample(book)
    res = run_cli("margin", str(book), "--model", "rules", "--no-store", *args)
    assert res.code == 2
    assert message in res.err
    assert "Traceback" not in res.err


def test_a_book_folder_needs_distributed_and_out(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path / "book"
    folder.mkdir()
    res = run_cli("margin", str(folder), "--no-store")
    assert res.code == 2
    assert "is margined with --distributed" in res.err
    res = run_cli("margin", str(folder), "--distributed", "--no-store")
    assert res.code == 2
    assert "give --out DIR" in res.err
