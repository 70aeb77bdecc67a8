"""``--contracts FILE`` on the commands that load a book, and the strict-file contract of the
CLI: an unknown key or a bad value in a contracts, parameter or book file exits 2 with one
line naming the file, the key or row and the value, and nothing is computed."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from crossmargin.config import find_data_dir
from crossmargin.market.snapshot import Carry, MarketSnapshot
from crossmargin.market.volsurface import VolSurface

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = str(ROOT / "examples" / "contracts_sol_eth_treasuries.json")
needs_data = pytest.mark.skipif(find_data_dir() is None, reason="shared market history not found")
Run = Callable[..., Any]


def _write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def _books(tmp_path: Path) -> tuple[str, str]:
    """The same exposure twice: user products (CME ETH, SPXW) and shipped ones (MET, SPX)."""
    mine = _write(
        tmp_path,
        "mine.csv",
        "account,symbol,quantity\n"
        "eth,ETHM6,2\n"
        "eth,ETH-PERPETUAL,-150000\n"
        "idx,SPXW  260320P05800000,-3\n"
        "idx,ESH6,1\n",
    )
    shipped = _write(
        tmp_path,
        "shipped.csv",
        "account,symbol,quantity\n"
        "eth,METM6,1000\n"
        "eth,ETH-PERPETUAL,-150000\n"
        "idx,SPX   260320P05800000,-3\n"
        "idx,ESH6,1\n",
    )
    return mine, shipped


def _lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.strip()]


@needs_data
@pytest.mark.parametrize("model", ["rules", "span", "pm_grid", "es"])
def test_margin_with_the_example_contracts(run_cli: Run, tmp_path: Path, model: str) -> None:
    mine, shipped = _books(tmp_path)
    common = ("--model", model, "--asof", "2026-02-11", "--no-store", "--json")
    res = run_cli("margin", mine, "--contracts", EXAMPLE, *common)
    assert res.code == 0, res.err
    got = json.loads(res.out)
    ref = run_cli("margin", shipped, *common)
    assert ref.code == 0, ref.err
    want = json.loads(ref.out)
    assert got["total"] > 0
    assert got["total"] == pytest.approx(want["total"], rel=1e-9)
    for a, b in zip(got["accounts"], want["accounts"], strict=True):
        assert a["total"] == pytest.approx(b["total"], rel=1e-9)
    units = {p["quantity_unit"] for p in got["positions"]}
    assert units == {"contracts"}
    # without the contracts file the book does not load
    res = run_cli("margin", mine, *common)
    assert res.code == 2
    assert "no cme future with root 'ETH'" in res.err
    assert res.out == ""


@needs_data
def test_value_prices_a_mapped_series(run_cli: Run, tmp_path: Path) -> None:
    folder = find_data_dir()
    assert folder is not None
    close = float(
        pd.read_csv(folder / "crypto/eth_usd_coinbase_daily.csv", index_col="date").loc[
            "2020-03-12", "close"
        ]
    )
    book = _write(tmp_path, "eth.csv", "account,symbol,quantity\na,ETH_USD,3\n")
    res = run_cli("value", book, "--contracts", EXAMPLE, "--asof", "2020-03-12", "--json")
    assert res.code == 0, res.err
    (position,) = json.loads(res.out)["positions"]
    assert position["mtm"] == pytest.approx(3 * close, rel=1e-12)
    assert position["quantity"] == 3.0
    assert position["quantity_unit"] == "contracts"


def _snapshot_file(tmp_path: Path) -> str:
    snap = MarketSnapshot(
        valuation_time=datetime(2026, 2, 11, 21, 0, tzinfo=UTC),
        spots={"ETH": 2_000.0, "ZN": 110.5},
        vols={"ETH": VolSurface.flat(0.6), "ZN": VolSurface.flat(0.06)},
        rates={"USD": 0.0},
        carries={"ETH": Carry(carry_rate=0.0), "ZN": Carry(carry_rate=0.0)},
        fx={"USDC": 1.0},
    )
    path = tmp_path / "snap.json"
    snap.save(path)
    return str(path)


def test_treasury_futures_from_a_snapshot_and_user_parameters(run_cli: Run, tmp_path: Path) -> None:
    doc = json.loads((ROOT / "src/crossmargin/models/params/rules.json").read_text("utf-8"))
    doc["underlyings"]["ZN"] = {"asset_class": "rates", "futures_im": 0.03, "futures_mm": 0.02}
    params = _write(tmp_path, "rules_zn.json", json.dumps(doc))
    book = _write(tmp_path, "zn.csv", "account,symbol,quantity\nrates,ZNH6,10\n")
    snap = _snapshot_file(tmp_path)
    res = run_cli("margin", book, "--contracts", EXAMPLE, "--market", snap, "--model", "rules",
                  "--params", params, "--no-store", "--json")  # fmt: skip
    assert res.code == 0, res.err
    # 3% of 10 x 1,000 USD per point x 110.5 (carry 0: the future trades at the spot)
    assert json.loads(res.out)["total"] == pytest.approx(33_150.0, rel=1e-12)
    # the shipped parameters know no ZN: the model's own error (exit 5)
    res = run_cli("margin", book, "--contracts", EXAMPLE, "--market", snap, "--model", "span",
                  "--no-store")  # fmt: skip
    assert res.code == 5
    assert "no parameters for underlying 'ZN'" in res.err


def test_stress_takes_contracts(run_cli: Run, tmp_path: Path) -> None:
    if find_data_dir() is None:
        pytest.skip("shared market history not found")
    book = _write(tmp_path, "eth.csv", "account,symbol,quantity\na,ETHM6,2\n")
    scenario = _write(
        tmp_path,
        "crash.json",
        json.dumps({"scenarios": [{"name": "crypto-40", "moves": [
            {"asset_class": "crypto", "spot": -0.4}]}]}),
    )  # fmt: skip
    res = run_cli("stress", book, "--contracts", EXAMPLE, "--market", _snapshot_file(tmp_path),
                  "--model", "rules", "--scenario", scenario, "--no-store", "--json")  # fmt: skip
    assert res.code == 0, res.err
    (outcome,) = json.loads(res.out)["scenarios"]
    (account,) = outcome["accounts"]
    # 2 x 50 ETH, carry 0: a 40% fall of 2,000 USD loses 100 x 800
    assert account["loss"] == pytest.approx(80_000.0, rel=1e-9)


@needs_data
def test_backtest_restrikes_user_products(run_cli: Run, tmp_path: Path) -> None:
    mine = _write(tmp_path, "mine.csv", "account,symbol,quantity\na,ETHM6,2\n")
    shipped = _write(tmp_path, "shipped.csv", "account,symbol,quantity\na,METM6,1000\n")
    window = ("--model", "rules", "--start", "2025-01-06", "--end", "2025-01-31", "--no-store",
              "--json")  # fmt: skip
    got = run_cli("backtest", mine, "--contracts", EXAMPLE, *window)
    assert got.code == 0, got.err
    want = run_cli("backtest", shipped, *window)
    assert want.code == 0, want.err
    a, b = json.loads(got.out)["series"], json.loads(want.out)["series"]
    assert len(a) == len(b) > 10
    for x, y in zip(a, b, strict=True):
        assert x["margin"] == pytest.approx(y["margin"], rel=1e-9)


@needs_data
def test_simm_and_report_take_contracts(run_cli: Run, tmp_path: Path) -> None:
    mine, shipped = _books(tmp_path)
    res = run_cli("simm", mine, "--contracts", EXAMPLE, "--asof", "2026-02-11", "--json")
    assert res.code == 0, res.err
    ref = run_cli("simm", shipped, "--asof", "2026-02-11", "--json")
    assert json.loads(res.out)["total"] == pytest.approx(json.loads(ref.out)["total"], rel=1e-9)
    out = tmp_path / "report.html"
    res = run_cli("report", mine, "--contracts", EXAMPLE, "--asof", "2026-02-11",
                  "--models", "rules", "--out", str(out), "--json")  # fmt: skip
    assert res.code == 0, res.err
    assert out.stat().st_size > 0


# ------------------------------------------------------------------ strict files: must show


def _refused(res: Any, *needles: str) -> str:
    assert res.code == 2, res.err
    assert res.out == ""  # nothing was loaded or computed
    assert "Traceback" not in res.err
    lines = _lines(res.err)
    assert len(lines) == 1, res.err
    for needle in needles:
        assert needle in lines[0]
    return str(lines[0])


def test_unknown_contract_key(run_cli: Run, tmp_path: Path) -> None:
    doc = json.loads(Path(EXAMPLE).read_text("utf-8"))
    doc["products"][2]["face_value"] = 100_000
    bad = _write(tmp_path, "bad.json", json.dumps(doc))
    book = _write(tmp_path, "b.csv", "account,symbol,quantity\na,SPY,1\n")
    _refused(
        run_cli("value", book, "--contracts", bad, "--json"),
        f"contracts {bad}",
        "unknown key 'products[2].face_value'",
        "(product 'cme_zb_future')",
    )


def test_contract_row_with_a_bad_multiplier(run_cli: Run, tmp_path: Path) -> None:
    header = ("product,style,root,kind,settlement,underlying,asset_class,quote_currency,"
              "settlement_currency,multiplier,tick,expiry_rule,expiry_time_utc,exercise,"
              "description")  # fmt: skip
    bad = _write(
        tmp_path,
        "bad.csv",
        f"{header}\nmy_zq,cme,ZQ,future,linear,ZQ,rates,USD,USD,-4167,0.0025,"
        "last_business_day_quarterly,17:01,,30-day fed funds\n",
    )
    book = _write(tmp_path, "b.csv", "account,symbol,quantity\na,SPY,1\n")
    line = _refused(
        run_cli("margin", book, "--contracts", bad, "--model", "rules", "--no-store"),
        f"contracts {bad}",
        "row 2, column 'multiplier'",
        "should be greater than 0",
        "(got -4167.0)",
    )
    assert line.startswith("error: ")


@pytest.mark.parametrize(
    ("edit", "needle"),
    [
        (
            lambda d: d["inter_spreads"][0].update(method="magic"),
            "'inter_spreads[0].method' is 'magic'; accepted: 'delta' or 'scanning'",
        ),
        (
            lambda d: d.update(inter_spread=d.pop("inter_spreads")),
            "unknown key 'inter_spread' (did you mean 'inter_spreads'?)",
        ),
    ],
)
def test_unknown_parameter_file_key(
    run_cli: Run, tmp_path: Path, edit: Callable[[dict[str, Any]], object], needle: str
) -> None:
    doc = json.loads((ROOT / "src/crossmargin/models/params/span.json").read_text("utf-8"))
    edit(doc)
    params = _write(tmp_path, "my_span.json", json.dumps(doc))
    book = _write(tmp_path, "b.csv", "account,symbol,quantity\na,SPY,1\n")
    _refused(
        run_cli("margin", book, "--model", "span", "--params", params, "--no-store"),
        f"span parameters {params}: ",
        needle,
    )


@pytest.mark.parametrize(
    ("symbol", "unit", "accepts"),
    [
        ("BTC_USDC-PERPETUAL", "usd", "it accepts contracts, coin"),
        ("BTC-PERPETUAL", "coin", "it accepts contracts, usd"),
        ("SPY", "usd", "it accepts contracts"),
        ("BTC-PERPETUAL", "lots", "unknown quantity unit 'lots'"),
    ],
)
def test_book_unit_errors(
    run_cli: Run, tmp_path: Path, symbol: str, unit: str, accepts: str
) -> None:
    book = _write(
        tmp_path,
        "b.csv",
        f"account,symbol,quantity,quantity_unit\na,SPY,1,\na,{symbol},10,{unit}\n",
    )
    res = run_cli("margin", book, "--model", "rules", "--no-store", "--json")
    assert res.code == 2
    assert res.out == ""
    head, *issues = _lines(res.err)
    assert "1 bad entry" in head
    assert "nothing loaded" in head
    (issue,) = issues
    assert f"{book}, row 3, column 'quantity_unit'" in issue
    assert accepts in issue
    assert f"(value '{unit}')" in issue
