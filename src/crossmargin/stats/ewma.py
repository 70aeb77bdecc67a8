"""EWMA volatility and filtered historical simulation (FHS) (METHODS §4.2).

EWMA variance (RiskMetrics, J.P. Morgan 1996; METHODS §4.2 step 1), per column::

    σ²₀ = seed
    σ²ₜ = λ·σ²ₜ₋₁ + (1 − λ)·r²ₜ₋₁          t = 1 … T

``vol_by_day[t] = σₜ`` is the forecast for day t made with returns up to t − 1 (no
look-ahead); ``current_vol = σ_T`` also uses the last return r_{T−1}: it is today's vol,
the forecast for the next day. The recursion is zero-mean (uses r², not (r − r̄)²).

**Seed** (documented choice): ``σ²₀ = (1/m)·Σᵢ₌₀^{m−1} r²ᵢ``, the zero-mean sample
variance of the first ``m = seed_window`` returns, or an explicit ``seed_variance``.
The first m filtered returns therefore use a seed that saw them; drop them if that matters.

FHS (Barone-Adesi, Giannopoulos & Vosper 1999; METHODS §4.2 step 2): ``zₜ = rₜ/σₜ`` and the
scenario for day t is ``zₜ·σ_target``, computed as ``rₜ·(σ_target/σₜ)`` so that a constant
vol gives back the historical returns bit for bit (FHS = HS). Anti-procyclicality targets:
``max(σ_T, floor)`` (:func:`floored_vol`) and the ICE IRM 1 blend
``0.75·σ_T + 0.25·σ_stress`` (:func:`ice_blend_vol`) with ``σ_stress`` the largest
250-day rolling vol of the history (:func:`stress_vol`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import sliding_window_view
from scipy.signal import lfilter

from crossmargin.errors import InputError
from crossmargin.stats._checks import (
    FloatArray,
    as_scenario_array,
    check_positive_int,
    check_probability,
)


@dataclass(frozen=True, slots=True, kw_only=True)
class EwmaResult:
    """EWMA variance path of returns shaped ``(n_days,)`` or ``(n_days, n_factors)``.

    Attributes
    ----------
    variance_by_day:
        ``σ²ₜ`` for t = 0 … T−1, same shape as the returns (``σ²₀`` is the seed).
    current_variance:
        ``σ²_T`` (includes the last return), shape ``()`` or ``(n_factors,)``.
    seed_variance:
        The seed ``σ²₀``.
    lam:
        Decay factor λ.
    """

    variance_by_day: FloatArray
    current_variance: FloatArray
    seed_variance: FloatArray
    lam: float

    @property
    def vol_by_day(self) -> FloatArray:
        """``σₜ = √σ²ₜ``."""
        return np.sqrt(self.variance_by_day)

    @property
    def current_vol(self) -> FloatArray:
        """``σ_T``, today's vol."""
        return np.sqrt(self.current_variance)


@dataclass(frozen=True, slots=True, kw_only=True)
class FhsResult:
    """Filtered historical scenarios: ``scenarios_by_day[t] = rₜ·σ_target/σₜ``."""

    scenarios_by_day: FloatArray
    standardised_by_day: FloatArray
    ewma: EwmaResult
    target_vol: FloatArray


def ewma_variance(
    returns_by_day: npt.ArrayLike,
    *,
    lam: float,
    seed_window: int = 30,
    seed_variance: npt.ArrayLike | None = None,
) -> EwmaResult:
    """EWMA variance ``σ²ₜ = λσ²ₜ₋₁ + (1−λ)r²ₜ₋₁``, vectorised across columns.

    Parameters
    ----------
    returns_by_day:
        Returns in date order, shape ``(n_days,)`` or ``(n_days, n_factors)``.
    lam:
        λ in (0, 1), e.g. 0.97 (LCH) or 0.94 (RiskMetrics daily).
    seed_window:
        m: the seed is the mean of r² over the first m returns (capped at ``n_days``).
    seed_variance:
        Explicit positive seed ``σ²₀`` (scalar or one per column); overrides ``seed_window``.
    """
    r = as_scenario_array(returns_by_day, name="returns_by_day")
    lam = check_probability(lam, name="lam")
    if seed_variance is None:
        m = min(check_positive_int(seed_window, name="seed_window"), r.shape[0])
        seed = np.mean(r[:m] ** 2, axis=0)
    else:
        seed = np.broadcast_to(np.asarray(seed_variance, dtype=np.float64), r.shape[1:]).astype(
            np.float64
        )
    if not (np.isfinite(seed).all() and (seed > 0).all()):
        raise InputError(
            "EWMA seed variance must be positive and finite; the first returns are all zero "
            "or a seed is not positive: pass seed_variance explicitly or a longer seed_window"
        )
    r2 = r**2
    # u[t] = σ²_{t+1} = λ·u[t−1] + (1−λ)·r²_t, with u[−1] = σ²₀: a first-order IIR filter
    # whose transposed-direct-form state is zi = λ·σ²₀.
    zi = (lam * seed)[np.newaxis, ...]
    u, _ = lfilter([1.0 - lam], [1.0, -lam], r2, axis=0, zi=zi)
    u = np.asarray(u, dtype=np.float64)
    variance = np.concatenate([seed[np.newaxis, ...], u[:-1]], axis=0)
    return EwmaResult(
        variance_by_day=variance,
        current_variance=np.asarray(u[-1], dtype=np.float64),
        seed_variance=np.asarray(seed, dtype=np.float64),
        lam=lam,
    )


