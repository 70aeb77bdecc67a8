"""Properties of the cascade: conservation to the cent on every case, monotonicity in the
shock size, zero shock liquidates nobody, the fixed point and its iteration bound, and the
vectorised kernels against plain loops."""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crossmargin.analysis.cascade import (
    CascadeReport,
    ShockPath,
    generate_population,
    hypothetical_path,
    load_params,
    load_spec,
    run_cascade,
    spread_break_path,
)
from crossmargin.analysis.cascade.margin import MODES, requirement

from .conftest import params_with, prepared, rules, snapshot, units_of

ADV = {"BTC": 3_000.0, "ETH": 60_000.0}


def _population(seed: int, accounts: int = 120, **spec: Any):  # type: ignore[no-untyped-def]
    doc = {"accounts": accounts, "seed": seed, **spec}
    return generate_population(load_spec(doc), snapshot(), load_params())


def _v_shape(depth: float) -> ShockPath:
    """Down ``depth`` over 3 steps then half of it back over 2, USDe at 0.7 at the bottom."""
    levels = np.array([0.0, -depth / 3, -2 * depth / 3, -depth, -0.75 * depth, -0.5 * depth])
    path = np.column_stack([levels, 1.2 * levels])
    stable = {"USDe": np.array([1.0, 1.0, 0.9, 0.7, 0.9, 1.0])}
    return ShockPath(
        name="v",
        kind="hypothetical",
        underlyings=("BTC", "ETH"),
        log_path=path,
        step_fraction=np.full(5, 0.1),
        depth_collapse=np.full(5, 0.5),
        labels=tuple(f"v{k}" for k in range(5)),
        stable=stable,
    )


SHOCKS = {
    "crash": lambda: hypothetical_path({"BTC": -0.25, "ETH": -0.3}, name="crash", steps=6),
    "rally": lambda: hypothetical_path({"BTC": 0.3, "ETH": 0.35}, name="rally", steps=6),
    "spread": lambda: spread_break_path("BTC", "ETH", multiple=25.0, sigma_spread=0.01, steps=3),
    "v-shape": lambda: _v_shape(0.3),
}
ALLOCATIONS = {
    "venue-queue": {
        "venue": [
            {"layer": "defaulter_margin"},
            {"layer": "insurance_fund", "fraction_of_open_interest": 0.002},
            {"layer": "adl", "method": "queue", "granularity": "position"},
        ]
    },
    "venue-exact": {
        "venue": [
            {"layer": "defaulter_margin"},
            {"layer": "insurance_fund", "amount": 10_000.0},
            {"layer": "adl", "method": "queue", "granularity": "exact"},
        ]
    },
    "venue-pro-rata": {
        "venue": [
            {"layer": "defaulter_margin"},
            {"layer": "insurance_fund", "amount": 0.0},
            {"layer": "adl", "method": "pro-rata"},
        ]
    },
    "ccp": {},
}


def _check_books(report: CascadeReport) -> None:
    """Conservation to the cent, from separate ledgers, for every mode of a report."""
    for r in report.results:
        led = r.ledger
        # losses = collateral consumed + layers + ADL + residual (what the ledger reports)
        assert abs(led.gap) < 0.005, (r.mode, led.to_dict())
        # deficits (units' equity after close-out) = what the funds' balances paid + what
        # counterparties were charged (their ledger) + residual
        paid = math.fsum([*led.layers.values(), led.adl, led.residual])
        assert abs(led.deficits - paid) < 0.005, (r.mode, led.to_dict())
        # per-step allocations add up to the run's
        steps = math.fsum(math.fsum(s.layers.values()) + s.residual for s in r.steps)
        assert abs(steps - paid) < 0.005
        assert math.fsum(s.deficits for s in r.steps) == pytest.approx(led.deficits, abs=0.005)
        # no fund pays more than it holds
        for layer in r.waterfall["layers"]:
            assert layer["drawn"] <= layer["capacity"] + layer["inflow"] + 0.005
        assert led.residual >= -1e-9
        assert led.collateral_consumed >= -1e-6
        assert r.units_bankrupt <= r.units_closed <= r.units_liquidated
        assert r.converged


