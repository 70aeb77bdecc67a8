"""The service in process: payloads equal the API's, errors are 4xx with reasons, caching."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from tests.service.conftest import ASOF, Client, needs_data, sample_rows

from crossmargin import api
from crossmargin.models.pm_grid import PMGridModel
from crossmargin.models.var import HistoricalVaRModel
from crossmargin.portfolio import parse_rows
from crossmargin.store import RunStore

pytestmark = needs_data

TRADE = [{"symbol": "BTC-27MAR26-80000-C", "quantity": -5.0}]


def _book() -> Any:
    return parse_rows(sample_rows(), source="request")


def _market(book: Any) -> Any:
    return api.market_for(book, asof=ASOF)


def _runs(path: Path) -> int:
    return len(RunStore(path).list(None)) if path.exists() else 0


def test_health_models_and_openapi(client: Client) -> None:
    health = client.get("/v1/health").json()
    assert health["status"] == "ok"
    assert health["cache"]["prepares"] == 0
    names = [m["name"] for m in client.get("/v1/models").json()]
    assert {"rules", "span", "pm_grid", "es"} <= set(names)
    schema = client.get("/openapi.json").json()
    assert {"/v1/margin", "/v1/what-if", "/v1/simm", "/v1/runs/{run_id}"} <= set(schema["paths"])
    assert client.get("/docs").status_code == 200


@pytest.mark.parametrize("model", ["rules", "pm_grid", "es"])
def test_margin_equals_api_and_is_recorded(client: Client, store_path: Path, model: str) -> None:
    r = client.post("/v1/margin", json={"positions": sample_rows(), "model": model, "cap": 0.8})
    assert r.status_code == 200, r.text
    body = r.json()
    book = _book()
    expected = api.margin(book, _market(book), model, cap=0.8).to_dict()
    run_id = body.pop("run_id")
    assert body.pop("record_status") == "queued"
    assert body.pop("asof") == ASOF
    assert body == json.loads(json.dumps(expected))  # the CLI --json payload, exactly
    stored = client.get(f"/v1/runs/{run_id}")  # waits for the background writer
    assert stored.status_code == 200, stored.text
    assert stored.json()["result"]["total"] == pytest.approx(body["total"])
    assert _runs(store_path) == 1
    # a second call with record=false stores nothing and serves prepare from the cache
    again = client.post(
        "/v1/margin", json={"positions": sample_rows(), "model": model, "record": False}
    ).json()
    assert again["run_id"] is None
    assert again["record_status"] == "off"
    assert client.state.recorder is not None
    client.state.recorder.close()
    assert _runs(store_path) == 1
    assert client.get("/v1/health").json()["cache"]["hits"] >= 1


@pytest.mark.parametrize("model", ["pm_grid", "es"])
def test_what_if_matches_uncached_api(client: Client, model: str) -> None:
    account = "alpha-crypto"
    rows = [r for r in sample_rows() if r["account"] == account]
    req = {"positions": rows, "account": account, "trades": TRADE, "model": model}
    r = client.post("/v1/what-if", json={**req, "collateral": 1e9})
    assert r.status_code == 200, r.text
    body = r.json()
    # independent: the uncached API on the account's book and on book + trades
    full = _book()
    market = _market(full)
    book = full.subset([account])
    after_book = parse_rows(rows + [{**t, "account": account} for t in TRADE], source="x")
    before = api.margin(book, market, model).total
    after = api.margin(after_book, market, model).total
    assert body["margin_before"] == before  # bit for bit: the netting-set rule
    assert body["margin_after"] == after
    assert body["incremental_margin"] == after - before
    assert body["passes"] is True
    # equity = cash + the positions' MTM (the trades, at fair value, cost what they are worth)
    mtm = api.value(book, market).accounts[0].net_mtm
    cash = max(after * 0.5 - mtm, 1.0)
    short = client.post("/v1/what-if", json={**req, "collateral": cash}).json()
    assert short["passes"] is False
    assert short["equity_before"] == pytest.approx(cash + mtm, rel=1e-10)
    assert short["equity_after"] == pytest.approx(cash + mtm, rel=1e-9, abs=1e-6)
    assert short["excess"] == pytest.approx(cash + mtm - after, rel=1e-9)


@pytest.mark.parametrize("model", ["rules", "span", "pm_grid", "es", "hvar"])
def test_each_account_is_answered_as_if_alone_bit_for_bit(client: Client, model: str) -> None:
    """The whole book, then each account alone, through contexts the service has cached for
    the other requests: every account's figures are those of the uncached API on the
    account alone, to the last bit (JSON round-trips floats exactly)."""
    full = _book()
    market = _market(full)

    def figures(account: dict[str, Any]) -> list[Any]:
        return [account[k] for k in ("total", "netted", "standalone", "grouped", "maintenance",
                                     "components")]  # fmt: skip

    body = client.post("/v1/margin", json={"positions": sample_rows(), "model": model,
                                           "record": False}).json()  # fmt: skip
    inside = {a["account"]: figures(a) for a in body["accounts"]}
    for account in full.accounts:
        want = api.margin(full.subset([account]), market, model).to_dict()["accounts"][0]
        rows = [r for r in sample_rows() if r["account"] == account]
        alone = client.post("/v1/margin", json={"positions": rows, "model": model,
                                                "record": False}).json()  # fmt: skip
        assert figures(alone["accounts"][0]) == figures(want) == inside[account], account


@pytest.mark.parametrize("model_cls", [PMGridModel, HistoricalVaRModel])
def test_repeated_what_if_does_not_prepare_again(
    client: Client, monkeypatch: pytest.MonkeyPatch, model_cls: type
) -> None:
    calls: list[int] = []
    original = model_cls.prepare

    def counting(self: Any, instruments: Any, market: Any) -> Any:
        calls.append(len(instruments))
        return original(self, instruments, market)

    monkeypatch.setattr(model_cls, "prepare", counting)
    model = "pm_grid" if model_cls is PMGridModel else "es"
    account = "alpha-crypto"
    rows = [r for r in sample_rows() if r["account"] == account]
    req = {"positions": rows, "account": account, "trades": TRADE, "model": model,
           "collateral": 1e6}  # fmt: skip
    first = client.post("/v1/what-if", json=req).json()
    n_first = len(calls)
    # before: one prepare of the book; after: the new option alone (extension)
    assert calls[0] == len({r["symbol"] for r in rows})
    assert calls[1:] == [1] if model == "pm_grid" else calls[1:] == []
    for _ in range(3):
        assert client.post("/v1/what-if", json=req).json() == first
    assert len(calls) == n_first
    stats = client.get("/v1/health").json()["cache"]
    assert stats["extensions"] == 1
    assert stats["hits"] >= 3


def test_bad_input_is_4xx_with_reason_and_nothing_stored(client: Client, store_path: Path) -> None:
    rows = sample_rows()
    bad = client.post(
        "/v1/margin", content=b'{"positions": [', headers={"content-type": "application/json"}
    )
    assert bad.status_code == 400
    assert bad.json()["kind"] == "MalformedJSON"
    assert "not valid JSON" in bad.json()["error"]
    wrong = client.post(
        "/v1/margin",
        json={"positions": [{**rows[0], "quantity": "lots"}], "model": "span"},
    )
    assert wrong.status_code == 422
    assert wrong.json()["issues"][0]["path"] == "body.positions.0.quantity"
    unknown = client.post("/v1/margin", json={"positions": rows, "model": "nope"})
    assert unknown.status_code == 422
    assert "unknown model 'nope'" in unknown.json()["error"]
    empty = client.post("/v1/margin", json={"positions": [], "model": "span"})
    assert empty.status_code == 422
    assert empty.json()["issues"][0]["path"] == "body.positions"
    nobody = client.post(
        "/v1/what-if",
        json={"positions": rows, "account": "nobody", "trades": TRADE, "collateral": 1.0},
    )
    assert nobody.status_code == 422
    assert "unknown account 'nobody'" in nobody.json()["error"]
    symbol = client.post(
        "/v1/margin",
        json={"positions": [{"account": "a", "symbol": "NOPE-X", "quantity": 1.0},
                            {"account": "", "symbol": "SPY", "quantity": 1.0}]},
    )  # fmt: skip
    assert symbol.status_code == 422
    assert symbol.json()["issues"]
    bad_symbol = client.post(
        "/v1/margin", json={"positions": [{"account": "a", "symbol": "NOPE-X", "quantity": 1.0}]}
    ).json()
    assert bad_symbol["kind"] == "SchemaError"
    assert bad_symbol["issues"][0]["row"] == 1
    assert bad_symbol["issues"][0]["column"] == "symbol"
    assert bad_symbol["issues"][0]["value"] == "NOPE-X"
    misplaced = client.post(
        "/v1/margin",
        json={"positions": rows, "model": "span", "parameters": {"confidence": 0.99}},
    )
    assert misplaced.status_code == 422
    assert "do not apply to model span" in misplaced.json()["error"]
    extra = client.post("/v1/margin", json={"positions": rows, "colour": "red"})
    assert extra.status_code == 422
    assert client.get("/v1/runs/r-20260101T000000-deadbeef").status_code == 404
    assert client.get("/v1/runs/not-a-run").status_code == 422
    assert _runs(store_path) == 0


@pytest.mark.parametrize(
    ("content_type", "status"),
    [(None, 415), ("text/plain", 415), ("application/x-www-form-urlencoded", 415),
     ("application/json; charset=utf-8", 200), ("application/merge-patch+json", 200)],
)  # fmt: skip
def test_a_body_not_sent_as_json_is_415_naming_the_type(
    client: Client, content_type: str | None, status: int
) -> None:
    """A JSON body under another content type is never read as JSON: the answer says to send
    ``Content-Type: application/json`` (not "Input should be a valid dictionary")."""
    body = json.dumps({"positions": sample_rows(), "model": "span", "record": False}).encode()
    headers = {} if content_type is None else {"content-type": content_type}
    r = client.post("/v1/margin", content=body, headers=headers)
    assert r.status_code == status, r.text
    if status == 415:
        assert r.json()["kind"] == "UnsupportedMediaType"
        assert "must be JSON sent with 'Content-Type: application/json'" in r.json()["error"]
        assert (content_type or "no Content-Type") in r.json()["error"]
    broken = client.post("/v1/margin", content=b'{"positions": 3}', headers=headers)
    assert broken.status_code == (415 if status == 415 else 422)  # a field error stays 422


def test_simm_endpoint(client: Client) -> None:
    crif = [
        {"ProductClass": "RatesFX", "RiskType": "Risk_FX", "Qualifier": "EUR",
         "Amount": 1_000_000.0, "AmountCurrency": "USD", "AmountUSD": 1_000_000.0},
    ]  # fmt: skip
    r = client.post("/v1/simm", json={"crif": crif, "version": "2.6"})
    assert r.status_code == 200, r.text
    assert r.json()["total"] > 0
    bad = client.post("/v1/simm", json={"crif": [{"RiskType": "Risk_Nope", "Amount": 1.0}]})
    assert bad.status_code == 422
    assert bad.json()["error"]


def test_unexpected_error_is_structured_500(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(client.state, "margin", broken)
    r = client.post("/v1/margin", json={"positions": sample_rows()})
    assert r.status_code == 500
    body = r.json()
    assert set(body) == {"error", "kind", "issues", "id"}
    assert body["kind"] == "InternalError"
    assert "boom" not in body["error"]


def test_extension_equals_fresh_prepare() -> None:
    """Cache paths (extension, superset hit) give the figures of a fresh prepare, bit for bit
    (a grown context keeps its columns in canonical order)."""
    from crossmargin.models.cache import CachedModel, ContextCache

    full = _book()
    market = _market(full)
    account = "alpha-crypto"
    book = full.subset([account])
    after = parse_rows(
        [r for r in sample_rows() if r["account"] == account]
        + [{**t, "account": account} for t in TRADE],
        source="x",
    )
    for name in ("pm_grid", "es"):
        model = api.make_model(name)
        cache = ContextCache()
        cached = CachedModel(model, cache, model_key=name, market_key="m")
        cached.compute(after.subset([account]), market)  # warm the cache (not a superset hit)
        cache.clear()
        cached.compute(book, market)
        got = cached.compute(after, market)
        want = model.compute(after, market)
        assert cache.stats().extensions == 1
        assert got.model == want.model
        assert [a.total for a in got.accounts] == [a.total for a in want.accounts]
        assert [a.components for a in got.accounts] == [a.components for a in want.accounts]
        assert [p.standalone for p in got.positions] == [p.standalone for p in want.positions]
        grown = [i.sort_key for i in cached.prepare(after.instruments, market).context.instruments]
        assert grown == sorted(grown)
        # a subset of a cached context on the same underlyings is a hit with equal figures
        smaller = book.subset([account])
        hit = cached.compute(smaller, market)
        assert hit.total == model.compute(smaller, market).total


def test_margin_and_what_if_with_collateral_offsets_and_venue_groups(client: Client) -> None:
    """Collateral rows, the offset policy and a venue-group declaration over HTTP give the
    API's figures; a bad declaration or an unknown asset is a 422 with the reason."""
    held = [
        {"account": "alpha-crypto", "asset": "BTC", "amount": 2.0, "venue": "deribit"},
        {"account": "beta-macro", "asset": "USD", "amount": 100000.0, "venue": "cme"},
    ]
    req = {"positions": sample_rows(), "model": "span", "collateral": held, "offsets": "none",
           "cross_margin": "none", "record": False}  # fmt: skip
    r = client.post("/v1/margin", json=req)
    assert r.status_code == 200, r.text
    body = r.json()
    from crossmargin.collateral import CollateralHolding
    from crossmargin.netting.venues import parse_cross_margin, split_netting_sets

    book = split_netting_sets(
        _book().with_collateral([CollateralHolding(**h) for h in held]),
        parse_cross_margin("none", source="test"),
    )
    want = api.margin(book, _market(_book()), "span", offsets="none").to_dict()
    assert [a["account"] for a in body["accounts"]] == [a["account"] for a in want["accounts"]]
    for got, exp in zip(body["accounts"], want["accounts"], strict=True):
        assert got["total"] == pytest.approx(exp["total"], rel=1e-12)
        assert got["equity"]["equity"] == pytest.approx(exp["equity"]["equity"], rel=1e-12)
    assert body["units"]["money"].startswith("USD")
    wi = client.post("/v1/what-if", json={
        "positions": sample_rows(), "account": "alpha-crypto", "trades": TRADE, "model": "span",
        "holdings": held[:1], "collateral": 1000.0})  # fmt: skip
    assert wi.status_code == 200, wi.text
    eq = wi.json()["before"]["equity"]
    assert eq["collateral_value"] == pytest.approx(1000.0 + 2.0 * _market(_book()).spots["BTC"])
    bad = client.post("/v1/margin", json={**req, "cross_margin": "cme+cme"})
    assert bad.status_code == 422
    assert "in two groups" in bad.text
    unknown = client.post("/v1/margin", json={**req, "collateral": [{**held[0], "asset": "XYZ"}]})
    assert unknown.status_code == 422
    assert "XYZ" in unknown.text


