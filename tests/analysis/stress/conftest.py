"""Fixtures of the stress tests: the shared history (skipped when absent), the sample-book
report (computed once per session) and the CLI runner."""

from __future__ import annotations

import pytest

from crossmargin import api
from crossmargin.analysis.stress.report import StressReport
from crossmargin.config import find_data_dir
from crossmargin.market.history import MarketHistory

ASOF = "2026-02-11"


def _data_or_skip() -> str:
    folder = find_data_dir()
    if folder is None or not folder.is_dir():
        pytest.skip("shared market data not found (set CROSSMARGIN_DATA or add ../shared/data)")
    return str(folder)


@pytest.fixture(scope="session")
def history() -> MarketHistory:
    return MarketHistory.load(_data_or_skip())


@pytest.fixture(scope="session")
def sample_report(history: MarketHistory) -> StressReport:
    """Every named crisis on the sample book, es margin held, as of 2026-02-11."""
    book = api.sample_book()
    market = api.market_for(book, asof=ASOF, data_dir=history.data_dir)
    return api.stress(book, "es", market=market, data_dir=history.data_dir)
