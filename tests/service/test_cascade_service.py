"""``POST /v1/cascade``: the CLI's payload, recorded in the run store, 4xx with a reason on bad
input (never a 500)."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.service.conftest import Client, needs_data

from crossmargin.store import RunStore

pytestmark = needs_data


def test_cascade_population_matches_the_api_and_is_recorded(
    client: Client, store_path: Path
) -> None:
    from crossmargin import api

    res = client.post(
        "/v1/cascade",
        json={
            "population": {"accounts": 300, "seed": 4},
            "crisis": "2024-08-05",
            "modes": ["isolated", "cross"],
        },
    )
    assert res.status_code == 200, res.text
    body = res.json()
    direct = api.cascade(population="300:4", crisis="2024-08-05", modes=("isolated", "cross"))
    assert [m["mode"] for m in body["modes"]] == ["isolated", "cross"]
    for got, want in zip(body["modes"], direct.report.results, strict=True):
        assert got["accounts_liquidated"] == want.accounts_liquidated
        assert got["ledger"]["losses"] == pytest.approx(want.ledger.losses, rel=1e-9)
    assert body["units"]["money"] == "USD"
    assert RunStore(store_path).get(body["run_id"]).kind == "cascade"


def test_cascade_book_with_inline_scenario_and_ccp(client: Client) -> None:
    book = {
        "positions": [
            {"account": "a", "symbol": "BTC_USDC-PERPETUAL", "quantity": 20000},
            {"account": "a", "symbol": "ETH_USDC-PERPETUAL", "quantity": -6000},
            {"account": "b", "symbol": "BTC_USDC-PERPETUAL", "quantity": 5000},
        ],
        "collateral": [
            {"account": "a", "asset": "USDC", "amount": 60000},
            {"account": "b", "asset": "USD", "amount": 40000},
        ],
        "scenario": {"name": "crypto-30", "moves": {"crypto": -0.3}},
        "mode": "ccp",
        "record": False,
    }
    res = client.post("/v1/cascade", json=book)
    assert res.status_code == 200, res.text
    body = res.json()
    assert body["run_id"] is None
    assert body["shock"] == "crypto-30"
    assert body["allocation"] == "ccp"
    for m in body["modes"]:
        assert abs(m["ledger"]["gap"]) < 0.005


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"population": {"accounts": 0}, "crisis": "ftx"}, "greater than or equal to 1"),
        ({"population": {"accounts": 6000}, "crisis": "ftx"}, "up to 5,000 accounts"),
        ({"population": {"accounts": 10}}, "choose one shock"),
        ({"population": {"accounts": 10}, "crisis": "black-monday"}, "unknown crisis"),
        ({"crisis": "ftx"}, "give positions"),
        ({"population": {"accounts": 10}, "spread": "BTC-ETH-17"}, "LONG:SHORT:MULTIPLE"),
        ({"population": {"accounts": 10}, "crisis": "1999-01-04"}, "outside the history"),
        ({"population": {"accounts": 10}, "crisis": "ftx", "modes": ["portfolio"]}, "modes"),
        ({"population": {"accounts": 10, "venues": {"cme": 1}}, "crisis": "ftx"}, "no products"),
    ],
)
def test_bad_input_is_422_with_a_reason(client: Client, payload: dict, message: str) -> None:  # type: ignore[type-arg]
    res = client.post("/v1/cascade", json=payload)
    assert res.status_code == 422, res.text
    assert message in res.json()["error"]
