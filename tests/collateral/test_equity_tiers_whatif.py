"""Equity, offset tiers and what-if against hand computations on real market snapshots.

* equity = Σ value·(1 − haircut) over positive balances + Σ borrowed value + MTM; excess,
  margin ratio and utilisation from it (crossmargin.collateral.equity);
* each tier's requirement is ``max(N, B − c·O)`` where eligible, ``max(N, B)`` otherwise
  (EMIR RTS 153/2013 Art 27(4) applied to the tier's own offset);
* a trade's price enters the equity once: two otherwise identical accounts or what-ifs
  differ in equity and excess by exactly ``q·m·ΔP``.
"""

from __future__ import annotations

from functools import cache

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crossmargin import api
from crossmargin.collateral import CollateralHolding
from crossmargin.collateral.haircuts import load_haircuts
from crossmargin.config import find_data_dir
from crossmargin.instruments import parse_symbol
from crossmargin.market.builder import snapshot_from_history
from crossmargin.market.history import MarketHistory
from crossmargin.market.snapshot import MarketSnapshot
from crossmargin.models.result import AccountMargin, TierMargin
from crossmargin.portfolio import Portfolio, Position

pytestmark = pytest.mark.realdata
MODELS = ("span", "pm_grid", "es")


@cache
def _history() -> MarketHistory:
    folder = find_data_dir()
    if folder is None:
        pytest.skip("shared market data not found (../shared/data/market)")
    return MarketHistory.load(folder)


@cache
def _market(asof: str) -> MarketSnapshot:
    return snapshot_from_history(asof, ["BTC", "SPX", "SPY"], history=_history())


def _kw(model: str) -> dict[str, object]:
    return {"history": _history()} if model in ("es", "hvar") else {}


def _pos(account: str, symbol: str, qty: float, price: float | None = None) -> Position:
    return Position(account=account, instrument=parse_symbol(symbol, reference_year=2025),
                    quantity=qty, trade_price=price)  # fmt: skip


def _tier(acc: AccountMargin, name: str) -> TierMargin:
    return next(t for t in acc.tiers if t.tier == name)


# ------------------------------------------------------------------------------- equity
def test_equity_excess_ratio_and_utilisation_by_hand() -> None:
    market = _market("2025-06-02")
    s, spy = market.spots["BTC"], market.spots["SPY"]
    held = [
        CollateralHolding(account="a", asset="USD", amount=100_000.0),
        CollateralHolding(account="a", asset="BTC", amount=1.5, venue="deribit"),
        CollateralHolding(account="a", asset="SPY", amount=200.0),
        CollateralHolding(account="a", asset="USDC", amount=-20_000.0, venue="deribit"),
    ]
    book = Portfolio.from_positions(
        [_pos("a", "BTC_USDC-PERPETUAL", 2_000.0, 100_000.0)], collateral=held
    )
    cuts = load_haircuts()
    assert cuts.haircut("BTC", "deribit") == 0.02
    assert cuts.haircut("SPY", "") == 0.15  # house schedule for securities
    after = 100_000.0 + 1.5 * s * 0.98 + 200 * spy * 0.85 - 20_000.0  # a debt counts in full
    mtm = 2_000 * 0.001 * (s - 100_000.0)  # linear perpetual: q·m·(S − P)
    acc = api.margin(book, market, "es", history=_history()).accounts[0]
    e = acc.equity
    assert e is not None
    assert e.collateral_after_haircut == pytest.approx(after, rel=1e-12)
    assert e.mtm == pytest.approx(mtm, rel=1e-12)
    assert e.equity == pytest.approx(after + mtm, rel=1e-12)
    assert e.initial_margin == acc.total
    assert e.excess == pytest.approx(after + mtm - acc.total, rel=1e-12)
    assert e.maintenance_margin is not None
    assert e.margin_ratio == pytest.approx((after + mtm) / e.maintenance_margin, rel=1e-12)
    assert e.utilisation == pytest.approx(acc.total / (after + mtm), rel=1e-12)


