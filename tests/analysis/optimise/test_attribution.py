"""Account attribution through the offset tiers: contributions sum to the requirement for every
model, incremental margins are two full runs, marginal margins are finite differences of full
runs, and each tier's credits add up to the tier's credit."""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opt_fixtures import REAL_SYMBOLS, SYMBOLS, book, history_or_skip, inst, market, real_market

from crossmargin import api
from crossmargin.analysis.optimise.attribution import BY_CHOICES, Attribution, attribute
from crossmargin.analysis.optimise.attribution_simm import attribute_simm
from crossmargin.collateral.holdings import CollateralHolding
from crossmargin.errors import InputError
from crossmargin.market.snapshot import MarketSnapshot
from crossmargin.models import MarginModel, get_model
from crossmargin.netting.tiers import TIERS
from crossmargin.portfolio import Portfolio, Position

REL = 1e-9
QTY = st.integers(-30, 30).filter(lambda q: q != 0)
ACCOUNT = st.lists(st.tuples(st.integers(0, 40), QTY), min_size=1, max_size=5)
BOOKS = st.lists(ACCOUNT, min_size=1, max_size=3)


def _sized(symbols: tuple[str, ...], legs: list[list[tuple[int, int]]]) -> list[list[Any]]:
    out = []
    for rows in legs:
        sized = []
        for i, q in rows:
            s = symbols[i % len(symbols)]
            inverse = s.startswith(("BTC-", "ETH-")) and s[-2:] not in ("-C", "-P")
            sized.append((i, q * (1_000 if inverse else 10 if s == "SPY" else 1)))
        out.append(sized)
    return out


def check_sums(att: Attribution) -> None:
    result = att.result
    for acc in att.accounts:
        assert acc.contributions_sum == pytest.approx(acc.total, rel=REL, abs=1e-9)
        assert abs(acc.residual) <= 1e-9 * max(1.0, acc.total)
        for key in BY_CHOICES:
            if key == "tier" and not acc.tier_credits:
                continue
            assert math.fsum(v for _, v in acc.by(key)) == pytest.approx(
                acc.total, rel=REL, abs=1e-9
            )
        if result is None:
            continue
        am = next(a for a in result.accounts if a.account == acc.account)
        for tier, level in zip(("position", *TIERS), am.tiers, strict=True):
            got = math.fsum(i.tiers[tier] for i in acc.items)
            assert got == pytest.approx(level.capped, rel=REL, abs=1e-9), tier
        for tier in TIERS:
            assert acc.tier_credits[tier] == pytest.approx(
                am.tiers[TIERS.index(tier) + 1].credit, rel=REL, abs=1e-9
            )


def check_incremental(
    att: Attribution, portfolio: Portfolio, snap: MarketSnapshot, model: MarginModel
) -> None:
    for acc in att.accounts:
        alone = portfolio.subset([acc.account])
        full = model.compute(alone, snap).total
        for k, item in enumerate(acc.items):
            if item.kind != "position":
                continue
            rest = [p for j, p in enumerate(alone.positions) if j != k]
            book = Portfolio.from_positions(rest, collateral=alone.collateral)
            without = model.compute(book, snap).total if rest else 0.0
            assert item.incremental == pytest.approx(full - without, rel=REL, abs=1e-6)


@pytest.mark.parametrize("name", ["rules", "span", "pm_grid"])
@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(legs=BOOKS)
def test_sums_on_random_books_hand_market(name: str, legs: list[list[tuple[int, int]]]) -> None:
    portfolio = book(_sized(SYMBOLS, legs))
    model = get_model(name)
    att = attribute(portfolio, market(), model)
    check_sums(att)
    check_incremental(att, portfolio, market(), model)


def _real(name: str) -> MarginModel:
    history = history_or_skip()
    if name == "conservative":
        return get_model(
            "conservative", first=get_model("pm_grid"), second=get_model("es", history=history)
        )
    if name in ("es", "hvar"):
        return get_model(name, history=history)
    return get_model(name)


