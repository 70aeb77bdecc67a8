"""No request generated from the OpenAPI schema reaches a 500 (schemathesis, bounded).

Requests go over loopback to a live service (``schemathesis`` calls with ``requests``);
every response must be < 500: invalid input is a 4xx with a reason, never an internal error.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

schemathesis = pytest.importorskip("schemathesis")

from hypothesis import HealthCheck, settings  # noqa: E402
from tests.service.conftest import ASOF, needs_data  # noqa: E402
from tests.service.live import live_service  # noqa: E402

from crossmargin.service import ServiceConfig, ServiceState, create_app  # noqa: E402

pytestmark = needs_data

_RAW = create_app(ServiceConfig(asof=ASOF, record=False)).openapi()
schema = schemathesis.openapi.from_dict(_RAW)
# valid requests and requests that break the schema (wrong types, missing fields...)
schema.config.generation.update(
    modes=[schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE]
)


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    store: Path = tmp_path_factory.mktemp("fuzz") / "runs.duckdb"
    with live_service(ServiceState(ServiceConfig(asof=ASOF, store=store))) as url:
        yield url


@schema.parametrize()
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_no_server_error(case: schemathesis.Case, base_url: str) -> None:
    response = case.call(base_url=base_url, timeout=30)
    assert response.status_code < 500, (case.method, case.path, response.text)
