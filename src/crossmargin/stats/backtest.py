"""Margin backtesting statistics from sufficient statistics (METHODS §9).

* Kupiec (1995) proportion-of-failures test — :func:`kupiec_pof`.
* Christoffersen (1998) independence and conditional-coverage tests —
  :func:`transition_counts`, :func:`christoffersen`.
* Basel traffic light (BCBS, Jan 1996, Table 2), generalised to any ``n`` and ``p`` —
  :func:`traffic_light_zones`, :func:`traffic_light`.
* Exceptions, coverage and overlapping h-day windows: :mod:`crossmargin.stats.coverage`.

Every likelihood term uses ``xlogy``-style arithmetic so that ``0·ln 0 = 0``: zero
exceptions, ``n11 = 0`` and exception-free samples give finite statistics, never NaN.
χ² p-values: ``erfc(√(LR/2))`` for one degree of freedom, ``exp(−LR/2)`` for two.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import numpy.typing as npt
from scipy.special import xlog1py, xlogy
from scipy.stats import binom

from crossmargin.errors import InputError
from crossmargin.stats._checks import check_positive_int, check_probability

#: Basel 1996 plus factors (BCBS, *Supervisory framework for the use of backtesting …*,
#: Jan 1996, Table 2), defined only for 250 observations of 99% VaR: exceptions → factor.
BASEL_1996_PLUS_FACTORS: dict[int, float] = {
    0: 0.00,
    1: 0.00,
    2: 0.00,
    3: 0.00,
    4: 0.00,
    5: 0.40,
    6: 0.50,
    7: 0.65,
    8: 0.75,
    9: 0.85,
}
BASEL_1996_N_OBS = 250
BASEL_1996_P = 0.01
BASEL_RED_PLUS_FACTOR = 1.00


class Zone(StrEnum):
    """Basel traffic-light zone."""

    GREEN = "green"
    YELLOW = "yellow"
    RED = "red"


@dataclass(frozen=True, slots=True, kw_only=True)
class KupiecResult:
    """Kupiec POF test: ``lr ~ χ²(1)`` under the null ``P(exception) = p``."""

    n_obs: int
    n_exceptions: int
    p: float
    lr: float
    p_value: float

    @property
    def exception_rate(self) -> float:
        """Observed exception rate ``x / N``."""
        return self.n_exceptions / self.n_obs


@dataclass(frozen=True, slots=True, kw_only=True)
class TransitionCounts:
    """Christoffersen transition counts ``n_ij`` (i = yesterday, j = today; 1 = exception).

    They sum to ``N − 1`` for a series of ``N`` observations.
    """

    n00: int
    n01: int
    n10: int
    n11: int

    def __post_init__(self) -> None:
        for name in ("n00", "n01", "n10", "n11"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise InputError(f"{name} must be a non-negative integer, got {value!r}")

    @property
    def total(self) -> int:
        """``n00 + n01 + n10 + n11`` (= N − 1)."""
        return self.n00 + self.n01 + self.n10 + self.n11


@dataclass(frozen=True, slots=True, kw_only=True)
class ChristoffersenResult:
    """Christoffersen tests: ``lr_ind ~ χ²(1)``, ``lr_cc = lr_pof + lr_ind ~ χ²(2)``."""

    counts: TransitionCounts
    pof: KupiecResult
    lr_ind: float
    p_value_ind: float
    lr_cc: float
    p_value_cc: float


@dataclass(frozen=True, slots=True, kw_only=True)
class TrafficLightZones:
    """Zone boundaries for ``n_obs`` observations at exception probability ``p``.

    ``yellow_from``: smallest k with ``P(X ≤ k) ≥ yellow_level``; ``red_from``: smallest k
    with ``P(X ≤ k) ≥ red_level``; ``X ~ Binomial(n_obs, p)``.
    """

    n_obs: int
    p: float
    yellow_from: int
    red_from: int
    yellow_level: float
    red_level: float

    def zone(self, n_exceptions: int) -> Zone:
        """Zone of ``n_exceptions``."""
        if n_exceptions >= self.red_from:
            return Zone.RED
        if n_exceptions >= self.yellow_from:
            return Zone.YELLOW
        return Zone.GREEN


@dataclass(frozen=True, slots=True, kw_only=True)
class TrafficLightResult:
    """Traffic-light outcome for one exception count.

    ``plus_factor`` is the Basel 1996 plus factor, defined only for ``n_obs = 250`` and
    ``p = 0.01``; ``None`` otherwise.
    """

    n_exceptions: int
    zone: Zone
    probability: float
    cumulative_probability: float
    plus_factor: float | None
    zones: TrafficLightZones


def _loglik(n0: float, n1: float, pi: float) -> float:
    """``n0·ln(1−π) + n1·ln π`` with ``0·ln 0 = 0``."""
    return float(xlog1py(n0, -pi) + xlogy(n1, pi))


def _p_chi2_1(lr: float) -> float:
    return math.erfc(math.sqrt(lr / 2.0))


def _p_chi2_2(lr: float) -> float:
    return math.exp(-lr / 2.0)


def _check_counts(n_obs: int, n_exceptions: int) -> tuple[int, int]:
    n = check_positive_int(n_obs, name="n_obs")
    x = check_positive_int(n_exceptions, name="n_exceptions", minimum=0)
    if x > n:
        raise InputError(f"n_exceptions = {x} exceeds n_obs = {n}")
    return n, x


def kupiec_pof(n_obs: int, n_exceptions: int, p: float) -> KupiecResult:
    """Kupiec (1995) proportion-of-failures likelihood ratio.

    ``LR_POF = −2[(N−x)·ln(1−p) + x·ln p] + 2[(N−x)·ln(1−x/N) + x·ln(x/N)] ~ χ²(1)``,
    p-value ``erfc(√(LR/2))`` (METHODS §9.3).

    Parameters
    ----------
    n_obs:
        N ≥ 1 backtest observations.
    n_exceptions:
        x, ``0 ≤ x ≤ N``.
    p:
        Exception probability under the model, ``1 − confidence`` (0.01 for 99%).
    """
    n, x = _check_counts(n_obs, n_exceptions)
    p = check_probability(p, name="p")
    lr = -2.0 * (_loglik(n - x, x, p) - _loglik(n - x, x, x / n))
    lr = max(lr, 0.0)  # rounding can make LR = −1e-16 when x/N = p
    return KupiecResult(n_obs=n, n_exceptions=x, p=p, lr=lr, p_value=_p_chi2_1(lr))


def transition_counts(exceptions: npt.ArrayLike) -> TransitionCounts:
    """Christoffersen transition counts of a 0/1 exception series in date order."""
    e = np.asarray(exceptions)
    if e.ndim != 1 or e.shape[0] < 2:
        raise InputError(f"exceptions must be a 1-D series of at least 2 days, got shape {e.shape}")
    if e.dtype != np.bool_:
        if not np.isin(e, (0, 1)).all():
            raise InputError("exceptions must hold only 0/1 or True/False values")
        e = e.astype(np.bool_)
    prev, today = e[:-1], e[1:]
    return TransitionCounts(
        n00=int(np.sum(~prev & ~today)),
        n01=int(np.sum(~prev & today)),
        n10=int(np.sum(prev & ~today)),
        n11=int(np.sum(prev & today)),
    )


def christoffersen_from_counts(
    counts: TransitionCounts, *, n_obs: int, n_exceptions: int, p: float
) -> ChristoffersenResult:
    """Christoffersen (1998) independence and conditional-coverage tests.

    With ``π01 = n01/(n00+n01)``, ``π11 = n11/(n10+n11)`` and
    ``π = (n01+n11)/(n00+n01+n10+n11)`` (an empty row gives ``π = 0``; its terms vanish):

    ``LR_ind = −2 ln[(1−π)^{n00+n10} π^{n01+n11}]
    + 2 ln[(1−π01)^{n00} π01^{n01} (1−π11)^{n10} π11^{n11}] ~ χ²(1)``,

    ``LR_cc = LR_POF + LR_ind ~ χ²(2)``, with ``LR_POF`` on all N observations
    (METHODS §9.4).
    """
    n, x = _check_counts(n_obs, n_exceptions)
    if counts.total != n - 1:
        raise InputError(
            f"transition counts sum to {counts.total} but must sum to n_obs − 1 = {n - 1}"
        )
    pof = kupiec_pof(n, x, p)

    def ratio(num: int, den: int) -> float:
        return num / den if den else 0.0

    pi01 = ratio(counts.n01, counts.n00 + counts.n01)
    pi11 = ratio(counts.n11, counts.n10 + counts.n11)
    pi = ratio(counts.n01 + counts.n11, counts.total)
    restricted = _loglik(counts.n00 + counts.n10, counts.n01 + counts.n11, pi)
    unrestricted = _loglik(counts.n00, counts.n01, pi01) + _loglik(counts.n10, counts.n11, pi11)
    lr_ind = max(-2.0 * (restricted - unrestricted), 0.0)
    lr_cc = pof.lr + lr_ind
    return ChristoffersenResult(
        counts=counts,
        pof=pof,
        lr_ind=lr_ind,
        p_value_ind=_p_chi2_1(lr_ind),
        lr_cc=lr_cc,
        p_value_cc=_p_chi2_2(lr_cc),
    )


def christoffersen(exceptions: npt.ArrayLike, p: float) -> ChristoffersenResult:
    """Christoffersen tests from a 0/1 exception series (see :func:`christoffersen_from_counts`)."""
    counts = transition_counts(exceptions)
    e = np.asarray(exceptions).astype(np.bool_)
    return christoffersen_from_counts(counts, n_obs=int(e.shape[0]), n_exceptions=int(e.sum()), p=p)


def traffic_light_zones(
    n_obs: int = BASEL_1996_N_OBS,
    p: float = BASEL_1996_P,
    *,
    yellow_level: float = 0.95,
    red_level: float = 0.9999,
) -> TrafficLightZones:
    """Basel traffic-light zone boundaries generalised to any ``n_obs`` and ``p``.

    Yellow from the smallest k with ``P(X ≤ k) ≥ 95%``, red from the smallest k with
    ``P(X ≤ k) ≥ 99.99%``, ``X ~ Binomial(n_obs, p)`` (BCBS 1996; METHODS §9.2). For
    250 days at 99%: green 0–4, yellow 5–9, red ≥ 10; for 750 days at 99.5%: yellow from 7,
    red from 13. A boundary beyond ``n_obs`` is reported as ``n_obs + 1`` (zone unreachable).
    """
    n = check_positive_int(n_obs, name="n_obs")
    p = check_probability(p, name="p")
    yellow_level = check_probability(yellow_level, name="yellow_level")
    red_level = check_probability(red_level, name="red_level")
    if red_level < yellow_level:
        raise InputError(f"red_level {red_level} must be ≥ yellow_level {yellow_level}")
    cdf = np.asarray(binom.cdf(np.arange(n + 1), n, p), dtype=np.float64)

    def first_at_least(level: float) -> int:
        hits = np.flatnonzero(cdf >= level)
        return int(hits[0]) if hits.size else n + 1

    return TrafficLightZones(
        n_obs=n,
        p=p,
        yellow_from=first_at_least(yellow_level),
        red_from=first_at_least(red_level),
        yellow_level=yellow_level,
        red_level=red_level,
    )


def traffic_light(
    n_exceptions: int, n_obs: int = BASEL_1996_N_OBS, p: float = BASEL_1996_P
) -> TrafficLightResult:
    """Zone, binomial probabilities and (for 250 days at 99%) the Basel 1996 plus factor."""
    n, x = _check_counts(n_obs, n_exceptions)
    zones = traffic_light_zones(n, p)
    plus: float | None = None
    if n == BASEL_1996_N_OBS and zones.p == BASEL_1996_P:
        plus = BASEL_1996_PLUS_FACTORS.get(x, BASEL_RED_PLUS_FACTOR)
    return TrafficLightResult(
        n_exceptions=x,
        zone=zones.zone(x),
        probability=float(binom.pmf(x, n, zones.p)),
        cumulative_probability=float(binom.cdf(x, n, zones.p)),
        plus_factor=plus,
        zones=zones,
    )


__all__ = [
    "BASEL_1996_PLUS_FACTORS",
    "ChristoffersenResult",
    "KupiecResult",
    "TrafficLightResult",
    "TrafficLightZones",
    "TransitionCounts",
    "Zone",
    "christoffersen",
    "christoffersen_from_counts",
    "kupiec_pof",
    "traffic_light",
    "traffic_light_zones",
    "transition_counts",
]
