"""Versioned ISDA SIMM parameters, loaded from the JSON files shipped in ``simm/data/``.

Each file ``simm_<version>.json`` holds one calibration (risk weights for 10-day and 1-day
MPOR, correlations, concentration thresholds in USD millions, currency groups), converted
from the Open Source Risk Engine's calibration XML by ``scripts/convert_simm_calibration.py``
(see :mod:`crossmargin.simm.ore_calibration`), plus the ISDA methodology constants ORE does
not carry.  Adding a version means adding a file; :func:`available_versions` lists them.

Sources: ISDA SIMM Methodology v2.5, v2.6, v2.8 (normative); OpenSourceRisk/Engine
``Configurations/SIMM/`` (Modified BSD licence, machine-readable transcription).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any

import numpy as np
from numpy.typing import NDArray

from crossmargin.errors import ModelError


def norm_ppf(p: float) -> float:
    """Standard normal quantile Φ⁻¹(p), 0 < p < 1: ``scipy.special.ndtri``, the function
    ``scipy.stats.norm.ppf`` evaluates (same bits; ``scipy.special`` imports in about half
    the time of ``scipy.stats``)."""
    from scipy.special import ndtri

    return float(ndtri(p))


FloatArray = NDArray[np.float64]

_PREFIX = "simm_"
_SUFFIX = ".json"

#: Short names used throughout the engine for ISDA's risk classes.
IR, CREDIT_Q, CREDIT_NONQ, EQUITY, COMMODITY, FX = (
    "InterestRate",
    "CreditQualifying",
    "CreditNonQualifying",
    "Equity",
    "Commodity",
    "FX",
)
RISK_CLASSES: tuple[str, ...] = (IR, CREDIT_Q, CREDIT_NONQ, EQUITY, COMMODITY, FX)
RESIDUAL = "Residual"


def _data_files() -> dict[str, Mapping[str, Any]]:
    found: dict[str, Mapping[str, Any]] = {}
    folder = resources.files("crossmargin.simm") / "data"
    for entry in folder.iterdir():
        name = entry.name
        if name.startswith(_PREFIX) and name.endswith(_SUFFIX):
            content = json.loads(entry.read_text(encoding="utf-8"))
            found[str(content["version"])] = content
    return found


@lru_cache(maxsize=1)
def _all_files() -> dict[str, Mapping[str, Any]]:
    return _data_files()


def available_versions() -> dict[str, str]:
    """Map every accepted version name (aliases included) to its canonical version."""
    names: dict[str, str] = {}
    for version, content in _all_files().items():
        names[version] = version
        for alias in content.get("aliases", []):
            names[str(alias)] = version
    return dict(sorted(names.items()))


def _tenor_days(tenor: str, days_per_year: float) -> float:
    unit, count = tenor[-1], float(tenor[:-1])
    if unit == "w":
        return 7.0 * count
    if unit == "m":
        return count * days_per_year / 12.0
    if unit == "y":
        return count * days_per_year
    raise ModelError(f"tenor {tenor!r} is not of the form <n>w, <n>m or <n>y")


def _matrix(keys: list[str], table: Mapping[str, Mapping[str, float]]) -> FloatArray:
    n = len(keys)
    out = np.eye(n)
    for i, a in enumerate(keys):
        for j, b in enumerate(keys):
            if i != j:
                out[i, j] = float(table[a][b])
    return out


def _buckets(weights: Mapping[str, Any]) -> tuple[str, ...]:
    return tuple(weights)


@dataclass(frozen=True, slots=True, kw_only=True)
class SimmParameters:
    """One SIMM calibration at one margin period of risk.

    Attributes
    ----------
    version:
        Canonical version name (``"2.6"``, ``"2.8+2512"`` ...).
    mpor_days:
        10 or 1.  At 1 day the one-day risk weights apply, the curvature horizon is 1.4 days
        instead of 14 and concentration thresholds are disabled (ISDA SIMM Technical Paper,
        section I).
    data:
        The parameter file as loaded (read it; do not change it).
    """

    version: str
    mpor_days: int
    data: Mapping[str, Any] = field(repr=False)
    tenors: tuple[str, ...] = field(init=False, repr=False)
    credit_tenors: tuple[str, ...] = field(init=False, repr=False)
    ir_tenor_corr: FloatArray = field(init=False, repr=False)
    curvature_weights: Mapping[str, float] = field(init=False, repr=False)
    concentration: bool = field(init=False, repr=False)

    def __post_init__(self) -> None:
        method = self.data["methodology"]
        mpor = str(self.mpor_days)
        if mpor not in self.data["risk_classes"][IR]["risk_weights"]:
            raise ModelError(
                f"SIMM {self.version} has no {self.mpor_days}-day calibration; "
                f"use one of {self.data['mpor_days']}"
            )
        tenors = tuple(method["tenors"])
        object.__setattr__(self, "tenors", tenors)
        object.__setattr__(self, "credit_tenors", tuple(method["credit_tenors"]))
        table = self.rc(IR)["correlations"]["intra_bucket"]
        object.__setattr__(self, "ir_tenor_corr", _matrix(list(tenors), table))
        horizon = float(method["curvature_scaling_days"][mpor])
        year = float(method["days_per_year"])
        sf = {t: 0.5 * min(1.0, horizon / _tenor_days(t, year)) for t in tenors}
        object.__setattr__(self, "curvature_weights", sf)
        object.__setattr__(self, "concentration", bool(method["concentration_enabled"][mpor]))

    # -- raw access -------------------------------------------------------------------------
    def rc(self, risk_class: str) -> Mapping[str, Any]:
        """The section of one risk class (``risk_weights``, ``correlations``, thresholds)."""
        return self.data["risk_classes"][risk_class]  # type: ignore[no-any-return]

    def weights(self, risk_class: str) -> Mapping[str, Any]:
        """Risk weights of ``risk_class`` at this MPOR."""
        return self.rc(risk_class)["risk_weights"][str(self.mpor_days)]  # type: ignore[no-any-return]

    def thresholds(self, risk_class: str) -> Mapping[str, Any]:
        """Concentration thresholds of ``risk_class`` (USD millions) and currency groups."""
        return self.rc(risk_class)["concentration_thresholds"]  # type: ignore[no-any-return]

    def corr(self, risk_class: str) -> Mapping[str, Any]:
        """Correlation section of ``risk_class``."""
        return self.rc(risk_class)["correlations"]  # type: ignore[no-any-return]

    # -- buckets and groups -----------------------------------------------------------------
    def delta_buckets(self, risk_class: str) -> tuple[str, ...]:
        """Buckets a delta sensitivity of ``risk_class`` may name (IR: volatility groups)."""
        return _buckets(self.weights(risk_class)["delta"])

    def ir_weight_group(self, currency: str) -> str:
        """IR risk-weight (volatility) group of ``currency``: regular, low or high vol."""
        groups: Mapping[str, str] = self.rc(IR)["risk_weight_groups"]
        return groups.get(currency, groups["Other"])

    def fx_weight_group(self, currency: str) -> str:
        """FX volatility group of ``currency`` (high-volatility currencies vs the rest)."""
        groups: Mapping[str, str] = self.rc(FX)["risk_weight_groups"]
        return groups.get(currency, groups["Other"])

    def threshold_group(self, risk_class: str, currency: str) -> str:
        """Concentration-threshold group of ``currency`` for IR or FX."""
        groups: Mapping[str, str] = self.thresholds(risk_class)["groups"]
        return groups.get(currency, groups["Other"])

    def threshold(self, risk_class: str, kind: str, bucket: str | None = None) -> float:
        """Concentration threshold in USD (not millions); ``inf`` when concentration is off."""
        if not self.concentration:
            return math.inf
        table = self.thresholds(risk_class)[kind]
        value = table if isinstance(table, float | int) else table[bucket]
        return float(value) * 1e6

    def fx_vega_threshold(self, ccy1: str, ccy2: str) -> float:
        """FX vega concentration threshold (USD) for a currency pair, by its categories."""
        pairs = self.data["methodology"]["fx_vega_threshold_pairs"]
        g1, g2 = self.threshold_group(FX, ccy1), self.threshold_group(FX, ccy2)
        return self.threshold(FX, "vega", pairs[g1][g2])

    # -- scalars ----------------------------------------------------------------------------
    def risk_class_corr(self, a: str, b: str) -> float:
        """Correlation ψ between risk classes ``a`` and ``b`` (1 on the diagonal)."""
        if a == b:
            return 1.0
        return float(self.data["risk_class_correlations"][a][b])

    @property
    def ir_curvature_scale(self) -> float:
        """IR curvature multiplier HVR_IR⁻² (ISDA SIMM v2.5+ section C)."""
        return float(self.weights(IR)["hvr"]) ** -2

    def vega_sigma(self, risk_class: str, key: str) -> float:
        """``σ = RW · √(365 / D) / Φ⁻¹(0.99)`` for equity, commodity (``key`` = bucket) and FX
        (``key`` = currency pair; RW = FX delta weight of the pair's two volatility groups).

        ``D`` is 14 days at 10-day MPOR and 1.4 days at 1-day MPOR.  ISDA SIMM v2.5+ section
        B.10; ISDA SIMM Technical Paper section I.2.
        """
        method = self.data["methodology"]
        horizon = float(method["vega_sigma_horizon_days"][str(self.mpor_days)])
        year = float(method["days_per_year"])
        z = norm_ppf(float(method["vega_sigma_confidence"]))
        table = self.weights(risk_class)["delta"]
        if risk_class == FX:
            rw = float(table[self.fx_weight_group(key[:3])][self.fx_weight_group(key[3:])])
        else:
            rw = float(table[key])
        return rw * math.sqrt(year / horizon) / z

    @property
    def curvature_quantile(self) -> float:
        """Confidence level of the curvature λ, 0.995."""
        return float(self.data["methodology"]["curvature_confidence"])


@lru_cache(maxsize=32)
def load_parameters(version: str = "2.6", mpor_days: int = 10) -> SimmParameters:
    """Load the parameters of SIMM ``version`` at ``mpor_days`` (10 or 1).

    Raises
    ------
    ModelError
        If the version or MPOR is not shipped; the message lists what is.
    """
    names = available_versions()
    canonical = names.get(str(version))
    if canonical is None:
        raise ModelError(
            f"unknown SIMM version {version!r}; available: {', '.join(names)}"
            " (add a simm_<version>.json parameter file to support another)"
        )
    if mpor_days not in (1, 10):
        raise ModelError(f"SIMM MPOR must be 10 or 1 days, not {mpor_days}")
    return SimmParameters(version=canonical, mpor_days=mpor_days, data=_all_files()[canonical])


__all__ = [
    "COMMODITY",
    "CREDIT_NONQ",
    "CREDIT_Q",
    "EQUITY",
    "FX",
    "IR",
    "RESIDUAL",
    "RISK_CLASSES",
    "SimmParameters",
    "available_versions",
    "load_parameters",
    "norm_ppf",
]
