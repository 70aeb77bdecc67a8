"""The canonical column order of a netting layout (``Instrument.sort_key``, ``canonical_order``)
depends only on the instruments, never on the order they are given in.

An account's instruments must stand in the same relative order in every book and context
that holds them (``tests/test_netting_set_isolation.py``): the order is by underlying,
settlement currency, product, expiry, strike and type, and two instruments that tie there
(specs that differ beyond their product id) by every term of their specs.
"""

from __future__ import annotations

import dataclasses
import itertools

from crossmargin.instruments import parse_symbol
from crossmargin.instruments.instrument import canonical_order

SYMBOLS = ("SPY", "BTC-PERPETUAL", "BTC-27MAR26", "BTC-27MAR26-100000-P", "BTC_USDC",
           "BTC-27MAR26-90000-C", "BTC-27MAR26-100000-C", "BTC_USDC-PERPETUAL",
           "ETH-PERPETUAL", "ESH26")  # fmt: skip


def _ordered(instruments: list) -> list:  # type: ignore[type-arg]
    return [instruments[k] for k in canonical_order(instruments)]


def test_every_input_order_gives_one_order() -> None:
    instruments = [parse_symbol(s, reference_year=2026) for s in SYMBOLS]
    want = _ordered(instruments)
    for k in range(30):
        shuffled = instruments[k % 7 :] + instruments[: k % 7]
        shuffled = shuffled[::-1] if k % 2 else shuffled
        assert _ordered(shuffled) == want
    # underlying, settlement currency, product, expiry, strike, type
    assert [i.symbol for i in want] == [
        "BTC-27MAR26",  # BTC-settled: deribit_btc_future < _option < _perpetual
        "BTC-27MAR26-90000-C",
        "BTC-27MAR26-100000-C",
        "BTC-27MAR26-100000-P",
        "BTC-PERPETUAL",
        "BTC_USDC-PERPETUAL",  # USDC-settled
        "BTC_USDC",
        "ETH-PERPETUAL",
        "ESH26",  # SPX
        "SPY",
    ]


def test_specs_that_differ_beyond_the_product_id_still_have_one_order() -> None:
    base = parse_symbol("BTC-PERPETUAL")
    other = dataclasses.replace(base, spec=dataclasses.replace(base.spec, multiplier=100.0))
    third = dataclasses.replace(base, spec=dataclasses.replace(base.spec, tick=1.0))
    assert base.sort_key == other.sort_key == third.sort_key
    assert len({base, other, third}) == 3
    orders = {tuple(id(i) for i in _ordered(list(p))) for p in
              itertools.permutations([base, other, third])}  # fmt: skip
    assert len(orders) == 1
