"""Shipped SIMM parameters: spot checks against METHODS.md §6.3, converter reproducibility."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import pytest

from crossmargin.errors import ModelError
from crossmargin.simm import available_versions, load_parameters
from crossmargin.simm.ore_calibration import VERSIONS, convert_ore_calibration, dump_parameters

TENORS = ["2w", "1m", "3m", "6m", "1y", "2y", "3y", "5y", "10y", "15y", "20y", "30y"]

# METHODS.md §6.3 (ORE calibrations, 10-day) [R]
SPOT = {
    "2.6": {
        "ir_regular": [109, 105, 90, 71, 66, 66, 64, 60, 60, 61, 61, 67],
        "ir_low": [15, 18, 9, 11, 13, 15, 19, 23, 23, 22, 22, 23],
        "ir_high": [163, 109, 87, 89, 102, 96, 101, 97, 97, 102, 106, 101],
        "inflation_xccy": (61, 21),
        "vega": {"InterestRate": 0.23, "CreditQualifying": 0.76, "Commodity": 0.55, "FX": 0.48},
        "equity_vega": (0.45, 0.96),
        "fx": (7.4, 14.7, 21.4),
        "hvr": {"InterestRate": 0.47, "Equity": 0.60, "Commodity": 0.74, "FX": 0.57},
        "ir_corr": (0.993, 0.24, 0.04, 0.32),
        "equity": [30, 33, 36, 29, 26, 25, 34, 28, 36, 50, 19, 19, 50],
        "creditq": [75, 90, 84, 54, 62, 48, 185, 343, 255, 250, 214, 173, 343],
        "creditnonq": (280, 1300, 1300, 10),
        "ir_delta_t": (30, 330, 130, 61),
        "ir_vega_t": (74, 4900, 520, 970),
        "fx_delta_t": (3300, 880, 170),
        "high_vol_fx": {"BRL", "RUB", "TRY"},
        "psi": {
            ("InterestRate", "CreditQualifying"): 0.04,
            ("CreditQualifying", "Equity"): 0.70,
            ("Commodity", "FX"): 0.35,
            ("InterestRate", "Commodity"): 0.37,
        },
    },
    "2.8+2512": {
        "ir_regular": [107, 101, 90, 69, 68, 69, 66, 61, 60, 58, 58, 66],
        "ir_low": [15, 18, 12, 11, 15, 21, 23, 25, 29, 27, 26, 28],
        "ir_high": [167, 102, 79, 82, 90, 93, 92, 88, 88, 98, 101, 96],
        "inflation_xccy": (51, 21),
        "vega": {"InterestRate": 0.20, "CreditQualifying": 0.42, "Commodity": 0.34, "FX": 0.33},
        "equity_vega": (0.29, 0.72),
        "fx": (7.4, 31.7, 31.7),
        "hvr": {"InterestRate": 0.74, "Equity": 0.56, "Commodity": 0.81, "FX": 0.67},
        "ir_corr": (0.981, 0.42, -0.01, 0.35),
        "equity": [29, 31, 31, 29, 23, 24, 27, 29, 34, 38, 15, 15, 38],
        "creditq": [68, 75, 75, 49, 53, 44, 165, 271, 136, 227, 423, 200, 423],
        "creditnonq": (210, 2700, 2700, 9.7),
        "ir_delta_t": (71, 220, 110, 370),
        "ir_vega_t": (160, 3800, 520, 1100),
        "fx_delta_t": (2100, 710, 120),
        "high_vol_fx": {"ARS", "EGP", "ETB", "GHS", "ISK", "LBP", "NGN", "SCR", "ZMW"},
        "psi": {
            ("InterestRate", "CreditQualifying"): 0.09,
            ("CreditQualifying", "Equity"): 0.61,
            ("Commodity", "FX"): 0.28,
            ("InterestRate", "Commodity"): 0.34,
        },
    },
}


@pytest.mark.parametrize("version", list(SPOT))
def test_spot_values(version: str) -> None:
    spot = SPOT[version]
    p = load_parameters(version)
    ir = p.weights("InterestRate")
    for group, key in (("1", "ir_regular"), ("2", "ir_low"), ("3", "ir_high")):
        assert [ir["delta"][group][t] for t in TENORS] == spot[key]
    assert (ir["inflation"], ir["xccy_basis"]) == spot["inflation_xccy"]
    for rc, value in spot["vega"].items():
        assert p.weights(rc)["vega"] == pytest.approx(value)
    eq_vega = p.weights("Equity")["vega"]
    assert (eq_vega["1"], eq_vega["12"]) == spot["equity_vega"]
    fx = p.weights("FX")["delta"]
    assert (fx["2"]["2"], fx["2"]["1"], fx["1"]["1"]) == spot["fx"]
    for rc, value in spot["hvr"].items():
        assert p.weights(rc)["hvr"] == pytest.approx(value)
    corr = p.corr("InterestRate")
    got = (corr["sub_curves"], corr["inflation"], corr["xccy_basis"], corr["outer"])
    assert got == pytest.approx(spot["ir_corr"])
    buckets = [str(b) for b in range(1, 13)] + ["Residual"]
    assert [p.weights("Equity")["delta"][b] for b in buckets] == spot["equity"]
    assert [p.weights("CreditQualifying")["delta"][b] for b in buckets] == spot["creditq"]
    cnq = p.weights("CreditNonQualifying")["delta"]
    base = p.weights("CreditQualifying")["base_correlation"]
    assert (cnq["1"], cnq["2"], cnq["Residual"], base) == spot["creditnonq"]
    t_ir = p.thresholds("InterestRate")
    assert tuple(t_ir["delta"][g] for g in "1234") == spot["ir_delta_t"]
    assert tuple(t_ir["vega"][g] for g in "1234") == spot["ir_vega_t"]
    assert tuple(p.thresholds("FX")["delta"][g] for g in "123") == spot["fx_delta_t"]
    groups = p.rc("FX")["risk_weight_groups"]
    assert {c for c, g in groups.items() if g == "1"} == spot["high_vol_fx"]
    for (a, b), value in spot["psi"].items():
        assert p.risk_class_corr(a, b) == pytest.approx(value)
        assert p.risk_class_corr(b, a) == pytest.approx(value)
    assert p.ir_tenor_corr.shape == (12, 12)


def test_ir_tenor_corr_first_row_v26() -> None:
    row = load_parameters("2.6").ir_tenor_corr[0]
    expected = [1, 0.77, 0.67, 0.59, 0.48, 0.39, 0.34, 0.30, 0.25, 0.23, 0.21, 0.20]
    assert row.tolist() == pytest.approx(expected)


def test_suspicious_creditnonq_vega_threshold_2_8_2512() -> None:
    """Documents the value the ore-calibration README flags (see docs/simm.md).

    ORE's 2.8+2512 file has a CreditNonQualifying vega concentration threshold of 2.1
    (USD mm) against 22 in 2.8+2506: a 10x drop that looks like a transcription slip.
    We ship what the source contains; this test fails if the shipped value changes, so
    whoever changes it must also update the warning in docs/simm.md.
    """
    new = load_parameters("2.8+2512").thresholds("CreditNonQualifying")["vega"]
    old = load_parameters("2.8+2506").thresholds("CreditNonQualifying")["vega"]
    assert (new, old) == (2.1, 22.0)


def test_versions_aliases_and_mpor() -> None:
    names = available_versions()
    assert {"2.5", "2.6", "2.8+2506", "2.8+2512", "2.8"} <= set(names)
    assert load_parameters("2.8").version == "2.8+2512"
    one_day = load_parameters("2.6", mpor_days=1)
    ten_day = load_parameters("2.6", mpor_days=10)
    assert (
        one_day.weights("InterestRate")["delta"]["1"]["2w"]
        != (ten_day.weights("InterestRate")["delta"]["1"]["2w"])
    )
    assert not one_day.concentration
    assert ten_day.concentration
    assert one_day.curvature_weights["2w"] == pytest.approx(0.05)
    assert ten_day.curvature_weights["2w"] == pytest.approx(0.5)
    assert ten_day.curvature_weights["1y"] == pytest.approx(0.5 * 14 / 365)
    with pytest.raises(ModelError, match="unknown SIMM version"):
        load_parameters("9.9")
    with pytest.raises(ModelError, match="10 or 1"):
        load_parameters("2.6", mpor_days=5)


def test_one_day_mpor_runs() -> None:
    from crossmargin.simm import simm_margin

    rows = [
        {
            "ProductClass": "RatesFX",
            "RiskType": "Risk_IRCurve",
            "Qualifier": "USD",
            "Bucket": "1",
            "Label1": "2w",
            "Label2": "OIS",
            "Amount": 1e9,
            "AmountCurrency": "USD",
            "AmountUSD": 1e9,
        }
    ]
    ten = simm_margin(rows, version="2.6", mpor_days=10).total
    one = simm_margin(rows, version="2.6", mpor_days=1).total
    rw1 = load_parameters("2.6", 1).weights("InterestRate")["delta"]["1"]["2w"]
    assert one == pytest.approx(rw1 * 1e9)  # no concentration at 1 day
    assert one < ten


def test_converter_reproduces_shipped_files(simm_dir: Path) -> None:
    xml_dir = simm_dir / "ore-calibration"
    data = resources.files("crossmargin.simm") / "data"
    for version, info in VERSIONS.items():
        converted = dump_parameters(
            convert_ore_calibration(xml_dir / info["file"], version=version)
        )
        shipped = (data / f"simm_{version}.json").read_text(encoding="utf-8")
        assert converted == shipped, f"simm_{version}.json is stale: rerun the converter"
        assert json.loads(shipped)["source"]["commit"] == info["commit"]


def test_licence_ships_with_values() -> None:
    data = resources.files("crossmargin.simm") / "data"
    text = (data / "LICENSE-ORE.txt").read_text(encoding="utf-8")
    assert "Quaternion Risk Management" in text
    assert "Redistribution and use" in text