@pytest.mark.realdata
@pytest.mark.parametrize("name", ["rules", "span", "pm_grid", "es", "hvar", "conservative", "simm"])
@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(legs=BOOKS)
def test_sums_on_random_books_every_model(name: str, legs: list[list[tuple[int, int]]]) -> None:
    portfolio = book(_sized(REAL_SYMBOLS, legs), REAL_SYMBOLS)
    snap = real_market()
    if name == "simm":
        att = attribute_simm(portfolio, snap)
        check_sums(att)
        return
    att = attribute(portfolio, snap, _real(name), incremental=False)
    check_sums(att)


@pytest.mark.realdata
def test_sample_book_incremental_and_marginal_are_full_runs() -> None:
    portfolio = api.sample_book()
    snap = api.market_for(portfolio, asof="2026-02-11")
    model = _real("es")
    att = attribute(portfolio, snap, model)
    check_sums(att)
    check_incremental(att, portfolio, snap, model)
    acc = att.account("gamma-xasset")
    item = next(i for i in acc.items if i.name == "ESH26")
    alone = portfolio.subset(["gamma-xasset"])

    def run(dq: float) -> float:
        moved = [
            replace(p, quantity=p.quantity + dq) if p.instrument.symbol == "ESH26" else p
            for p in alone.positions
        ]
        return model.compute(
            Portfolio.from_positions(moved, collateral=alone.collateral), snap
        ).total

    step = 1e-4
    assert item.marginal == pytest.approx((run(step) - run(-step)) / (2 * step), rel=1e-4)


def test_collateral_that_offsets_gets_its_share() -> None:
    """BTC posted at Deribit meets a short inverse perpetual (settled in BTC) from the
    underlying tier on: it is an item of the attribution and the sum stays exact."""
    positions = [
        Position(account="a", instrument=inst("BTC-PERPETUAL"), quantity=-70_000.0),
        Position(account="a", instrument=inst("ETH-PERPETUAL"), quantity=50_000.0),
    ]
    held = [CollateralHolding(account="a", asset="BTC", amount=1.0, venue="deribit")]
    portfolio = Portfolio.from_positions(positions, collateral=held)
    att = attribute(portfolio, market(), get_model("span"))
    check_sums(att)
    kinds = {i.kind for i in att.accounts[0].items}
    assert kinds == {"position", "collateral"}
    coll = next(i for i in att.accounts[0].items if i.kind == "collateral")
    assert coll.contribution < 0  # the coin offsets the short perpetual's loss


def test_unknown_grouping_is_refused() -> None:
    att = attribute(book([[(0, 1_000)]]), market(), get_model("rules"), incremental=False)
    with pytest.raises(InputError, match="unknown attribution grouping"):
        att.accounts[0].by("venue")
    with pytest.raises(InputError, match="unknown account"):
        att.account("nobody")


def test_pm_grid_deribit_addons_sum_to_the_requirement() -> None:
    """Deribit's venue with delta shock and the IM increment binding (acc0: 40M USD of
    perpetuals against 5M USD of futures, above the 20M USD threshold): every account's
    contributions sum to its requirement, and the incremental margins are full runs."""
    i = {s: k for k, s in enumerate(SYMBOLS)}
    portfolio = book(
        [
            [(i["BTC-PERPETUAL"], 4_000_000), (i["BTC-26JUN26"], -500_000)],
            [(i["BTC-27MAR26-70000-C"], -40), (i["BTC-27MAR26-65000-P"], -60)],
        ]
    )
    model = get_model("pm_grid", venue="deribit")
    result = model.compute(portfolio, market())
    assert result.accounts[0].components["im_increment"] > 0
    att = attribute(portfolio, market(), model)
    check_sums(att)
    check_incremental(att, portfolio, market(), model)
    assert "pro rata" in att.method
