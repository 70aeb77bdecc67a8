"""ES backtests: the VaR-equivalent level of an ES and the Acerbi-Szekely Z2 test.

The heavy size check (1,000 seeded backtests) is ``benchmarks/bench_es_backtest.py``; the
version here is small enough for every run.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import binom, norm, t

from crossmargin.errors import InputError
from crossmargin.stats import (
    Predictive,
    acerbi_szekely_z2,
    binomial_upper_p,
    es_equivalent_level,
    z2_statistic,
)


def test_es_equivalent_levels() -> None:
    # Normal: α' = Φ(φ(z_α)/(1 − α)). BCBS FRTB (d352, 2016) calibrates 97.5% ES to about
    # 99% VaR under normality: Φ(φ(1.95996)/0.025) = Φ(2.33780) = 0.99030.
    assert es_equivalent_level(0.975) == pytest.approx(0.990301, abs=1e-6)
    # 99% ES = 2.66521σ (φ(2.32635)/0.01), the 99.6153% normal quantile
    assert es_equivalent_level(0.99) == pytest.approx(norm.cdf(2.665214), abs=1e-6)
    assert es_equivalent_level(0.99) == pytest.approx(0.996153, abs=1e-6)
    # Student-t: checked against the ES integral ∫ VaR_u du / (1 − α) done numerically
    nu = 4.0
    u = np.linspace(0.99, 1.0, 200_001)[:-1] + 0.5e-8
    es_num = float(np.mean(t.ppf(u, nu)))
    assert es_equivalent_level(0.99, dist="t", df=nu) == pytest.approx(t.cdf(es_num, nu), abs=2e-5)
    assert es_equivalent_level(0.99, dist="t", df=nu) > es_equivalent_level(0.99)
    with pytest.raises(InputError, match="tail shape"):
        es_equivalent_level(0.99, dist="cauchy")


def test_binomial_upper_tail() -> None:
    assert binomial_upper_p(13, 2011, 0.003847) == pytest.approx(
        1.0 - binom.cdf(12, 2011, 0.003847), rel=1e-12
    )
    assert binomial_upper_p(0, 100, 0.01) == 1.0


def test_z2_by_hand() -> None:
    # Three days, α = 97.5%: VaR 2, ES 2.5 each; realised −3 (a hit), −1, +1.
    z = z2_statistic([-3.0, -1.0, 1.0], [2.0, 2.0, 2.0], [2.5, 2.5, 2.5], 0.975)
    assert float(z) == pytest.approx(-3.0 / 2.5 / (3 * 0.025) + 1.0)


def test_published_five_percent_critical_value() -> None:
    """Acerbi & Szekely (2014, *Risk*): for T = 250 days at α = 97.5% the 5% significance
    threshold of Z2 is −0.70 (and −1.8 at 0.01%), nearly independent of the tail. The
    predictive distribution here is the standard normal, discretised finely enough
    (20,000 equally likely quantiles) for the discrete-ES bias to vanish."""
    grid = norm.ppf((np.arange(20_000) + 0.5) / 20_000)
    pred = Predictive.from_scenarios([grid] * 250, 0.975)
    assert pred.var[0] == pytest.approx(1.959964, abs=1e-3)
    assert pred.es[0] == pytest.approx(norm.pdf(norm.ppf(0.025)) / 0.025, rel=1e-3)
    res = acerbi_szekely_z2(np.zeros(250), pred, simulations=20_000, seed=1)
    assert res.critical_5pct == pytest.approx(-0.70, abs=0.03)
    assert res.null_mean == pytest.approx(0.0, abs=0.01)
    assert res.z2 == 1.0  # no realised loss beyond VaR
    assert res.p_value == pytest.approx(1.0)


def _backtests(reps: int, scale: float, seed: int) -> list[float]:
    """Seeded backtests of T = 250 days, each day's predictive distribution 250 scenarios of
    a Student-t(4) with its own vol; realised P&L drawn from that day's scenarios times
    ``scale`` (1: the model is right; > 1: ES understated)."""
    rng = np.random.default_rng(seed)
    out = []
    for k in range(reps):
        sig = np.exp(rng.normal(0.0, 0.3, 250))
        days = rng.standard_t(4, (250, 250)) * sig[:, None]
        realised = days[np.arange(250), rng.integers(0, 250, 250)] * scale
        pred = Predictive.from_scenarios(list(days), 0.99)
        out.append(acerbi_szekely_z2(realised, pred, simulations=300, seed=k).p_value)
    return out


def test_size_and_power_small() -> None:
    """Under the null (realised drawn from the predictive distribution) the test rejects at
    5% about 5% of the time: 100 seeded backtests, rejections inside the binomial 99.9% band
    of Binomial(100, 0.05) (0 to 13). With losses 50% larger than predicted it rejects
    far more often (power)."""
    null = _backtests(100, 1.0, 7)
    rejected = sum(p <= 0.05 for p in null)
    assert rejected <= binom.ppf(0.9995, 100, 0.05)
    assert rejected >= binom.ppf(0.0005, 100, 0.05)
    wrong = _backtests(40, 1.5, 8)
    assert sum(p <= 0.05 for p in wrong) >= 20


def test_predictive_and_exceedance_probability() -> None:
    p = np.arange(-9.0, 91.0)  # 100 scenarios, 99%: VaR 9 (k = 1), ES 9
    pred = Predictive.from_scenarios([p], 0.99)
    assert pred.var[0] == 9.0
    assert pred.es[0] == 9.0
    assert pred.tail_count[0] == 0  # nothing strictly below −VaR
    q = np.concatenate([[-30.0, -20.0], np.arange(198.0)])  # 200 scenarios: k = 2
    pred = Predictive.from_scenarios([q], 0.99)
    assert pred.es[0] == 25.0
    assert pred.var[0] == 20.0
    assert list(pred.tail[0, : pred.tail_count[0]]) == [-30.0]
    assert pred.es_exceedance_probability()[0] == pytest.approx(1 / 200)
    with pytest.raises(InputError, match="predictive days"):
        acerbi_szekely_z2(np.zeros(3), pred)
