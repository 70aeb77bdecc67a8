"""Fixtures of the distributed tests: one real LocalCluster of two worker processes for the
session (the tests that kill a worker start their own), the market of the sample book."""

from __future__ import annotations

from collections.abc import Iterator
from functools import cache

import pytest
from distributed import Client

from crossmargin import api
from crossmargin.config import find_data_dir
from crossmargin.distributed import connect
from crossmargin.market.history import MarketHistory
from crossmargin.market.snapshot import MarketSnapshot

ASOF = "2026-02-11"


@pytest.fixture(scope="session")
def client() -> Iterator[Client]:
    """A LocalCluster of 2 single-threaded worker processes."""
    with connect(workers=2) as c:
        yield c


@cache
def history() -> MarketHistory:
    """The shared market history (the test is skipped, with the reason, without it)."""
    folder = find_data_dir()
    if folder is None or not folder.is_dir():
        pytest.skip("shared market data not found (set CROSSMARGIN_DATA or add ../shared/data)")
    return MarketHistory.load(folder)


@cache
def sample_market() -> MarketSnapshot:
    """The sample book's market on 2026-02-11 (from the shared history)."""
    history()
    return api.market_for(api.sample_book(), asof=ASOF)
