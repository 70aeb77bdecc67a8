"""Margin on a real LocalCluster (2 worker processes) equals the single-process path.

For every model (``rules``, ``span``, ``pm_grid``, ``es``, ``hvar``, ``conservative``) on the
sample book and on random books, every figure of the result (accounts, tiers, groups,
positions, equity, components, diagnostics) is the same float, with the book cut into
several parts (a few positions each) so that the merge is exercised; ISDA SIMM per account
likewise. The single-process path is the reference because each account's figures depend on
its own positions only (``tests/test_netting_set_isolation.py``).
"""

from __future__ import annotations

import pytest
from distributed import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from same import assert_same

from crossmargin import api
from crossmargin.collateral.holdings import CollateralHolding
from crossmargin.distributed import run_margin, run_simm
from crossmargin.models import get_model
from crossmargin.portfolio import Portfolio, Position
from crossmargin.simm import simm_margin
from crossmargin.simm.sensitivities import book_crif
from market_inputs import MODELS, sample_market
from market_inputs import model_named as _model

pytestmark = pytest.mark.realdata


@pytest.mark.parametrize("name", MODELS)
def test_sample_book_every_model(client: Client, name: str) -> None:
    book, market = api.sample_book(), sample_market()
    model = _model(name)
    single = model.compute(book, market)
    timings: list[float] = []
    spread = run_margin(client, model, book, market, chunk_positions=3, timings=timings)
    assert len(timings) >= 3  # the book really went out in several parts
    assert spread.model == single.model == name
    assert [a.account for a in spread.accounts] == list(book.accounts)
    assert_same(spread.to_dict(), single.to_dict())


@pytest.mark.parametrize(("by", "cap", "offsets"),
                         [("position", None, None), ("product", 0.5, None),
                          ("account", None, "none"), ("asset-class", 0.8, "emir")])  # fmt: skip
def test_groupings_caps_and_collateral(
    client: Client, by: str, cap: float | None, offsets: str | None
) -> None:
    book = api.sample_book()
    first, second = book.accounts[0], book.accounts[2]
    book = book.with_collateral(
        [CollateralHolding(account=first, asset="BTC", amount=2.5, venue="deribit"),
         CollateralHolding(account=second, asset="USD", amount=1e5),
         CollateralHolding(account=second, asset="ETH", amount=-3.0, venue="deribit")]
    )  # fmt: skip
    market = api.market_for(book, asof="2026-02-11")
    model = get_model("pm_grid")
    single = model.compute(book, market, by=by, cap=cap, offsets=offsets)
    spread = run_margin(client, model, book, market, by=by, cap=cap, offsets=offsets,
                        chunk_positions=2)  # fmt: skip
    assert_same(spread.to_dict(), single.to_dict())


def test_api_client_pass_through(client: Client) -> None:
    book, market = api.sample_book(), sample_market()
    assert_same(api.margin(book, market, "span", client=client).to_dict(),
                api.margin(book, market, "span").to_dict())  # fmt: skip


def test_simm_per_account(client: Client) -> None:
    book, market = api.sample_book(), sample_market()
    crif = book_crif(book, market)
    spread = run_simm(client, book, market, version="2.6", chunk_positions=2)
    assert list(spread) == list(book.accounts)
    for account, result in spread.items():
        single = simm_margin(crif.for_account(account), version="2.6", mpor_days=10)
        assert_same(result.to_dict(), single.to_dict())


QTY = st.integers(-30, 30).filter(lambda q: q != 0)
ACCOUNT = st.lists(st.tuples(st.integers(0, 16), QTY), min_size=1, max_size=5)


@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(accounts=st.lists(ACCOUNT, min_size=3, max_size=7), size=st.integers(1, 6))
def test_random_books_every_model(client: Client, accounts: list, size: int) -> None:  # type: ignore[type-arg]
    """Random accounts over the sample book's instruments (crypto, equity and mixed), random
    chunk sizes: every model, every figure."""
    market = sample_market()
    instruments = api.sample_book().instruments
    book = Portfolio.from_positions(
        Position(account=f"acc{a}", instrument=instruments[i % len(instruments)],
                 quantity=float(q))
        for a, legs in enumerate(accounts)
        for i, q in legs
    )  # fmt: skip
    for name in MODELS:
        model = _model(name)
        single = model.compute(book, market)
        spread = run_margin(client, model, book, market, chunk_positions=size)
        assert_same(spread.to_dict(), single.to_dict())
