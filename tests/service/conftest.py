"""Fixtures of the service tests: an in-process client (httpx over ASGI) and a tmp run store."""

from __future__ import annotations

import asyncio
import csv
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from crossmargin.config import find_data_dir
from crossmargin.service import ServiceConfig, ServiceState, create_app

ASOF = "2026-02-11"
SAMPLE = Path(__file__).resolve().parents[2] / "src" / "crossmargin" / "data" / "sample_book.csv"

needs_data = pytest.mark.skipif(
    find_data_dir() is None, reason="the market history (../shared/data/market) is not present"
)


def sample_rows() -> list[dict[str, Any]]:
    """The sample book as JSON rows."""
    rows = []
    with SAMPLE.open(encoding="utf-8") as f:
        for r in csv.DictReader(f):
            rows.append(
                {
                    "account": r["account"],
                    "symbol": r["symbol"],
                    "quantity": float(r["quantity"]),
                    "trade_price": float(r["trade_price"]) if r["trade_price"] else None,
                    "position_id": r["position_id"] or None,
                }
            )
    return rows


class Client:
    """A synchronous face on ``httpx.AsyncClient`` over the ASGI app (no socket)."""

    def __init__(self, state: ServiceState) -> None:
        self.state = state
        self.app = create_app(state=state)
        self._loop = asyncio.new_event_loop()
        self._client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app), base_url="http://service"
        )

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        return self._loop.run_until_complete(self._client.request(method, url, **kwargs))

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", url, **kwargs)

    def close(self) -> None:
        self._loop.run_until_complete(self._client.aclose())
        self._loop.close()
        self.state.close(10)


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    return tmp_path / "runs.duckdb"


@pytest.fixture
def state(store_path: Path) -> ServiceState:
    return ServiceState(ServiceConfig(asof=ASOF, store=store_path))


@pytest.fixture
def client(state: ServiceState) -> Iterator[Client]:
    c = Client(state)
    yield c
    c.close()
