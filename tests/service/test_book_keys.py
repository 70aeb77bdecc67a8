"""The service's kept books and rows are keyed so that equal keys are equal rows: a book
served from the caches is the book a fresh parse gives, whatever was asked before."""

from __future__ import annotations

import math

from crossmargin.portfolio import parse_rows
from crossmargin.service import ServiceConfig
from crossmargin.service.schemas import PositionRow
from crossmargin.service.state import ServiceState, _terms

ASOF = "2026-02-11"


def _row(quantity: float) -> PositionRow:
    return PositionRow(account="a", symbol="BTC-PERPETUAL", quantity=quantity)


def test_negative_zero_is_another_row() -> None:
    assert -0.0 == 0.0  # as plain values they would share a key
    assert _terms([_row(-0.0)]) != _terms([_row(0.0)])
    assert _terms([_row(2.0)]) == _terms([_row(2.0)])


def test_kept_books_and_rows_give_what_a_fresh_parse_gives() -> None:
    state = ServiceState(ServiceConfig(asof=ASOF, record=False))
    contracts = state.contracts
    other = PositionRow(account="a", symbol="ETH-PERPETUAL", quantity=1.0)
    for zero in (0.0, -0.0, 0.0):  # each book after the other: whole books and rows kept
        for rows in ([_row(zero)], [_row(zero), other]):
            got = state.book(rows, contracts)
            want = parse_rows([r.model_dump() for r in rows], source="request",
                              table=contracts.table)  # fmt: skip
            assert got == want
            signs = [math.copysign(1.0, p.quantity) for p in got.raw]
            assert signs == [math.copysign(1.0, p.quantity) for p in want.raw]
            assert math.copysign(1.0, got.raw[0].booked_quantity) == math.copysign(1.0, zero)