@pytest.mark.parametrize(("shock", "allocation"), list(itertools.product(SHOCKS, ALLOCATIONS)))
def test_conservation_to_the_cent(shock: str, allocation: str) -> None:
    pop = _population(11, collateral_assets={"USDC": 0.5, "USDe": 0.3, "BTC": 0.2})
    waterfalls = ALLOCATIONS[allocation]
    params = (
        params_with(
            venues=rules(
                mm=0.01, im=0.02, partial=True, fee=0.005, surplus=allocation == "venue-queue"
            ),
            waterfalls=waterfalls,
        )
        if waterfalls
        else params_with(venues=rules(mm=0.01, im=0.02, partial=True, fee=0.005))
    )
    prep = prepared(pop, params, adv=ADV)
    report = run_cascade(
        prep, SHOCKS[shock](), modes=MODES, allocation="ccp" if allocation == "ccp" else "venue"
    )
    _check_books(report)
    if shock in ("crash", "v-shape"):
        assert any(r.units_bankrupt for r in report.results)  # the case exercises the layers


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10_000),
    small=st.floats(0.0, 0.35),
    extra=st.floats(0.0, 0.2),
    down=st.booleans(),
    ccp=st.booleans(),
)
def test_a_larger_shock_never_liquidates_fewer_or_consumes_less(
    seed: int, small: float, extra: float, down: bool, ccp: bool
) -> None:
    # One-step shocks (an instantaneous move) scaled: with several steps the step grid itself
    # moves with the scale, so a larger shock can catch a unit earlier on its way down (at a
    # better price); docs/cascade.md, "Monotonicity".
    pop = _population(seed, accounts=150, collateral_assets={"USDC": 1.0})
    params = params_with(venues=rules(mm=0.01, im=0.02, partial=True, fee=0.005))
    prep = prepared(pop, params, adv=ADV)
    sign = -1.0 if down else 1.0
    out = []
    for size in (small, small + extra):
        shock = hypothetical_path(
            {"BTC": sign * size, "ETH": sign * 1.2 * size * (0.8 if down else 1.0)},
            name="m",
            steps=1,
        )
        out.append(
            run_cascade(
                prep, shock, modes=("isolated", "cross"), allocation="ccp" if ccp else "venue"
            )
        )
    for a, b in zip(out[0].results, out[1].results, strict=True):
        assert b.accounts_liquidated >= a.accounts_liquidated
        assert b.units_liquidated >= a.units_liquidated
        assert b.ledger.deficits >= a.ledger.deficits - 0.005
        used_a = a.fund_drawn + a.ledger.adl + a.ledger.residual
        used_b = b.fund_drawn + b.ledger.adl + b.ledger.residual
        assert used_b >= used_a - 0.005
        # the deepest layer reached: a single layer's draw need not grow (at a CCP a later
        # defaulter's own contribution may already have been mutualised), the depth does
        assert _depth(b) >= _depth(a)


def _depth(r: Any) -> int:
    """1 + index of the deepest waterfall layer that paid anything (residual last), 0 if none."""
    order = [*r.ledger.layers, "adl", "residual"]
    paid = {**r.ledger.layers, "adl": r.ledger.adl, "residual": r.ledger.residual}
    return max((k + 1 for k, name in enumerate(order) if paid[name] > 0.005), default=0)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), ccp=st.booleans(), cross_share=st.floats(0.0, 1.0))
def test_zero_shock_liquidates_nobody(seed: int, ccp: bool, cross_share: float) -> None:
    pop = _population(seed, accounts=200, cross_share=cross_share)
    prep = prepared(pop, load_params(), adv=ADV)
    shock = _v_shape(0.3).scaled(0.0)
    report = run_cascade(prep, shock, allocation="ccp" if ccp else "venue")
    for r in report.results:
        assert r.in_breach_at_start == 0
        assert (r.accounts_liquidated, r.units_liquidated, r.notional) == (0, 0, 0.0)
        assert r.ledger.losses == 0.0
        assert r.fund_drawn == 0.0
        assert r.ledger.adl == 0.0
        assert all(s.iterations == 0 and s.converged for s in r.steps)


