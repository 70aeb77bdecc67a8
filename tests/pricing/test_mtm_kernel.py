"""The compiled MTM pass (:func:`crossmargin.pricing.mtm.row_mtm`) against the array
formulas it replaced (the twin below): MTM and unrealised P&L per position equal bit for bit,
on the sample book's instruments (inverse and linear futures, perpetuals, options, spot) with
rows priced and unpriced, expired and live, netted into shared positions in any order."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from crossmargin import api
from crossmargin.pricing.mtm import row_mtm
from crossmargin.pricing.terms import FUTURE, PERPETUAL, InstrumentTerms, instrument_terms
from crossmargin.pricing.valuation import base_fx, base_values
from market_inputs import sample_market


def _mtm_by_arrays(
    terms: InstrumentTerms,
    j: np.ndarray,
    q: np.ndarray,
    price: np.ndarray,
    position: np.ndarray,
    n: int,
) -> tuple[np.ndarray, np.ndarray]:
    """The array formulas of ``row_mtm`` before the compiled pass (the twin)."""
    v0, x0 = base_values(terms), base_fx(terms)
    kind, m, x = terms.kind[j], terms.multiplier[j], x0[j]
    priced = ~np.isnan(price)
    fut = (kind == FUTURE) | (kind == PERPETUAL)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        grow = np.where(kind == FUTURE, np.exp(terms.carry[j] * terms.t[j]), 1.0)
        mark = terms.spot[j] * grow
        variation = np.where(
            terms.inverse[j], q * m * (1.0 / price - 1.0 / mark) * x, q * m * (mark - price) * x
        )
        variation = np.where(priced & ~terms.expired[j], variation, 0.0)
        row_value = q * v0[j] * x
        paid = np.where(priced, row_value - q * m * price * x, 0.0)
    mtm = np.bincount(position, weights=np.where(fut, variation, row_value), minlength=n)
    unrealised = np.bincount(position, weights=np.where(fut, variation, paid), minlength=n)
    return mtm, unrealised


@pytest.mark.parametrize("seed", range(6))
def test_compiled_mtm_equals_the_array_formulas_bit_for_bit(seed: int) -> None:
    rng = np.random.default_rng(seed)
    book = api.sample_book()
    terms = instrument_terms(book.instruments, sample_market())
    if seed % 2:  # some instruments expired (their variation is 0)
        terms = dataclasses.replace(
            terms, expired=rng.random(terms.size) < 0.3, derived={}
        )  # fmt: skip
    kinds = set(terms.kind.tolist())
    assert {FUTURE, PERPETUAL} <= kinds
    assert len(kinds) >= 3
    assert terms.inverse.any()
    assert not terms.inverse.all()
    rows = 200
    j = rng.integers(0, terms.size, rows)
    q = rng.normal(0, 50, rows) * (rng.random(rows) < 0.95)  # a few zero rows
    spot = terms.spot[j]
    price = np.where(rng.random(rows) < 0.6, spot * rng.uniform(0.5, 1.5, rows), np.nan)
    n = 37
    position = rng.integers(0, n, rows)
    got = row_mtm(terms, j, q, price, position, n)
    want = _mtm_by_arrays(terms, j, q, price, position, n)
    assert np.array_equal(got[0], want[0])
    assert np.array_equal(got[1], want[1])
    assert got[0].dtype == got[1].dtype == np.float64
    again = row_mtm(terms, j.astype(np.int32), q, price, position, n)  # a layout's int32
    assert np.array_equal(again[0], want[0])
