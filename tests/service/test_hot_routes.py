"""``POST /v1/margin`` and ``/v1/what-if`` answered ahead of FastAPI's router give FastAPI's
answers: the same status, headers and bytes, valid bodies and every kind of error alike.

FastAPI's own path is the twin: it still serves these routes for a body it parses as JSON
under another JSON content type (``application/...+json``), which the fast path leaves to it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel
from starlette.responses import JSONResponse, Response
from tests.service.conftest import ASOF, Client, needs_data, sample_rows

from crossmargin.service import ServiceConfig, ServiceState
from crossmargin.service.hot_routes import HotRoute, HotRoutes
from crossmargin.service.schemas import MarginRequest, WhatIfRequest

pytestmark = needs_data

TRADE = [{"symbol": "BTC-PERPETUAL", "quantity": -2.0}]


@pytest.fixture(scope="module")
def plain() -> Iterator[Client]:
    """A service that records nothing, so two answers to one request are the same bytes."""
    c = Client(ServiceState(ServiceConfig(asof=ASOF, record=False)))
    yield c
    c.close()


def _bodies() -> dict[str, tuple[str, Any]]:
    rows = sample_rows()
    account = rows[0]["account"]
    what_if = {"positions": rows, "account": account, "trades": TRADE, "collateral": 1e5}
    text = json.dumps
    return {
        "margin es": ("/v1/margin", text({"positions": rows, "model": "es"})),
        "margin span by product": (
            "/v1/margin",
            text({"positions": rows, "model": "span", "by": "product"}),
        ),
        "margin with collateral": (
            "/v1/margin",
            text(
                {
                    "positions": rows,
                    "model": "pm_grid",
                    "collateral": [{"account": account, "asset": "BTC", "amount": 2.0}],
                }
            ),
        ),
        "what-if pm_grid": ("/v1/what-if", text({**what_if, "model": "pm_grid"})),
        "what-if es": ("/v1/what-if", text({**what_if, "model": "es"})),
        "malformed JSON": ("/v1/margin", '{"positions": ['),
        "trailing data": ("/v1/margin", text({"positions": rows}) + " x"),
        "byte-order mark": ("/v1/margin", "\ufeff" + text({"positions": rows, "model": "span"})),
        "wrong type": ("/v1/margin", text({"positions": [{**rows[0], "quantity": "lots"}]})),
        "NaN": (
            "/v1/margin",
            text({"positions": rows[:1]}).replace(
                f'"quantity": {rows[0]["quantity"]}', '"quantity": NaN'
            ),
        ),
        "unknown key": ("/v1/margin", text({"positions": rows, "colour": "red"})),
        "duplicate key": ("/v1/margin", text({"positions": rows})[:-1] + ', "model": "span"}'),
        "unknown model": ("/v1/margin", text({"positions": rows, "model": "nope"})),
        "unknown symbol (SchemaError)": (
            "/v1/margin",
            text({"positions": [{"account": "a", "symbol": "NOPE-X", "quantity": 1}]}),
        ),
        "parameters of another model": (
            "/v1/margin",
            text(
                {
                    "positions": rows,
                    "model": "span",
                    "parameters": {"confidence": 0.99},
                }
            ),
        ),
        "unknown account (InputError)": ("/v1/what-if", text({**what_if, "account": "nobody"})),
        "unknown trade symbol": (
            "/v1/what-if",
            text({**what_if, "trades": [{"symbol": "NOPE-X", "quantity": 1.0}]}),
        ),
        "empty book": ("/v1/margin", text({"positions": []})),
    }


BODIES = _bodies()


def _count_fast_parses(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Spy on the one-pass parse the fast path uses (FastAPI's path validates Python)."""
    seen: list[str] = []
    for model in (MarginRequest, WhatIfRequest):
        original = model.model_validate_json

        def spy(data: Any, *a: Any, _original: Any = original, _name: str = model.__name__,
                **k: Any) -> Any:  # fmt: skip
            seen.append(_name)
            return _original(data, *a, **k)

        monkeypatch.setattr(model, "model_validate_json", spy)
    return seen