def test_fixed_point_is_reached_and_bounded() -> None:
    pop = _population(5, accounts=300)
    params = params_with(venues=rules(mm=0.01, im=0.02, partial=True, max_partial=2))
    prep = prepared(pop, params, adv={"BTC": 300.0, "ETH": 6_000.0})
    shock = hypothetical_path({"BTC": -0.2, "ETH": -0.25}, name="crash", steps=4)
    report = run_cascade(prep, shock, modes=("isolated", "cross"))
    for r in report.results:
        assert r.converged
        for s in r.steps:
            # each iteration closes a unit or one of its max_partial + 1 tranches
            assert s.iterations <= (2 + 1) * r.units
        assert r.iterations > r.steps[0].iterations  # the later steps do work too
    # the same run with one iteration allowed per step stops early and says so
    short = params_with(
        venues=rules(mm=0.01, im=0.02, partial=True, max_partial=2), engine={"max_iterations": 1}
    )
    tight = run_cascade(
        prepared(pop, short, adv={"BTC": 300.0, "ETH": 6_000.0}), shock, modes=("cross",)
    ).mode("cross")
    assert not tight.converged
    assert any("max_iterations" in n for n in tight.notes)
    assert all(s.iterations <= 1 for s in tight.steps)


def test_at_the_fixed_point_nobody_is_in_breach_at_the_final_prices() -> None:
    # Re-evaluate every unit by hand at the prices the run ended on: reprice the linear
    # perpetuals, add each unit's realised P&L, compare with its maintenance margin.
    pop = _population(3, accounts=200, collateral_assets={"USDC": 1.0})
    params = params_with(venues=rules(mm=0.01, im=0.02, partial=False))
    prep = prepared(pop, params, adv=ADV)
    shock = hypothetical_path({"BTC": -0.12, "ETH": -0.15}, name="crash", steps=1)
    r = run_cascade(prep, shock, modes=("isolated",)).mode("isolated")
    prices = r.steps[-1].prices
    units = units_of(prep, "isolated")
    survivors = 0
    for row in range(pop.row_account.size):  # isolated: one unit per row
        inst = pop.instruments[pop.row_instrument[row]]
        q = pop.row_quantity[row] * inst.multiplier  # units of the underlying
        s0, s1 = prep.market.spot0[prep.market.index(inst.underlying)], prices[inst.underlying]
        equity = units.collateral[row, 0] * (1 - 0.02) + q * (s1 - s0)  # USDC: house 2% cut
        mm = 0.01 * abs(q) * s1
        if equity >= mm:
            survivors += 1
    # units never in breach at the final prices = units never liquidated (nothing comes back)
    assert survivors == r.units - r.units_liquidated


def test_requirement_kernel_matches_a_plain_loop() -> None:
    rng = np.random.default_rng(3)
    rows, units, k = 400, 90, 3
    row_unit = rng.integers(0, units, rows)
    row_und = rng.integers(0, k, rows)
    down = rng.normal(0, 1e3, rows)
    up = np.where(rng.random(rows) < 0.5, -down, rng.normal(0, 1e3, rows))
    a = rng.normal(size=(k, k))
    cov = a @ a.T
    corr = cov / np.sqrt(np.outer(np.diag(cov), np.diag(cov)))
    fast = requirement(row_unit, units, down, up, row_und, corr)
    for u in range(units):
        w = []
        for j in range(k):
            d = sum(down[r] for r in range(rows) if row_unit[r] == u and row_und[r] == j)
            p = sum(up[r] for r in range(rows) if row_unit[r] == u and row_und[r] == j)
            w.append(d if d >= p else -p)
        quad = sum(w[i] * corr[i, j] * w[j] for i in range(k) for j in range(k))
        assert fast[u] == pytest.approx(math.sqrt(max(quad, 0.0)), rel=1e-12, abs=1e-9)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_cross_never_needs_more_than_grouped_or_isolated(seed: int) -> None:
    pop = _population(seed, accounts=100, legs={1: 0.3, 2: 0.7})
    prep = prepared(pop, load_params(), adv=ADV, rho=0.6)
    per = {}
    for mode in ("isolated", "grouped", "cross"):
        u = units_of(prep, mode)
        per[mode] = np.bincount(u.unit_account, weights=u.maintenance0, minlength=100)
    assert np.all(per["cross"] <= per["grouped"] + 1e-9)
    assert np.all(per["grouped"] <= per["isolated"] + 1e-9)
