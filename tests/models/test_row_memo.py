"""Rows reused from a context's memo give the figures of margining every row afresh.

:class:`crossmargin.models.row_memo.RowMemo` keeps, per cached context, the figures of the
rows margined on it; a later call margins only the rows it has not seen. The reference here
is the same cached model with reuse switched off (the same contexts, every row margined in
one call): every figure of every result must be equal, not close. Row invariance itself is
``tests/models/test_row_invariance.py``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp

from crossmargin import api
from crossmargin.models import MarginModel, get_model, row_memo
from crossmargin.models.cache import CachedModel, ContextCache
from crossmargin.models.row_memo import RowMemo
from crossmargin.netting.core import tier_layout
from crossmargin.portfolio import Portfolio, Position
from market_inputs import history, sample_market

ACCOUNT = "alpha-crypto"


def _model(name: str) -> MarginModel:
    return get_model(name, history=history()) if name in ("es", "hvar") else get_model(name)


def _books() -> list[Portfolio]:
    """The account alone, then what-ifs: more of a held option, a new instrument of another
    account (BTC and ETH), the same book again, a trade that closes a position."""
    sample = api.sample_book()
    mine = [p for p in sample.positions if p.account == ACCOUNT]
    held = next(p for p in mine if p.instrument.symbol == "BTC-27MAR26-75000-C")
    other = next(p for p in sample.positions if p.instrument.symbol == "BTC-PERPETUAL")
    books = [Portfolio.from_positions(mine)]
    for q in (-3.0, -4.5, 7.0, -3.0):
        books.append(Portfolio.from_positions([*mine, Position(
            account=ACCOUNT, instrument=held.instrument, quantity=q)]))  # fmt: skip
    for q in (-1_000.0, 2_500.0):
        books.append(Portfolio.from_positions([*mine, Position(
            account=ACCOUNT, instrument=other.instrument, quantity=q)]))  # fmt: skip
    books.append(Portfolio.from_positions([*mine, Position(
        account=ACCOUNT, instrument=held.instrument, quantity=-held.quantity)]))  # fmt: skip
    books.append(books[0])
    return books


def _figures(model: CachedModel, books: list[Portfolio]) -> list[dict[str, Any]]:
    market = sample_market()
    return [model.compute(book, market).to_dict() for book in books]


@pytest.mark.parametrize("name", ["pm_grid", "es", "hvar", "span", "rules"])
def test_reused_rows_equal_rows_margined_afresh(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    model = _model(name)
    cache = ContextCache()
    cached = CachedModel(model, cache, model_key=name, market_key="m")
    books = _books()
    reused = _figures(cached, books)
    assert any(len(m) for m in cache._memos.values())  # the rows were kept
    monkeypatch.setattr(type(model), "rows_invariant", False)  # every row afresh
    afresh = _figures(cached, books)
    assert reused == afresh


@pytest.mark.parametrize("name", ["pm_grid", "es"])
def test_only_rows_not_seen_are_margined(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    model = _model(name)
    margined: list[int] = []
    original = type(model).margin_rows

    def counting(self: Any, context: Any, holdings: Any, **kw: Any) -> Any:
        margined.append(holdings.shape[0])
        return original(self, context, holdings, **kw)

    monkeypatch.setattr(type(model), "margin_rows", counting)
    cached = CachedModel(model, ContextCache(), model_key=name, market_key="m")
    market = sample_market()
    books = _books()
    cached.compute(books[0], market)
    whole = margined[-1]
    cached.compute(books[0], market)  # the same book: nothing to margin
    assert margined[-1] == whole
    assert len(margined) == 1
    cached.compute(books[1], market)  # one option more: its position and groups only
    assert 0 < margined[-1] < whole
    assert margined[-1] <= 5  # the position, its product, underlying, class and account


def test_a_row_asked_in_detail_is_margined_in_detail() -> None:
    """Facts (the stressed window of es) come with rows margined in detail; a row first
    margined without them is margined again when asked in detail, and the other way."""
    model = _model("es")
    book = api.sample_book()
    layout = tier_layout(book)
    context = model.prepare(layout.instruments, sample_market())
    h = sp.csr_matrix(layout.holdings)
    memo = RowMemo(context)
    none = np.zeros(h.shape[0], dtype=bool)
    plain = memo.margin_rows(model, h, none)
    detail = none.copy()
    detail[-1] = True
    got = memo.margin_rows(model, h, detail)
    want = model.margin_rows(context, row_memo.as_canonical(h), detail=detail)
    assert "stressed_window" in want.facts[-1]
    assert got.facts[-1] == want.facts[-1]
    np.testing.assert_array_equal(got.total, plain.total)
    np.testing.assert_array_equal(got.info["stress"], want.info["stress"])
    # and the other way: a row margined in detail is not handed out as a plain row; no
    # detail given means every row in detail, as margin_rows takes it
    assert memo.margin_rows(model, h, None).facts == model.margin_rows(context, h).facts
    again = memo.margin_rows(model, h, none)
    fresh = model.margin_rows(context, row_memo.as_canonical(h), detail=none)
    assert again.facts == fresh.facts
    np.testing.assert_array_equal(again.info["stress"], fresh.info["stress"])
    assert fresh.info["stress"][-1] == 0.0 != want.info["stress"][-1]


def test_a_full_memo_starts_again_with_the_same_figures(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(row_memo, "MAX_ROWS", 12)
    name = "pm_grid"
    model = _model(name)
    cache = ContextCache()
    cached = CachedModel(model, cache, model_key=name, market_key="m")
    books = _books()
    reused = _figures(cached, books)
    assert all(len(m) <= 12 for m in cache._memos.values())
    monkeypatch.setattr(type(model), "rows_invariant", False)
    assert _figures(cached, books) == reused


def test_the_memo_goes_with_its_context() -> None:
    model = _model("pm_grid")
    cache = ContextCache(maxsize=1)
    cached = CachedModel(model, cache, model_key="pm_grid", market_key="m")
    market = sample_market()
    cached.compute(_books()[0], market)
    (slot,) = cache._memos
    other = api.sample_book().subset(["beta-macro"])  # other instruments: a new context
    cached.compute(other, market)
    assert slot not in cache._memos
    assert len(cache._memos) == 1


def test_take_rows_is_scipys_row_indexing_and_canonical_keeps_a_canonical_matrix() -> None:
    from crossmargin.models.row_memo import as_canonical, take_rows

    rng = np.random.default_rng(5)
    dense = rng.normal(size=(12, 9)) * (rng.random((12, 9)) < 0.3)
    dense[[0, 7, 11]] = 0.0  # empty rows, the last included
    q = sp.csr_matrix(dense)
    for rows in ([], [3], [11, 0, 5], list(range(12)), [2, 2, 7]):
        pick = np.asarray(rows, dtype=np.int64)
        got, want = take_rows(q, pick), q[pick]
        assert got.shape == want.shape
        for part in ("indptr", "indices", "data"):
            assert (getattr(got, part) == getattr(want, part)).all(), part
    assert as_canonical(q) is q  # canonical already: no copy
    q.data[0] = 0.0  # a stored zero: a new matrix without it
    fixed = as_canonical(q)
    assert fixed is not q
    assert fixed.nnz == q.nnz - 1
