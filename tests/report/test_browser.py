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
    expected = {f"waterfall-{m}" for m in report[1]["margin"]} | correlations | {
        "distribution", "backtest",
    }  # fmt: skip
    capital = report[1].get("capital") or {}
    if capital.get("available"):  # one attribution bar chart per account
        expected |= {f"attribution-{a['account']}" for a in capital["attribution"]["accounts"]}
    assert set(charts.svgs) == expected
    not_drawn = [c for c, n in charts.svgs.items() if n < 1]
    assert not_drawn == [], f"charts not rendered: {not_drawn}"
    shot = tmp_path / "report.png"
    done = _chromium(tmp_path, f"--screenshot={shot}", "--window-size=1400,3000", url)
    assert done.returncode == 0, done.stderr[-2000:]
    assert shot.stat().st_size > 10_000
