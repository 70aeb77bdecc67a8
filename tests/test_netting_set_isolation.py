"""A margin depends only on its own netting set: every model, several entry points.

Random books of several random accounts (crypto-only, equity-only and mixed accounts side by
side, so that calendars, history starts and stressed windows differ) on three real as-of
dates: each account's figures alone equal its figures inside the book, and inside the book
with the accounts in reverse order, **bit for bit**, for ``rules``, ``span``, ``pm_grid``,
``es``, ``hvar``, ``conservative`` and ISDA ``simm`` (CRIF from the book, per account); and
so do the figures a service gives from contexts cached and grown for other books.

Exact equality holds because a layout lists its instruments in canonical order
(``Instrument.sort_key``), cached contexts keep that order when they grow, and every sum over
a row's instruments, CCs or underlyings adds them one at a time in that order (a column the
row does not hold adds an exact 0): see ``crossmargin.netting.sums.ordered_row_sums``.
"""

from __future__ import annotations

from datetime import date
from functools import cache
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from crossmargin import api
from crossmargin.errors import InputError
from crossmargin.instruments import parse_symbol
from crossmargin.instruments.symbols import last_friday, third_friday
from crossmargin.market.builder import snapshot_from_history
from crossmargin.market.snapshot import MarketSnapshot
from crossmargin.models import MarginResult
from crossmargin.portfolio import Portfolio, Position
from crossmargin.simm import simm_margin
from crossmargin.simm.sensitivities import book_crif
from market_inputs import MODELS
from market_inputs import history as _history
from market_inputs import model_named as _model

pytestmark = pytest.mark.realdata
DATES = ("2019-06-28", "2022-11-30", "2025-06-02")
MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
QUARTER_CODES = {3: "H", 6: "M", 9: "U", 12: "Z"}


def _month_ahead(asof: date, months: int) -> tuple[int, int]:
    total = asof.year * 12 + asof.month - 1 + months
    return total // 12, total % 12 + 1


@cache
def _universe(asof: str) -> tuple[MarketSnapshot, tuple[str, ...]]:
    """Tradable symbols on ``asof`` (expiries after it) and the market snapshot."""
    history = _history()
    when = date.fromisoformat(asof)
    market = snapshot_from_history(asof, ["BTC", "ETH", "SPX", "SPY", "QQQ"], history=history)
    btc, eth, spy = market.spots["BTC"], market.spots["ETH"], market.spots["SPY"]
    y, m = _month_ahead(when, 2)
    exp = last_friday(y, m)
    deribit = f"{exp.day}{MONTHS[exp.month - 1]}{exp:%y}"
    qy, qm = _month_ahead(when, 3 - (when.month - 1) % 3 + 2)
    while qm not in QUARTER_CODES:
        qy, qm = _month_ahead(date(qy, qm, 1), 1)
    es = f"ES{QUARTER_CODES[qm]}{qy % 100:02d}"
    occ_exp = third_friday(y, m)
    k_spy = round(spy / 5) * 5
    symbols = (
        "BTC_USDC",
        "BTC-PERPETUAL",
        "ETH-PERPETUAL",
        "BTC_USDC-PERPETUAL",
        f"BTC-{deribit}",
        f"BTC-{deribit}-{round(btc, -3):.0f}-C",
        f"ETH-{deribit}-{round(eth, -2):.0f}-P",
        es,
        "SPY",
        "QQQ",
        f"SPY   {occ_exp:%y%m%d}P{k_spy * 1000:08.0f}",
    )
    for s in symbols:
        parse_symbol(s, reference_year=when.year)  # every symbol must parse
    return market, symbols


def _book(asof: str, accounts: list[list[tuple[int, int]]]) -> Portfolio:
    _, symbols = _universe(asof)
    year = int(asof[:4])
    positions = [
        Position(
            account=f"acc{a}",
            instrument=parse_symbol(symbols[i % len(symbols)], reference_year=year),
            quantity=float(q),
        )
        for a, legs in enumerate(accounts)
        for i, q in legs
    ]
    return Portfolio.from_positions(positions)


