"""A layout built from a kept book shape equals one built from scratch, array by array.

:func:`crossmargin.netting.layout.tier_layout` keeps the layouts of recent book *shapes*
(each position's account, instrument and spelling, venue; each collateral leg) and builds a
book of a known shape by :func:`~crossmargin.netting.layout.with_quantities`: new quantities,
the holdings matrix summed again. The reference is :func:`layout_rows` on the same book with
no shape kept (``SHAPE_MAX_ITEMS`` below every book).
"""

from __future__ import annotations

from dataclasses import fields, replace

import numpy as np
import pytest
import scipy.sparse as sp

from crossmargin import api
from crossmargin.netting import layout as layout_module
from crossmargin.netting.layout import TierLayout, tier_layout
from crossmargin.portfolio import Portfolio


def _equal(a: TierLayout, b: TierLayout) -> None:
    """Every field of the two layouts equal: arrays with their dtypes, the holdings matrix's
    arrays, dictionaries of arrays, tuples."""
    for f in fields(TierLayout):
        if not f.compare:  # ``derived``: a memo of the shape, tested on its own below
            continue
        x, y = getattr(a, f.name), getattr(b, f.name)
        if isinstance(x, sp.csr_matrix):
            assert x.shape == y.shape, f.name
            for part in ("indptr", "indices", "data"):
                u, v = getattr(x, part), getattr(y, part)
                assert u.dtype == v.dtype, (f.name, part)
                assert np.array_equal(u, v), (f.name, part)
        elif isinstance(x, np.ndarray):
            assert x.dtype == y.dtype, f.name
            assert np.array_equal(x, y), f.name
        elif isinstance(x, dict):
            assert x.keys() == y.keys(), f.name
            for k in x:
                assert np.array_equal(x[k], y[k]), (f.name, k)
        else:
            assert x == y, f.name


def _variant(book: Portfolio, rng: np.random.Generator) -> Portfolio:
    """``book`` with other quantities and collateral amounts (same rows, same shape): whole
    multiples or fractions of each, so some groups' sums cancel and others do not."""
    raw = [replace(p, quantity=float(rng.choice([-3.0, -1.0, 0.5, 2.0, 7.25])) * p.quantity)
           for p in book.raw]  # fmt: skip
    held = [replace(h, amount=h.amount * float(rng.uniform(0.1, 4.0))) for h in book.collateral]
    return Portfolio(raw=tuple(raw), source=book.source, collateral=tuple(held))


def _from_scratch(book: Portfolio, nets: bool, monkeypatch: pytest.MonkeyPatch) -> TierLayout:
    with monkeypatch.context() as m:
        m.setattr(layout_module, "SHAPE_MAX_ITEMS", -1)
        return layout_module._tier_layout(book, nets)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("nets", [True, False])
def test_a_book_of_a_kept_shape_has_the_layout_built_from_scratch(
    seed: int, nets: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = np.random.default_rng(seed)
    book = api.sample_book()
    first = tier_layout(book, nets_collateral=nets)  # keeps the shape
    again = _variant(book, rng)
    got = tier_layout(again, nets_collateral=nets)
    assert got.holdings is not first.holdings  # built from the kept shape, not the memo
    assert got.group_of is first.group_of  # the shape's arrays, shared read-only
    _equal(got, _from_scratch(again, nets, monkeypatch))
    if nets:
        assert got.collateral.size == 3  # the sample's BTC and ETH coins join their groups


def test_another_spelling_or_venue_is_another_shape(monkeypatch: pytest.MonkeyPatch) -> None:
    book = api.sample_book()
    tier_layout(book)
    moved = Portfolio(
        raw=(replace(book.raw[0], venue="elsewhere"), *book.raw[1:]),
        source=book.source,
        collateral=book.collateral,
    )
    got = tier_layout(moved)
    assert "elsewhere" in got.venues
    _equal(got, _from_scratch(moved, True, monkeypatch))


def test_kept_shapes_are_bounded_and_read_only(monkeypatch: pytest.MonkeyPatch) -> None:
    from crossmargin.lru import Lru

    monkeypatch.setattr(layout_module, "_SHAPES", Lru(2))
    book = api.sample_book()
    for k in range(4):  # four shapes: each a book of its first k + 1 accounts
        tier_layout(book.subset(list(book.accounts[: k + 1])))
    kept = layout_module._SHAPES.values()
    assert len(kept) == 2
    shape = kept[0]
    with pytest.raises(ValueError, match="read-only"):
        shape.group_of["product"][0] = 5


@pytest.mark.parametrize("model", ["span", "es"])
def test_what_a_shape_keeps_equals_what_a_fresh_layout_works_out(
    model: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Labels, underlying codes and the tier walk's eligibility verdicts are kept with the
    # shape (TierLayout.derived) and shared by layouts of that shape: a second book of the
    # shape, margined through them, gets every figure of a fresh layout's walk, bit for bit.
    from crossmargin.netting.core import cross_margin
    from market_inputs import model_named, sample_market

    rng = np.random.default_rng(3)
    book = api.sample_book()
    market = sample_market()
    chosen = model_named(model)
    cross_margin(chosen, book, market)  # keeps the shape and its derived figures
    again = _variant(book, rng)
    kept = tier_layout(again, nets_collateral=chosen.nets_collateral)
    assert any(k[0] == "verdicts" for k in kept.derived if isinstance(k, tuple))
    fresh = _from_scratch(again, chosen.nets_collateral, monkeypatch)
    assert not fresh.derived
    for tier in ("product", "underlying", "asset-class", "netting-set"):
        assert kept.group_labels(tier).tolist() == fresh.group_labels(tier).tolist()
    assert kept.underlying_codes()[1] == fresh.underlying_codes()[1]
    assert (kept.underlying_codes()[0] == fresh.underlying_codes()[0]).all()
    a = cross_margin(chosen, again, market, layout=kept)
    b = cross_margin(chosen, again, market, layout=fresh)
    assert a.to_dict() == b.to_dict()
