"""One valuation date per service and per request (issue 17, item 1).

Without ``--asof`` the service fixes its date when it starts; a margin and a what-if on the
same account then report the same ``asof`` and the what-if's ``margin_before`` equals the
margin, even when the trade brings an underlying whose history ends earlier (ES: SPX data
ends before the crypto data). A request may name its own ``asof``; every answer states it.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from tests.service.conftest import ASOF, Client, needs_data, sample_rows

from crossmargin import api
from crossmargin.market.builder import latest_common_date
from crossmargin.portfolio import parse_rows
from crossmargin.service import ServiceConfig, ServiceState

pytestmark = needs_data

ACCOUNT = "alpha-crypto"


@pytest.fixture(scope="module")
def undated() -> Iterator[Client]:
    """A service started with neither --asof nor --market."""
    client = Client(ServiceState(ServiceConfig(record=False)))
    yield client
    client.close()


def _rows() -> list[dict[str, object]]:
    return [r for r in sample_rows() if r["account"] == ACCOUNT]


def test_the_service_date_is_the_latest_every_underlying_has(undated: Client) -> None:
    state = undated.state
    history = state.history()
    ends = {}
    for u in state.contracts.table.underlyings():
        try:
            ends[u] = latest_common_date([u], history=history)
        except Exception:  # no series: cannot be valued on any date
            continue
    # every underlying with a history covers the service's date, and one ends on it
    assert all(end >= state.asof for end in ends.values())
    assert state.asof in ends.values()
    # the crypto data runs later than the service's date: it is not the crypto-only date
    assert latest_common_date(["BTC"], history=history) > state.asof
    assert undated.get("/v1/health").json()["asof"] == state.asof.isoformat()


@pytest.mark.parametrize("model", ["span", "es"])
def test_margin_and_what_if_agree_without_asof(undated: Client, model: str) -> None:
    margin = undated.post("/v1/margin", json={"positions": _rows(), "model": model})
    assert margin.status_code == 200, margin.text
    trade = [{"symbol": "ESM26", "quantity": 1.0}]  # an underlying whose history ends earlier
    what_if = undated.post(
        "/v1/what-if",
        json={"positions": _rows(), "account": ACCOUNT, "trades": trade, "model": model},
    )
    assert what_if.status_code == 200, what_if.text
    m, w = margin.json(), what_if.json()
    service_date = undated.get("/v1/health").json()["asof"]
    assert m["asof"] == w["asof"] == service_date
    assert w["margin_before"] == pytest.approx(m["total"], rel=1e-12)
    # independent: the library on the service's date gives the same figure
    book = parse_rows(_rows(), source="request")
    market = api.market_for(book, asof=service_date)
    assert m["total"] == pytest.approx(api.margin(book, market, model).total, rel=1e-10)


def test_a_request_names_its_own_date(undated: Client) -> None:
    r = undated.post("/v1/margin", json={"positions": _rows(), "model": "span", "asof": ASOF})
    assert r.status_code == 200, r.text
    assert r.json()["asof"] == ASOF
    book = parse_rows(_rows(), source="request")
    expected = api.margin(book, api.market_for(book, asof=ASOF), "span").total
    assert r.json()["total"] == pytest.approx(expected, rel=1e-12)
    w = undated.post(
        "/v1/what-if",
        json={"positions": _rows(), "account": ACCOUNT, "model": "span", "asof": ASOF,
              "trades": [{"symbol": "BTC-PERPETUAL", "quantity": 10.0}]},
    )  # fmt: skip
    assert w.status_code == 200, w.text
    assert w.json()["asof"] == ASOF
    assert w.json()["margin_before"] == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("bad", ["2026-02-30", "10/02/2025", "yesterday", "", "2026-2-1"])
def test_a_bad_date_is_a_422_naming_the_field(undated: Client, bad: str) -> None:
    r = undated.post("/v1/margin", json={"positions": _rows(), "asof": bad})
    assert r.status_code == 422
    body = r.json()
    assert body["kind"] == "ValidationError"
    assert body["issues"][0]["path"] == "body.asof"


def test_a_market_file_fixes_the_date(tmp_path: Path) -> None:
    book = parse_rows(sample_rows(), source="request")
    snap = api.market_for(book, asof=ASOF)
    file = tmp_path / "deep" / "folder" / "snapshot.json"
    file.parent.mkdir(parents=True)
    snap.save(file)
    client = Client(ServiceState(ServiceConfig(market=file, record=False)))
    try:
        health = client.get("/v1/health").json()
        assert health["asof"] == ASOF
        assert "snapshot.json" in health["market"]
        assert str(tmp_path) not in client.get("/v1/health").text
        r = client.post("/v1/margin", json={"positions": _rows(), "model": "span"})
        assert r.status_code == 200, r.text
        assert r.json()["asof"] == ASOF
        assert str(tmp_path) not in r.text  # the market field names no server path
        other = client.post(
            "/v1/margin", json={"positions": _rows(), "model": "span", "asof": "2026-01-02"}
        )
        assert other.status_code == 422
        assert "cannot value on asof 2026-01-02" in other.json()["error"]
    finally:
        client.close()
    assert date.fromisoformat(ASOF) == snap.valuation_time.date()
