"""Convert an Open Source Risk Engine (ORE) SIMM calibration XML into crossmargin's JSON format.

ORE (``OpenSourceRisk/Engine``, ``Configurations/SIMM/simmcalibration*.xml``, Modified BSD
licence) carries ISDA's SIMM calibrations as XML.  crossmargin ships them as JSON in
its own layout (see ``docs/simm.md``) produced by ``scripts/convert_simm_calibration.py``
through :func:`convert_ore_calibration`, so the installed package never needs the XML.

The conversion is mechanical and keeps every number as ORE has it:

* ``<Weight>``, ``<Correlation>`` and ``<Threshold>`` elements become nested mappings
  keyed by their ``bucket``, ``label1`` and ``label2`` attributes, in that order; an
  element without any of them becomes a scalar;
* risk weights and historical volatility ratios are split by ``mporDays`` ("10", "1");
* ``<CurrencyLists>`` become ``{currency: group}`` mappings.

What ORE does not carry (the curvature scaling days, the FX vega threshold pair
table, concentration switched off at 1-day MPOR, product-class membership) is added
from the ISDA SIMM methodology under ``"methodology"``; see :data:`METHODOLOGY`.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from crossmargin.errors import ModelError

FORMAT = "crossmargin-simm-parameters/1"

#: Risk-class element names in the ORE XML, in ISDA's order.
RISK_CLASSES = (
    "InterestRate",
    "CreditQualifying",
    "CreditNonQualifying",
    "Equity",
    "Commodity",
    "FX",
)

#: Facts of the ISDA SIMM methodology (v2.5 onwards) that the ORE XML does not carry.
#: Sources: ISDA SIMM Methodology v2.5-v2.8, section B (equity, commodity and FX vega risk
#: VR = HVR · σ · ∂V/∂σ with σ = RW · √(365/14) / Φ⁻¹(0.99), RW the delta risk weight),
#: section C (curvature: SF(t) = 0.5 min(1, 14/t), t in calendar days, the IR curvature
#: scale HVR_IR^-2, and since v2.2 no curvature for equity bucket 12, volatility indices),
#: section D (concentration thresholds; FX vega thresholds by currency-pair category),
#: section F (product classes);
#: ISDA SIMM Technical Paper, section I (one-day calibration: the 14-day curvature
#: horizon becomes 1.4 days and the concentration feature is disabled).
METHODOLOGY: dict[str, Any] = {
    "curvature_scaling_days": {"10": 14.0, "1": 1.4},
    "days_per_year": 365.0,
    "concentration_enabled": {"10": True, "1": False},
    "curvature_confidence": 0.995,
    "curvature_zero_buckets": {"Equity": ["12"]},
    "vega_sigma_horizon_days": {"10": 14.0, "1": 1.4},
    "vega_sigma_confidence": 0.99,
    "fx_vega_threshold_pairs": {
        "1": {"1": "1", "2": "2", "3": "3"},
        "2": {"1": "2", "2": "4", "3": "5"},
        "3": {"1": "3", "2": "5", "3": "6"},
    },
    "product_classes": ["RatesFX", "Credit", "Equity", "Commodity"],
    "tenors": ["2w", "1m", "3m", "6m", "1y", "2y", "3y", "5y", "10y", "15y", "20y", "30y"],
    "credit_tenors": ["1y", "2y", "3y", "5y", "10y"],
    "ir_sub_curves": ["OIS", "Libor1m", "Libor3m", "Libor6m", "Libor12m", "Prime", "Municipal"],
    "ir_curvature_hvr_scaled": True,
}

#: ORE files converted and the versions they become.  ``aliases`` are extra names a user may
#: pass (``2.8`` means the latest 2.8 calibration, ``2.8+2512``).
VERSIONS: dict[str, dict[str, Any]] = {
    "2.5": {
        "file": "simmcalibration_2.5.xml",
        "commit": "a495cf6194c1a1154bc85ace28d01b9c34b30ac1",
        "aliases": [],
    },
    "2.6": {
        "file": "simmcalibration_2.6.xml",
        "commit": "d82043521a2f1bb78471424f54407454940c2c6e",
        "aliases": [],
    },
    "2.8+2506": {
        "file": "simmcalibration_2.8+2506.xml",
        "commit": "bf31dcb18ceb92f5bd5b69ff701c0c58617e06ac",
        "aliases": [],
    },
    "2.8+2512": {
        "file": "simmcalibration_2.8+2512.xml",
        "commit": "4777eef7b902f95b7d112c92a96098d61edc282a",
        "aliases": ["2.8"],
    },
}

_KEYS = ("bucket", "label1", "label2")


def _number(element: ET.Element, source: str) -> float:
    text = (element.text or "").strip()
    try:
        return float(text)
    except ValueError:
        raise ModelError(f"{source}: <{element.tag}> holds {text!r}, not a number") from None


def _keyed(elements: list[ET.Element], source: str) -> Any:
    """Nest ``elements`` by their bucket/label1/label2 attributes; a lone bare one is a scalar."""
    if len(elements) == 1 and not any(k in elements[0].attrib for k in _KEYS):
        return _number(elements[0], source)
    out: dict[str, Any] = {}
    for element in elements:
        keys = [element.attrib[k] for k in _KEYS if k in element.attrib]
        if not keys:
            raise ModelError(f"{source}: <{element.tag}> without bucket/label among keyed ones")
        node = out
        for key in keys[:-1]:
            node = node.setdefault(key, {})
        if keys[-1] in node:
            raise ModelError(f"{source}: duplicate <{element.tag}> for {keys}")
        node[keys[-1]] = _number(element, source)
    return out


def _currency_lists(parent: ET.Element) -> dict[str, str]:
    lists = parent.find("CurrencyLists")
    if lists is None:
        return {}
    return {(c.text or "").strip(): c.attrib["bucket"] for c in lists.findall("Currency")}


def _snake(tag: str) -> str:
    out = "".join("_" + c.lower() if c.isupper() else c for c in tag).lstrip("_")
    return out.replace("x_ccy", "xccy")


def _risk_weights(node: ET.Element, source: str) -> dict[str, Any]:
    by_mpor: dict[str, dict[str, Any]] = {}
    for child in node:
        if child.tag == "CurrencyLists":
            continue
        mpor = child.attrib.get("mporDays")
        if mpor is None:
            raise ModelError(f"{source}: <{child.tag}> risk weight without mporDays")
        entry = by_mpor.setdefault(mpor, {})
        name = "hvr" if child.tag == "HistoricalVolatilityRatio" else _snake(child.tag)
        entry[name] = _keyed(list(child), source) if len(child) else _number(child, source)
    return by_mpor


def _correlations(node: ET.Element, source: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for child in node:
        name = _snake(child.tag)
        out[name] = _keyed(list(child), source) if len(child) else _number(child, source)
    return out


def _thresholds(node: ET.Element, source: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for child in node:
        if child.tag == "CurrencyLists":
            out["groups"] = _currency_lists(node)
        else:
            out[_snake(child.tag)] = _keyed(list(child), source)
    return out


def convert_ore_calibration(path: str | Path, *, version: str) -> dict[str, Any]:
    """Read one ORE calibration XML file and return crossmargin's parameter mapping.

    Parameters
    ----------
    path:
        An ORE ``simmcalibration*.xml`` file.
    version:
        The SIMM version this file is shipped as (a key of :data:`VERSIONS`).

    Returns
    -------
    dict
        JSON-ready mapping; ``json.dumps(..., indent=1, sort_keys=True)`` of it is the
        shipped file ``crossmargin/simm/data/simm_<version>.json``.
    """
    path = Path(path)
    source = path.name
    if version not in VERSIONS:
        raise ModelError(f"unknown SIMM version {version!r}; known: {', '.join(VERSIONS)}")
    root = ET.parse(path).getroot()
    calibration = root.find("SIMMCalibration")
    if calibration is None:
        raise ModelError(f"{source}: no <SIMMCalibration> element")
    fields = calibration.find("AdditionalFields")
    effective = fields.findtext("SIMM_EffectiveDate") if fields is not None else None

    classes: dict[str, Any] = {}
    for name in RISK_CLASSES:
        node = calibration.find(name)
        if node is None:
            raise ModelError(f"{source}: no <{name}> section")
        weights = node.find("RiskWeights")
        correlations = node.find("Correlations")
        thresholds = node.find("ConcentrationThresholds")
        if weights is None or correlations is None or thresholds is None:
            raise ModelError(f"{source}: <{name}> lacks weights, correlations or thresholds")
        entry: dict[str, Any] = {
            "risk_weights": _risk_weights(weights, source),
            "correlations": _correlations(correlations, source),
            "concentration_thresholds": _thresholds(thresholds, source),
        }
        groups = _currency_lists(weights)
        if groups:
            entry["risk_weight_groups"] = groups
        classes[name] = entry

    rc_node = calibration.find("RiskClassCorrelations")
    if rc_node is None:
        raise ModelError(f"{source}: no <RiskClassCorrelations>")
    info = VERSIONS[version]
    return {
        "format": FORMAT,
        "version": version,
        "aliases": list(info["aliases"]),
        "effective_date": effective,
        "mpor_days": sorted(classes["InterestRate"]["risk_weights"], key=int, reverse=True),
        "source": {
            "converted_from": f"OpenSourceRisk/Engine Configurations/SIMM/{info['file']}",
            "commit": info["commit"],
            "ore_id": calibration.attrib.get("id"),
            "licence": "Modified BSD (3-clause); see LICENSE-ORE.txt beside this file",
            "normative_source": "ISDA SIMM Methodology document for this version",
        },
        "risk_classes": classes,
        "risk_class_correlations": _keyed(list(rc_node), source),
        "methodology": METHODOLOGY,
    }


def dump_parameters(parameters: dict[str, Any]) -> str:
    """The canonical text of a shipped parameter file (stable key order, LF, final newline)."""
    return json.dumps(parameters, indent=1, sort_keys=True) + "\n"
