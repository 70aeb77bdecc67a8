"""The service over a real socket: uvicorn on loopback, a real httpx client, clean shutdown."""

from __future__ import annotations

from pathlib import Path

import httpx
from tests.service.conftest import ASOF, needs_data, sample_rows
from tests.service.live import live_service

from crossmargin.service import ServiceConfig, ServiceState

pytestmark = needs_data


def test_over_loopback(tmp_path: Path) -> None:
    state = ServiceState(ServiceConfig(asof=ASOF, store=tmp_path / "runs.duckdb"))
    with live_service(state) as url, httpx.Client(base_url=url, timeout=30) as http:
        assert http.get("/v1/health").json()["status"] == "ok"
        r = http.post("/v1/margin", json={"positions": sample_rows(), "model": "pm_grid"})
        assert r.status_code == 200
        run_id = r.json()["run_id"]
        assert http.get(f"/v1/runs/{run_id}").json()["run_id"] == run_id
        rows = [x for x in sample_rows() if x["account"] == "beta-macro"]
        w = http.post(
            "/v1/what-if",
            json={"positions": rows, "account": "beta-macro", "model": "pm_grid",
                  "trades": [{"symbol": "SPY", "quantity": -1000.0}], "collateral": 1e6},
        )  # fmt: skip
        assert w.status_code == 200, w.text
        assert set(w.json()) >= {"margin_before", "margin_after", "incremental_margin", "passes"}
        bad = http.post("/v1/margin", content=b"{", headers={"content-type": "application/json"})
        assert bad.status_code == 400
