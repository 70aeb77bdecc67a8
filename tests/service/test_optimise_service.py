"""The capital-efficiency endpoints answer what the API answers, and bad input is a 422 with
the reason (never a 500)."""

from __future__ import annotations

import pytest
from tests.service.conftest import ASOF, Client, needs_data, sample_rows

from crossmargin import api
from crossmargin.portfolio import Portfolio

pytestmark = needs_data


def _book_and_market():  # type: ignore[no-untyped-def]
    """The sample book's positions (the requests post no collateral) and its market."""
    book = Portfolio.from_positions(api.sample_book().positions)
    return book, api.market_for(book, asof=ASOF)


def test_attribute_matches_the_api(client: Client) -> None:
    res = client.post("/v1/attribute", json={"positions": sample_rows(), "model": "pm_grid",
                                              "group": "underlying"})  # fmt: skip
    assert res.status_code == 200, res.text
    body = res.json()
    book, market = _book_and_market()
    want = api.attribute(book, market, "pm_grid", incremental=False)
    for got, acc in zip(body["accounts"], want.accounts, strict=True):
        assert got["total"] == pytest.approx(acc.total, rel=1e-12)
        for (group, value), row in zip(acc.by("underlying"), got["groups"], strict=True):
            assert row["group"] == group
            assert row["contribution"] == pytest.approx(value, rel=1e-9, abs=1e-6)
    simm = client.post("/v1/attribute", json={"positions": sample_rows(), "model": "simm"})
    assert simm.status_code == 200, simm.text
    assert simm.json()["model"] == "simm"


def test_hedge_allocate_capital(client: Client) -> None:
    rows = sample_rows()
    res = client.post(
        "/v1/optimise/hedge",
        json={"positions": rows, "account": "delta-mixed", "model": "rules", "max_notional": 50000},
    )
    assert res.status_code == 200, res.text
    body = res.json()
    assert body["verified"] == pytest.approx(body["promised"], rel=1e-9)
    assert body["requirement_after"] <= body["requirement_before"] + 1e-6
    venues = {"venues": [{"name": "d", "model": "pm_grid", "eligible": {"styles": ["deribit"]}},
                         {"name": "p", "model": "rules"}]}  # fmt: skip
    res = client.post("/v1/optimise/allocate", json={"positions": rows, "venues": venues})
    assert res.status_code == 200, res.text
    assert res.json()["saving"] >= 0
    res = client.post(
        "/v1/optimise/capital",
        json={"positions": rows, "model": "span", "rate": 0.04, "cash": "isolated"},
    )
    assert res.status_code == 200, res.text
    book, market = _book_and_market()
    want = api.capital(book, market, "span", rate=0.04, cash="isolated", liquidation=False)
    assert res.json()["totals"]["freed"] == pytest.approx(want.totals()["freed"], rel=1e-12)


@pytest.mark.parametrize(
    ("url", "extra", "reason"),
    [
        ("/v1/attribute", {"model": "nope"}, "unknown model 'nope'"),
        ("/v1/optimise/hedge", {"account": "nobody"}, "unknown account 'nobody'"),
        ("/v1/optimise/hedge", {"account": "beta-macro", "model": "hvar"}, "not convex"),
        ("/v1/optimise/hedge", {"account": "beta-macro", "universe": [{"symbol": "??"}]},
         "unknown symbol"),
        ("/v1/optimise/allocate", {"venues": {"venues": [{"name": "x", "model": "foo"}]}},
         "unknown model 'foo'"),
        ("/v1/optimise/allocate", {"venues": {"venues": [], "extra": 1}}, "unknown key"),
        ("/v1/optimise/capital", {"cash": -1.0, "rate": 0.01}, "cash must be a finite amount"),
    ],
)  # fmt: skip
def test_bad_input_is_422(client: Client, url: str, extra: dict, reason: str) -> None:  # type: ignore[type-arg]
    res = client.post(url, json={"positions": sample_rows(), **extra})
    assert res.status_code == 422, res.text
    assert reason in res.text