def _figures(result: MarginResult, account: str) -> list[Any]:
    """The account's figures, its tiers' and each tier group's included."""
    acc = next(a for a in result.accounts if a.account == account)
    tiers = [
        (t.tier, t.margin, t.base, t.capped,
         [(g.group, g.margin, g.base, g.capped, g.standalone, g.eligible) for g in t.groups])
        for t in acc.tiers
    ]  # fmt: skip
    return [acc.netted, acc.standalone, acc.grouped, *acc.components.values(), tiers]


def _same(a: list[Any], b: list[Any]) -> bool:
    """Equal figures, bit for bit (``0.0`` and ``-0.0`` are one figure)."""
    return a == b


QTY = st.integers(-20, 20).filter(lambda q: q != 0)
LEG = st.tuples(st.integers(0, 10), QTY)
ACCOUNT = st.lists(LEG, min_size=1, max_size=3)
BOOKS = st.lists(ACCOUNT, min_size=2, max_size=4)


@pytest.mark.parametrize("asof", DATES)
@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(accounts=BOOKS)
def test_each_account_alone_equals_inside_the_book(asof: str, accounts: list) -> None:  # type: ignore[type-arg]
    market, _ = _universe(asof)
    book = _book(asof, accounts)
    reversed_book = Portfolio.from_positions(
        [p for a in reversed(book.accounts) for p in book.positions if p.account == a]
    )
    for name in MODELS:
        model = _model(name)
        together = model.compute(book, market)
        backwards = model.compute(reversed_book, market)
        for account in book.accounts:
            alone = model.compute(book.subset([account]), market)
            want = _figures(alone, account)
            assert _same(_figures(together, account), want), (name, account)
            assert _same(_figures(backwards, account), want), (name, account)
    crif = book_crif(book, market)
    for account in book.accounts:
        inside = simm_margin(crif.for_account(account), version="2.6", mpor_days=10).total
        alone = simm_margin(book_crif(book.subset([account]), market).crif, version="2.6",
                            mpor_days=10).total  # fmt: skip
        assert inside == alone, ("simm", account)


@pytest.mark.parametrize("asof", DATES)
@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(others=BOOKS, accounts=BOOKS)
def test_contexts_cached_and_grown_for_other_books_give_the_same_figures(
    asof: str,
    others: list,  # type: ignore[type-arg]
    accounts: list,  # type: ignore[type-arg]
) -> None:
    """The service's path: contexts prepared for another book first, then hit or grown by
    this one (``pm_grid``, ``es`` and ``hvar`` extend theirs); each account's figures equal
    those of the account alone, margined afresh."""
    from crossmargin.models.cache import CachedModel, ContextCache

    market, _ = _universe(asof)
    first, book = _book(asof, others), _book(asof, accounts)
    for name in MODELS:
        model = _model(name)
        cached = CachedModel(model, ContextCache(), model_key=name, market_key=asof)
        cached.compute(first.subset([first.accounts[0]]), market)
        cached.compute(first, market)
        served = cached.compute(book, market)
        for account in book.accounts:
            want = _figures(model.compute(book.subset([account]), market), account)
            assert _same(_figures(served, account), want), (name, account)


def test_a_crypto_account_beside_an_equity_account_keeps_its_calendar() -> None:
    """The issue's case: $1M BTC-PERPETUAL alone and beside an unrelated SPY account."""
    market, _ = _universe("2025-06-02")
    btc = parse_symbol("BTC-PERPETUAL")
    spy = parse_symbol("SPY")
    alone = Portfolio.from_positions([Position(account="btc", instrument=btc, quantity=1e5)])
    both = Portfolio.from_positions(
        [*alone.positions, Position(account="spy", instrument=spy, quantity=1000.0)]
    )
    es = _model("es")
    a = es.compute(alone, market).accounts[0]
    b = next(x for x in es.compute(both, market).accounts if x.account == "btc")
    assert a.netted == b.netted
    assert b.netting_set["calendar"] == "crypto"
    assert b.netting_set["lookback"]["calendar_days"] >= 365
    assert b.netting_set["lookback"]["scenarios"] >= 365


