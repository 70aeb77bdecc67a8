"""Hypothetical scenario files, the default of one leg, and bad input through the CLI."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from crossmargin.analysis.stress.common import HeldMargin
from crossmargin.analysis.stress.default import cost_params, default_loss
from crossmargin.analysis.stress.hypothetical import hypothetical_stress, load_scenarios
from crossmargin.errors import InputError
from crossmargin.instruments import parse_symbol
from crossmargin.market.scenarios import ScenarioSet
from crossmargin.market.snapshot import MarketSnapshot
from crossmargin.portfolio import Portfolio, Position

MARKET = MarketSnapshot(
    valuation_time=datetime(2026, 2, 11, 21, tzinfo=UTC),
    spots={"BTC": 70_000.0, "SPY": 600.0},
)
BOOK = Portfolio.from_positions(
    [
        Position(account="x", instrument=parse_symbol("BTC_USDC"), quantity=2.0),
        Position(account="x", instrument=parse_symbol("SPY"), quantity=-100.0),
    ]
)
HELD = HeldMargin(model="fixed", required={"x": 10_000.0}, standalone={"x": 60_000.0})


def test_shipped_example_file() -> None:
    scenarios = {s.name: s for s in load_scenarios()}
    crash = scenarios["crypto-50-equity-20-vol-x2"]
    (out,) = hypothetical_stress(BOOK, MARKET, HELD, [crash])
    a = out.account("x")
    # long 2 BTC at 70,000 falls 50%: -70,000; short 100 SPY at 600 falls 20%: +12,000
    assert a.loss == pytest.approx(70_000.0 - 12_000.0, rel=1e-12)
    assert a.shortfall == pytest.approx(58_000.0 - 10_000.0, rel=1e-12)
    assert out.moves["BTC"].spot == -0.5
    assert out.moves["SPY"].vol == 1.0
    assert out.moves["SPY"].vol_type == "relative"
    extended = [s for s in scenarios if s.startswith("pm-extended-crypto")]
    assert len(extended) == 8
    assert {f"span-equity-{d}-{m}x" for d in ("up", "down") for m in (2, 3)} <= set(scenarios)


def test_csv_scenarios_and_underlying_over_class(tmp_path: Path) -> None:
    f = tmp_path / "s.csv"
    f.write_text(
        "scenario,underlying,asset_class,spot,vol\n"
        "mix,,crypto,-0.1,0.2\nmix,BTC,,-0.3,0.0\nmix,,etf,0.05,\n",
        encoding="utf-8",
    )
    (s,) = load_scenarios(f)
    moves = s.moves_for(["BTC", "SPY", "ETH"])
    assert (moves["BTC"].spot, moves["ETH"].spot, moves["SPY"].spot) == (-0.3, -0.1, 0.05)


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        (
            "bad.json",
            {
                "scenarios": [
                    {
                        "name": "a",
                        "moves": [
                            {"underlying": "BTC", "spot": -0.1},
                            {"underlying": "DOGE", "spot": -0.5},
                        ],
                    }
                ]
            },
            r"bad\.json, scenario 1 \('a'\), move 2: unknown underlying 'DOGE'",
        ),
        (
            "bad.csv",
            "scenario,underlying,asset_class,spot,vol\nz,BTC,,-0.1,0\nz,XYZ,,-0.2,0\n",
            r"bad\.csv, row 3: unknown underlying 'XYZ'",
        ),
        (
            "bad2.csv",
            "scenario,underlying,asset_class,spot,vol\nz,BTC,,-1.5,0\n",
            r"row 2: spot '-1\.5' is a relative move and must be > -1",
        ),
        (
            "bad3.json",
            {"scenarios": [{"name": "a", "moves": [{"asset_class": "bonds", "spot": 0}]}]},
            r"unknown asset class 'bonds'",
        ),
    ],
)
def test_bad_scenario_files(tmp_path: Path, name: str, text: Any, message: str) -> None:
    f = tmp_path / name
    f.write_text(text if isinstance(text, str) else json.dumps(text), encoding="utf-8")
    with pytest.raises(InputError, match=message):
        load_scenarios(f)


def test_default_splits_the_loss_across_legs_with_costs() -> None:
    scen = ScenarioSet(
        underlyings=("BTC", "SPY"), spot_shocks=np.array([[-0.2, -0.1]]), names=("s",)
    )
    d = default_loss(BOOK, MARKET, HELD, "x", scen, 0, mpor=2)
    btc, spy = d.legs
    assert btc.pnl == pytest.approx(-28_000.0)
    assert spy.pnl == pytest.approx(6_000.0)
    # cost = N (half spread + impact sqrt(N / (h ADV))), N = |delta S|
    p = cost_params("BTC", "crypto")
    n = 140_000.0
    assert btc.cost == pytest.approx(
        n * (p.half_spread + p.impact * math.sqrt(n / (2 * p.adv_usd)))
    )
    assert d.loss == pytest.approx(btc.loss + spy.loss)
    assert d.loss == pytest.approx(22_000.0 + btc.cost + spy.cost)
    assert d.beyond_margin == pytest.approx(d.loss - 10_000.0)
    assert d.exceeds_netted
    assert d.covered_netted == 10_000.0
    assert d.covered_standalone == pytest.approx(d.loss)  # the standalone margin covers it all
    with pytest.raises(InputError, match="unknown account 'nobody'"):
        default_loss(BOOK, MARKET, HELD, "nobody", scen, 0, mpor=2)


BAD_OVERRIDES = [
    (
        {"labels": ["BTC", "SPX"], "matrix": [[1, 1.2], [1.2, 1]]},
        r"entry \(BTC, SPX\) = 1\.2 lies outside \[-1, 1\]",
    ),
    (
        {"labels": ["BTC", "SPX"], "matrix": [[1, 0.3], [0.5, 1]]},
        r"not symmetric: entry \(BTC, SPX\) = 0\.3 but \(SPX, BTC\) = 0\.5",
    ),
]


@pytest.mark.realdata
@pytest.mark.parametrize(("doc", "message"), BAD_OVERRIDES)
def test_cli_bad_correlation_override(
    run_cli: Callable[..., Any], tmp_path: Path, history: Any, doc: Any, message: str
) -> None:
    f = tmp_path / "corr.json"
    f.write_text(json.dumps(doc), encoding="utf-8")
    book = tmp_path / "book.csv"
    book.write_text("account,symbol,quantity\na,BTC_USDC,1\na,ESH26,-1\n", encoding="utf-8")
    r = run_cli(
        "stress",
        str(book),
        "--asof",
        "2025-12-31",
        "--correlation",
        "stressed",
        "--stressed-matrix",
        str(f),
        "--no-store",
        "--data",
        str(history.data_dir),
    )
    assert r.code == 2
    assert "Traceback" not in r.err
    assert str(f) in " ".join(r.err.split())
    assert re.search(message, " ".join(r.err.split()))


@pytest.mark.realdata
def test_cli_bad_inputs_one_message_each(
    run_cli: Callable[..., Any], tmp_path: Path, history: Any
) -> None:
    data = ("--data", str(history.data_dir), "--no-store")
    sample = str(Path(__file__).resolve().parents[3] / "src/crossmargin/data/sample_book.csv")
    r = run_cli("stress", sample, "--crisis", "2030-01-02:2030-01-10", *data)
    assert r.code == 3
    flat = " ".join(r.err.split())
    assert "crisis window 2030-01-02..2030-01-10 is outside the market history" in flat
    assert flat.count("error:") == 1
    f = tmp_path / "s.json"
    f.write_text(
        json.dumps({"scenarios": [{"name": "z", "moves": [{"underlying": "ZZZ", "spot": -0.1}]}]}),
        encoding="utf-8",
    )
    r = run_cli("stress", sample, "--scenario", str(f), *data)
    assert r.code == 2
    assert "unknown underlying 'ZZZ'" in " ".join(r.err.split())
    r = run_cli("stress", sample, "--correlation", "sideways", *data)
    assert r.code == 2
    assert "unknown correlation mode 'sideways'" in " ".join(r.err.split())
    r = run_cli("stress", sample, "--correlation", "break", "--pairs", "BTC:GLD", *data)
    assert r.code == 2
    assert "GLD is not an underlying of the book" in " ".join(r.err.split())


@pytest.mark.realdata
def test_cli_json_and_store(run_cli: Callable[..., Any], tmp_path: Path, history: Any) -> None:
    sample = str(Path(__file__).resolve().parents[3] / "src/crossmargin/data/sample_book.csv")
    store = tmp_path / "runs.duckdb"
    r = run_cli(
        "stress",
        sample,
        "--model",
        "es",
        "--crisis",
        "ftx",
        "--correlation",
        "flip",
        "--pairs",
        "BTC:SPX",
        "--default",
        "gamma-xasset",
        "--json",
        "--store",
        str(store),
        "--data",
        str(history.data_dir),
    )
    assert r.code == 0, r.err
    payload = json.loads(r.out)
    assert payload["run_id"]
    names = [s["name"] for s in payload["scenarios"]]
    assert names == ["ftx 1d", "ftx 2d", "ftx window", "correlation flip"]
    for s in payload["scenarios"]:
        for a in s["accounts"]:
            assert {"loss", "margin", "shortfall", "moves", "scenario"} <= set(a)
    assert payload["default"]["account"] == "gamma-xasset"
    assert payload["correlation"]["matrices"][0]["pairs"] == ["BTC:SPX"]
    r = run_cli("runs", "list", "--store", str(store), "--json")
    assert r.code == 0
    assert payload["run_id"] in r.out
