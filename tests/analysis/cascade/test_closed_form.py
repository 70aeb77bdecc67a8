"""Closed forms by hand: two accounts and one liquidation under linear impact; the bankruptcy
price; a netted spread (Nasdaq Clearing 2018) down a CCP's waterfall in order."""

from __future__ import annotations

import math

import numpy as np
import pytest

from crossmargin.analysis.cascade import hypothetical_path, run_cascade, spread_break_path

from .conftest import params_with, population, prepared, rules, units_of

S0 = 100_000.0
SIGMA_D = 0.05  # BTC daily vol of the synthetic market (VOLS in conftest)


def _two_accounts(adv: float, layers: list[dict[str, object]] | None = None):  # type: ignore[no-untyped-def]
    """a0: long 1 BTC on 5,000 USD (20x); a1: long 0.5 BTC on 20,000 USD. Whole liquidation,
    no fee, maintenance 1% of delta notional, linear impact (exponent 1, Y = 1)."""
    pop = population([(0, "BTC", 1.0), (1, "BTC", 0.5)], [5_000.0, 20_000.0])
    waterfalls = {
        "venue": layers
        or [
            {"layer": "defaulter_margin"},
            {"layer": "insurance_fund", "amount": 10_000.0},
            {"layer": "adl", "method": "queue", "granularity": "position"},
        ],
    }
    params = params_with(
        venues=rules(mm=0.01, im=0.02, partial=False, fee=0.0),
        impact={"coefficient": 1.0, "exponent": 1.0, "depth_collapse": 0.0},
        waterfalls=waterfalls,
    )
    return prepared(pop, params, adv={"BTC": adv})


def test_two_accounts_one_liquidation_linear_impact_by_hand() -> None:
    # Shock: BTC -4.5% in one step of a whole day (h = 1, no depth collapse).
    #   S1 = 95,500. a0: E = 5,000 + 1 x (95,500 - 100,000) = 500 < MM = 1% x 95,500 = 955
    #   -> liquidated whole: sells 1 BTC. a1: E = 20,000 - 2,250 = 17,750 > MM 477.5.
    # Linear impact: d ln S = -Y sigma_d Q / ADV = -1 x 0.05 x 1 / 10 = -0.005.
    #   S_exec = 95,500 e^-0.005 = 95,023.7...; a0 realises 95,023.7 - 100,000 = -4,976.3:
    #   equity 23.7 > 0 (no deficit). a1 at S_exec: E = 20,000 + 0.5 x (-4,976.3) = 17,511.8,
    #   MM = 0.5 x 950.24 = 475.1: not in breach -> fixed point after one liquidation round.
    prep = _two_accounts(adv=10.0)
    shock = hypothetical_path({"BTC": -0.045}, name="down", steps=1)
    report = run_cascade(prep, shock, modes=("cross",))
    r = report.mode("cross")
    s_exec = 95_500.0 * math.exp(-SIGMA_D * 1.0 / 10.0)
    step = r.steps[0]
    assert step.exogenous_prices["BTC"] == pytest.approx(95_500.0, rel=1e-12)
    assert step.prices["BTC"] == pytest.approx(s_exec, rel=1e-9)
    assert step.impact["BTC"] == pytest.approx(-0.005, rel=1e-9)
    assert step.flow["BTC"] == pytest.approx(-1.0, rel=1e-9)
    assert step.iterations == 1
    assert step.converged
    assert (r.accounts_liquidated, r.units_liquidated, r.units_bankrupt) == (1, 1, 0)
    assert r.notional == pytest.approx(s_exec, rel=1e-6)  # 1 BTC of delta at S_exec
    # a0's whole equity but 23.7 consumed; nothing beyond collateral
    assert r.ledger.losses == pytest.approx(5_000.0 - (5_000.0 + s_exec - S0), abs=1e-6)
    assert r.ledger.deficits == 0.0
    assert r.fund_drawn == 0.0


def test_bankruptcy_price_and_insurance_fund_by_hand() -> None:
    # As above with ADV = 1 BTC a day: d ln S = -0.05, S_exec = 95,500 e^-0.05 = 90,842.5.
    # a0: equity 5,000 + 90,842.5 - 100,000 = -4,157.5: bankrupt, deficit 4,157.5, paid by the
    # 10,000 insurance fund. Bankruptcy price: 5,000 + (S - 100,000) = 0 -> S = 95,000.
    prep = _two_accounts(adv=1.0)
    r = run_cascade(
        prep, hypothetical_path({"BTC": -0.045}, name="down", steps=1), modes=("cross",)
    ).mode("cross")
    s_exec = 95_500.0 * math.exp(-0.05)
    deficit = -(5_000.0 + s_exec - S0)
    assert r.units_bankrupt == 1
    assert r.ledger.deficits == pytest.approx(deficit, abs=1e-6)
    assert r.ledger.layers["insurance_fund"] == pytest.approx(deficit, abs=1e-6)
    assert r.ledger.adl == 0.0
    assert r.ledger.residual == 0.0
    assert r.ledger.collateral_consumed == pytest.approx(5_000.0, abs=1e-6)
    (d,) = r.defaults
    assert d.bankruptcy_price == pytest.approx(95_000.0, rel=1e-9)
    assert d.deficit == pytest.approx(deficit, abs=1e-6)
    # a1 survives at S_exec: E = 20,000 + 0.5 (S_exec - S0) well above 0.5% of S_exec
    assert r.accounts_liquidated == 1


