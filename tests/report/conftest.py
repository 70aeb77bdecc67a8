"""A report of the sample book, built once for the report tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from crossmargin import api
from crossmargin.config import find_data_dir
from crossmargin.report import build_payload, write_report

ASOF = "2026-02-11"
MODELS = ("rules", "span", "pm_grid", "es")
BACKTEST = ("2025-12-01", "2026-01-30")


@pytest.fixture(scope="session")
def report(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    if find_data_dir() is None:
        pytest.skip("the market history (../shared/data/market) is not present")
    book = api.sample_book()
    market = api.market_for(book, asof=ASOF)
    payload = build_payload(
        book, market, models=MODELS, backtest=BACKTEST, backtest_model="pm_grid"
    )
    path = write_report(payload, tmp_path_factory.mktemp("report") / "report.html")
    return path, payload