def test_stressed_window_is_searched_once_per_book(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The stressed-window search runs once per context and book: a repeated margin or
    what-if reuses it, with the figures of a fresh, uncached computation."""
    import crossmargin.models.var as var

    calls: list[int] = []
    original = var.row_worst_windows  # the search of a small book's rows

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(var, "row_worst_windows", counting)
    account = "alpha-crypto"
    rows = [r for r in sample_rows() if r["account"] == account]
    req = {"positions": rows, "model": "es", "record": False}
    first = client.post("/v1/margin", json=req).json()
    searched = len(calls)
    assert searched >= 1
    again = client.post("/v1/margin", json=req).json()
    assert len(calls) == searched  # served from the memo
    assert again == first
    what_if = {"positions": rows, "account": account, "trades": TRADE, "model": "es"}
    w1 = client.post("/v1/what-if", json=what_if).json()
    searched = len(calls)
    assert client.post("/v1/what-if", json=what_if).json() == w1
    assert len(calls) == searched
    # independent: the library without any cache gives the same stress figures and windows
    book = parse_rows(rows, source="request")
    fresh = api.margin(book, _market(book), "es").to_dict()
    for got, want in zip(first["accounts"], fresh["accounts"], strict=True):
        assert got["info"]["stress"] == pytest.approx(want["info"]["stress"], rel=1e-12)
        assert got["netting_set"].get("stressed_window") == want["netting_set"].get(
            "stressed_window"
        )
