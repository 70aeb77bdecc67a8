"""A book streamed from a partitioned Parquet folder: results written as partitioned Parquet,
summarised and recorded, each account's figures those of the single-process path."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from distributed import Client

from crossmargin import api
from crossmargin.distributed import margin_dataset
from crossmargin.errors import InputError, SchemaError
from crossmargin.models import get_model
from crossmargin.portfolio import portfolio_records
from crossmargin.store import RunStore
from market_inputs import history, sample_market

pytestmark = pytest.mark.realdata
REL = 0.0


def _write_dataset(folder: Path) -> Path:
    """The sample book, one file per account, in two hive buckets."""
    rows = pd.DataFrame(portfolio_records(api.sample_book()))
    for k, (account, frame) in enumerate(rows.groupby("account", sort=False)):
        target = folder / f"bucket={k % 2}" / f"part-{account}.parquet"
        target.parent.mkdir(parents=True, exist_ok=True)
        frame.to_parquet(target, index=False)
    return folder


@pytest.mark.parametrize("name", ["es", "pm_grid"])
def test_dataset_results_equal_single_process(client: Client, tmp_path: Path, name: str) -> None:
    data = _write_dataset(tmp_path / "book")
    model = get_model(name, history=history()) if name == "es" else get_model(name)
    # a book dataset holds positions only: the reference is the sample without its collateral
    single = model.compute(api.sample_book().without_collateral(), sample_market())
    store = RunStore(tmp_path / "runs.duckdb")
    run = margin_dataset(client, data, model, sample_market(), tmp_path / "out", store=store,
                         chunk_positions=2)  # fmt: skip
    accounts = pd.read_parquet(tmp_path / "out" / "accounts").set_index("account")
    positions = pd.read_parquet(tmp_path / "out" / "positions")
    assert sorted(accounts.index) == sorted(single_a.account for single_a in single.accounts)
    assert len(positions) == len(single.positions)
    for a in single.accounts:
        row = accounts.loc[a.account]
        for figure in ("total", "netted", "standalone", "grouped", "maintenance"):
            assert row[figure] == pytest.approx(getattr(a, figure), rel=REL), figure
        got = json.loads(row["components"])
        assert got.keys() == a.components.keys()
        assert all(got[k] == pytest.approx(v, rel=REL, abs=REL) for k, v in a.components.items())
        assert row["excess"] == pytest.approx(a.equity.excess, rel=REL)
        assert row["currency"] == single.currency
    for key, want in (
        ("total", single.total),
        ("standalone_total", single.standalone_total),
        ("netted_total", single.netted_total),
        ("benefit", single.benefit),
    ):
        assert run.summary[key] == pytest.approx(want, rel=REL), key  # fmt: skip
    assert run.summary["accounts_count"] == 4
    assert run.summary["positions_count"] == 17
    assert run.summary["units"]["money"].startswith("USD")
    on_disk = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert on_disk["total"] == pytest.approx(single.total, rel=REL)
    written = (tmp_path / "out").rglob("part-*.parquet")
    assert set(on_disk["files"]) == {p.relative_to(tmp_path / "out").as_posix() for p in written}
    recorded = store.accounts(run.run_id or "")
    assert {r.account: r.total for r in recorded} == pytest.approx(
        {a.account: a.total for a in single.accounts}, rel=REL
    )
    stored = store.get(run.run_id or "")
    assert stored.result["total"] == pytest.approx(single.total, rel=REL)
    # the run's inputs name its offset policy and haircut schedule, as a margin run's do
    assert stored.parameters["offsets"] == single.offsets
    assert stored.parameters["haircut_schedule"] == single.parameters["haircut_schedule"]


def test_every_bad_row_of_every_file_is_reported(client: Client, tmp_path: Path) -> None:
    data = _write_dataset(tmp_path / "book")
    files = sorted(data.rglob("*.parquet"))
    for f, bad in zip(files[:2], ("NOT-A-SYMBOL", "ALSO-BAD"), strict=False):
        frame = pd.read_parquet(f)
        frame.loc[0, "symbol"] = bad
        frame.to_parquet(f, index=False)
    with pytest.raises(SchemaError) as info:
        margin_dataset(client, data, get_model("rules"), sample_market(), tmp_path / "out",
                       record=False)  # fmt: skip
    text = str(info.value)
    assert "NOT-A-SYMBOL" in text
    assert "ALSO-BAD" in text
    assert str(files[0]) in text
    assert str(files[1]) in text
    assert "row 1" in text
    assert not any((tmp_path / "out").iterdir())  # nothing half-written is left


def test_an_account_split_over_two_files_is_refused(client: Client, tmp_path: Path) -> None:
    data = _write_dataset(tmp_path / "book")
    one, two = sorted(data.rglob("*.parquet"))[:2]
    moved = pd.read_parquet(one).iloc[:1]
    pd.concat([pd.read_parquet(two), moved]).to_parquet(two, index=False)
    account = moved["account"].iloc[0]
    with pytest.raises(InputError, match=f"account '{account}' appears in 2 files"):
        margin_dataset(client, data, get_model("rules"), sample_market(), tmp_path / "out",
                       record=False)  # fmt: skip


def test_dataset_inputs_are_checked(client: Client, tmp_path: Path) -> None:
    data = _write_dataset(tmp_path / "book")
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "x.txt").write_text("x")
    model, market = get_model("rules"), sample_market()
    with pytest.raises(InputError, match="is not empty"):
        margin_dataset(client, data, model, market, tmp_path / "used", record=False)
    with pytest.raises(InputError, match="holds no Parquet file"):
        margin_dataset(client, tmp_path / "used", model, market, tmp_path / "o1", record=False)
    with pytest.raises(InputError, match="unknown grouping"):
        margin_dataset(client, data, model, market, tmp_path / "o2", by="desk", record=False)
    frame = pd.read_parquet(next(data.rglob("*.parquet"))).drop(columns=["quantity"])
    frame.to_parquet(next(data.rglob("*.parquet")), index=False)
    with pytest.raises(SchemaError, match=r"quantity.*required column is missing"):
        margin_dataset(client, data, model, market, tmp_path / "o3", record=False)
