"""The report in a real browser: headless Chromium renders every chart, no console error.

Skipped, with the reason, where no ``chromium`` binary is installed (Debian: ``apt-get
install chromium``).
"""

from __future__ import annotations

import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="no chromium binary on PATH (Debian: apt-get install chromium)"
)
FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--enable-logging=stderr", "--v=0", "--virtual-time-budget=15000",
)  # fmt: skip


class Charts(HTMLParser):
    """Count ``svg.main-svg`` inside each ``div[data-chart]``."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str | None] = []
        self.svgs: dict[str, int] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        current = next((c for c in reversed(self.stack) if c), None)
        if tag == "div":
            chart = a.get("data-chart")
            if chart:
                self.svgs.setdefault(chart, 0)
            self.stack.append(chart)
        elif tag == "svg" and current and "main-svg" in (a.get("class") or "").split():
            self.svgs[current] += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "div" and self.stack:
            self.stack.pop()


class StressRows(HTMLParser):
    """The rendered DOM's stress table cells (per ``tr``) and the embedded JSON payload."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[dict[str, str]] = []
        self.table = ""
        self.key: str | None = None
        self.payload = ""
        self.in_data = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "table":
            self.table = a.get("id", "")
        elif tag == "tr" and self.table == "stress" and "data-account" in a:
            self.rows.append({"scenario": a["data-scenario"], "account": a["data-account"]})
        elif tag == "td" and self.table == "stress" and self.rows:
            self.key = a.get("data-key")
            if self.key:
                self.rows[-1][self.key] = ""
        elif tag == "script":
            self.in_data = a.get("id") == "report-data"

    def handle_endtag(self, tag: str) -> None:
        if tag == "td":
            self.key = None
        elif tag == "script":
            self.in_data = False

    def handle_data(self, data: str) -> None:
        if self.key and self.rows:
            self.rows[-1][self.key] += data
        if self.in_data:
            self.payload += data


def check_stress_in_dom(dom: str) -> None:
    """Per-account stress rows as Chromium rendered them: each row's shortfall is
    ``max(0, loss − margin held)``, never more than the loss, and the same as the payload's
    row; every account appears under every scenario."""
    import json

    parsed = StressRows()
    parsed.feed(dom)
    payload = json.loads(parsed.payload)
    rows = payload["stress"]["rows"]
    assert rows, "the stress section has rows"
    assert len(parsed.rows) == len(rows)
    for shown, row in zip(parsed.rows, rows, strict=True):
        assert (shown["scenario"], shown["account"]) == (row["scenario"], row["account"])
        if row["loss"] is None:
            assert row["shortfall"] is None
            continue
        assert row["shortfall"] <= max(row["loss"], 0.0) + 1e-9
        assert row["shortfall"] == max(0.0, row["loss"] - row["margin"])
        for key in ("loss", "margin", "shortfall"):
            assert float(shown[key].replace(",", "")) == pytest.approx(row[key], abs=0.5)
    accounts = set(payload["accounts"])
    by_scenario: dict[str, set[str]] = {}
    for row in rows:
        by_scenario.setdefault(row["scenario"], set()).add(row["account"])
    assert all(seen == accounts for seen in by_scenario.values())


def _chromium(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    return subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={tmp / 'profile'}", *args],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_report_renders_in_chromium(report: tuple[Path, dict[str, Any]], tmp_path: Path) -> None:
    url = report[0].resolve().as_uri()
    dom = _chromium(tmp_path, "--dump-dom", url)
    assert dom.returncode == 0, dom.stderr[-2000:]
    errors = [line for line in dom.stderr.splitlines() if "Uncaught" in line or "CONSOLE" in line]
    assert errors == [], errors
    charts = Charts()
    charts.feed(dom.stdout)
    # one correlation heatmap per netting set of more than one underlying (more than 2 factors)
    correlations = {
        f"correlation-{c['netting_set']}"
        for c in report[1]["correlations"].get("netting_sets", [])
        if len(c["factors"]) > 2
    }
    assert correlations  # the sample book has multi-underlying netting sets
    per_account = {f"backtest-{a['account']}" for a in report[1]["backtest"]["accounts"]}
    assert len(per_account) == len(report[1]["accounts"])  # netted vs standalone per account
    expected = {f"waterfall-{m}" for m in report[1]["margin"]} | correlations | per_account | {
        "distribution", "backtest",
    }  # fmt: skip
    capital = report[1].get("capital") or {}
    if capital.get("available"):  # one attribution bar chart per account
        expected |= {f"attribution-{a['account']}" for a in capital["attribution"]["accounts"]}
    assert set(charts.svgs) == expected
    not_drawn = [c for c, n in charts.svgs.items() if n < 1]
    assert not_drawn == [], f"charts not rendered: {not_drawn}"
    check_stress_in_dom(dom.stdout)
    shot = tmp_path / "report.png"
    done = _chromium(tmp_path, f"--screenshot={shot}", "--window-size=1400,3000", url)
    assert done.returncode == 0, done.stderr[-2000:]
    assert shot.stat().st_size > 10_000
