"""SIMM attribution: the dual-number evaluator against crossmargin.simm.simm_margin, its
gradient against finite differences, and Aumann–Shapley under concentration."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opt_fixtures import SYMBOLS, book, inst, market
from scipy.integrate import quad_vec

from crossmargin.analysis.optimise.attribution_simm import attribute_simm
from crossmargin.analysis.optimise.simm_euler import (
    account_factors,
    simm_contributions,
    simm_value,
)
from crossmargin.portfolio import Portfolio, Position
from crossmargin.simm import simm_margin
from crossmargin.simm.parameters import load_parameters
from crossmargin.simm.sensitivities import book_crif


def _size(symbol: str) -> int:
    """Contracts of a typical position: Deribit inverse futures and perpetuals are 10 USD or
    1 USD each, linear perpetuals 0.001 BTC or 0.01 ETH."""
    inverse = symbol.startswith(("BTC-", "ETH-")) and symbol[-2:] not in ("-C", "-P")
    return 1_000 if inverse or symbol.startswith("BTC_USDC-P") else 1


QTY = st.integers(-30, 30).filter(lambda q: q != 0)
LEGS = st.lists(st.tuples(st.integers(0, 15), QTY), min_size=1, max_size=6)


@pytest.mark.parametrize(("version", "mpor"), [("2.6", 10), ("2.8+2512", 10), ("2.6", 1)])
@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(legs=LEGS)
def test_value_gradient_and_sum(version: str, mpor: int, legs: list[tuple[int, int]]) -> None:
    portfolio = book([[(i, q * _size(SYMBOLS[i % len(SYMBOLS)])) for i, q in legs]])
    params = load_parameters(version, mpor)
    f = account_factors(portfolio, "acc0", market(), params)
    reference = simm_margin(
        book_crif(portfolio, market()).crif, version=version, mpor_days=mpor
    ).total
    at = simm_value(params, f.qualifiers, f.x)
    assert at.v == pytest.approx(reference, rel=1e-10, abs=1e-8)
    for i in np.flatnonzero(f.x):
        h = 1e-5 * abs(f.x[i])
        up, down = f.x.copy(), f.x.copy()
        up[i] += h
        down[i] -= h
        fd = simm_value(params, f.qualifiers, up).v - simm_value(params, f.qualifiers, down).v
        # compared as contributions (gradient x factor) against the margin
        assert abs(fd / (2 * h) - at.g[i]) * abs(f.x[i]) <= 1e-7 * max(1.0, at.v)
    total, contribution, _, residual = simm_contributions(params, f)
    assert contribution.sum() == pytest.approx(total, rel=1e-9, abs=1e-9)
    assert abs(residual) <= 1e-9 * max(1.0, total)


def test_concentration_aumann_shapley_matches_the_ray_integral() -> None:
    """10 bn USD of BTC-PERPETUAL (a delta of 100 M USD per 1%) exceeds the commodity delta
    threshold: SIMM is not homogeneous; the contributions equal QUADPACK's adaptive integral
    of the gradient along the ray, split where the BTC delta reaches the threshold (52 M USD,
    SIMM v2.6)."""
    portfolio = Portfolio.from_positions(
        [
            Position(account="x", instrument=inst("BTC-PERPETUAL"), quantity=1e9),
            Position(account="x", instrument=inst("BTC-27MAR26-70000-C"), quantity=-2_000),
            Position(account="x", instrument=inst("ESH26"), quantity=-3_000),
        ]
    )
    params = load_parameters("2.6", 10)
    f = account_factors(portfolio, "x", market(), params)
    total, contribution, marginal, residual = simm_contributions(params, f)
    btc = next(k for k, q in enumerate(f.qualifiers) if q.qualifier == "BTC")
    kink = params.threshold("Commodity", "delta", "16") / abs(f.x[btc])
    assert 0.0 < kink < 1.0
    integral, _ = quad_vec(
        lambda t: simm_value(params, f.qualifiers, t * f.x).g, 0.0, 1.0, points=[kink], epsrel=1e-10
    )
    assert abs(residual) <= 1e-6 * total
    assert contribution == pytest.approx(integral @ f.loading, rel=1e-7)
    assert contribution.sum() == pytest.approx(total, rel=1e-9)
    euler = float(marginal @ np.array([p.quantity for p in f.positions]))
    assert abs(euler - total) > 1e-3 * total  # the plain Euler sum does not add up here


def test_attribute_simm_incremental_is_two_full_runs() -> None:
    portfolio = book([[(0, 3_000), (3, -4), (7, 2), (11, 100)], [(5, 10_000)]])
    got = attribute_simm(portfolio, market())
    for acc in got.accounts:
        assert acc.contributions_sum == pytest.approx(acc.total, rel=1e-9)
        for item in acc.items:
            rest = [
                p
                for p in portfolio.account(acc.account).positions
                if p.instrument.symbol != item.name
            ]
            with_it = simm_margin(book_crif(portfolio.subset([acc.account]), market()).crif).total
            without = (
                simm_margin(book_crif(Portfolio.from_positions(rest), market()).crif).total
                if rest
                else 0.0
            )
            assert item.incremental == pytest.approx(with_it - without, rel=1e-9, abs=1e-6)
    with pytest.raises(Exception, match="no offset tiers"):
        got.accounts[0].by("tier")
