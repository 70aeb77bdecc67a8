"""Correlation break and reverse stress on a two-asset Gaussian book: closed forms.

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
from crossmargin.analysis.stress.correlation import broken_moves, correlation_breakdown
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
    result = correlation_breakdown(BOOK, MARKET, window, held, modes=("adverse", "plus", "minus"))
    plus, minus = result.row("acct", "plus"), result.row("acct", "minus")
    # baseline: the unbroken netted ES matches the closed form
    assert plus.baseline == pytest.approx(held_value, rel=TOL)
    # the rank re-ordering keeps each sample's marginal: at ρ = ±1 the moves pair up in
    # (counter-)monotone order, whose ES is the closed form with the sample's own σ̂
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
    # the adverse direction of a long/short pair is −1
    adverse = result.row("acct", "adverse")
    assert adverse.direction == {"SPY:QQQ": "-1"}
    assert adverse.broken == pytest.approx(minus.broken, rel=1e-12)
    m = result.matrices
    assert [x.mode for x in m] == ["plus", "minus"]
    assert m[0].target["SPY:QQQ"] == pytest.approx(1.0, abs=1e-9)
    assert m[1].target["SPY:QQQ"] == pytest.approx(-1.0, abs=1e-9)
    assert plus.achieved["SPY:QQQ"] == pytest.approx(1.0, abs=1e-9)
    assert minus.achieved["SPY:QQQ"] == pytest.approx(-1.0, abs=1e-9)
    assert not m[0].repaired  # a 2x2 matrix at +-1 is already a valid correlation matrix


@pytest.mark.parametrize("rho_star", [-0.5, 0.0, 0.3, 0.9])
def test_intermediate_break_matches_the_gaussian_closed_form(
    sample: np.ndarray, window: FactorWindow, rho_star: float
) -> None:
    """A user matrix sets ρ(SPY, QQQ) = ρ*: with Gaussian marginals the re-ordered sample is
    (up to sampling) bivariate normal with correlation ρ*, so the ES is the closed form at
    ρ* with the sample's σ̂ (the normal-score correlation of Gaussian data is its Pearson
    correlation)."""
    stressed = (("SPY", "QQQ"), np.array([[1.0, rho_star], [rho_star, 1.0]]))
    held = HeldMargin(model="x", required={"acct": 1.0}, standalone={"acct": 1.0})
    result = correlation_breakdown(
        BOOK, MARKET, window, held, modes=("stressed",), stressed=stressed
    )
    row = result.row("acct", "stressed")
    assert row.achieved["SPY:QQQ"] == pytest.approx(rho_star, abs=0.005)
    assert row.broken == pytest.approx(es_normal(*moments(sample, rho_star)), rel=TOL)


def test_marginals_are_kept_exactly(window: FactorWindow) -> None:
    """Sorted values equal: every underlying's h-step spot moves, vol moves and time steps
    after the break are a permutation of the window's own."""
    base = window.scenarios(window.daily)
    for rho in (-1.0, -0.4, 0.95):
        target = np.array([[1.0, rho], [rho, 1.0]])
        spot, vol, steps = broken_moves(window, target)
        for j in range(2):
            assert np.array_equal(np.sort(spot[:, j]), np.sort(base.spot_shocks[:, j]))
            assert np.array_equal(np.sort(vol[:, j]), np.sort(base.vol_shocks[:, j]))
            assert np.array_equal(np.sort(steps[:, j]), np.sort(base.time_steps))
        # the first underlying keeps its rows
        np.testing.assert_array_equal(spot[:, 0], base.spot_shocks[:, 0])


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


def test_one_underlying_account_on_a_shared_window_is_unchanged(window: FactorWindow) -> None:
    """An account holding SPY only, broken on the same two-asset window as the long/short
    account (so its scenario rows really are re-paired with QQQ's): its ES is unchanged to
    1e-9 under every mode, while the long/short account's moves."""
    single = Position(account="single", instrument=parse_symbol("SPY"), quantity=A / 100.0)
    book = Portfolio.from_positions([*BOOK.raw, single])
    held = HeldMargin(
        model="x", required={"acct": 1.0, "single": 1.0}, standalone={"acct": 1.0, "single": 1.0}
    )
    stressed = (("SPY", "QQQ"), np.array([[1.0, -0.2], [-0.2, 1.0]]))
    result = correlation_breakdown(
        book,
        MARKET,
        window,
        held,
        modes=("adverse", "plus", "minus", "flip", "stressed"),
        stressed=stressed,
        blend=0.7,
    )
    rows = [r for r in result.rows if r.account == "single"]
    assert len(rows) == 5
    for r in rows:
        assert abs(r.broken - r.baseline) <= 1e-9 * r.baseline
    assert all(
        abs(r.broken - r.baseline) > 0.05 * r.baseline
        for r in result.rows
        if r.account == "acct" and r.mode != "adverse"
    )