def test_insurance_fund_then_adl_queue_by_hand() -> None:
    # Fund of 1,000 against the 4,157.5 deficit; the rest by ADL on the short a2 (profitable,
    # opposite side). a2 is short 3 BTC, ranked alone; the bankrupt closed N = 1 BTC = 1,000
    # contracts, so a2 pays h = R / N per matched contract and (granularity 'position') its
    # whole 3,000 contracts are closed: overshoot 2,000 contracts.
    pop = population(
        [(0, "BTC", 1.0), (1, "BTC", 0.5), (2, "BTC", -3.0)], [5_000.0, 20_000.0, 50_000.0]
    )
    layers = [
        {"layer": "defaulter_margin"},
        {"layer": "insurance_fund", "amount": 1_000.0},
        {"layer": "adl", "method": "queue", "granularity": "position"},
    ]
    params = params_with(
        venues=rules(partial=False),
        waterfalls={"venue": layers},
        impact={"coefficient": 1.0, "exponent": 1.0, "depth_collapse": 0.0},
    )
    prep = prepared(pop, params, adv={"BTC": 1.0})
    r = run_cascade(
        prep, hypothetical_path({"BTC": -0.045}, name="down", steps=1), modes=("cross",)
    ).mode("cross")
    s_exec = 95_500.0 * math.exp(-0.05)
    deficit = -(5_000.0 + s_exec - S0)
    assert r.ledger.layers["insurance_fund"] == pytest.approx(1_000.0, abs=1e-6)
    assert r.ledger.adl == pytest.approx(deficit - 1_000.0, abs=1e-6)
    adl = r.waterfall["adl"]
    assert adl["positions_closed"] == 1
    assert adl["contracts_closed"] == pytest.approx(3_000.0)
    assert adl["overshoot_contracts"] == pytest.approx(2_000.0)
    assert adl["overshoot_notional"] == pytest.approx(2.0 * s_exec, rel=1e-6)
    assert abs(r.ledger.gap) < 0.005


