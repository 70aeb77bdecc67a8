"""OpenAPI that works offline and documents every answer (issue 17, item 4).

``/docs`` is served with this process's own Swagger UI files (no CDN: the page names no
external host and every file it loads is served here); every endpoint's OpenAPI entry has a
response schema; every request example in the schema is answered 200, and real answers
validate against the documented response models.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from pydantic import BaseModel
from tests.service.conftest import Client, needs_data

from crossmargin.service import ServiceConfig, ServiceState
from crossmargin.service.payloads import (
    ErrorBody,
    HealthResponse,
    MarginResponse,
    ModelInfo,
    RunResponse,
    SimmResponse,
    WhatIfResponse,
)

pytestmark = needs_data


@pytest.fixture(scope="module")
def default_client(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A service as ``crossmargin serve`` starts it: no --asof, recording runs."""
    store = tmp_path_factory.mktemp("docs") / "runs.duckdb"
    client = Client(ServiceState(ServiceConfig(store=store)))
    yield client
    client.close()


def test_docs_page_needs_no_network(default_client: Client) -> None:
    page = default_client.get("/docs")
    assert page.status_code == 200
    html = page.text
    assert "SwaggerUIBundle" in html
    assert not re.search(r"(?i)(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", html), "external host"
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert len(assets) >= 3
    for asset in assets:
        assert asset.startswith("/"), asset
        got = default_client.get(asset)
        assert got.status_code == 200, asset
        assert len(got.content) > 100, asset
    assert "'/openapi.json'" in html or '"/openapi.json"' in html


def test_every_endpoint_documents_its_answers(default_client: Client) -> None:
    schema = default_client.get("/openapi.json").json()
    operations = [(p, m, op) for p, item in schema["paths"].items() for m, op in item.items()]
    assert len(operations) == 11  # health, models, margin, what-if, simm, cascade, runs,
    # attribute and the three optimise endpoints
    for path, method, op in operations:
        ok = op["responses"]["200"]["content"]["application/json"]["schema"]
        assert ok.get("$ref") or ok.get("items") or ok.get("type"), (path, method, ok)
        for status, answer in op["responses"].items():
            if status.startswith(("4", "5")):
                ref = answer["content"]["application/json"]["schema"]["$ref"]
                assert ref.endswith("/ErrorBody"), (path, status)


def test_request_examples_succeed(default_client: Client) -> None:
    schema = default_client.get("/openapi.json").json()
    tried = 0
    for path, item in schema["paths"].items():
        for method, op in item.items():
            body = op.get("requestBody")
            if body is None:
                continue
            examples = body["content"]["application/json"]["examples"]
            assert examples, (path, method)
            for example in examples.values():
                r = default_client.request(method.upper(), path, json=example["value"])
                assert r.status_code == 200, (path, r.text)
                tried += 1
    assert tried == 8  # every endpoint with a body


_MODELS: dict[str, type[BaseModel]] = {
    "/v1/margin": MarginResponse,
    "/v1/what-if": WhatIfResponse,
    "/v1/simm": SimmResponse,
}


def test_answers_match_their_documented_models(default_client: Client) -> None:
    from crossmargin.service.schemas import MARGIN_EXAMPLE, SIMM_EXAMPLE, WHAT_IF_EXAMPLE

    HealthResponse.model_validate(default_client.get("/v1/health").json())
    for info in default_client.get("/v1/models").json():
        ModelInfo.model_validate(info)
    answers = {}
    for path, example in (("/v1/margin", MARGIN_EXAMPLE), ("/v1/what-if", WHAT_IF_EXAMPLE),
                          ("/v1/simm", SIMM_EXAMPLE)):  # fmt: skip
        answers[path] = default_client.post(path, json=example).json()
        _MODELS[path].model_validate(answers[path])
        assert set(_MODELS[path].model_fields) <= set(answers[path]), path
    run = default_client.get(f"/v1/runs/{answers['/v1/margin']['run_id']}")
    assert run.status_code == 200, run.text
    RunResponse.model_validate(run.json())
    ErrorBody.model_validate(default_client.get("/v1/runs/r-20260101T000000-deadbeef").json())


def test_capital_and_cascade_answers_match_their_documented_models(
    default_client: Client,
) -> None:
    from crossmargin.service.optimise import EXAMPLES
    from crossmargin.service.payloads_capital import (
        AllocationResponse,
        AttributionResponse,
        CapitalResponse,
        CascadeResponse,
        HedgeResponse,
    )
    from crossmargin.service.schemas import CASCADE_EXAMPLE

    cases: list[tuple[str, dict[str, object], type[BaseModel]]] = [
        ("/v1/attribute", EXAMPLES["attribute"], AttributionResponse),
        ("/v1/optimise/hedge", EXAMPLES["hedge"], HedgeResponse),
        ("/v1/optimise/allocate", EXAMPLES["allocate"], AllocationResponse),
        ("/v1/optimise/capital", EXAMPLES["capital"], CapitalResponse),
        ("/v1/cascade", CASCADE_EXAMPLE, CascadeResponse),
    ]
    for path, example, model in cases:
        got = default_client.post(path, json=example)
        assert got.status_code == 200, (path, got.text)
        answer = got.json()
        model.model_validate(answer)
        assert set(model.model_fields) <= set(answer), path
        assert answer["units"], path  # every figure's unit stated