def devolatilise(returns_by_day: npt.ArrayLike, vol_by_day: npt.ArrayLike) -> FloatArray:
    """Standardised returns ``zₜ = rₜ/σₜ`` (shapes must match or broadcast)."""
    r = as_scenario_array(returns_by_day, name="returns_by_day")
    vol = _positive(vol_by_day, name="vol_by_day")
    return np.asarray(r / vol, dtype=np.float64)


def revolatilise(
    returns_by_day: npt.ArrayLike, vol_by_day: npt.ArrayLike, target_vol: npt.ArrayLike
) -> FloatArray:
    """FHS scenarios ``rₜ·(σ_target/σₜ)`` = ``zₜ·σ_target``.

    Computed as a ratio so that ``σₜ = σ_target`` returns ``rₜ`` exactly.
    """
    r = as_scenario_array(returns_by_day, name="returns_by_day")
    vol = _positive(vol_by_day, name="vol_by_day")
    target = _positive(target_vol, name="target_vol")
    return np.asarray(r * (target / vol), dtype=np.float64)


def fhs_scenarios(
    returns_by_day: npt.ArrayLike,
    *,
    lam: float,
    seed_window: int = 30,
    seed_variance: npt.ArrayLike | None = None,
    target_vol: npt.ArrayLike | None = None,
) -> FhsResult:
    """Filtered historical scenarios: EWMA-filter the returns and rescale to a target vol.

    ``target_vol`` defaults to today's vol ``σ_T``; pass :func:`floored_vol` or
    :func:`ice_blend_vol` of it for anti-procyclical variants.
    """
    r = as_scenario_array(returns_by_day, name="returns_by_day")
    ewma = ewma_variance(r, lam=lam, seed_window=seed_window, seed_variance=seed_variance)
    vol = ewma.vol_by_day
    target = ewma.current_vol if target_vol is None else _positive(target_vol, name="target_vol")
    return FhsResult(
        scenarios_by_day=revolatilise(r, vol, target),
        standardised_by_day=devolatilise(r, vol),
        ewma=ewma,
        target_vol=np.asarray(np.broadcast_to(target, r.shape[1:]), dtype=np.float64),
    )


def floored_vol(current_vol: npt.ArrayLike, floor: npt.ArrayLike) -> FloatArray:
    """Anti-procyclical floor ``σ_T' = max(σ_T, floor)`` (element-wise)."""
    vol = _positive(current_vol, name="current_vol")
    return np.asarray(np.maximum(vol, _positive(floor, name="floor")), dtype=np.float64)


def ice_blend_vol(
    current_vol: npt.ArrayLike, stressed_vol: npt.ArrayLike, *, stress_weight: float = 0.25
) -> FloatArray:
    """ICE IRM 1 blend ``(1 − w)·σ_T + w·σ_stress`` with ``w = 0.25`` (EMIR Art 28(1)(b))."""
    w = check_probability(stress_weight, name="stress_weight")
    vol = _positive(current_vol, name="current_vol")
    stress = _positive(stressed_vol, name="stressed_vol")
    return np.asarray((1.0 - w) * vol + w * stress, dtype=np.float64)


def rolling_vol(returns_by_day: npt.ArrayLike, window: int = 250) -> FloatArray:
    """Equally weighted zero-mean rolling vol ``√(mean of r² over window)``.

    Returns shape ``(n_days − window + 1,)`` or ``(…, n_factors)``; row i covers days
    ``i … i + window − 1``.
    """
    r = as_scenario_array(returns_by_day, name="returns_by_day")
    window = check_positive_int(window, name="window")
    if r.shape[0] < window:
        raise InputError(f"need at least window = {window} returns, got {r.shape[0]}")
    mean_sq = sliding_window_view(r**2, window, axis=0).mean(axis=-1)
    return np.asarray(np.sqrt(mean_sq), dtype=np.float64)


def stress_vol(returns_by_day: npt.ArrayLike, window: int = 250) -> FloatArray:
    """``σ_stress``: the largest ``window``-day rolling vol over the whole history."""
    return np.asarray(rolling_vol(returns_by_day, window).max(axis=0), dtype=np.float64)


def _positive(values: npt.ArrayLike, *, name: str) -> FloatArray:
    arr = np.asarray(values, dtype=np.float64)
    if not (np.isfinite(arr).all() and (arr > 0).all()):
        raise InputError(f"{name} must be positive and finite everywhere")
    return arr


__all__ = [
    "EwmaResult",
    "FhsResult",
    "devolatilise",
    "ewma_variance",
    "fhs_scenarios",
    "floored_vol",
    "ice_blend_vol",
    "revolatilise",
    "rolling_vol",
    "stress_vol",
]
