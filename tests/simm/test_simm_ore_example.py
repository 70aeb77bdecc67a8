"""ORE's SIMM v2.6 10-day example (METHODS.md §6.4, validation case V5).

Input: tests/simm/fixtures/ore_example_crif.csv, the CRIF of OpenSourceRisk/Engine
Examples/InitialMargin (one USD Bermudan swaption).  Expected: ORE's published report
Examples/InitialMargin/ExpectedOutput/SIMM2.6_10D/simm.csv.
"""

from __future__ import annotations

import json

import pytest
from scipy.stats import norm
from simm_data import FIXTURES

from crossmargin.simm import read_crif, simm_margin
from crossmargin.simm.curvature import lambda_factor

CRIF = FIXTURES / "ore_example_crif.csv"
TOL = 1e-6


@pytest.fixture(scope="module")
def result():  # type: ignore[no-untyped-def]
    return simm_margin(CRIF, version="2.6", mpor_days=10, calculation_currency="USD")


def test_collect_side(result) -> None:  # type: ignore[no-untyped-def]
    assert result.delta == pytest.approx(811_888.163042849, abs=TOL)
    assert result.vega == pytest.approx(210_187.747722988, abs=TOL)
    assert result.curvature == pytest.approx(64_143.548144290, abs=TOL)
    assert result.total == pytest.approx(1_086_219.458910127, abs=TOL)
    assert result.side == "collect"


def test_report_levels(result) -> None:  # type: ignore[no-untyped-def]
    # the bucket-level curvature row of the report is K_b, not the risk-class margin
    k_b = result.line("RatesFX", "InterestRate", "Curvature", "USD")
    assert k_b == pytest.approx(2_124.922827633, abs=TOL)
    assert result.line("RatesFX", "InterestRate", "Curvature") == pytest.approx(
        64_143.548144290, abs=TOL
    )
    assert result.line("RatesFX", "InterestRate", "Delta", "USD") == pytest.approx(
        811_888.163042849, abs=TOL
    )
    assert result.by_product_class == {"RatesFX": pytest.approx(1_086_219.458910127, abs=TOL)}


def test_post_side(result) -> None:  # type: ignore[no-untyped-def]
    assert result.post is not None
    assert result.post.side == "post"
    assert result.post.total == pytest.approx(1_022_075.910765837, abs=TOL)
    assert result.post.curvature == 0.0


def test_regulations(result) -> None:  # type: ignore[no-untyped-def]
    assert set(result.by_regulation) == {"ESA", "USPR"}
    assert result.regulation in {"ESA", "USPR"}
    assert set(result.post.by_regulation) == {"SEC", "CFTC"}


def test_lambda_intermediate() -> None:
    z = norm.ppf(0.995)
    assert lambda_factor(1.0, 1.0, 0.995) == pytest.approx(5.634896601, abs=1e-9)
    assert lambda_factor(1.0, 1.0, 0.995) == pytest.approx(z * z - 1.0)
    assert lambda_factor(-1.0, 1.0, 0.995) == pytest.approx(1.0)  # θ = −1
    assert lambda_factor(0.0, 0.0, 0.995) == pytest.approx(z * z - 1.0)  # Σ|CVR| = 0 guarded


def test_fx_line_in_calculation_currency_is_ignored() -> None:
    frame = read_crif(CRIF).frame
    without_fx = frame[frame["RiskType"] != "Risk_FX"]
    assert simm_margin(without_fx).total == pytest.approx(simm_margin(CRIF).total, abs=TOL)


def test_to_dict_is_json(result) -> None:  # type: ignore[no-untyped-def]
    payload = json.loads(json.dumps(result.to_dict()))
    for key in ("total", "delta", "vega", "curvature", "base_corr", "add_on"):
        assert key in payload
    assert payload["by_product_class"]["RatesFX"] == pytest.approx(result.total)
    assert payload["by_risk_class"]["InterestRate"] == pytest.approx(result.total)
    assert payload["post"]["total"] == pytest.approx(1_022_075.910765837, abs=TOL)
    assert any(line["bucket"] == "USD" for line in payload["buckets"])
    assert "ISDA SIMM 2.6" in result.summary()


def test_other_calculation_currency_scales() -> None:
    usd = simm_margin(CRIF, include_post=False)
    eur = simm_margin(CRIF, calculation_currency="EUR", fx_rates={"EUR": 1.25}, include_post=False)
    # no FX risk differs here except the USD FX line, which becomes a real FX exposure
    # in a EUR calculation; the IR part scales by 1/1.25
    assert eur.line("RatesFX", "InterestRate", "All") == pytest.approx(
        usd.line("RatesFX", "InterestRate", "All") / 1.25
    )
    assert eur.line("RatesFX", "FX", "Delta") > 0.0
