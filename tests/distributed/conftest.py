"""Fixtures of the distributed tests: one real LocalCluster of two worker processes for the
session (the tests that kill a worker start their own); the market of the sample book is in
:mod:`market_inputs`."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from distributed import Client

from crossmargin.distributed import connect


@pytest.fixture(scope="session")
def client() -> Iterator[Client]:
    """A LocalCluster of 2 single-threaded worker processes."""
    with connect(workers=2) as c:
        yield c