def test_adl_pro_rata_by_hand() -> None:
    # Two shorts with profits 3 x 9,157.5 and 1 x 9,157.5 share R = deficit - fund by profit:
    # 3/4 and 1/4; nothing is closed.
    pop = population(
        [(0, "BTC", 1.0), (1, "BTC", -3.0), (2, "BTC", -1.0)], [5_000.0, 60_000.0, 60_000.0]
    )
    layers = [
        {"layer": "defaulter_margin"},
        {"layer": "insurance_fund", "amount": 0.0},
        {"layer": "adl", "method": "pro-rata"},
    ]
    params = params_with(
        venues=rules(partial=False),
        waterfalls={"venue": layers},
        impact={"coefficient": 1.0, "exponent": 1.0, "depth_collapse": 0.0},
    )
    prep = prepared(pop, params, adv={"BTC": 1.0})
    report = run_cascade(
        prep, hypothetical_path({"BTC": -0.045}, name="down", steps=1), modes=("cross",)
    )
    r = report.mode("cross")
    deficit = -(5_000.0 + 95_500.0 * math.exp(-0.05) - S0)
    assert r.ledger.adl == pytest.approx(deficit, abs=1e-6)
    assert r.waterfall["adl"]["positions_closed"] == 0
    assert r.ledger.residual == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize(
    ("multiple", "last_layer"), [(-17.0, "mutualised_default_fund"), (-30.0, "residual")]
)
def test_netted_spread_consumes_the_ccp_waterfall_in_order(
    multiple: float, last_layer: str
) -> None:
    # Nasdaq Clearing 2018: a member's netted Nordic-German power spread moved 17 times its
    # normal daily move; EUR 7m of the CCP's junior capital then EUR 107m of the EUR 166m
    # default fund were consumed (Nasdaq Clearing statement, 2018-09-13, GlobeNewswire).
    # Here: "aas" is long 30 BTC and short 750 ETH (equal delta, 3m USD a leg), cross-margined
    # at rho = 0.95 (its margin nets the legs), on 380,000 USD. Spread vol 1% a day; the
    # spread moves -17 sigma: BTC -8.5%, ETH +8.5% (log): a loss of about 510,600, a deficit
    # of about 130,600 that ends part-way through the mutualised fund (as in 2018); at -30
    # sigma it runs through the assessments into a residual. A second member holds the same
    # positions with plenty of collateral, so both have the same initial margin and each
    # contributes half of a 166,000 fund. Waterfall: aas' margin, its 83,000 contribution,
    # 7,000 of skin in the game, then the mutualised fund (the other member's 83,000).
    pop = population(
        [(0, "BTC", 30.0), (0, "ETH", -750.0), (1, "BTC", 30.0), (1, "ETH", -750.0)],
        [380_000.0, 5_000_000.0],
    )
    ccp = [
        {"layer": "defaulter_margin"},
        {"layer": "defaulter_default_fund"},
        {"layer": "skin_in_the_game", "amount": 7_000.0},
        {"layer": "mutualised_default_fund"},
        {"layer": "assessments", "multiple_of_contribution": 1.0},
    ]
    params = params_with(
        venues=rules(mm=0.01, im=0.02, partial=False),
        waterfalls={"ccp": ccp},
        default_fund={"sizing": "amount", "amount": 166_000.0, "scenarios": []},
        impact={"coefficient": 1.0, "exponent": 1.0, "depth_collapse": 0.0},
    )
    prep = prepared(pop, params, adv={"BTC": 1e13, "ETH": 1e13}, rho=0.95)
    shock = spread_break_path("BTC", "ETH", multiple=multiple, sigma_spread=0.01, steps=1)
    half = -multiple * 0.005
    report = run_cascade(prep, shock, modes=("cross", "isolated"), allocation="ccp")
    r = report.mode("cross")
    # netting: aas' maintenance margin is m sqrt(2 (1 - rho)) of one leg's, 0.316 x
    units = units_of(prep, "cross")
    leg = 0.01 * 3_000_000.0
    assert units.maintenance0[0] == pytest.approx(leg * math.sqrt(2 * 0.05), rel=1e-6)
    # aas' loss at the (impact-free) shocked prices, by hand
    step = r.steps[0]
    pnl = 30.0 * (step.prices["BTC"] - S0) - 750.0 * (step.prices["ETH"] - 4_000.0)
    assert step.prices["BTC"] == pytest.approx(S0 * math.exp(-half), rel=1e-7)
    deficit = -(380_000.0 + pnl)
    assert deficit == pytest.approx(
        -(380_000 + 30 * S0 * (math.exp(-half) - 1) - 750 * 4_000 * (math.exp(half) - 1)), rel=1e-6
    )
    led = r.ledger
    assert r.units_bankrupt == 1
    assert r.accounts_liquidated == 1
    assert led.deficits == pytest.approx(deficit, abs=0.01)
    own, sitg = 83_000.0, 7_000.0
    assert led.collateral_consumed == pytest.approx(380_000.0, abs=0.01)
    assert led.layers["defaulter_default_fund"] == pytest.approx(own, abs=0.01)
    assert led.layers["skin_in_the_game"] == pytest.approx(sitg, abs=0.01)
    mutual = min(deficit - own - sitg, 83_000.0)
    assert led.layers["mutualised_default_fund"] == pytest.approx(mutual, abs=0.01)
    assessed = max(0.0, deficit - own - sitg - 83_000.0)
    assert led.layers["assessments"] == pytest.approx(min(assessed, 83_000.0), abs=0.01)
    assert led.residual == pytest.approx(max(0.0, assessed - 83_000.0), abs=0.01)
    assert abs(led.gap) < 0.005
    last = {"mutualised_default_fund": mutual, "residual": led.residual}[last_layer]
    assert last > 0  # the deficit reaches this layer ...
    if last_layer == "mutualised_default_fund":  # ... and stops part-way (2018: 107 of 166)
        assert mutual < 83_000.0
        assert led.layers["assessments"] == 0.0
    # the layers are consumed in order: a later one only once every earlier one is empty
    drawn = [
        led.layers[k]
        for k in (
            "defaulter_default_fund",
            "skin_in_the_game",
            "mutualised_default_fund",
            "assessments",
        )
    ]
    caps = [own, sitg, 83_000.0, 83_000.0]
    for k in range(1, len(drawn)):
        if drawn[k] > 0:
            assert drawn[k - 1] == pytest.approx(caps[k - 1], abs=0.01)
    # isolated, each leg holds its full margin: the netted requirement was 3.2x smaller
    iso = units_of(prep, "isolated")
    assert iso.maintenance0[:2].sum() == pytest.approx(2 * leg, rel=1e-6)
    assert np.isclose(iso.maintenance0[:2].sum() / units.maintenance0[0], 2 / math.sqrt(0.1))
