"""The service under concurrent clients (issue 19, item 1): ``crossmargin serve --workers 2``
answers every request of 32 keep-alive clients: no dropped connection, no 5xx, and every
margin run recorded. Kept small here; ``benchmarks/bench_service.py`` measures throughput."""

from __future__ import annotations

import sys
from pathlib import Path

import httpx
from tests.service.conftest import needs_data

from crossmargin.store import RunStore

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import bench_service
from loadgen import run_load

pytestmark = needs_data

CLIENTS, PER_CLIENT = 32, 8


def test_concurrent_clients_get_every_answer(tmp_path: Path) -> None:
    requests = bench_service.mixed_requests()
    with bench_service.serve(workers=2, warm=False, store_dir=tmp_path) as service:
        result = run_load(
            service.url, requests, clients=CLIENTS, per_client=PER_CLIENT, max_seconds=240
        )
        health = httpx.get(f"{service.url}/v1/health", timeout=30).json()
        # a run fetched at once on another connection (maybe another worker, where it is
        # not queued) is found: the lookup waits for a run id this young
        fetched = []
        body = bench_service.margin_body("pm_grid")
        for _ in range(6):
            with httpx.Client(base_url=service.url, timeout=60) as one:
                run_id = one.post("/v1/margin", json=body).json()["run_id"]
            with httpx.Client(base_url=service.url, timeout=60) as other:
                fetched.append(other.get(f"/v1/runs/{run_id}").status_code)
    assert fetched == [200] * 6
    assert result.dropped == 0, result.summary()
    assert result.server_errors == 0, result.summary()
    assert result.statuses == {200: CLIENTS * PER_CLIENT}, result.summary()
    assert health["workers"] == 2
    # every margin of the load (all ask to be recorded) reached the store by shutdown
    sent = sum(
        1 for c in range(CLIENTS) for i in range(PER_CLIENT)
        if requests[(c + i) % len(requests)].startswith(b"POST /v1/margin")
    )  # fmt: skip
    stored = RunStore(tmp_path / "runs.duckdb").list(None)
    assert len(stored) == sent + 6
