"""The population generator draws the documented distributions; books and written
populations load back exactly."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from crossmargin import api
from crossmargin.analysis.cascade import (
    generate_population,
    load_params,
    load_population,
    load_spec,
    population_from_book,
    write_population,
)
from crossmargin.collateral.holdings import CollateralHolding
from crossmargin.portfolio import Portfolio

from .conftest import snapshot


@pytest.fixture(scope="module")
def big():  # type: ignore[no-untyped-def]
    return generate_population(
        load_spec({"accounts": 20_000, "seed": 1}), snapshot(), load_params()
    )


def test_documented_distributions(big) -> None:  # type: ignore[no-untyped-def]
    pop = big
    n = len(pop.accounts)
    spot = {"USDC": 1.0, "USDT": 1.0, "USDe": 1.0, "BTC": 100_000.0}
    usd = (pop.collateral * np.array([spot[a] for a in pop.collateral_assets])).sum(axis=1)
    # lognormal(ln 5000, 1.5) clipped at 100: median 5,000, sd of the log 1.5 (above the clip)
    assert np.median(usd) == pytest.approx(5_000.0, rel=0.05)
    logs = np.log(usd[usd > 200.0])
    assert np.std(np.log(usd)) == pytest.approx(1.5, rel=0.05)
    assert logs.size > 0.98 * n
    # cross share 0.6, two legs 0.3, collateral assets 0.5/0.3/0.1/0.1 (binomial 3-sigma)
    tol = 3 * math.sqrt(0.25 / n)
    assert pop.cross.mean() == pytest.approx(0.6, abs=tol)
    legs = np.bincount(pop.row_account, minlength=n)
    assert (legs == 2).mean() == pytest.approx(0.3, abs=tol)
    held = (pop.collateral > 0).mean(axis=0)
    for asset, share in zip(pop.collateral_assets, (0.5, 0.3, 0.1, 0.1), strict=True):
        assert held[pop.collateral_assets.index(asset)] == pytest.approx(share, abs=tol)
    # products: BTC 0.6, ETH 0.4 for one-leg accounts; two-leg accounts hold both
    one = np.flatnonzero(legs == 1)
    first_rows = np.searchsorted(pop.row_account, one)
    btc = np.array([pop.instruments[i].underlying == "BTC" for i in pop.row_instrument])
    assert btc[first_rows].mean() == pytest.approx(0.6, abs=tol)
    two = np.flatnonzero(legs == 2)
    rows2 = np.searchsorted(pop.row_account, two)
    assert np.all(pop.row_instrument[rows2] != pop.row_instrument[rows2 + 1])
    # every account meets its isolated initial margin (2% of delta notional) at 95% at most
    notional = np.abs(pop.row_quantity) * np.array(
        [
            pop.instruments[i].multiplier
            * {"BTC": 100_000.0, "ETH": 4_000.0}[pop.instruments[i].underlying]
            for i in pop.row_instrument
        ]
    )
    im = 0.02 * np.bincount(pop.row_account, weights=notional, minlength=n)
    assert np.all(im <= 0.95 * usd * (1 + 1e-5))
    leverage = np.bincount(pop.row_account, weights=notional, minlength=n) / usd
    assert np.median(leverage) == pytest.approx(5.0, rel=0.1)
    assert leverage.max() <= 0.95 / 0.02 * (1 + 1e-5)  # quantities rounded to 1e-6 contracts
    # two-leg accounts: opposite sides with probability 0.7, equal notional per leg
    opposite = np.sign(pop.row_quantity[rows2]) != np.sign(pop.row_quantity[rows2 + 1])
    assert opposite.mean() == pytest.approx(0.7, abs=3 * math.sqrt(0.21 / two.size))
    np.testing.assert_allclose(notional[rows2], notional[rows2 + 1], rtol=1e-4)
    # the first leg is long with probability 0.65 (one-leg accounts: their only leg)
    assert (pop.row_quantity[first_rows] > 0).mean() == pytest.approx(0.65, abs=tol)


def test_same_seed_same_population_other_seed_another() -> None:
    a = generate_population(load_spec("500:4"), snapshot(), load_params())
    b = generate_population(load_spec("500:4"), snapshot(), load_params())
    c = generate_population(load_spec("500:5"), snapshot(), load_params())
    np.testing.assert_array_equal(a.row_quantity, b.row_quantity)
    np.testing.assert_array_equal(a.collateral, b.collateral)
    assert a.row_quantity.size != c.row_quantity.size or not np.array_equal(
        a.row_quantity, c.row_quantity
    )


def test_written_population_loads_back(tmp_path: Path) -> None:
    pop = generate_population(load_spec("300:9"), snapshot(), load_params())
    path = write_population(pop, tmp_path / "pop.json", asof="2026-01-05")
    back = load_population(path)
    assert back.accounts == pop.accounts
    np.testing.assert_array_equal(back.cross, pop.cross)
    order = np.lexsort((pop.row_instrument, pop.row_account))
    assert [back.instruments[i].symbol for i in back.row_instrument] == [
        pop.instruments[i].symbol for i in pop.row_instrument[order]
    ]
    np.testing.assert_allclose(back.row_quantity, pop.row_quantity[order])
    for asset in pop.collateral_assets:
        np.testing.assert_allclose(
            back.collateral[:, back.collateral_assets.index(asset)],
            pop.collateral[:, pop.collateral_assets.index(asset)],
        )
    assert back.spec == pop.spec
    with pytest.raises(Exception, match="JSON"):
        write_population(pop, tmp_path / "pop.csv")


def test_a_book_with_collateral_as_population() -> None:
    book = Portfolio.from_positions(api.sample_book().raw).with_collateral(
        [
            CollateralHolding(account="alpha-crypto", asset="BTC", amount=2.0, venue="deribit"),
            CollateralHolding(account="alpha-crypto", asset="USDC", amount=1_000.0),
            CollateralHolding(account="beta-macro", asset="USD", amount=5_000.0),
        ]
    )
    pop = population_from_book(book)
    assert pop.accounts == book.accounts
    assert pop.row_account.size == len(book.positions)
    assert set(pop.venues) == {"deribit", "cme", "occ", "equities"}
    assert pop.collateral_assets == ("BTC", "USDC", "USD")
    assert pop.collateral_venues == ("deribit", "", "")
    assert pop.collateral[0].tolist() == [2.0, 1_000.0, 0.0]
    assert pop.cross.all()
    assert "BTC" in pop.underlyings