# ------------------------------------------------------------------------- what-if / MTM
@pytest.mark.parametrize(
    ("symbol", "qty", "p1", "p2", "m"),
    [("BTC_USDC-PERPETUAL", 500.0, 100_000.0, 104_000.0, 0.001),  # linear: MTM q·m·(F − P)
     ("SPY", 300.0, 580.0, 600.0, 1.0),  # spot: cash paid q·P
     ("BTC_USDC-27JUN25-100000-C", 10.0, 4_000.0, 5_500.0, 0.01)],  # option: premium q·m·P
)  # fmt: skip
def test_trade_price_moves_equity_and_excess_by_exactly_the_mtm_difference(
    symbol: str, qty: float, p1: float, p2: float, m: float
) -> None:
    market = _market("2025-06-02")
    cash = [CollateralHolding(account=a, asset="USD", amount=2e6) for a in ("one", "two")]
    base = [_pos("one", "SPY", 10.0), _pos("two", "SPY", 10.0)]
    want = qty * m * (p2 - p1)  # account "two" paid that much more
    # inside one book: the requirement is the same, the equity differs by exactly that
    book = Portfolio.from_positions(
        [*base, _pos("one", symbol, qty, p1), _pos("two", symbol, qty, p2)], collateral=cash
    )
    if symbol == "SPY" or "-C" in symbol:  # premium / price paid: already out of the cash
        book = book.with_collateral(
            [CollateralHolding(account="one", asset="USD", amount=-qty * m * p1),
             CollateralHolding(account="two", asset="USD", amount=-qty * m * p2)]
        )  # fmt: skip
    res = {a.account: a for a in api.margin(book, market, "span").accounts}
    assert res["one"].total == pytest.approx(res["two"].total, rel=1e-12)
    e1, e2 = res["one"].equity, res["two"].equity
    assert e1 is not None
    assert e2 is not None
    assert e1.equity - e2.equity == pytest.approx(want, rel=1e-9)
    assert e1.excess - e2.excess == pytest.approx(want, rel=1e-9)
    # the same through what-if: the trade pays its premium from cash at its own price
    start = Portfolio.from_positions(base[:1], collateral=cash[:1])
    w1 = api.what_if(start, "one", [{"symbol": symbol, "quantity": qty, "trade_price": p1}],
                     market, "span")  # fmt: skip
    w2 = api.what_if(start, "one", [{"symbol": symbol, "quantity": qty, "trade_price": p2}],
                     market, "span")  # fmt: skip
    assert w1.after_total == pytest.approx(w2.after_total, rel=1e-12)
    assert w1.equity_after - w2.equity_after == pytest.approx(want, rel=1e-9)
    assert w1.excess - w2.excess == pytest.approx(want, rel=1e-9)


def test_netting_rows_keeps_each_rows_variation() -> None:
    market = _market("2025-06-02")
    s = market.spots["BTC"]
    rows = [_pos("a", "BTC_USDC-PERPETUAL", 300.0, 90_000.0),
            _pos("a", "BTC_USDC-PERPETUAL", -100.0, 110_000.0)]  # fmt: skip
    e = api.margin(Portfolio.from_positions(rows), market, "span").accounts[0].equity
    assert e is not None
    want = 0.001 * (300 * (s - 90_000.0) - 100 * (s - 110_000.0))
    assert e.mtm == pytest.approx(want, rel=1e-12)


# ------------------------------------------------------------------------------- tiers
SPREAD = st.tuples(st.integers(1, 400), st.integers(-400, -1))


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(legs=SPREAD)
def test_a_calendar_spread_is_never_capped_above_its_grouped_margin(legs: tuple[int, int]) -> None:
    """The issue's case: per-position standalone as the cap's base charged a same-underlying
    calendar spread several times its netted margin. Netted at the product tier (cap 1), the
    spread's requirement is its own netted margin, which is its grouped margin."""
    market = _market("2025-06-02")
    book = Portfolio.from_positions(
        [_pos("cal", "BTC-27JUN25", float(legs[0])), _pos("cal", "BTC-26SEP25", float(legs[1]))]
    )
    for model in MODELS:
        for by in ("product", "underlying"):
            acc = api.margin(book, market, model, by=by, **_kw(model)).accounts[0]
            (spread,) = _tier(acc, "product").groups
            assert spread.capped == pytest.approx(spread.margin, rel=1e-12)  # cap 1: netted
            assert acc.total == pytest.approx(acc.grouped, rel=1e-12), (model, by)
            assert acc.total == pytest.approx(acc.netted, rel=1e-12), (model, by)
            capped = api.margin(book, market, model, cap=0.5, **_kw(model)).accounts[0]
            assert capped.total == pytest.approx(
                acc.total, rel=1e-12
            )  # --cap: cross-underlying only


