"""The tier layout of a book is built once per portfolio object and handed out read-only.

:func:`crossmargin.netting.layout.tier_layout` keeps the layout of a small book while the
portfolio lives (a service margins the same parsed book again). That is only sound if no
user of the layout can change it: its arrays are read-only, and a model given the holdings
re-indexed onto a cached context (:func:`crossmargin.models.cache.remap`) gets arrays of its
own, which SciPy may sort in place without reordering the layout's quantities.
"""

from __future__ import annotations

import gc

import numpy as np
import pytest
import scipy.sparse as sp

from crossmargin import api
from crossmargin.models.cache import CachedModel, ContextCache, MappedContext, remap
from crossmargin.netting import layout as layout_module
from crossmargin.netting.core import cross_margin, tier_layout
from crossmargin.netting.tiers import TIERS
from crossmargin.portfolio import Portfolio


def _copy(book: Portfolio) -> Portfolio:
    return Portfolio(raw=book.raw, source=book.source, collateral=book.collateral)


def _same_layout(a: layout_module.TierLayout, b: layout_module.TierLayout) -> None:
    for name in ("data", "indices", "indptr"):
        np.testing.assert_array_equal(getattr(a.holdings, name), getattr(b.holdings, name))
    assert a.offsets_of == b.offsets_of
    for t in TIERS:
        np.testing.assert_array_equal(a.group_of[t], b.group_of[t])
    np.testing.assert_array_equal(a.quantity, b.quantity)


def test_one_layout_per_portfolio_object_equal_to_a_fresh_build() -> None:
    book = api.sample_book()
    first = tier_layout(book, nets_collateral=True)
    assert tier_layout(book, nets_collateral=True) is first
    assert tier_layout(book, nets_collateral=False) is not first
    _same_layout(first, layout_module._tier_layout(_copy(book), True))


def test_the_kept_layout_is_read_only() -> None:
    layout = tier_layout(api.sample_book())
    with pytest.raises(ValueError, match="read-only"):
        layout.holdings.data[0] = 1.0
    with pytest.raises(ValueError, match="read-only"):
        layout.quantity[0] = 1.0
    with pytest.raises(ValueError, match="read-only"):
        layout.group_of["product"][0] = 7


def test_the_layout_goes_with_its_portfolio() -> None:
    book = _copy(api.sample_book())
    tier_layout(book)
    key = (id(book), True)
    assert key in layout_module._MEMO
    del book
    gc.collect()
    assert key not in layout_module._MEMO


def test_large_books_are_not_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    book = _copy(api.sample_book())
    monkeypatch.setattr(layout_module, "MEMO_MAX_ITEMS", len(book.positions) - 1)
    monkeypatch.setattr(layout_module, "SHAPE_MAX_ITEMS", len(book.positions) - 1)
    layout = tier_layout(book)
    assert (id(book), True) not in layout_module._MEMO
    assert tier_layout(book) is not layout
    assert layout.holdings.data.flags.writeable


def test_remapped_holdings_own_their_arrays() -> None:
    h = sp.csr_matrix(np.array([[1.0, 2.0, 0.0, 3.0], [0.0, 4.0, 5.0, 0.0]]))
    before = [h.data.copy(), h.indices.copy(), h.indptr.copy()]
    mapped = MappedContext(context=None, columns=np.array([3, 2, 1, 0]), width=4)
    moved = remap(mapped, h)
    moved.sort_indices()  # in place, as SciPy's maximum() and sum_duplicates() do
    for now, then in zip((h.data, h.indices, h.indptr), before, strict=True):
        np.testing.assert_array_equal(now, then)
    np.testing.assert_array_equal(moved.toarray(), h.toarray()[:, ::-1])


@pytest.mark.parametrize("name", ["rules", "pm_grid", "es"])
def test_margining_twice_through_a_reordered_context_changes_nothing(name: str) -> None:
    """A context cached for the book's instruments in reverse order re-indexes the holdings
    (columns out of order); margining the same portfolio object twice gives the same figures
    and leaves its kept layout as a fresh build of it."""
    book = api.sample_book()
    snap = api.market_for(book, asof="2026-02-11")
    model = api.make_model(name, **({"lookback": "1000D"} if name == "es" else {}))
    cache = ContextCache()
    cached = CachedModel(model, cache, model_key=name, market_key="m")
    cached.prepare(tuple(reversed(tier_layout(book).instruments)), snap)
    first = cross_margin(cached, book, snap)
    second = cross_margin(cached, book, snap)
    assert second.total == first.total
    assert [a.total for a in second.accounts] == [a.total for a in first.accounts]
    _same_layout(tier_layout(book), layout_module._tier_layout(_copy(book), True))
    alone = cross_margin(model, _copy(book), snap)  # no cache, a new portfolio object
    assert first.total == pytest.approx(alone.total, rel=1e-12)
