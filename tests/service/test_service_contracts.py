"""The service with the caller's own contracts and quantity units: payloads equal the API's,
a request's contracts stay with that request, series files stay inside the data folder."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from tests.service.conftest import ASOF, Client, needs_data

from crossmargin import api
from crossmargin.contracts import load_contracts
from crossmargin.service import ServiceConfig, ServiceState

pytestmark = needs_data

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "contracts_sol_eth_treasuries.json"
ETH_FUTURE = {
    "product": "my_cme_eth", "style": "cme", "root": "ETH", "kind": "future",
    "settlement": "linear", "underlying": "ETH", "asset_class": "crypto",
    "quote_currency": "USD", "settlement_currency": "USD", "multiplier": 50, "tick": 0.5,
    "expiry_rule": "last_friday_monthly", "expiry_time_utc": "15:00",
}  # fmt: skip
ROWS = [
    {"account": "a", "symbol": "ETHM6", "quantity": 2.0},
    {"account": "a", "symbol": "ETH-PERPETUAL", "quantity": -150_000.0, "quantity_unit": "usd"},
]


def _margin(client: Client, **body: Any) -> Any:
    return client.post("/v1/margin", json={"model": "rules", "record": False, **body})


def test_request_contracts_and_units_equal_the_api(client: Client, tmp_path: Path) -> None:
    r = _margin(client, positions=ROWS, contracts={"products": [ETH_FUTURE]})
    assert r.status_code == 200, r.text
    body = r.json()
    # the same book through the library: the file form of the same contracts
    path = tmp_path / "eth.json"
    path.write_text(json.dumps({"products": [ETH_FUTURE]}), encoding="utf-8")
    mine = load_contracts(path)
    book_file = tmp_path / "book.json"
    book_file.write_text(json.dumps(ROWS), encoding="utf-8")
    book = api.load_book(book_file, contracts=mine)
    expected = api.margin(book, api.market_for(book, asof=ASOF, contracts=mine), "rules")
    assert body["total"] == pytest.approx(expected.total, rel=1e-12)
    quantities = {p["symbol"]: (p["quantity"], p["quantity_unit"]) for p in body["positions"]}
    # 150,000 USD face of the 1 USD ETH perpetual is 150,000 contracts
    assert quantities == {"ETHM6": (2.0, "contracts"), "ETH-PERPETUAL": (-150_000.0, "contracts")}


def test_a_requests_contracts_do_not_reach_the_next_request(client: Client) -> None:
    assert _margin(client, positions=ROWS, contracts={"products": [ETH_FUTURE]}).status_code == 200
    r = _margin(client, positions=ROWS)
    assert r.status_code == 422
    assert "no cme future with root 'ETH'" in r.text


def test_bad_request_contracts_are_422_with_the_key(client: Client) -> None:
    r = _margin(client, positions=ROWS, contracts={"products": [{**ETH_FUTURE, "multiplier": 0}]})
    assert r.status_code == 422
    assert "multiplier" in r.text
    r = _margin(client, positions=ROWS, contracts={"products": [ETH_FUTURE, ETH_FUTURE]})
    assert r.status_code == 422
    assert "duplicate product id" in r.json()["error"]


@pytest.mark.parametrize("file", ["/etc/passwd", "../shared/data/market/etf/spy_daily.csv"])
def test_request_series_files_stay_in_the_data_folder(client: Client, file: str) -> None:
    contracts = {
        "products": [ETH_FUTURE],
        "market_series": {"MINE": {"file": file, "calendar": "nyse"}},
    }
    r = _margin(client, positions=ROWS, contracts=contracts)
    assert r.status_code == 422
    assert "must be relative to the data folder" in r.json()["error"]


def test_bad_unit_is_a_422(client: Client) -> None:
    rows = [{"account": "a", "symbol": "SPY", "quantity": 1.0, "quantity_unit": "usd"}]
    r = _margin(client, positions=rows)
    assert r.status_code == 422
    issue = r.json()["issues"][0]
    assert (issue["column"], issue["value"]) == ("quantity_unit", "usd")
    r = _margin(client, positions=[{**rows[0], "quantity_unit": "lots"}])
    assert r.status_code == 422  # not one of the schema's units


def test_serve_contracts_apply_to_every_request(tmp_path: Path) -> None:
    state = ServiceState(ServiceConfig(asof=ASOF, record=False, contracts=EXAMPLE))
    client = Client(state)
    try:
        rows = [
            {"account": "a", "symbol": "ETHM6", "quantity": 2.0},
            {"account": "b", "symbol": "SPXW  260320P05800000", "quantity": -3.0},
        ]
        r = _margin(client, positions=rows, model="es")
        assert r.status_code == 200, r.text
        mine = load_contracts(EXAMPLE)
        book_file = tmp_path / "book.json"
        book_file.write_text(json.dumps(rows), encoding="utf-8")
        book = api.load_book(book_file, contracts=mine)
        market = api.market_for(book, asof=ASOF, contracts=mine)
        expected = api.margin(
            book, market, api.make_model("es", history=api.market_history(contracts=mine))
        )
        assert r.json()["total"] == pytest.approx(expected.total, rel=1e-12)
        # a what-if trading a user product
        r = client.post(
            "/v1/what-if",
            json={"account": "a", "positions": rows, "model": "rules", "collateral": 1e6,
                  "trades": [{"symbol": "ZNH6", "quantity": 1.0}]},
        )  # fmt: skip
        assert r.status_code == 422  # ZN has no history: the market cannot be built
        assert "unknown market series 'ZN'" in r.json()["error"]
        r = client.post(
            "/v1/what-if",
            json={"account": "a", "positions": rows, "model": "rules", "collateral": 1e6,
                  "trades": [{"symbol": "ETHU6", "quantity": -1.0}]},
        )  # fmt: skip
        assert r.status_code == 200, r.text
    finally:
        client.close()