@pytest.mark.parametrize("name", list(BODIES))
def test_fast_path_answers_as_fastapi_does(
    plain: Client, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, body = BODIES[name]
    raw = body.encode("utf-8")
    seen = _count_fast_parses(monkeypatch)
    fast = plain.post(path, content=raw, headers={"content-type": "application/json"})
    assert len(seen) == 1  # the fast path parsed it (and passed it on if it did not validate)
    twin = plain.post(path, content=raw, headers={"content-type": "application/vnd.cm+json"})
    assert len(seen) == 1  # the twin did not go through the fast path
    assert twin.status_code == fast.status_code, (name, fast.text, twin.text)
    assert twin.headers.get("content-type") == fast.headers.get("content-type")
    assert twin.headers.get("content-length") == fast.headers.get("content-length")
    assert twin.content == fast.content, name
    assert fast.status_code in (200, 400, 422), fast.text
    if fast.status_code != 200:
        assert set(fast.json()) >= {"error", "kind", "issues"}


_JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**20), 10**20)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                  max_size=3),
    max_leaves=6,
)  # fmt: skip


@st.composite
def _mutated(draw: st.DrawFn) -> tuple[str, bytes]:
    """A margin or what-if body with one field set to any JSON value, one key dropped or one
    key added, at the top or in a row."""
    rows = sample_rows()[:4]
    path, body = draw(st.sampled_from([
        ("/v1/margin", {"positions": rows, "model": "span", "record": False}),
        ("/v1/what-if", {"positions": rows, "account": rows[0]["account"],
                         "trades": [dict(TRADE[0])], "collateral": 1e5, "model": "pm_grid"}),
    ]))  # fmt: skip
    target = draw(st.sampled_from(["top", "position", "trade"] if "trades" in body else
                                  ["top", "position"]))  # fmt: skip
    where = body if target == "top" else body["positions"][0] if target == "position" else (
        body["trades"][0])  # fmt: skip
    action = draw(st.sampled_from(["set", "drop", "add"]))
    if action == "add":
        where[draw(st.text(min_size=1, max_size=8))] = draw(_JSON_VALUES)
    else:
        key = draw(st.sampled_from(sorted(where)))
        if action == "set":
            where[key] = draw(_JSON_VALUES)
        else:
            del where[key]
    return path, json.dumps(body).encode()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow,
          HealthCheck.function_scoped_fixture])  # fmt: skip
@given(_mutated())
def test_fast_path_answers_as_fastapi_does_on_drawn_bodies(
    plain: Client, drawn: tuple[str, bytes]
) -> None:
    path, raw = drawn
    fast = plain.post(path, content=raw, headers={"content-type": "application/json"})
    twin = plain.post(path, content=raw, headers={"content-type": "application/vnd.cm+json"})
    assert (twin.status_code, twin.content) == (fast.status_code, fast.content), raw[:300]
    assert fast.status_code < 500, fast.text


def test_valid_bodies_never_reach_fastapi(plain: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    """A valid margin and what-if are answered by the fast path alone: FastAPI's body
    validation is never called for them (and is for the twin)."""
    from fastapi.dependencies import utils

    calls: list[int] = []
    original = utils.request_body_to_args

    async def spy(*a: Any, **k: Any) -> Any:
        calls.append(1)
        return await original(*a, **k)

    monkeypatch.setattr(utils, "request_body_to_args", spy)
    for name in ("margin es", "what-if pm_grid"):
        path, body = BODIES[name]
        ok = plain.post(path, content=body.encode(), headers={"content-type": "application/json"})
        assert ok.status_code == 200, ok.text
    assert calls == []
    path, body = BODIES["margin es"]
    twin = plain.post(path, content=body.encode(), headers={"content-type": "application/x+json"})
    assert twin.status_code == 200
    assert calls == [1]


def test_recorded_margin_through_the_fast_path(client: Client) -> None:
    """A recorded margin answered by the fast path is queued, written and read back."""
    r = client.post("/v1/margin", json={"positions": sample_rows(), "model": "span"})
    assert r.status_code == 200, r.text
    assert r.json()["record_status"] == "queued"
    run = client.get(f"/v1/runs/{r.json()['run_id']}")
    assert run.status_code == 200, run.text
    assert run.json()["result"]["total"] == r.json()["total"]


# ------------------------------------------------------------------ the middleware alone
class _Body(BaseModel):
    n: int


class _Known(Exception):
    pass


def _run(app: Any, method: str, path: str, messages: list[dict[str, Any]],
         headers: list[tuple[bytes, bytes]] | None = None) -> list[dict[str, Any]]:  # fmt: skip
    """Call ``app`` once; what it sent."""
    sent: list[dict[str, Any]] = []
    pending = list(messages)

    async def receive() -> dict[str, Any]:
        return pending.pop(0) if pending else {"type": "http.disconnect"}

    async def send(message: Any) -> None:
        sent.append(dict(message))

    json_type = [(b"content-type", b"application/json")]
    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "root_path": "",
        "headers": headers if headers is not None else json_type,
        "query_string": b"",
    }
    asyncio.run(app(scope, receive, send))
    return sent


