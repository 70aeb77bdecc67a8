"""Kupiec, Christoffersen and Basel traffic light (METHODS §9, §11 V6–V8)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import chi2

from crossmargin.errors import InputError
from crossmargin.stats import (
    TransitionCounts,
    Zone,
    christoffersen,
    christoffersen_from_counts,
    kupiec_pof,
    traffic_light,
    traffic_light_zones,
    transition_counts,
)


# Source: METHODS §9.3 table (N = 250, p = 0.01), recomputed independently there [✓].
@pytest.mark.parametrize(
    ("x", "lr", "p_value"),
    [
        (0, 5.0252, 0.0250),
        (2, 0.1084, 0.7419),
        (5, 1.9568, 0.1619),
        (8, 7.7336, 0.0054),
        (10, 12.9555, 0.0003),
    ],
)
def test_kupiec_reference_table(x: int, lr: float, p_value: float) -> None:
    res = kupiec_pof(250, x, 0.01)
    assert res.lr == pytest.approx(lr, abs=1e-4)
    assert res.p_value == pytest.approx(p_value, abs=1e-4)
    # erfc(√(LR/2)) is the χ²(1) survival function: cross-check against SciPy.
    assert res.p_value == pytest.approx(float(chi2.sf(res.lr, 1)), rel=1e-10)


def test_kupiec_edges_are_finite() -> None:
    # x = 0: LR = −2·N·ln(1 − p) (the x·ln x/N term is 0·ln 0 = 0).
    assert kupiec_pof(100, 0, 0.05).lr == pytest.approx(-2 * 100 * np.log(0.95), rel=1e-14)
    # x = N: LR = −2·N·ln p.
    assert kupiec_pof(10, 10, 0.01).lr == pytest.approx(-2 * 10 * np.log(0.01), rel=1e-14)
    # x/N = p exactly: LR = 0, p-value 1.
    res = kupiec_pof(200, 2, 0.01)
    assert res.lr == pytest.approx(0.0, abs=1e-12)
    assert res.p_value == pytest.approx(1.0, abs=1e-6)
    assert res.exception_rate == 0.01


def test_christoffersen_reference_example() -> None:
    # METHODS §9.4 [✓]: exceptions on days 50, 100, 101, 180, 220 of 250 (1-based), p = 0.01.
    exceptions = np.zeros(250, dtype=bool)
    exceptions[[d - 1 for d in (50, 100, 101, 180, 220)]] = True
    res = christoffersen(exceptions, 0.01)
    assert (res.counts.n00, res.counts.n01, res.counts.n10, res.counts.n11) == (240, 4, 4, 1)
    assert res.counts.total == 249  # N − 1
    assert res.lr_ind == pytest.approx(3.1540, abs=1e-4)
    assert res.p_value_ind == pytest.approx(0.0757, abs=1e-4)
    assert res.pof.lr == pytest.approx(1.9568, abs=1e-4)
    assert res.lr_cc == pytest.approx(5.1108, abs=1e-4)
    assert res.p_value_cc == pytest.approx(0.0777, abs=1e-4)
    assert res.p_value_cc == pytest.approx(float(chi2.sf(res.lr_cc, 2)), rel=1e-10)
    # Same from sufficient statistics alone.
    again = christoffersen_from_counts(
        TransitionCounts(n00=240, n01=4, n10=4, n11=1), n_obs=250, n_exceptions=5, p=0.01
    )
    assert again.lr_cc == res.lr_cc


def test_christoffersen_degenerate_cases_are_not_nan() -> None:
    # No exceptions: π = π01 = π11 = 0, every term is 0·ln 0 → LR_ind = 0.
    res = christoffersen(np.zeros(250, dtype=bool), 0.01)
    assert res.lr_ind == 0.0
    assert res.lr_cc == pytest.approx(kupiec_pof(250, 0, 0.01).lr)
    # Only exception on the last day: n10 = n11 = 0 (π11 undefined, its terms vanish);
    # with n00 = 248, n01 = 1 the restricted and unrestricted likelihoods coincide.
    e = np.zeros(250, dtype=bool)
    e[-1] = True
    res = christoffersen(e, 0.01)
    assert (res.counts.n10, res.counts.n11) == (0, 0)
    assert res.lr_ind == pytest.approx(0.0, abs=1e-12)
    # Two back-to-back exceptions, hand count: 0…0 1 1 0…0 → n01 = 1, n11 = 1, n10 = 1.
    e = np.zeros(10, dtype=int)
    e[[4, 5]] = 1
    c = transition_counts(e)
    assert (c.n00, c.n01, c.n10, c.n11) == (6, 1, 1, 1)


def test_christoffersen_validation() -> None:
    with pytest.raises(InputError, match="n_obs − 1"):
        christoffersen_from_counts(
            TransitionCounts(n00=1, n01=0, n10=0, n11=0), n_obs=5, n_exceptions=0, p=0.01
        )
    with pytest.raises(InputError, match="0/1"):
        transition_counts([0, 2, 1])
    with pytest.raises(InputError, match="non-negative"):
        TransitionCounts(n00=-1, n01=0, n10=0, n11=0)
    with pytest.raises(InputError, match="exceeds n_obs"):
        kupiec_pof(10, 11, 0.01)
    with pytest.raises(InputError, match="p must"):
        kupiec_pof(10, 1, 1.0)


# Source: BCBS (Jan 1996) Table 2 as reproduced in METHODS §9.2: P(X ≤ k), X ~ Bin(250, 1%),
# zones and plus factors.
BASEL_TABLE = [
    # k, zone, plus factor, P(X = k), P(X ≤ k)
    (0, Zone.GREEN, 0.00, 0.0811, 0.0811),
    (1, Zone.GREEN, 0.00, 0.2047, 0.2858),
    (2, Zone.GREEN, 0.00, 0.2574, 0.5432),
    (3, Zone.GREEN, 0.00, 0.2149, 0.7581),
    (4, Zone.GREEN, 0.00, 0.1341, 0.8922),
    (5, Zone.YELLOW, 0.40, 0.0666, 0.9588),
    (6, Zone.YELLOW, 0.50, 0.0275, 0.9863),
    (7, Zone.YELLOW, 0.65, 0.0097, 0.9960),
    (8, Zone.YELLOW, 0.75, 0.0030, 0.9989),
    (9, Zone.YELLOW, 0.85, 0.0008, 0.9997),
    (10, Zone.RED, 1.00, 0.0002, 0.9999),
]


@pytest.mark.parametrize(("k", "zone", "plus", "pmf", "cdf"), BASEL_TABLE)
def test_basel_traffic_light_table(k: int, zone: Zone, plus: float, pmf: float, cdf: float) -> None:
    res = traffic_light(k)
    assert res.zone is zone
    assert res.plus_factor == plus
    assert res.probability == pytest.approx(pmf, abs=1e-4)
    assert res.cumulative_probability == pytest.approx(cdf, abs=1e-4)


def test_basel_zone_boundaries() -> None:
    z = traffic_light_zones(250, 0.01)
    assert (z.yellow_from, z.red_from) == (5, 10)
    assert [z.zone(k) for k in (0, 4, 5, 9, 10, 250)] == [
        Zone.GREEN,
        Zone.GREEN,
        Zone.YELLOW,
        Zone.YELLOW,
        Zone.RED,
        Zone.RED,
    ]
    assert traffic_light(25).plus_factor == 1.0
    # METHODS §9.2 [✓]: n = 750 at 99.5% → yellow from 7, red from 13; no 1996 plus factor.
    z750 = traffic_light_zones(750, 0.005)
    assert (z750.yellow_from, z750.red_from) == (7, 13)
    assert traffic_light(8, 750, 0.005).plus_factor is None
    assert traffic_light(8, 750, 0.005).zone is Zone.YELLOW


@pytest.mark.parametrize(("n", "p"), [(250, 0.01), (500, 0.01), (750, 0.005), (1000, 0.025)])
def test_zone_boundaries_are_the_smallest_k(n: int, p: float) -> None:
    # Independent brute force with an explicit binomial sum in exact-ish float arithmetic.
    from math import comb

    cdf, k, yellow, red = 0.0, 0, None, None
    while red is None:
        cdf += comb(n, k) * p**k * (1 - p) ** (n - k)
        if yellow is None and cdf >= 0.95:
            yellow = k
        if cdf >= 0.9999:
            red = k
        k += 1
    z = traffic_light_zones(n, p)
    assert (z.yellow_from, z.red_from) == (yellow, red)
