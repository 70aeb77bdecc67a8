"""Margin-period-of-risk (MPOR) aggregation of daily returns (METHODS §4.2 step 3).

Two ways to reach an h-day horizon from daily log returns ``rₜ``:

* **Overlapping sums** (:func:`overlapping_sums`): ``Rₜ⁽ʰ⁾ = Σᵢ₌₀^{h−1} rₜ₊ᵢ`` for
  ``t = 0 … T−h``, giving ``T − h + 1`` scenarios. Consecutive windows share ``h − 1`` days,
  so the scenarios are autocorrelated: the effective sample size is nearer ``T/h`` than
  ``T − h + 1`` (METHODS §4.4, §9.5).
* **Square-root-of-time scaling** (:func:`sqrt_time_scale`): ``√h·rₜ``, exact in
  distribution for i.i.d. normal returns with zero mean, an approximation otherwise
  (fat tails, volatility clustering, autocorrelation and drift all break it).

Log returns add over time, so the sums are the h-day log returns; convert to a relative
move with ``expm1`` where needed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import sliding_window_view

from crossmargin.errors import InputError
from crossmargin.stats._checks import FloatArray, as_scenario_array, check_positive_int


@dataclass(frozen=True, slots=True, kw_only=True)
class HorizonReturns:
    """Overlapping h-day log returns.

    Attributes
    ----------
    returns_by_window:
        ``Rₜ⁽ʰ⁾`` for windows starting on day t, shape ``(n_samples,)`` or
        ``(n_samples, n_factors)``.
    n_samples:
        ``T − h + 1``, the number of (overlapping) windows.
    n_independent:
        ``⌊T/h⌋``, the number of non-overlapping windows the data could give.
    h:
        Horizon in days.
    """

    returns_by_window: FloatArray
    n_samples: int
    n_independent: int
    h: int


def overlapping_sums(log_returns_by_day: npt.ArrayLike, h: int) -> HorizonReturns:
    """Overlapping h-day sums of daily log returns (day axis first).

    Each window is summed directly (``O(T·h)``), not by differencing a cumulative sum, so
    no rounding error accumulates along long histories.
    """
    r = as_scenario_array(log_returns_by_day, name="log_returns_by_day")
    h = check_positive_int(h, name="h")
    t = r.shape[0]
    if t < h:
        raise InputError(f"need at least h = {h} daily returns for one {h}-day window, got {t}")
    sums = sliding_window_view(r, h, axis=0).sum(axis=-1)
    return HorizonReturns(
        returns_by_window=np.asarray(sums, dtype=np.float64),
        n_samples=t - h + 1,
        n_independent=t // h,
        h=h,
    )


def sqrt_time_scale(values: npt.ArrayLike, h: int | float) -> FloatArray:
    """Scale 1-day returns (or a 1-day VaR/vol) to h days: ``√h·x``."""
    if isinstance(h, bool) or not isinstance(h, int | float) or not h > 0 or math.isinf(h):
        raise InputError(f"h must be a positive number of days, got {h!r}")
    arr = np.asarray(values, dtype=np.float64)
    if not np.isfinite(arr).all():
        raise InputError("values must be finite; fill or drop missing returns first")
    return np.asarray(math.sqrt(h) * arr, dtype=np.float64)


__all__ = ["HorizonReturns", "overlapping_sums", "sqrt_time_scale"]
