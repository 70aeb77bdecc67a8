"""The HTML report shows the API's numbers: parsed tables against independent API calls."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from tests.report.conftest import ASOF, MODELS

from crossmargin import api


class Cells(HTMLParser):
    """Collect ``td`` cells with their table id and data-* attributes, and the data script."""

    def __init__(self) -> None:
        super().__init__()
        self.cells: list[dict[str, str]] = []
        self.table = ""
        self.row: dict[str, str] = {}
        self.cell: dict[str, str] | None = None
        self.script = ""
        self.in_data = False
        self.scripts_with_src: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "table":
            self.table = a.get("id", "")
        elif tag == "tr":
            self.row = {k: v for k, v in a.items() if k.startswith("data-")}
        elif tag == "td":
            self.cell = {"table": self.table, **self.row, **a, "text": ""}
        elif tag == "script":
            self.in_data = a.get("id") == "report-data"
            if "src" in a:
                self.scripts_with_src.append(a["src"])

    def handle_endtag(self, tag: str) -> None:
        if tag == "td" and self.cell is not None:
            self.cells.append(self.cell)
            self.cell = None
        elif tag == "script":
            self.in_data = False

    def handle_data(self, data: str) -> None:
        if self.cell is not None:
            self.cell["text"] += data
        if self.in_data:
            self.script += data


def number(text: str) -> float:
    return float(text.strip().replace(",", ""))


@pytest.fixture(scope="module")
def parsed(report: tuple[Path, dict[str, Any]]) -> Cells:
    cells = Cells()
    cells.feed(report[0].read_text(encoding="utf-8"))
    return cells


@pytest.fixture(scope="module")
def fresh() -> dict[str, dict[str, Any]]:
    """The API's results computed here, independently of the report code."""
    book = api.sample_book()
    market = api.market_for(book, asof=ASOF)
    return {m: api.margin(book, market, m).to_dict() for m in MODELS}


def test_self_contained(report: tuple[Path, dict[str, Any]], parsed: Cells) -> None:
    html = report[0].read_text(encoding="utf-8")
    assert parsed.scripts_with_src == []  # plotly.js inlined, nothing fetched
    # (the inlined plotly.js mentions URLs in strings, e.g. its geo maps' topojson CDN:
    # unused here; what matters is that no tag loads anything)
    assert "<link" not in html.split("<script", 1)[0]
    assert html.count("Plotly.newPlot") >= len(MODELS) + 3  # waterfalls, P&L, corr, backtest


def test_summary_and_accounts_match_api(parsed: Cells, fresh: dict[str, Any]) -> None:
    summary = [c for c in parsed.cells if c["table"] == "summary" and "data-key" in c]
    assert {c["data-model"] for c in summary} == set(MODELS)
    for c in summary:
        res = fresh[c["data-model"]]
        key = c["data-key"]
        want = res["total"] if key != "vs_rules" else fresh["rules"]["total"] - res["total"]
        if key != "vs_rules":
            want = res[key]
        tol = 0.006 if key == "benefit_pct" else 0.5  # percent to 2 dp, money to whole units
        assert number(c["text"]) == pytest.approx(want, abs=tol), (c, want)
    accounts = [c for c in parsed.cells if c["table"] == "accounts" and "data-key" in c]
    assert len(accounts) == 2 * len(MODELS) * 4
    for c in accounts:
        row = next(
            a for a in fresh[c["data-model"]]["accounts"] if a["account"] == c["data-account"]
        )
        assert number(c["text"]) == pytest.approx(row[c["data-key"]], abs=0.5)


def test_distribution_matches_es_core(parsed: Cells, fresh: dict[str, Any]) -> None:
    """The account ES shown equals the ES model's ``core`` component of that account."""
    es = {a["account"]: a["components"]["core"] for a in fresh["es"]["accounts"]}
    shown = [c for c in parsed.cells if c["table"] == "distribution" and c.get("data-key") == "es"]
    assert len(shown) == len(es)
    for c in shown:
        assert number(c["text"]) == pytest.approx(es[c["data-account"]], abs=0.5)


def test_embedded_payload(report: tuple[Path, dict[str, Any]], parsed: Cells) -> None:
    data = json.loads(parsed.script)
    payload = report[1]
    assert data["margin"]["pm_grid"]["total"] == payload["margin"]["pm_grid"]["total"]
    for acc in data["distribution"]["accounts"]:  # each account on its own netting set
        assert len(acc["pnl"]) == len(acc["scenarios"]) > 0
    for ns in data["correlations"]["netting_sets"]:
        assert len(ns["matrix"]) == len(ns["factors"])
    assert data["backtest"]["series"], "the backtest chart has data"
    exceptions = sum(r["exception"] for r in data["backtest"]["series"])
    assert exceptions == data["backtest"]["exceptions"]
    for acc in data["backtest"]["accounts"]:  # netted vs standalone per account
        series = acc["series"]
        assert sum(r["exception"] for r in series) == acc["netted"]["exceptions"]
        assert sum(r["standalone_exception"] for r in series) == acc["standalone"]["exceptions"]
        assert "peak_to_trough_ratio" in acc["netted"]["procyclicality"]
    assert data["stress"]["available"] in (True, False)