class _Inner:
    """The application behind the middleware: notes what reached it, body included."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, list[dict[str, Any]]]] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        got = []
        while True:
            message = await receive()
            got.append(message)
            if message["type"] != "http.request" or not message.get("more_body"):
                break
        self.seen.append((scope["path"], got))
        await Response(b"inner", status_code=299)(scope, receive, send)


def _middleware(answer: Any) -> tuple[HotRoutes, _Inner]:
    inner = _Inner()

    async def handle_known(_request: Any, error: Exception) -> Response:
        return JSONResponse({"handled": str(error)}, status_code=418)

    hot = HotRoutes(inner, routes={"/x": HotRoute(_Body, answer)}, handlers={_Known: handle_known})
    return hot, inner


def test_middleware_takes_a_valid_body_in_pieces() -> None:
    async def answer(req: _Body, small: bool = False) -> Response:
        return Response(f"n={req.n} small={small}".encode())  # a tiny body: small

    hot, inner = _middleware(answer)
    sent = _run(hot, "POST", "/x", [
        {"type": "http.request", "body": b'{"n"', "more_body": True},
        {"type": "http.request", "body": b": 7}", "more_body": False},
    ])  # fmt: skip
    assert sent[0]["status"] == 200
    assert sent[1]["body"] == b"n=7 small=True"
    assert inner.seen == []


@pytest.mark.parametrize(
    ("method", "path", "headers", "messages"),
    [
        ("GET", "/x", None, [{"type": "http.request", "body": b"", "more_body": False}]),
        ("POST", "/y", None, [{"type": "http.request", "body": b'{"n": 1}', "more_body": False}]),
        (
            "POST",
            "/x",
            [(b"content-type", b"text/plain")],
            [{"type": "http.request", "body": b'{"n": 1}', "more_body": False}],
        ),
        ("POST", "/x", [], [{"type": "http.request", "body": b'{"n": 1}', "more_body": False}]),
        (
            "POST",
            "/x",
            None,
            [  # does not validate: passed on, both pieces as they came
                {"type": "http.request", "body": b'{"n": ', "more_body": True},
                {"type": "http.request", "body": b'"one"}', "more_body": False},
            ],
        ),
        (
            "POST",
            "/x",
            None,
            [  # the client left mid-body: passed on, disconnect included
                {"type": "http.request", "body": b'{"n": ', "more_body": True},
                {"type": "http.disconnect"},
            ],
        ),
    ],
    ids=["GET", "other-path", "text-plain", "no-content-type", "invalid", "disconnect"],
)
def test_middleware_passes_on_what_it_does_not_take(
    method: str, path: str, headers: Any, messages: list[dict[str, Any]]
) -> None:
    async def answer(_req: _Body, small: bool = False) -> Response:
        raise AssertionError("not taken here")

    hot, inner = _middleware(answer)
    sent = _run(hot, method, path, list(messages), headers)
    assert sent[0]["status"] == 299
    assert inner.seen == [(path, messages if method == "POST" else messages[:1])]


def test_middleware_answers_errors_with_the_applications_handlers() -> None:
    async def known(_req: _Body, small: bool = False) -> Response:
        raise _Known("over the limit")

    hot, _ = _middleware(known)
    sent = _run(hot, "POST", "/x", [{"type": "http.request", "body": b'{"n": 1}'}])
    assert sent[0]["status"] == 418
    assert json.loads(sent[1]["body"]) == {"handled": "over the limit"}

    async def unknown(_req: _Body, small: bool = False) -> Response:
        raise KeyError("a bug")

    hot, _ = _middleware(unknown)
    with pytest.raises(KeyError, match="a bug"):  # left to the catch-all (500 with an id)
        _run(hot, "POST", "/x", [{"type": "http.request", "body": b'{"n": 1}'}])
