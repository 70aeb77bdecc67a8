"""A what-if's answer is written with its "before" figures' JSON kept per cached result
(``ServiceState.what_if``'s third item): the same bytes as writing the whole answer, on the first
what-if of a book and on every one after it."""

from __future__ import annotations

import json
from typing import Any

import pytest
from tests.service.conftest import ASOF, needs_data, sample_rows

from crossmargin.service import ServiceConfig, ServiceState
from crossmargin.service import app as appmod
from crossmargin.service.responses import dumps, strict_json
from crossmargin.service.schemas import WhatIfRequest

pytestmark = needs_data

ACCOUNT = "alpha-crypto"


def _request(model: str, quantity: float) -> WhatIfRequest:
    rows = [r for r in sample_rows() if r["account"] == ACCOUNT]
    body: dict[str, Any] = {
        "positions": rows, "account": ACCOUNT, "model": model, "collateral": 5e5,
        "trades": [{"symbol": rows[0]["symbol"], "quantity": quantity}],
    }  # fmt: skip
    return WhatIfRequest.model_validate_json(json.dumps(body))


@pytest.mark.parametrize("model", ["pm_grid", "es", "rules"])
def test_the_answer_is_the_whole_answer_written_at_once(model: str) -> None:
    state = ServiceState(ServiceConfig(asof=ASOF, record=False))
    try:
        kept = []
        for quantity in (1.0, -2.5, 7.0, 1.0):
            req = _request(model, quantity)
            answer = appmod._what_if(state, req).body
            # the reference: the state's own result (its cached "before"), written whole
            mine = appmod._contracts(state, req)
            book = state.book(req.positions, mine, req.holdings, req.cross_margin)
            result, snap, before = state.what_if(
                book, req.account, req.trades, appmod._model(state, req, mine),
                collateral=req.collateral, by=req.by, cap=req.cap, offsets=req.offsets,
                contracts=mine,
            )  # fmt: skip
            whole = {"asof": snap.valuation_time.date().isoformat(), **result.to_dict()}
            assert answer == dumps(whole, thorough=False).encode()
            assert before == strict_json(result.before.accounts[0].to_dict())
            assert before in answer.decode()
            kept.append(before)
        assert all(text is kept[0] for text in kept)  # written once, for the cached result
    finally:
        state.close()
