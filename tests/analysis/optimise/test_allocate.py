"""Allocation across venues: equal to exhaustive search on small books (the models themselves
at every assignment), the gap reported on larger ones, baselines never better than the MILP
where the forms are the models, and clear errors for bad venue files."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opt_fixtures import REAL_SYMBOLS, SYMBOLS, book, history_or_skip, market, real_market

from crossmargin.analysis.optimise.allocate import allocate
from crossmargin.analysis.optimise.venues import Venue, load_venues, parse_venues
from crossmargin.errors import InputError
from crossmargin.market.snapshot import MarketSnapshot

THREE = parse_venues({"venues": [
    {"name": "exchange", "model": "pm_grid", "eligible": {"styles": ["deribit"]}},
    {"name": "index", "model": "span", "eligible": {"underlyings": ["SPX"]}},
    {"name": "prime", "model": "rules"},
]})  # fmt: skip


def exhaustive(
    portfolio: Any, snap: MarketSnapshot, venues: tuple[Venue, ...], history: Any = None
) -> float:
    """Smallest Σ venue margins over every assignment of each net position to one venue."""
    items, qty = [], []
    for p in portfolio.positions:
        items.append(p.instrument)
        qty.append(p.quantity)
    k = len(venues)
    choices = [[j for j, v in enumerate(venues) if v.eligible(i)] for i in items]
    plans = np.array(list(itertools.product(*choices)))
    total = np.zeros(plans.shape[0])
    for j, v in enumerate(venues):
        model = v.build(history)
        context = model.prepare(tuple(items), snap)
        holdings = np.where(plans == j, np.array(qty)[None, :], 0.0)
        total += model.margin_rows(context, sp.csr_matrix(holdings)).total
    del k
    return float(total.min())


QTY = st.integers(-8, 8).filter(lambda q: q != 0)
LEGS = st.lists(
    st.tuples(st.sampled_from([0, 2, 3, 4, 7, 9, 10, 11]), QTY),
    min_size=2,
    max_size=8,
    unique_by=lambda leg: leg[0],
)


def _three(exchange_venue: str) -> tuple[Venue, ...]:
    return parse_venues({"venues": [
        {"name": "exchange", "model": "pm_grid", "parameters": {"venue": exchange_venue},
         "eligible": {"styles": ["deribit"]}},
        {"name": "index", "model": "span", "eligible": {"underlyings": ["SPX"]}},
        {"name": "prime", "model": "rules"},
    ]})  # fmt: skip


def _sized(legs: list[tuple[int, int]], options: int) -> list[tuple[int, int]]:
    """Inverse futures and perpetuals (10 USD contracts) x 2,000; BTC options x ``options``."""
    out = []
    for i, q in legs:
        s = SYMBOLS[i]
        linear = s.endswith("PETUAL") or (s.startswith("BTC-2") and s[-2:] not in ("-C", "-P"))
        out.append((i, q * (2_000 if linear else options if s.startswith("BTC-2") else 1)))
    return out


# Paradex: no add-on beyond the convex floor, so its form is the model everywhere (options
# x 2,000: up to 16,000 BTC options). Deribit: exact on the allocation's box while the venue's
# net delta cannot pass the 20M USD delta-shock threshold (options as single contracts); a
# larger book is in test_deribit_increment_binding_reports_no_gap.
@pytest.mark.parametrize(("exchange_venue", "options"), [("paradex", 2_000), ("deribit", 1)])
@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(legs=LEGS)
def test_equals_exhaustive_search(
    exchange_venue: str, options: int, legs: list[tuple[int, int]]
) -> None:
    portfolio = book([_sized(legs, options)])
    three = _three(exchange_venue)
    got = allocate(portfolio, market(), three, mip_rel_gap=0.0)
    assert got.exact
    want = exhaustive(portfolio, market(), three)
    assert got.plan("milp").total == pytest.approx(want, rel=1e-9, abs=1e-6)
    for method in ("greedy", "submodular"):
        assert got.plan(method).total >= want - 1e-6 * max(1.0, want)
    assert got.gap is not None
    assert got.gap <= 1e-9


@pytest.mark.realdata
def test_equals_exhaustive_with_an_es_venue() -> None:
    venues = parse_venues({"venues": [
        {"name": "deribit", "model": "pm_grid", "eligible": {"styles": ["deribit"]}},
        {"name": "prime", "model": "es"},
        {"name": "plain", "model": "rules"},
    ]})  # fmt: skip
    portfolio = book([[(0, 30_000), (2, -20_000), (3, -4), (5, 100_000), (13, 5)]], REAL_SYMBOLS)
    history = history_or_skip()
    got = allocate(portfolio, real_market(), venues, history=history, mip_rel_gap=0.0)
    want = exhaustive(portfolio, real_market(), venues, history)
    assert got.plan("milp").total == pytest.approx(want, rel=1e-9, abs=1e-6)


def test_larger_book_reports_the_gap_and_beats_the_baselines() -> None:
    rng = np.random.default_rng(4)
    legs = [(int(i), int(rng.integers(1, 9)) * int(rng.choice([-1, 1])))
            for i in rng.choice(len(SYMBOLS), 14, replace=False)]  # fmt: skip
    portfolio = book([legs])
    venues = parse_venues({"venues": [
        {"name": "a", "model": "pm_grid", "eligible": {"styles": ["deribit"]}},
        {"name": "b", "model": "rules"},
        {"name": "c", "model": "pm_grid", "parameters": {"mode": "segregated"}},
    ]})  # fmt: skip
    got = allocate(portfolio, market(), venues, time_limit=20.0)
    assert got.gap is not None
    assert 0.0 <= got.gap < 0.01
    milp = got.plan("milp").total
    assert milp <= got.plan("greedy").total + 1e-6
    assert milp <= got.plan("submodular").total + 1e-6
    assert got.saving == pytest.approx(got.isolated - got.best.total)
    body = got.to_dict()
    assert body["units"]["money"].startswith("USD")
    for row in body["allocation"]:
        assert sum(row["venues"].values()) == pytest.approx(row["quantity"])


def test_split_is_never_worse_than_assign() -> None:
    portfolio = book([[(0, 10_000), (2, -6_000), (3, -3), (7, 2)]])
    assign = allocate(portfolio, market(), THREE, mip_rel_gap=0.0)
    split = allocate(portfolio, market(), THREE, split=True, mip_rel_gap=0.0)
    assert split.plan("milp").total <= assign.plan("milp").total + 1e-6
    for i, q in enumerate(split.quantity):
        assert split.plan("milp").quantity[i].sum() == pytest.approx(q)


def test_venue_file_errors(tmp_path: Path) -> None:
    def write(data: Any) -> Path:
        path = tmp_path / "venues.json"
        path.write_text(json.dumps(data), encoding="utf-8")
        return path

    assert len(load_venues(write({"venues": [{"name": "p", "model": "rules"}]}))) == 1
    with pytest.raises(InputError, match=r"venue 1 \('x'\): unknown model 'simmx'"):
        load_venues(write({"venues": [{"name": "x", "model": "simmx"}]}))
    with pytest.raises(InputError, match=r"unknown key 'venues\.0\.eligible\.style'"):
        load_venues(write({"venues": [{"name": "x", "model": "rules",
                                       "eligible": {"style": ["cme"]}}]}))  # fmt: skip
    with pytest.raises(InputError, match="unknown key 'owner'"):
        load_venues(write({"venues": [{"name": "x", "model": "rules"}], "owner": "me"}))
    with pytest.raises(InputError, match="unknown parameter override"):
        load_venues(write({"venues": [{"name": "x", "model": "span",
                                       "parameters": {"scan": 1}}]}))  # fmt: skip
    with pytest.raises(InputError, match="used twice"):
        load_venues(write({"venues": [{"name": "x", "model": "rules"},
                                      {"name": "x", "model": "span"}]}))  # fmt: skip
    with pytest.raises(InputError, match="cannot read"):
        load_venues(tmp_path / "missing.json")
    only_cme = parse_venues({"venues": [{"name": "c", "model": "rules",
                                         "eligible": {"styles": ["cme"]}}]})  # fmt: skip
    with pytest.raises(InputError, match="no venue may hold BTC-PERPETUAL"):
        allocate(book([[(2, 100)]]), market(), only_cme)
    with pytest.raises(InputError, match="unknown allocation method"):
        allocate(book([[(7, 1)]]), market(), THREE, methods=("milp", "anneal"))


def test_deribit_increment_binding_reports_no_gap() -> None:
    """10,000 BTC calls (5,600 BTC of delta, far above Deribit's 20M USD threshold): the
    quadratic IM increment is not in the LP, so the allocation says so, reports no gap, and
    every plan's figure is the models' own at its assignment (never below exhaustive search)."""
    portfolio = book([[(3, 10_000), (0, -6_000)]])
    three = _three("deribit")
    got = allocate(portfolio, market(), three, mip_rel_gap=0.0)
    assert not got.exact
    assert got.gap is None
    assert any("IM increment" in note for note in got.notes)
    want = exhaustive(portfolio, market(), three)
    items = list(got.items)
    for plan in got.plans:
        assert plan.total >= want - 1e-9 * want
        for j, venue in enumerate(three):  # the plan's margins are the venues' own models
            model = venue.build(None)
            context = model.prepare(tuple(items), market())
            held = sp.csr_matrix(plan.quantity[:, j][None, :])
            assert plan.margins[j] == pytest.approx(
                model.margin_rows(context, held).total[0], rel=1e-9, abs=1e-9
            )
