"""The service's caches never change a figure.

A service keeps parsed rows, books, layouts by shape, prepared contexts, rows margined on a
context (``RowMemo``), stressed windows, and each what-if's "before" result and text. Each
has its own tests; this one drives them together the way a desk does: a random sequence of
margins and what-ifs on evolving books (fills, a position closed to zero, a sign flipped, a
new instrument, the same request again), every account and model sharing one service, and
holds every answer to the uncached API on a freshly parsed book, to the last bit (JSON
round-trips floats exactly)."""

from __future__ import annotations

import json
from typing import Any
from unittest.mock import patch

import numpy as np
import pytest
from tests.service.conftest import ASOF, Client, needs_data, sample_rows

from crossmargin import api
from crossmargin.lru import Lru
from crossmargin.netting import layout
from crossmargin.portfolio import parse_rows
from crossmargin.service import ServiceConfig, ServiceState

pytestmark = needs_data

MODELS = ("rules", "span", "pm_grid", "es", "hvar")
STEPS = 14
#: An account's figures that are margin (its equity also counts the cash the what-if adds
#: and the premium it pays, which a bare book has not).
FIGURES = ("account", "total", "netted", "standalone", "grouped", "capped", "maintenance",
           "benefit", "benefit_pct", "components", "info", "worst_scenario", "netting_set",
           "tiers")  # fmt: skip


def _figures(account: dict[str, Any]) -> dict[str, Any]:
    return {k: account[k] for k in FIGURES}


def _reference(rows: list[dict[str, Any]], model: str) -> list[dict[str, Any]]:
    """Each account's figures from the uncached API on a freshly parsed book (the layouts
    kept by book shape are process-wide: none is read or kept meanwhile)."""
    book = parse_rows(rows, source="request")
    with patch.object(layout, "_SHAPES", Lru(0)):
        result = api.margin(book, api.market_for(book, asof=ASOF), model).to_dict()
    return [_figures(a) for a in json.loads(json.dumps(result))["accounts"]]


def _mutate(rng: np.random.Generator, rows: list[dict[str, Any]], others: list[str]) -> None:
    """A fill on one row (a partial fill, a doubling, a sign flip, a tiny change), a new
    instrument, or nothing (the same book again)."""
    draw = rng.integers(0, 6)
    if draw <= 2:
        row = rows[int(rng.integers(0, len(rows)))]
        row["quantity"] = row["quantity"] * float(rng.choice([0.5, 2.0, -1.0, 1.000001]))
    elif draw == 3:
        rows.append({**rows[0], "symbol": str(rng.choice(others)), "quantity": 3.0,
                     "trade_price": None, "position_id": None})  # fmt: skip


def _trades(
    rng: np.random.Generator, rows: list[dict[str, Any]], others: list[str]
) -> list[dict[str, Any]]:
    """One or two trades: on a held instrument (any size, or exactly closing it) or on a
    new one."""
    out = []
    for _ in range(int(rng.integers(1, 3))):
        if rng.random() < 0.7:
            held = rows[int(rng.integers(0, len(rows)))]
            net = sum(r["quantity"] for r in rows if r["symbol"] == held["symbol"])
            quantity = -net if rng.random() < 0.3 else float(rng.normal() * abs(net) + 1.0)
            out.append({"symbol": held["symbol"], "quantity": quantity})
        else:
            out.append({"symbol": str(rng.choice(others)), "quantity": float(rng.integers(1, 9))})
    return out


@pytest.mark.parametrize("model", MODELS)
def test_a_random_sequence_through_the_caches_equals_the_uncached_api(model: str) -> None:
    rng = np.random.default_rng([ord(c) for c in model])
    sample = sample_rows()
    accounts = sorted({r["account"] for r in sample})
    books = {a: [dict(r) for r in sample if r["account"] == a] for a in accounts}
    symbols = sorted({r["symbol"] for r in sample})
    client = Client(ServiceState(ServiceConfig(asof=ASOF, record=False)))
    kinds = []
    try:
        for _ in range(STEPS):
            account = accounts[int(rng.integers(0, len(accounts)))]
            rows = books[account]
            others = [s for s in symbols if s not in {r["symbol"] for r in rows}]
            _mutate(rng, rows, others)
            if rng.random() < 0.4:
                kinds.append("margin")
                body = {"positions": rows, "model": model, "record": False}
                answer = client.post("/v1/margin", json=body)
                assert answer.status_code == 200, answer.text
                got = [_figures(a) for a in answer.json()["accounts"]]
                assert got == _reference(rows, model)
                continue
            kinds.append("what-if")
            trades = _trades(rng, rows, others)
            body = {"positions": rows, "account": account, "trades": trades, "model": model}
            answer = client.post("/v1/what-if", json=body)
            assert answer.status_code == 200, answer.text
            what_if = answer.json()
            (before,) = _reference(rows, model)
            (after,) = _reference(rows + [{**t, "account": account} for t in trades], model)
            assert _figures(what_if["before"]) == before
            assert _figures(what_if["after"]) == after
            assert what_if["margin_before"] == before["total"]
            assert what_if["margin_after"] == after["total"]
        assert {"margin", "what-if"} <= set(kinds)  # the sequence exercised both
        assert client.get("/v1/health").json()["cache"]["hits"] > 0  # and the caches
    finally:
        client.close()
