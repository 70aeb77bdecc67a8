"""`crossmargin margin`: JSON contract and bad input."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from crossmargin.config import find_data_dir

needs_data = pytest.mark.skipif(
    find_data_dir() is None, reason="shared market history not found (../shared/data/market)"
)
Run = Callable[..., "object"]
SAMPLE = str(Path(__file__).parents[2] / "src/crossmargin/data/sample_book.csv")


@needs_data
def test_margin_json_contract(run_cli: Run) -> None:
    res = run_cli("margin", SAMPLE, "--model", "rules", "--asof", "2026-02-11", "--json")
    assert res.code == 0, res.err
    data = json.loads(res.out)
    for key in ("model", "currency", "total", "standalone_total", "benefit", "benefit_pct",
                "accounts", "groups"):  # fmt: skip
        assert key in data
    assert data["model"] == "rules"
    assert data["currency"] == "USD"
    assert data["total"] == pytest.approx(sum(a["total"] for a in data["accounts"]))
    assert data["total"] > 0


@needs_data
def test_margin_table_and_cap(run_cli: Run) -> None:
    res = run_cli("margin", SAMPLE, "--model", "rules", "--cap", "0.8", "--by", "asset-class")
    assert res.code == 0, res.err
    assert "rules margin (USD, cap 0.8; grouped by asset-class)" in res.out


def test_unknown_model_one_line(run_cli: Run) -> None:
    res = run_cli("margin", SAMPLE, "--model", "nope", "--market", "x.json")
    assert res.code == 5
    assert "unknown model 'nope'" in res.err
    assert "Traceback" not in res.err


def test_malformed_params_file(run_cli: Run, tmp_path: Path) -> None:
    bad = tmp_path / "p.json"
    bad.write_text("[1, 2")
    res = run_cli("margin", SAMPLE, "--model", "rules", "--params", str(bad))
    assert res.code == 2
    assert "not valid JSON" in res.err


def test_var_options_only_for_var_models(run_cli: Run) -> None:
    res = run_cli("margin", SAMPLE, "--model", "span", "--lookback", "100", "--no-store")
    assert res.code == 2
    assert "--lookback applies to --model es or hvar only, not span" in res.err


def test_confidence_outside_unit_interval(run_cli: Run) -> None:
    res = run_cli("margin", SAMPLE, "--model", "es", "--confidence", "1.5", "--no-store")
    assert res.code == 2
    assert "between 0 and 1" in res.err


@needs_data
def test_es_margin_with_options(run_cli: Run) -> None:
    res = run_cli("margin", SAMPLE, "--model", "es", "--asof", "2026-02-11", "--mpor", "2",
                  "--apc", "buffer", "--json", "--no-store")  # fmt: skip
    assert res.code == 0, res.err
    data = json.loads(res.out)
    assert data["model"] == "es"
    # The 25% APC buffer is reported as its own component: 0.25 x core per account.
    for acc in data["accounts"]:
        assert acc["components"]["apc"] == pytest.approx(0.25 * acc["components"]["core"])


@needs_data
def test_es_reports_each_netting_set_and_its_correlations(run_cli: Run) -> None:
    res = run_cli("margin", SAMPLE, "--model", "es", "--asof", "2026-02-11", "--json",
                  "--no-store")  # fmt: skip
    assert res.code == 0, res.err
    data = json.loads(res.out)
    sets = data["diagnostics"]["netting_sets"]
    by_account = {a["account"]: a["netting_set"] for a in data["accounts"]}
    crypto = by_account["alpha-crypto"]
    assert (crypto["netting_set"], crypto["calendar"]) == ("BTC+ETH", "crypto")
    assert crypto["mpor_calendar_days"] == {"min": 2.0, "mean": 2.0, "max": 2.0}
    assert crypto["lookback"]["calendar_days"] >= 365
    mixed = by_account["gamma-xasset"]
    assert mixed["calendar"] == "nyse"
    assert mixed["mpor_calendar_days"]["max"] >= 4.0  # two sessions over a weekend
    assert mixed["lookback"]["first"] == "2025-02-12"  # 12 calendar months to 2026-02-11
    corr = sets[mixed["netting_set"]]["correlations"]
    assert corr["BTC"]["BTC"] == pytest.approx(1.0)
    assert corr["BTC"]["SPX"] == pytest.approx(corr["SPX"]["BTC"])
    assert -1.0 <= corr["BTC"]["SPX"] <= 1.0
    table = run_cli("margin", SAMPLE, "--model", "es", "--asof", "2026-02-11", "--no-store")
    assert "Netting sets" in table.out
    assert "BTC+SPX+SPY (gamma-xasset): correlation" in table.out


@needs_data
@pytest.mark.parametrize(
    "rows",
    [
        # a 1M USD BTC Mar/Jun calendar spread on Deribit (10 USD face per contract)
        [("a", "BTC-27MAR26", 100000), ("a", "BTC-26JUN26", -100000)],
        # long 10 BTC spot against short 2 CME BTC futures (5 BTC each)
        [("a", "BTC_USDC", 10), ("a", "BTCH26", -2)],
    ],
)
def test_es_charges_basis_risk_comparable_to_span(
    run_cli: Run, tmp_path: Path, rows: list[tuple[str, str, int]]
) -> None:
    book = tmp_path / "book.csv"
    book.write_text(
        "account,symbol,quantity\n" + "".join(f"{a},{s},{q}\n" for a, s, q in rows),
        encoding="utf-8",
    )
    common = ("--asof", "2026-02-11", "--json", "--no-store")
    es = run_cli("margin", str(book), "--model", "es", *common)
    span = run_cli("margin", str(book), "--model", "span", *common)  # netted: SPAN's own charge
    assert es.code == 0, es.err
    assert span.code == 0, span.err
    components = json.loads(es.out)["accounts"][0]["components"]
    basis = components["basis"]
    span_total = json.loads(span.out)["accounts"][0]["netted"]
    assert basis > 0
    assert 0.25 <= basis / span_total <= 4.0, (basis, span_total)
    assert json.loads(es.out)["components"]["basis"] == pytest.approx(basis)