def test_crypto_equity_offset_below_the_threshold_gets_no_credit() -> None:
    """2019-06-28: BTC and SPX daily moves were uncorrelated over the year (ρ near 0), so the
    netting-set tier's rule (|ρ| lower bound >= 0.2 over 12M and the COVID window) fails and
    the requirement is the asset-class sum: no credit for the cross-asset offset."""
    market = _market("2019-06-28")
    book = Portfolio.from_positions(
        [
            Position(account="x", instrument=parse_symbol("BTC-PERPETUAL"), quantity=100_000.0),
            Position(
                account="x", instrument=parse_symbol("ESU9", reference_year=2019), quantity=-10.0
            ),
        ]
    )
    for model in ("es", "span"):
        acc = api.margin(book, market, model, **_kw(model)).accounts[0]
        top = _tier(acc, "netting-set").groups[0]
        assert not top.eligible, model
        (test,) = top.tests
        assert abs(test["lookback"]["rho"]) < 0.2
        assert top.capped == pytest.approx(max(top.margin, top.base), rel=1e-12)
        assert acc.total == pytest.approx(top.capped, rel=1e-12)
        assert acc.total >= _tier(acc, "asset-class").capped - 1e-9
        granted = api.margin(book, market, model, offsets="none", **_kw(model)).accounts[0]
        assert granted.total == pytest.approx(acc.netted, rel=1e-12)  # every offset granted


def test_an_eligible_offset_is_capped_at_the_tier_cap() -> None:
    """SPY against ES on the same as-of: correlation ~0.99, eligible at the asset-class tier
    (cap 0.8): C = max(N, B − 0.8·(B − N)) with the members netted (cap 1 below)."""
    market = _market("2025-06-02")
    book = Portfolio.from_positions([_pos("x", "SPY", 2_000.0), _pos("x", "ESU5", -2.0)])
    for model in MODELS:
        acc = api.margin(book, market, model, **_kw(model)).accounts[0]
        group = _tier(acc, "asset-class").groups[0]
        assert group.eligible, (model, group.reason)
        n, b = group.margin, group.base
        assert group.capped == pytest.approx(max(n, b - 0.8 * (b - n)), rel=1e-12), model
        assert acc.total == pytest.approx(group.capped, rel=1e-12)


@pytest.mark.parametrize("model", MODELS)
def test_a_what_if_without_detail_reports_the_same_accounts(model: str) -> None:
    # detail=False (the service's what-if) leaves out positions, groups, parameters and
    # diagnostics; the before and after accounts, tiers and equity are the full ones, bit
    # for bit, and so is the answer.
    market = _market("2025-06-02")
    book = Portfolio.from_positions(
        [_pos("one", "SPY", 10.0), _pos("one", "BTC_USDC-27JUN25-100000-C", 5.0, 4_000.0)],
        collateral=[CollateralHolding(account="one", asset="USD", amount=2e6)],
    )
    trades = [{"symbol": "SPY", "quantity": -4.0, "trade_price": 590.0}]
    full = api.what_if(book, "one", trades, market, model, collateral=1e5)
    lean = api.what_if(book, "one", trades, market, model, collateral=1e5, detail=False)
    assert lean.to_dict() == full.to_dict()
    for part in ("before", "after"):
        a, b = getattr(lean, part), getattr(full, part)
        assert a.accounts == b.accounts
        assert (a.total, a.cap, a.offsets) == (b.total, b.cap, b.offsets)
        assert (a.positions, a.groups, a.parameters, a.diagnostics) == ((), (), {}, {})
        assert b.positions
        assert b.groups
        assert b.parameters