def test_report_cli(tmp_path: Path, report: tuple[Path, dict[str, Any]]) -> None:
    import subprocess
    import sys

    from tests.service.conftest import SAMPLE

    out = tmp_path / "r.html"
    done = subprocess.run(
        [sys.executable, "-m", "crossmargin", "report", str(SAMPLE), "--out", str(out),
         "--asof", ASOF, "--models", "rules,pm_grid"],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert out.stat().st_size > 1_000_000
    bad = subprocess.run(
        [sys.executable, "-m", "crossmargin", "report", str(SAMPLE), "--out", str(out),
         "--asof", ASOF, "--backtest", "2025-01-01"],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert bad.returncode == 2
    assert "START:END" in bad.stderr


def test_stress_table_is_per_account_and_scenario(
    report: tuple[Path, dict[str, Any]], parsed: Cells
) -> None:
    """One row per account and scenario row, each cell the payload's figure; no row's
    shortfall exceeds its loss (shortfall = max(0, loss − margin held))."""
    stress = report[1]["stress"]
    assert stress["available"], stress.get("reason")
    rows = stress["rows"]
    cells = [c for c in parsed.cells if c["table"] == "stress" and "data-key" in c]
    assert len(cells) == 4 * len(rows)
    shown = {(c["data-scenario"], c["data-account"], c["data-key"]): c["text"] for c in cells}
    for r in rows:
        for key in ("loss", "margin", "standalone", "shortfall"):
            text = shown[(r["scenario"], r["account"], key)]
            if r[key] is None:
                assert text.strip() in ("", "not covered")
            else:
                assert number(text) == pytest.approx(r[key], abs=0.5)
        if r["loss"] is not None:
            assert r["shortfall"] == max(0.0, r["loss"] - r["margin"])
            assert r["shortfall"] <= max(r["loss"], 0.0)
    units = stress["result"]["units"]
    assert "USD" in units["money"]  # every money figure says its currency
    kinds = {r["kind"] for r in rows}
    assert {"crisis", "correlation"} <= kinds
    # the scenario totals are only given where every account was hit by the same row
    for s in stress["result"]["scenarios"]:
        if not s["joint"]:
            assert s["loss"] is None
            assert s["shortfall"] is None
        else:
            assert s["shortfall"] <= s["loss"] + 1e-9


def test_stress_sections_and_executive_summary(
    report: tuple[Path, dict[str, Any]], parsed: Cells, fresh: dict[str, Any]
) -> None:
    payload = report[1]
    result = payload["stress"]["result"]
    tables = {c["table"] for c in parsed.cells}
    assert {"correlation-break", "correlation-controls", "reverse", "defaults"} <= tables
    assert {d["account"] for d in result["defaults"]} == set(payload["accounts"])
    assert {r["account"] for r in result["reverse"]} == set(payload["accounts"])
    controls = [c for c in parsed.cells if c["table"] == "correlation-controls"]
    changes = [number(c["text"]) for c in controls if c.get("data-key") == "max_change"]
    assert changes  # one control row per account leg
    assert max(changes) <= 1e-9  # a one-underlying leg keeps its ES under every break
    summary = payload["summary"]
    assert summary["book"] == "sample_book.csv"
    assert "/" not in payload["book"]
    assert "/" not in summary["market"]
    assert summary["as_of"] == ASOF
    # the credits split by tier, against the API's tiers computed independently
    benefit = [c for c in parsed.cells if c["table"] == "executive-benefit" and "data-key" in c]
    assert benefit
    for c in benefit:
        acc = next(
            a for a in fresh[c["data-model"]]["accounts"] if a["account"] == c["data-account"]
        )
        credit = {t["tier"]: t["base"] - t["capped"] for t in acc["tiers"]}
        want = {
            "standalone": acc["standalone"],
            "same_underlying": credit["product"] + credit["underlying"],
            "cross_underlying": credit["asset-class"],
            "cross_asset_class": credit["netting-set"],
            "total": acc["total"],
        }[c["data-key"]]
        assert number(c["text"]) == pytest.approx(want, abs=0.5)
    # where the netting breaks: the correlation-break shortfalls of the adverse direction
    breaks = {b["account"] for b in summary["breaks"] if b["kind"] == "correlation break"}
    adverse = {
        r["account"]
        for r in result["correlation"]["rows"]
        if r["mode"] == "adverse" and r["pair"] == "all" and r["shortfall"] > 0
    }
    assert breaks == adverse
    assert "gamma-xasset" in breaks


def test_equity_and_tier_credits_match_api(parsed: Cells, fresh: dict[str, Any]) -> None:
    """Every equity and tier-credit cell equals the API's figure computed independently."""
    equity = [c for c in parsed.cells if c["table"] == "equity" and "data-key" in c]
    assert len(equity) == 8 * len(MODELS) * 4
    for c in equity:
        acc = next(
            a for a in fresh[c["data-model"]]["accounts"] if a["account"] == c["data-account"]
        )
        want = acc["equity"][c["data-key"]]
        if c["data-key"] in ("margin_ratio", "utilisation"):
            shown = c["text"].strip()
            assert shown == ("" if want is None else f"{100 * want:.1f}%")
        else:
            assert number(c["text"]) == pytest.approx(want, abs=0.5)
    tiers = [c for c in parsed.cells if c["table"] == "tiers" and "data-key" in c]
    assert len(tiers) == 4 * len(MODELS) * 4
    for c in tiers:
        acc = next(
            a for a in fresh[c["data-model"]]["accounts"] if a["account"] == c["data-account"]
        )
        tier = c["data-key"].split(":", 1)[1]
        want = next(t for t in acc["tiers"] if t["tier"] == tier)
        assert number(c["text"]) == pytest.approx(want["base"] - want["capped"], abs=0.5)
