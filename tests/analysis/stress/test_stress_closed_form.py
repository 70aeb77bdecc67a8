"""Correlation breakdown and reverse stress on a two-asset Gaussian book: closed forms.

Book: long ``a`` USD of X (SPY) and short ``b`` USD of Y (QQQ), spot 100 each. Daily log
returns are a large simulated bivariate normal sample (fixed seed) with vols σ₁, σ₂ and
correlation ρ; the vols are small, so the P&L ``a(e^{r₁} − 1) − b(e^{r₂} − 1) ≈ a·r₁ − b·r₂``
is Gaussian to within ~0.3%. For a normal P&L with mean μ and sd σ_p the ES at α is
``−μ + σ_p·φ(z_α)/(1 − α)``, ``σ_p² = a²σ₁² + b²σ₂² − 2abρσ₁σ₂`` (e.g. McNeil, Frey and
Embrechts, *Quantitative Risk Management*, 2015, Ex. 2.14). At ρ = +1 the sd is
``|aσ₁ − bσ₂|``, at ρ = −1 it is ``aσ₁ + bσ₂``. The sample's own σ̂ and ρ̂ enter the closed
form, so only the tail's sampling noise remains (k = 2,000 tail scenarios: ~1%).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

import numpy as np
import pytest
from scipy.stats import norm

from crossmargin.analysis.stress.common import HeldMargin
from crossmargin.analysis.stress.correlation import correlation_breakdown
from crossmargin.analysis.stress.factors import FactorWindow
from crossmargin.analysis.stress.reverse import reverse_stress
from crossmargin.instruments import parse_symbol
from crossmargin.market.snapshot import MarketSnapshot
from crossmargin.portfolio import Portfolio, Position

N, SEED = 200_000, 20200312
S1, S2, RHO = 0.002, 0.001, 0.6
A, B = 100_000.0, 150_000.0  # USD notionals: long X, short Y
ALPHA = 0.99
TOL = 0.025  # relative: tail sampling (~1%) plus the e^r − 1 curvature (~0.3%)
MARKET = MarketSnapshot(
    valuation_time=datetime(2026, 2, 11, 21, tzinfo=UTC), spots={"SPY": 100.0, "QQQ": 100.0}
)
BOOK = Portfolio.from_positions(
    [
        Position(account="acct", instrument=parse_symbol("SPY"), quantity=A / 100.0),
        Position(account="acct", instrument=parse_symbol("QQQ"), quantity=-B / 100.0),
    ]
)


def es_normal(mu: float, sd: float) -> float:
    return -mu + sd * float(norm.pdf(norm.ppf(ALPHA))) / (1.0 - ALPHA)


@pytest.fixture(scope="module")
def sample() -> np.ndarray:
    rng = np.random.default_rng(SEED)
    cov = [[S1**2, RHO * S1 * S2], [RHO * S1 * S2, S2**2]]
    return rng.multivariate_normal([0.0, 0.0], cov, size=N)


@pytest.fixture(scope="module")
def window(sample: np.ndarray) -> FactorWindow:
    daily = np.hstack([sample, np.zeros_like(sample)])  # vols never move
    dates = tuple(f"d{i}" for i in range(N))
    return FactorWindow(
        underlyings=("SPY", "QQQ"),
        daily=daily,
        dates=dates,
        calendar="nyse",
        mpor=1,
        confidence=ALPHA,
    )


def moments(sample: np.ndarray, rho: float) -> tuple[float, float]:
    m1, m2 = sample.mean(axis=0)
    s1, s2 = sample.std(axis=0, ddof=1)
    sd = math.sqrt(max((A * s1) ** 2 + (B * s2) ** 2 - 2 * A * B * rho * s1 * s2, 0.0))
    return A * m1 - B * m2, sd


def test_netted_es_and_shortfall_at_plus_and_minus_one(
    sample: np.ndarray, window: FactorWindow
) -> None:
    rho_hat = float(np.corrcoef(sample.T)[0, 1])
    mu, sd = moments(sample, rho_hat)
    held_value = es_normal(mu, sd)  # the netted margin held: the closed-form netted ES
    held = HeldMargin(
        model="closed form",
        required={"acct": held_value},
        standalone={"acct": es_normal(0, A * S1) + es_normal(0, B * S2)},
    )
    result = correlation_breakdown(BOOK, MARKET, window, held, modes=("plus", "minus"))
    plus, minus = result.row("acct", "plus"), result.row("acct", "minus")
    # baseline: the unbroken netted ES matches the closed form
    assert plus.baseline == pytest.approx(held_value, rel=TOL)
    es_plus = es_normal(*moments(sample, 1.0))
    es_minus = es_normal(*moments(sample, -1.0))
    assert moments(sample, 1.0)[1] == pytest.approx(abs(A * S1 - B * S2), rel=0.02)
    assert moments(sample, -1.0)[1] == pytest.approx(A * S1 + B * S2, rel=0.02)
    assert plus.broken == pytest.approx(es_plus, rel=TOL)
    assert minus.broken == pytest.approx(es_minus, rel=TOL)
    # shortfall = max(0, broken - held): +1 makes the long/short a better hedge, -1 breaks it
    assert plus.shortfall == 0.0
    assert minus.shortfall == pytest.approx(es_minus - held_value, rel=2 * TOL)
    assert minus.shortfall > 0.5 * held_value
    m = result.matrices
    assert [x.mode for x in m] == ["plus", "minus"]
    assert m[0].achieved["SPY:QQQ"] == pytest.approx(1.0, abs=1e-9)
    assert m[1].achieved["SPY:QQQ"] == pytest.approx(-1.0, abs=1e-9)
    assert not m[0].repaired  # a 2x2 matrix at +-1 is already a valid correlation matrix


def test_reverse_stress_distance_and_plausibility(sample: np.ndarray, window: FactorWindow) -> None:
    """Linear P&L ``−gᵀx``: the largest loss at Mahalanobis distance d is ``d·√(gᵀΣg)``, so
    the smallest breaking distance is ``M/√(gᵀΣg)``; in two Gaussian dimensions
    ``P(d ≥ r) = exp(−r²/2)`` (χ² with 2 degrees of freedom)."""
    margin = 500.0
    held = HeldMargin(model="fixed", required={"acct": margin}, standalone={"acct": margin})
    (rev,) = reverse_stress(
        BOOK, MARKET, window, held, window.daily, window.dates, n_directions=400, max_distance=8.0
    )
    g = np.array([A, -B])
    cov = np.cov(sample.T)
    expected = margin / math.sqrt(float(g @ cov @ g))
    assert rev.distance is not None
    assert rev.distance == pytest.approx(expected, rel=0.01)
    assert rev.loss == pytest.approx(margin, rel=1e-6)
    assert rev.moves["SPY"].spot < 0 < rev.moves["QQQ"].spot  # long X down, short Y up
    assert rev.plausibility == pytest.approx(math.exp(-(expected**2) / 2), abs=0.01)
