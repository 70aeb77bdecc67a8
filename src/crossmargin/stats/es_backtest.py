"""Backtesting expected shortfall as ES: the VaR-equivalent level and the Acerbi–Szekely Z2 test.

**VaR-equivalent level.** An ES margin at confidence α is breached less often than a VaR at
α, so counting its exceptions against ``1 − α`` is too lenient. The level ``α'`` with
``VaR_α' = ES_α`` (so ``1 − α'`` is the exception probability of an ES margin under a
correct model) depends on the tail's shape:

* normal: ``ES_α = σ·φ(z_α)/(1 − α)``, so ``α' = Φ(φ(z_α)/(1 − α))`` (99% → 99.615%,
  97.5% → 99.0%: the BCBS FRTB calibration of 97.5% ES to 99% VaR, BCBS d352, 2016, §B.8);
* Student-t with ν degrees of freedom: ``ES_α = g_ν(t_α)/(1 − α)·(ν + t_α²)/(ν − 1)`` in the
  t scale (McNeil, Frey and Embrechts, *Quantitative Risk Management*, 2015, Ex. 2.15), so
  ``α' = T_ν(ES_α)`` (99% → 99.68% at ν = 4);
* empirical: the model's own predictive distribution each day, ``1 − α'_t = P̂_t(X < −ES_t)``
  (:meth:`Predictive.es_exceedance_probability`).

**Acerbi–Szekely Z2** (Acerbi, C. and Szekely, B. 2014, "Backtesting expected shortfall",
*Risk*, December; "test 2")::

    Z2 = Σₜ Xₜ·Iₜ / (T·(1 − α)·ESₜ) + 1,    Iₜ = 1{Xₜ + VaRₜ < 0}

with ``Xₜ`` the realised P&L (loss < 0) and ``VaRₜ``, ``ESₜ`` the predicted loss-positive VaR
and ES. Under a correct ES (continuous distributions) ``E[Z2] = 0``; an ES too small drives
Z2 below 0. The p-value ``P(Z2 ≤ z_obs)`` is **simulated** under the null from the
predictive distributions themselves: each simulation draws every ``Xₜ`` from day t's
predictive distribution. Acerbi and Szekely report that for T = 250 and α = 97.5% the 5%
critical value is −0.70 (and −1.8 at 0.01%), stable across tail shapes; the tests reproduce
it. Here the predictive distributions are the model's historical scenarios (discrete,
n scenarios), so ``E[Z2]`` under the null is not exactly 0 (the fractional ES weight): the
simulated null mean is reported beside the p-value, which accounts for it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.stats import norm, t

from crossmargin.errors import InputError
from crossmargin.stats._checks import FloatArray, IntArray, as_scenario_array, check_probability
from crossmargin.stats.tail import var_es

#: Simulations of the Z2 null distribution by default.
Z2_SIMULATIONS = 2000


def es_equivalent_level(confidence: float, *, dist: str = "normal", df: float = 4.0) -> float:
    """``α'`` with ``VaR_α' = ES_α`` under a normal or Student-t tail (module docstring)."""
    a = check_probability(confidence, name="confidence")
    if dist == "normal":
        return float(norm.cdf(norm.pdf(norm.ppf(a)) / (1.0 - a)))
    if dist == "t":
        if not df > 1.0:
            raise InputError(f"Student-t ES needs more than 1 degree of freedom, got {df}")
        q = float(t.ppf(a, df))
        es = float(t.pdf(q, df)) / (1.0 - a) * (df + q * q) / (df - 1.0)
        return float(t.cdf(es, df))
    raise InputError(f"unknown tail shape {dist!r}: use normal or t")


@dataclass(frozen=True, slots=True, kw_only=True)
class Predictive:
    """Each day's predictive P&L distribution, as much of it as the ES tests need.

    ``var``/``es`` (T,) are loss-positive at ``confidence``; ``n`` (T,) the number of
    equally likely scenarios; ``tail`` (T, k) the scenario P&Ls strictly below ``−var``
    (ascending, NaN-padded), ``tail_count`` (T,) how many there are.
    """

    confidence: float
    var: FloatArray
    es: FloatArray
    n: IntArray
    tail: FloatArray
    tail_count: IntArray

    @classmethod
    def from_scenarios(cls, pnl_by_day: Sequence[npt.ArrayLike], confidence: float) -> Predictive:
        """From each day's scenario P&L vector (ES/VaR as :func:`crossmargin.stats.var_es`)."""
        check_probability(confidence, name="confidence")
        days = [as_scenario_array(p, name="scenario P&L") for p in pnl_by_day]
        if not days:
            raise InputError("no days to backtest")
        var = np.empty(len(days))
        es = np.empty(len(days))
        sizes = np.array([p.size for p in days])
        for size in np.unique(sizes).tolist():  # one var_es call per scenario count
            rows = np.flatnonzero(sizes == size)
            res = var_es(np.column_stack([days[i] for i in rows]), confidence)
            var[rows], es[rows] = res.var, res.es
        tails = [np.sort(p[p < -var[i]]) for i, p in enumerate(days)]
        width = max(1, max(x.size for x in tails))
        tail = np.full((len(days), width), np.nan)
        for i, x in enumerate(tails):
            tail[i, : x.size] = x
        return cls(
            confidence=float(confidence),
            var=var,
            es=es,
            n=np.array([p.size for p in days], dtype=np.intp),
            tail=tail,
            tail_count=np.array([x.size for x in tails], dtype=np.intp),
        )

    def es_exceedance_probability(self) -> FloatArray:
        """Per day, the predictive probability of a loss above ES (empirical ``1 − α'_t``)."""
        with np.errstate(invalid="ignore"):
            below = np.nansum(self.tail < -self.es[:, np.newaxis], axis=1)
        out: FloatArray = below / self.n
        return out


