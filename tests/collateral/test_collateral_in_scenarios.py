"""Collateral in the margin scenarios and in every stress, against closed forms.

Inverse contracts (Deribit): a long of ``q`` contracts of ``m`` USD face gains
``q·m·(1/F₀ − 1/F₁)`` coin, worth ``q·m·(F₁/F₀ − 1)`` USD at the new price ``F₁``: in USD a
move ``f = F₁/F₀`` costs ``q·m·(1 − f)``, the same as a linear long of ``q·m/F₀`` coin. What
makes the inverse position riskier is the coin collateral behind it, which loses
``C·(1 − f)`` too: backed by one coin worth ``q·m`` the account loses twice what a linear
position backed by dollars loses. A short inverse position of ``q·m = S₀`` against one coin
of collateral is a synthetic dollar: ``−q·m·(f − 1) + S₀·(f − 1) = 0`` for every move.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import pytest

from crossmargin import api
from crossmargin.analysis.stress.common import HeldMargin
from crossmargin.analysis.stress.hypothetical import Hypothetical, ShockEntry, hypothetical_stress
from crossmargin.collateral import CollateralHolding
from crossmargin.collateral.haircuts import load_haircuts
from crossmargin.config import find_data_dir
from crossmargin.instruments import parse_symbol
from crossmargin.market.builder import snapshot_from_history
from crossmargin.market.history import MarketHistory
from crossmargin.market.scenarios import ScenarioSet
from crossmargin.market.snapshot import MarketSnapshot
from crossmargin.portfolio import Portfolio, Position

pytestmark = pytest.mark.realdata
ASOF = "2025-06-02"
RISK_MODELS = ("span", "pm_grid", "es", "hvar")
#: Components that are not joint-scenario risk: basis, funding, the perpetual roll shock.
BASIS_TERMS = ("basis", "funding", "roll_shock")


@cache
def _history() -> MarketHistory:
    folder = find_data_dir()
    if folder is None:
        pytest.skip("shared market data not found (../shared/data/market)")
    return MarketHistory.load(folder)


@cache
def _market() -> MarketSnapshot:
    return snapshot_from_history(ASOF, ["BTC", "SPY"], history=_history())


def _kw(model: str) -> dict[str, object]:
    return {"history": _history()} if model in ("es", "hvar") else {}


def _book(
    positions: list[tuple[str, str, float]], held: list[tuple[str, str, float, str]]
) -> Portfolio:
    return Portfolio.from_positions(
        [Position(account=a, instrument=parse_symbol(s), quantity=q) for a, s, q in positions],
        collateral=[
            CollateralHolding(account=a, asset=x, amount=n, venue=v) for a, x, n, v in held
        ],
    )


def _drop(spot: float) -> Hypothetical:
    return Hypothetical(name=f"btc{spot:+.0%}", entries=(ShockEntry(spot=spot, underlying="BTC"),))


def _held(book: Portfolio) -> HeldMargin:
    zero = dict.fromkeys(book.accounts, 0.0)
    return HeldMargin(model="none", required=zero, standalone=zero)


def test_synthetic_dollar_loses_nothing_and_is_charged_at_most_haircut_plus_basis() -> None:
    market = _market()
    s0 = market.spots["BTC"]
    book = _book([("syn", "BTC-PERPETUAL", -s0 / 10.0)], [("syn", "BTC", 1.0, "deribit")])
    for spot in (-0.5, -0.3, 0.2, 1.0):  # every move: position and collateral cancel
        (out,) = hypothetical_stress(book, market, _held(book), [_drop(spot)])
        assert out.account("syn").loss == pytest.approx(0.0, abs=1e-6 * s0)
    haircut = s0 * load_haircuts().haircut("BTC", "deribit")
    assert haircut == pytest.approx(0.02 * s0)  # Deribit BTC collateral: 2%
    for model in RISK_MODELS:
        acc = api.margin(book, market, model, **_kw(model)).accounts[0]
        basis = sum(v for k, v in acc.components.items() if k in BASIS_TERMS)
        scenario = sum(v for k, v in acc.components.items()
                       if k in ("core", "scan_risk", "scan_loss"))  # fmt: skip
        assert scenario == pytest.approx(0.0, abs=1e-6 * s0), model
        assert acc.total <= haircut + basis + 1e-6, (model, acc.total, haircut, basis)
        naked = api.margin(Portfolio.from_positions(book.positions), market, model, **_kw(model))
        assert naked.accounts[0].total > 5 * acc.total, model  # the same short without its coin


def test_inverse_long_on_coin_loses_twice_the_linear_long_on_dollars() -> None:
    market = _market()
    s0 = market.spots["BTC"]
    notional = 1_000_000.0
    book = _book(
        [("inverse", "BTC-PERPETUAL", notional / 10.0),  # 10 USD a contract
         ("linear", "BTC_USDC-PERPETUAL", notional / s0 / 0.001)],  # 0.001 BTC a contract
        [("inverse", "BTC", notional / s0, "deribit"), ("linear", "USDC", notional, "deribit")],
    )  # fmt: skip
    (out,) = hypothetical_stress(book, market, _held(book), [_drop(-0.30)])
    assert out.account("linear").loss == pytest.approx(0.30 * notional, rel=1e-9)
    assert out.account("inverse").loss == pytest.approx(2 * 0.30 * notional, rel=1e-9)
    for model in ("es", "pm_grid"):
        r = {a.account: a.total for a in api.margin(book, market, model, **_kw(model)).accounts}
        assert 1.7 < r["inverse"] / r["linear"] < 2.3, (model, r)


def test_a_depeg_moves_the_equity_by_the_stated_amount() -> None:
    market = _market()
    amount = 250_000.0
    book = _book([("usdc", "BTC_USDC-PERPETUAL", 1000.0)], [("usdc", "USDC", amount, "deribit")])
    depeg = Hypothetical(
        name="usdc-0.878", entries=(ShockEntry(spot=-0.122, asset="USDC"),), source="test"
    )
    (out,) = hypothetical_stress(book, market, _held(book), [depeg])
    assert out.account("usdc").loss == pytest.approx(0.122 * amount, rel=1e-12)
    assert out.moves["USDC"].spot == -0.122
    # the same depeg as a market: USDC priced 0.878 moves the account's equity by the amount
    par = api.margin(book, market, "span").accounts[0].equity
    depegged = MarketSnapshot.from_dict({**market.to_dict(), "fx": {**market.fx, "USDC": 0.878}})
    after = api.margin(book, depegged, "span").accounts[0].equity
    assert par is not None
    assert after is not None
    assert par.holdings[0].price == market.fx.get("USDC", 1.0) == 1.0
    assert after.holdings[0].price == 0.878
    assert par.equity - after.equity == pytest.approx(0.122 * amount, rel=1e-12)


def test_the_shipped_depeg_scenario_hits_the_sample_usde() -> None:
    """The shipped 2025-10-10 scenario on the sample's delta-mixed account: its collateral
    adds 35% of its USDe and 14.07% of its BTC to the positions' own loss."""
    from crossmargin.analysis.stress.hypothetical import load_scenarios

    book = api.sample_book().subset(["delta-mixed"])
    market = api.market_for(book, asof="2026-02-11")
    (scenario,) = [h for h in load_scenarios() if h.name == "crypto-2025-10-10-usde-0.65"]
    (with_collateral,) = hypothetical_stress(book, market, _held(book), [scenario])
    bare = Portfolio.from_positions(book.raw)
    (without,) = hypothetical_stress(bare, market, _held(bare), [scenario])
    usde = sum(h.amount for h in book.collateral if h.asset == "USDe")
    btc = sum(h.amount for h in book.collateral if h.asset == "BTC")
    assert usde > 0
    assert btc > 0
    want = 0.35 * usde + 0.1407 * btc * market.spots["BTC"]
    added = with_collateral.account("delta-mixed").loss - without.account("delta-mixed").loss
    assert added == pytest.approx(want, rel=1e-12)
    assert with_collateral.moves["USDe"].spot == -0.35