def test_what_if_and_stress_held_margin_are_per_account() -> None:
    market, symbols = _universe("2022-11-30")
    book = _book("2022-11-30", [[(0, 3), (4, -2)], [(8, 5), (7, -1)]])
    alone = api.margin(book.subset(["acc0"]), market, "es", history=_history())
    trade = [{"symbol": symbols[1], "quantity": 1000}]
    wi = api.what_if(book, "acc0", trade, market, "es", collateral=0.0, history=_history())
    assert wi.before_total == alone.total
    held = api.stress(book, "es", crisis="ftx", market=market).held
    held_alone = api.stress(book.subset(["acc0"]), "es", crisis="ftx", market=market).held
    assert held.required["acc0"] == held_alone.required["acc0"]


def test_backtest_paths_of_an_account_do_not_depend_on_the_others() -> None:
    from crossmargin.analysis.backtest import ModelSpec, run_paths
    from crossmargin.analysis.strategies import representative_strategies

    chosen = [s for s in representative_strategies() if s.name in ("long-btc", "long-spx")]
    both = run_paths(chosen, ModelSpec("es"), "2024-03-01", "2024-03-20", history=_history())
    alone = run_paths(chosen[:1] if chosen[0].name == "long-btc" else chosen[1:],
                      ModelSpec("es"), "2024-03-01", "2024-03-20", history=_history())  # fmt: skip
    j = both.accounts.index("long-btc")
    own = both.observed(j)
    assert [d for d, k in zip(both.dates, own, strict=True) if k] == list(alone.dates)
    assert len(alone.dates) == 20  # every calendar day: BTC alone lives on the crypto calendar
    for mode in ("netted", "standalone"):
        assert list(both.margin[mode][own, j]) == list(alone.margin[mode][:, 0])
    assert list(both.pnl[own, j]) == list(alone.pnl[:, 0])


HOLDINGS = (("BTC", 0.7, "deribit"), ("USDC", 50_000.0, "deribit"), ("SPY", 40.0, "equities"),
            ("USD", 20_000.0, "cme"), ("ETH", -3.0, "deribit"))  # fmt: skip
HELD = st.lists(st.integers(0, len(HOLDINGS) - 1), max_size=3, unique=True)


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(accounts=BOOKS, held=st.lists(HELD, min_size=4, max_size=4),
       declared=st.sampled_from(("all", "none", "cme+occ+equities,deribit")))  # fmt: skip
def test_collateral_and_venue_groups_keep_netting_sets_apart(
    accounts: list,
    held: list[list[int]],
    declared: str,  # type: ignore[type-arg]
) -> None:
    """With collateral (coins that join their underlying's groups, stablecoins, securities,
    a borrowed coin) and a cross-margin declaration that may cut accounts by venue, every
    netting set's requirement and equity alone equal those inside the book."""
    from crossmargin.collateral import CollateralHolding
    from crossmargin.netting.venues import parse_cross_margin, split_netting_sets

    asof = "2025-06-02"
    market, _ = _universe(asof)
    plain = _book(asof, accounts)
    holdings = [
        CollateralHolding(account=a, asset=HOLDINGS[k][0], amount=HOLDINGS[k][1],
                          venue=HOLDINGS[k][2])
        for a, ks in zip(plain.accounts, held, strict=False)
        for k in ks
    ]  # fmt: skip
    try:
        book = split_netting_sets(
            plain.with_collateral(holdings), parse_cross_margin(declared, source="test")
        )
    except InputError:  # collateral at a venue where its account holds nothing: refused
        assume(False)
    for name in ("span", "es"):
        model = _model(name)
        together = {a.account: a for a in model.compute(book, market).accounts}
        for netting_set in book.accounts:
            alone = model.compute(book.subset([netting_set]), market).accounts[0]
            inside = together[netting_set]
            assert _same([inside.total, *_figures_of(inside)],
                         [alone.total, *_figures_of(alone)]), (name, netting_set)  # fmt: skip


def _figures_of(acc) -> list[float]:  # type: ignore[no-untyped-def]
    e = acc.equity
    return [acc.netted, acc.standalone, acc.grouped, e.equity, e.excess,
            e.collateral_after_haircut, *acc.components.values()]  # fmt: skip
