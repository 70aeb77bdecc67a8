"""What-if latency of the HTTP service over loopback: a 50-position account, pm_grid and es.

``BENCHMARKS = (whatif_pm_grid, whatif_es)``; each returns::

    {"name", "value": <p50 ms>, "unit": "ms", "baseline_ratio": <uncached p50 / cached p50>,
     "detail": "p99 ..., req/s ..., ..."}

The service runs in a subprocess (uvicorn, one worker, ``--asof 2026-02-11``, no run store);
the client is ``httpx`` with keep-alive on 127.0.0.1. Each request is a what-if of the same
50-position crypto account (BTC/ETH options, futures, perpetuals) with one proposed option
trade. After 20 warm-up requests, ``N_REQUESTS`` sequential requests give p50 and p99 latency,
and the same number sent by ``CONCURRENCY`` client threads gives requests per second. The
baseline is the same service with the context cache disabled (``cache_size=0``: ``prepare``
on every request, before and after), timed on ``N_BASELINE`` sequential requests. ``es`` uses
a 1,000-day lookback (1,000 daily scenarios of the crypto account, the stressed-window search
on by default).
Targets (2 cores): p50 < 5 ms, p99 < 20 ms, >= 200 req/s.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import httpx
import numpy as np

ASOF = "2026-02-11"
N_REQUESTS, N_BASELINE, WARMUP, CONCURRENCY = 1_000, 60, 20, 4

_SERVER = """
import sys, uvicorn
from crossmargin.service import ServiceConfig, create_app
app = create_app(ServiceConfig(asof=sys.argv[1], record=False, cache_size=int(sys.argv[3])))
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning", access_log=False)
"""


def account_rows() -> list[dict[str, Any]]:
    """50 positions of one account on BTC and ETH, live on 2026-02-11."""
    rows: list[dict[str, Any]] = []
    for k, strike in enumerate(range(50_000, 100_000, 5_000)):
        for expiry in ("27MAR26", "26JUN26"):
            kind = "C" if k % 2 else "P"
            rows.append(
                {"symbol": f"BTC-{expiry}-{strike}-{kind}", "quantity": (-1) ** k * (k + 1)}
            )
    for k, strike in enumerate(range(1_500, 3_500, 100)):
        rows.append({"symbol": f"ETH-27MAR26-{strike}-{'C' if k % 2 else 'P'}",
                     "quantity": (-1) ** k * 10.0})  # fmt: skip
    rows += [
        {"symbol": s, "quantity": q}
        for s, q in (
            ("BTC-PERPETUAL", 10_000.0), ("ETH-PERPETUAL", -5_000.0), ("BTC-27MAR26", 20_000.0),
            ("ETH-26JUN26", -3_000.0), ("BTC-26JUN26", 5_000.0), ("ETH-27MAR26", 100.0),
            ("BTC_USDC-PERPETUAL", 3.0), ("ETH_USDC-PERPETUAL", -20.0),
            ("BTC_USDC-27MAR26-60000-P", 5.0), ("BTC_USDC-27MAR26-70000-C", -5.0),
        )
    ]  # fmt: skip
    assert len(rows) == 50
    return [{"account": "acc-50", **r} for r in rows]


def request_body(model: str) -> dict[str, Any]:
    """The what-if request of the benchmark."""
    params = {"lookback": "1000D"} if model == "es" else {}
    return {
        "account": "acc-50",
        "positions": account_rows(),
        "trades": [{"symbol": "BTC-27MAR26-72000-C", "quantity": -3.0}],
        "collateral": 1_000_000.0,
        "model": model,
        "parameters": params,
    }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def service(cache_size: int) -> Iterator[str]:
    """The service in a subprocess; yields its URL; terminated afterwards."""
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-c", _SERVER, ASOF, str(port), str(cache_size)],
        stdout=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/v1/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the service did not start")
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _latencies(url: str, body: bytes, n: int) -> np.ndarray:
    out = np.empty(n)
    headers = {"content-type": "application/json"}
    with httpx.Client(base_url=url, timeout=120) as http:
        for _ in range(WARMUP):
            r = http.post("/v1/what-if", content=body, headers=headers)
            r.raise_for_status()
        for i in range(n):
            t = time.perf_counter()
            r = http.post("/v1/what-if", content=body, headers=headers)
            out[i] = time.perf_counter() - t
            r.raise_for_status()
    return out * 1e3


def _throughput(url: str, body: bytes, n: int) -> float:
    headers = {"content-type": "application/json"}
    per = n // CONCURRENCY

    def worker(_: int) -> None:
        with httpx.Client(base_url=url, timeout=120) as http:
            for _ in range(per):
                http.post("/v1/what-if", content=body, headers=headers).raise_for_status()

    t = time.perf_counter()
    with ThreadPoolExecutor(CONCURRENCY) as pool:
        list(pool.map(worker, range(CONCURRENCY)))
    return per * CONCURRENCY / (time.perf_counter() - t)


def _bench(model: str) -> dict[str, Any]:
    body = json.dumps(request_body(model)).encode()
    with service(cache_size=64) as url:
        cached = _latencies(url, body, N_REQUESTS)
        rps = _throughput(url, body, N_REQUESTS)
        stats = httpx.get(f"{url}/v1/health").json()["cache"]
    with service(cache_size=0) as url:
        uncached = _latencies(url, body, N_BASELINE)
    p50, p99 = float(np.percentile(cached, 50)), float(np.percentile(cached, 99))
    base50 = float(np.percentile(uncached, 50))
    ok = p50 < 5 and p99 < 20 and rps >= 200
    return {
        "name": f"whatif_{model}",
        "value": p50,
        "unit": "ms",
        "baseline_ratio": base50 / p50,
        "detail": (
            f"p50 {p50:.2f} ms, p99 {p99:.2f} ms, {rps:.0f} req/s ({CONCURRENCY} clients), "
            f"{N_REQUESTS} requests; uncached p50 {base50:.1f} ms; cache {stats}; "
            f"targets p50<5 p99<20 >=200/s: {'met' if ok else 'MISSED'}"
        ),
    }


def whatif_pm_grid() -> dict[str, Any]:
    """What-if of a 50-position account under pm_grid over HTTP."""
    return _bench("pm_grid")


def whatif_es() -> dict[str, Any]:
    """What-if of a 50-position account under es (1,000 scenarios) over HTTP."""
    return _bench("es")


BENCHMARKS = (whatif_pm_grid, whatif_es)

if __name__ == "__main__":
    for fn in BENCHMARKS:
        print(json.dumps(fn()), flush=True)