@dataclass(frozen=True, slots=True, kw_only=True)
class Z2Result:
    """Acerbi–Szekely Z2 with its simulated one-sided p-value ``P(Z2 ≤ z2 | H0)``."""

    z2: float
    p_value: float
    null_mean: float
    critical_5pct: float
    simulations: int
    observations: int

    def to_dict(self) -> dict[str, float | int]:
        """JSON-ready."""
        return {
            "z2": self.z2,
            "p_value": self.p_value,
            "null_mean": self.null_mean,
            "critical_5pct": self.critical_5pct,
            "simulations": self.simulations,
            "observations": self.observations,
        }


def z2_statistic(
    pnl: npt.ArrayLike, var: npt.ArrayLike, es: npt.ArrayLike, confidence: float
) -> FloatArray:
    """Z2 of realised P&L against loss-positive VaR and ES (rows: days; more columns = more
    series, e.g. simulations along axis 1)."""
    x = np.asarray(pnl, dtype=np.float64)
    v = np.asarray(var, dtype=np.float64)
    e = np.asarray(es, dtype=np.float64)
    if x.shape[0] != v.shape[0] or v.shape != e.shape:
        raise InputError("pnl, var and es need one entry per day")
    if (e <= 0).any():
        raise InputError("ES must be positive on every day to form Z2")
    q = 1.0 - check_probability(confidence, name="confidence")
    if x.ndim == 2:
        v, e = v[:, np.newaxis], e[:, np.newaxis]
    hit = x + v < 0
    out: FloatArray = np.asarray(
        (x * hit / e).sum(axis=0) / (x.shape[0] * q) + 1.0, dtype=np.float64
    )
    return out


def acerbi_szekely_z2(
    pnl: npt.ArrayLike,
    predictive: Predictive,
    *,
    simulations: int = Z2_SIMULATIONS,
    seed: int = 20141201,
) -> Z2Result:
    """Z2 of the realised ``pnl`` (T,) and its p-value simulated from ``predictive``."""
    x = as_scenario_array(pnl, name="pnl")
    days = x.shape[0]
    if predictive.var.shape != (days,):
        raise InputError(f"{days} realised P&Ls for {predictive.var.size} predictive days")
    if simulations < 100:
        raise InputError(f"simulate at least 100 null samples, got {simulations}")
    keep = predictive.es > 0  # a day whose ES is not a loss cannot be scored
    if not keep.any():
        raise InputError("no day with a positive predicted ES to test")
    z_obs = float(
        z2_statistic(x[keep], predictive.var[keep], predictive.es[keep], predictive.confidence)
    )
    rng = np.random.default_rng(seed)
    n = predictive.n[keep]
    tail = np.nan_to_num(predictive.tail[keep], nan=0.0)
    count = predictive.tail_count[keep]
    es = predictive.es[keep]
    q = 1.0 - predictive.confidence
    sims = np.empty(simulations)
    chunk = max(1, 2_000_000 // max(1, int(keep.sum())))
    for lo in range(0, simulations, chunk):
        m = min(chunk, simulations - lo)
        # draw a scenario index per day; only the ones strictly below −VaR contribute
        idx = np.floor(rng.random((m, n.size)) * n).astype(np.intp)
        hit = idx < count
        vals = np.take_along_axis(tail, np.where(hit, idx, 0).T, axis=1).T * hit
        sims[lo : lo + m] = (vals / es).sum(axis=1) / (n.size * q) + 1.0
    return Z2Result(
        z2=z_obs,
        p_value=float((np.count_nonzero(sims <= z_obs) + 1) / (simulations + 1)),
        null_mean=float(sims.mean()),
        critical_5pct=float(np.quantile(sims, 0.05)),
        simulations=simulations,
        observations=int(keep.sum()),
    )


def binomial_upper_p(exceptions: int, observations: int, probability: float) -> float:
    """``P(X ≥ exceptions)`` for ``X ~ Binomial(observations, probability)``."""
    from scipy.stats import binom

    if exceptions <= 0:
        return 1.0
    return float(binom.sf(exceptions - 1, observations, probability))


__all__ = [
    "Z2_SIMULATIONS",
    "Predictive",
    "Z2Result",
    "acerbi_szekely_z2",
    "binomial_upper_p",
    "es_equivalent_level",
    "z2_statistic",
]