def test_scenario_sets_carry_asset_moves_and_refuse_bad_ones() -> None:
    s = ScenarioSet(underlyings=("BTC",), spot_shocks=[[0.0], [0.1]],
                    asset_moves={"USDe": [-0.35, 0.0]})  # fmt: skip
    assert np.array_equal(s.asset_moves["USDe"], [-0.35, 0.0])
    from crossmargin.errors import InputError

    with pytest.raises(InputError, match=r"asset_moves\['USDe'\] must be 2 finite relative"):
        ScenarioSet(
            underlyings=("BTC",), spot_shocks=[[0.0], [0.1]], asset_moves={"USDe": [-1.0, 0]}
        )


@pytest.mark.parametrize("model", ["rules", "span"])
def test_a_cached_model_nets_collateral_as_its_model_does(model: str) -> None:
    """The service's CachedModel must not change whether collateral nets (rules: never)."""
    from crossmargin.models import get_model
    from crossmargin.models.cache import CachedModel, ContextCache

    market = _market()
    book = _book([("a", "BTC-PERPETUAL", -5_000.0)], [("a", "BTC", 0.5, "deribit")])
    plain = get_model(model)
    cached = CachedModel(plain, ContextCache(), model_key=model, market_key="m")
    assert cached.nets_collateral is plain.nets_collateral
    want = api.margin(book, market, plain).accounts[0].total
    assert api.margin(book, market, cached).accounts[0].total == pytest.approx(want, rel=1e-12)
