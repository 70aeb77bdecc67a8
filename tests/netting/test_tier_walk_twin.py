"""The vectorised tier walk and result assembly equal the per-group walk of before.

``netting_twin.cross_margin_twin`` is the engine as it was (one ``_Leg`` per position, a
Python loop over every group with ``math.fsum`` over its members, the eligibility decided
per group, the result assembled per position). On random books over the sample book's
contracts (crypto and equity at Deribit, CME and OCC, declared venues, rows that net, trade
prices, coin, security, fiat and stablecoin collateral at several venues, netting sets split
by venue group), under several offset policies (the shipped ``emir`` one with its
correlation tests on the real history, ``none``, caps of 0, 0.5 and 1, a strict policy that
tests every tier and refuses pairs) and every ``by`` grouping, every figure of the result
agrees with the twin's to 1e-12 relative (sums in another order), every label, verdict,
reason and pair test is the same, and the holdings matrix is the same, entry for entry.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from netting_twin import TierBookTwin, cross_margin_twin, position_mtm_twin, tier_layout_twin

from crossmargin import api
from crossmargin.collateral.holdings import CollateralHolding
from crossmargin.models import get_model
from crossmargin.netting.core import cross_margin
from crossmargin.netting.layout import tier_layout
from crossmargin.netting.offsets import TierBook, tier_margins
from crossmargin.netting.tiers import TIERS, Eligibility, OffsetPolicy, TierRule, venue_of
from crossmargin.netting.venues import parse_cross_margin, split_netting_sets
from crossmargin.portfolio import Portfolio, Position
from crossmargin.pricing.mtm import position_mtm
from market_inputs import history as _history
from market_inputs import sample_market as _market

pytestmark = pytest.mark.realdata
ASOF = "2026-02-11"
REL, ABS = 1e-12, 1e-9
VENUES = ("", "", "", "prime-x")
COLLATERAL = (("BTC", 2.0), ("ETH", 40.0), ("SPY", 100.0), ("USD", 5e4), ("USDC", 2e4))
COLL_VENUES = ("deribit", "cme", "occ", "prime-x", "")


def _strict(cap: float, min_corr: float, *, first: int = 1) -> OffsetPolicy:
    """A policy that tests every tier from ``TIERS[first]`` on (the twin fails on a rule at
    the ``product`` tier: it looked up the positions' underlyings under a tier they lack)."""
    rule = Eligibility(min_correlation=min_corr, confidence=0.95, lookback="12M",
                       stressed_window=("2020-02-20", "2020-04-30"))  # fmt: skip
    return OffsetPolicy(
        name=f"strict {min_corr}",
        rules={
            t: TierRule(tier=t, cap=cap, eligibility=rule if k >= first else None)
            for k, t in enumerate(TIERS)
        },
    )


def _book(seed: int, *, n: int = 90, accounts: int = 8, venue_coll: bool = False) -> Portfolio:
    """Random rows over the sample book's contracts (trade prices as the sample book has
    them), declared venues, repeated rows that net, and collateral."""
    rng = np.random.default_rng(seed)
    sample = api.sample_book().positions
    rows = []
    for _ in range(n):
        p = sample[int(rng.integers(len(sample)))]
        q = float(rng.integers(1, 30) * rng.choice([-1.0, 1.0]) * rng.choice([1.0, 0.5]))
        price = p.trade_price if rng.random() < 0.7 else None
        if price is not None and q < 0 and rng.random() < 0.5:
            price = None
        rows.append(Position(account=f"acc-{int(rng.integers(accounts))}", instrument=p.instrument,
                             quantity=q, trade_price=price,
                             venue=str(rng.choice(VENUES))))  # fmt: skip
    held = []
    for k in range(accounts + 2):  # two accounts hold collateral but no position
        for asset, size in COLLATERAL:
            if rng.random() < 0.5:
                venues = COLL_VENUES[:-1] if venue_coll else COLL_VENUES
                held.append(CollateralHolding(account=f"acc-{k}", asset=asset,
                                              amount=float(size * rng.uniform(-0.2, 1.0)),
                                              venue=str(rng.choice(venues))))  # fmt: skip
    return Portfolio.from_positions(rows, collateral=held)


def _same(new: Any, old: Any, where: str = "result") -> None:
    """Equal, floats to REL (ABS near zero), recursively through dataclasses and containers."""
    if dataclasses.is_dataclass(new) and not isinstance(new, type):
        assert type(new) is type(old), where
        for f in dataclasses.fields(new):
            _same(getattr(new, f.name), getattr(old, f.name), f"{where}.{f.name}")
    elif isinstance(new, dict):
        assert list(new) == list(old), where
        for k in new:
            _same(new[k], old[k], f"{where}[{k!r}]")
    elif isinstance(new, (list, tuple)):
        assert len(new) == len(old), where
        for k, (a, b) in enumerate(zip(new, old, strict=True)):
            _same(a, b, f"{where}[{k}]")
    elif isinstance(new, float) and not isinstance(old, bool):
        assert isinstance(old, (float, int)), where
        assert math.isclose(new, old, rel_tol=REL, abs_tol=ABS), f"{where}: {new!r} != {old!r}"
    else:
        assert new == old, f"{where}: {new!r} != {old!r}"


def _both(book: Portfolio, model: str, **kw: Any) -> None:
    m = get_model(model, history=_history()) if model in ("es", "hvar") else get_model(model)
    new = cross_margin(m, book, _market(), history=_history(), **kw)
    old = cross_margin_twin(m, book, _market(), history=_history(), **kw)
    _same(new, old)


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("by", ["position", "product", "underlying", "asset-class", "account"])
def test_the_walk_equals_the_per_group_walk_for_every_grouping(seed: int, by: str) -> None:
    _both(_book(seed), "pm_grid", by=by)


@pytest.mark.parametrize(
    ("offsets", "cap"),
    [("emir", None), ("none", None), ("emir", 0.0), ("emir", 0.5), ("none", 1.0),
     (_strict(0.8, 0.3), None), (_strict(0.6, 0.9), None), (_strict(0.0, 0.99), None)],
)  # fmt: skip
def test_the_walk_equals_the_per_group_walk_under_every_policy(offsets: Any, cap: Any) -> None:
    _both(_book(7, n=140, accounts=10), "pm_grid", offsets=offsets, cap=cap)


@pytest.mark.parametrize("model", ["rules", "span", "es"])
def test_the_walk_equals_the_per_group_walk_for_other_models(model: str) -> None:
    _both(_book(11), model, by="product", offsets=_strict(0.7, 0.3))


@pytest.mark.parametrize("declared", ["none", "cme+occ,deribit"])
def test_the_walk_equals_the_per_group_walk_on_split_netting_sets(declared: str) -> None:
    groups = parse_cross_margin(declared, source="test")
    book = _book(5, venue_coll=True)
    where: dict[str, set[str]] = {}
    for p in book.raw:
        where.setdefault(p.account, set()).add(groups.group_of(venue_of(p.instrument, p.venue)))
    kept = [h for h in book.collateral if groups.group_of(h.venue) in where.get(h.account, ())]
    book = split_netting_sets(book.without_collateral().with_collateral(kept), groups)
    assert any("@" in a for a in book.accounts)
    assert book.collateral
    _both(book, "pm_grid", by="asset-class")


def test_the_layout_equals_the_per_position_layout_with_collateral() -> None:
    book = _book(3, n=200, accounts=12)
    for nets in (True, False):
        new, old = (
            tier_layout(book, nets_collateral=nets),
            tier_layout_twin(book, nets_collateral=nets),
        )
        assert new.instruments == old.instruments
        assert new.offsets_of == old.offsets_of
        for attr in ("indptr", "indices", "data"):
            np.testing.assert_array_equal(getattr(new.holdings, attr), getattr(old.holdings, attr))
        assert new.collateral.size == len(old.coll)
        assert (new.collateral.size > 0) == nets


def test_without_history_every_tested_offset_is_refused_as_before() -> None:
    """No history: groups netting two underlyings get no credit, one underlying keeps it."""
    book, market = _book(4, n=150), _market()
    model = get_model("pm_grid")
    policy = _strict(0.8, 0.3)
    old_layout, layout = tier_layout_twin(book), tier_layout(book)
    context = model.prepare(layout.instruments, market)
    margins = model.margin_rows(context, layout.holdings)
    n_pos = layout.n_positions
    totals = {t: margins.total[layout.offsets_of[t] : layout.offsets_of[t] + layout.n_groups(t)]
              for t in TIERS}  # fmt: skip
    new = TierBook(policy=policy, layout=layout, totals=totals, standalone=margins.total[:n_pos],
                   asof=market.valuation_time, history=None)  # fmt: skip
    old = TierBookTwin(policy=policy, legs=old_layout.legs, coll=old_layout.coll,
                       group_ids=old_layout.group_ids, totals=totals,
                       standalone=margins.total[:n_pos], asof=market.valuation_time,
                       history=None).evaluate()  # fmt: skip
    made = dict(zip(layout.accounts, tier_margins(layout, new.evaluate(), policy), strict=True))
    _same(made, old)
    reasons = {g.reason for tiers in made.values() for t in tiers for g in t.groups}
    assert "no market history to test the correlation: no credit granted" in reasons
    assert "one underlying: no correlation to test" in reasons


def test_position_mtm_equals_its_row_by_row_twin() -> None:
    book = _book(9, n=300, accounts=6)
    assert len(book.raw) > len(book.positions)  # rows net
    for new, old in zip(position_mtm(book, _market()), position_mtm_twin(book, _market()),
                        strict=True):  # fmt: skip
        np.testing.assert_allclose(new, old, rtol=REL, atol=ABS)
        assert np.any(new != 0.0)


def test_a_rule_on_the_product_tier_tests_its_members_alone() -> None:
    """Members of a product group are positions, each on the product's one underlying: no
    pair to test, so the figures are those without the rule (the walk of before raised
    KeyError on such a rule)."""
    book, model = _book(8), get_model("pm_grid")
    run = [cross_margin(model, book, _market(), history=_history(),
                        offsets=_strict(0.8, 0.3, first=k)) for k in (0, 1)]  # fmt: skip
    tested = [g for a in run[0].accounts for g in a.tiers[1].groups if g.reason]
    assert tested
    assert all(g.eligible for g in tested)
    assert all(g.reason == "one underlying: no correlation to test" for g in tested)
    assert [a.total for a in run[0].accounts] == [a.total for a in run[1].accounts]
    assert [a.tiers[1].capped for a in run[0].accounts] == [
        a.tiers[1].capped for a in run[1].accounts
    ]


@settings(max_examples=200, deadline=None)
@given(
    runs=st.lists(
        st.lists(st.integers(0, 40), min_size=1, max_size=6, unique=True), min_size=1, max_size=120
    ),
    parents=st.lists(st.integers(0, 9), min_size=120, max_size=120),
    base=st.sampled_from([41, 10**4]),
)
def test_member_sets_the_same_by_dictionaries_and_by_arrays(
    runs: list[list[int]], parents: list[int], base: int
) -> None:
    """``member_sets`` keys each group by its members' sorted sets of underlyings, groups in
    the order of their first member, alike through dictionaries (small) and arrays (integer
    codes, or a padded matrix for a wide ``base``); ``_set_ids`` numbers runs as tuples sort."""
    import crossmargin.netting.offsets as offsets

    kid = np.repeat(np.arange(len(runs)), [len(r) for r in runs]).astype(np.int64)
    und = np.array([v for r in runs for v in sorted(r)], dtype=np.int64)
    parent = np.array(parents[: len(runs)], dtype=np.int64)
    want: dict[int, list[tuple[int, ...]]] = {}
    for k, r in enumerate(runs):
        want.setdefault(int(parent[k]), []).append(tuple(sorted(r)))
    expected = [(g, tuple(sorted(sets))) for g, sets in want.items()]
    for small in (10**9, 0):
        old = offsets.SMALL_MEMBERS
        offsets.SMALL_MEMBERS = small
        try:
            got = offsets.member_sets(kid, und, parent, base)
        finally:
            offsets.SMALL_MEMBERS = old
        assert list(got.items()) == expected
    starts = np.cumsum([0] + [len(r) for r in runs[:-1]]).astype(np.int64)
    ids, sets = offsets._set_ids(und, starts, base)
    assert sets == sorted({tuple(sorted(r)) for r in runs})
    assert ids.tolist() == [sets.index(tuple(sorted(r))) for r in runs]
