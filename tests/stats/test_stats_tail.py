"""VaR/ES conventions of crossmargin.stats.tail (METHODS §4.3–4.4, §11 V9)."""

from __future__ import annotations

import math
from decimal import Decimal
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from crossmargin.errors import InputError
from crossmargin.stats import (
    tail_count,
    tail_mass,
    tail_weights,
    var_es,
    var_es_by_count,
    var_interpolated,
)

# A small P&L vector used for hand computations (gain > 0, loss < 0).
PNL = np.array([5.0, -3.0, 12.0, -8.0, 0.0, -1.0, 7.0, -20.0, 4.0, -6.0])
# Sorted ascending: -20 (idx 7), -8 (idx 3), -6 (idx 9), -3 (idx 1), -1, 0, 4, 5, 7, 12.


def test_tail_count_is_exact_where_naive_float_is_not() -> None:
    # METHODS §4.4 / V9: (1 − 0.99)·1000 = 10.000000000000009 in floating point, so a naive
    # ceil gives 11; the exact count is 10. Likewise 0.07·100 = 7.000000000000001 → 8, not 7.
    assert math.ceil((1 - 0.99) * 1000) == 11  # the pitfall is real on this platform
    assert tail_count(0.99, 1000) == 10
    assert math.ceil(0.07 * 100) == 8
    assert tail_count(0.93, 100) == 7
    assert tail_count(Fraction(99, 100), 1000) == 10
    assert tail_count(Decimal("0.99"), 1000) == 10
    # 0.01·250 = 2.5 → ⌈2.5⌉ = 3; 0.001·10 = 0.01 → 1 (at least one scenario).
    assert tail_count(0.99, 250) == 3
    assert tail_count(0.999, 10) == 1
    # 0.995·2500 → 12.5 → 13; 0.997·2500 → 7.5 → 8.
    assert tail_count(0.995, 2500) == 13
    assert tail_count(0.997, 2500) == 8


def test_hand_computed_var_es_by_level() -> None:
    # confidence 0.8, n = 10: k = ⌈0.2·10⌉ = 2; two smallest P&Ls -20, -8.
    # VaR = −(−8) = 8; ES = −(−20 − 8)/2 = 14.
    res = var_es(PNL, 0.8)
    assert int(res.k) == 2
    assert float(res.var) == 8.0
    assert float(res.es) == 14.0
    assert int(res.worst_index) == 7
    assert res.tail_indices.tolist() == [7, 3]
    # confidence 0.75: m = 0.25·10 = 2.5, k = 3; smallest -20, -8, -6.
    # VaR = 6; ES = (20 + 8 + 0.5·6)/2.5 = 31/2.5 = 12.4 (fractional tail weight).
    res = var_es(PNL, 0.75)
    assert int(res.k) == 3
    assert float(res.var) == 6.0
    assert float(res.es) == pytest.approx(31.0 / 2.5, rel=1e-15)
    assert res.confidence == 0.75


def test_hand_computed_by_count() -> None:
    # worst 4: -20, -8, -6, -3 → VaR = 3, ES = (20 + 8 + 6 + 3)/4 = 9.25.
    res = var_es_by_count(PNL, 4)
    assert (int(res.k), float(res.var), float(res.es)) == (4, 3.0, 9.25)
    assert res.confidence is None
    # k = n: VaR is minus the best P&L (−12), ES minus the mean (−(0)/10 … mean is 1.0 → −1.0).
    res = var_es_by_count(PNL, 10)
    assert float(res.var) == -12.0
    assert float(res.es) == pytest.approx(-PNL.sum() / 10)
    assert float(res.var_margin) == 0.0


def test_n1000_at_99pct_uses_k10() -> None:
    # Losses 0 … 999 in shuffled order. k = 10 (not 11): VaR = 990, ES = mean(990..999) = 994.5.
    rng = np.random.default_rng(7)
    pnl = -rng.permutation(1000).astype(float)
    res = var_es(pnl, 0.99)
    assert int(res.k) == 10
    assert float(res.var) == 990.0
    assert float(res.es) == 994.5
    assert pnl[int(res.worst_index)] == -999.0


def test_ties_es_is_mean_of_exactly_k_values() -> None:
    # METHODS §4.4: ES averages exactly k values, not all values ≤ VaR.
    # [-5, -5, -5, 1] with k = 2 → VaR 5, ES 5; with k = 4 → ES (15 − 1)/4 = 3.5.
    pnl = [-5.0, -5.0, -5.0, 1.0]
    assert float(var_es_by_count(pnl, 2).es) == 5.0
    assert float(var_es_by_count(pnl, 4).es) == 3.5


def _loop_reference(pnl: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Plain per-column sort: the obviously correct twin."""
    var, es = [], []
    for col in pnl.T:
        s = sorted(col.tolist())
        var.append(-s[k - 1])
        es.append(-sum(s[:k]) / k)
    return np.array(var), np.array(es)


@pytest.mark.parametrize("confidence", [0.9, 0.95, 0.99, 0.995])
def test_vectorised_equals_per_column_loop(confidence: float) -> None:
    rng = np.random.default_rng(11)
    # Integer-valued P&L so that ties occur.
    pnl = rng.integers(-50, 50, size=(400, 6)).astype(float)
    res = var_es(pnl, confidence)
    k = tail_count(confidence, 400)
    var_ref, es_ref = _loop_reference(pnl, k)
    np.testing.assert_array_equal(res.var, var_ref)
    np.testing.assert_allclose(res.es, es_ref, rtol=1e-14)
    for j in range(pnl.shape[1]):
        single = var_es(pnl[:, j], confidence)
        assert float(single.var) == res.var[j]
        assert float(single.es) == pytest.approx(res.es[j], rel=1e-14)
    # tail indices point at the k smallest values, worst first
    tail_vals = np.take_along_axis(pnl, res.tail_indices, axis=0)
    assert (np.diff(tail_vals, axis=0) >= 0).all()
    np.testing.assert_array_equal(tail_vals[-1], -res.var)


def test_weighted_hand_example_stressed_quarter() -> None:
    # Art 28(1)(b)-style weighting: 2 stressed scenarios carry 25% (0.125 each), 10 normal
    # scenarios carry 75% (0.075 each).
    stressed = [-50.0, -30.0]
    normal = [-12.0, -9.0, -4.0, -1.0, 0.0, 1.0, 2.0, 5.0, 6.0, 8.0]
    pnl = np.array(normal + stressed)
    w = np.array([0.075] * 10 + [0.125] * 2)
    # q = 0.2: cumulative 0.125 (−50), 0.25 (−30) ≥ 0.2 → VaR 30; the boundary −30 takes
    # only the 0.075 that completes q: ES = (50·0.125 + 30·0.075)/0.2 = 42.5.
    res = var_es(pnl, 0.8, weights=w)
    assert float(res.var) == 30.0
    assert float(res.es) == pytest.approx(42.5, rel=1e-14)
    assert int(res.k) == 2
    assert res.tail_indices.tolist() == [10, 11]
    # q = 0.1: 0.125 ≥ 0.1 already → VaR = ES = 50.
    res = var_es(pnl, 0.9, weights=w)
    assert (float(res.var), float(res.es)) == (50.0, 50.0)
    # q = 0.3: 0.125, 0.25, 0.325 (−12) → VaR 12; −12 takes 0.05 of its 0.075:
    # ES = (50·0.125 + 30·0.125 + 12·0.05)/0.3 = 10.6/0.3 = 35.333…
    res = var_es(pnl, 0.7, weights=w)
    assert float(res.var) == 12.0
    assert float(res.es) == pytest.approx(10.6 / 0.3, rel=1e-13)
    # Unnormalised weights give the same answer.
    res2 = var_es(pnl, 0.7, weights=w * 40)
    assert float(res2.es) == pytest.approx(float(res.es), rel=1e-13)


def test_zero_weight_scenarios_are_ignored() -> None:
    # The −100 scenario has no weight: tail is the remaining worst.
    pnl = [-100.0, -10.0, -5.0, 1.0]
    res = var_es(pnl, 0.75, weights=[0.0, 1.0, 1.0, 1.0])
    # q = 0.25 of the remaining 3 equal weights: first cumulative ≥ 0.25 is −10 (1/3).
    assert (float(res.var), float(res.es), int(res.k), int(res.worst_index)) == (10, 10, 1, 1)


@settings(max_examples=60, deadline=None)
@given(
    pnl=arrays(
        np.float64,
        st.tuples(st.integers(1, 60), st.integers(1, 3)),
        elements=st.floats(-1e6, 1e6, allow_nan=False),
    ),
    confidence=st.sampled_from([0.5, 0.8, 0.9, 0.95, 0.975, 0.99, 0.995]),
)
def test_property_es_at_least_var_and_equal_weights_match(
    pnl: np.ndarray, confidence: float
) -> None:
    res = var_es(pnl, confidence)
    assert (res.es >= res.var - 1e-9 * (1 + np.abs(res.var))).all()
    weighted = var_es(pnl, confidence, weights=np.ones(pnl.shape[0]))
    np.testing.assert_array_equal(weighted.var, res.var)
    np.testing.assert_array_equal(weighted.k, res.k)
    np.testing.assert_allclose(weighted.es, res.es, rtol=1e-9, atol=1e-6)


@settings(max_examples=60, deadline=None)
@given(
    pnl=arrays(np.float64, st.integers(2, 80), elements=st.floats(-1e3, 1e3)),
    weights=st.lists(st.floats(0.01, 10.0), min_size=80, max_size=80),
    confidence=st.sampled_from([0.8, 0.9, 0.95, 0.99]),
)
def test_property_weighted_es_at_least_var(
    pnl: np.ndarray, weights: list[float], confidence: float
) -> None:
    res = var_es(pnl, confidence, weights=weights[: pnl.shape[0]])
    assert float(res.es) >= float(res.var) - 1e-9 * (1 + abs(float(res.var)))


def test_interpolated_quantile_type7() -> None:
    # Hyndman–Fan type 7: position (n−1)·q. pnl −4 … 0, q = 0.1 → position 0.4 →
    # −4 + 0.4·(−3 − (−4)) = −3.6 → VaR 3.6. "lower" picks −4 → 4.
    pnl = [0.0, -1.0, -2.0, -3.0, -4.0]
    assert float(var_interpolated(pnl, 0.9)) == pytest.approx(3.6, rel=1e-14)
    assert float(var_interpolated(pnl, 0.9, method="lower")) == 4.0
    both = var_interpolated(np.column_stack([pnl, pnl]), 0.9)
    assert both.shape == (2,)


@pytest.mark.parametrize("bad", [0.0, 1.0, 1.5, -0.1, float("nan"), True])
def test_confidence_validated(bad: float) -> None:
    with pytest.raises(InputError, match="confidence"):
        var_es(PNL, bad)


def test_input_validation_messages() -> None:
    with pytest.raises(InputError, match="at least 1"):
        var_es([], 0.99)
    with pytest.raises(InputError, match=r"non-finite value nan at index \(2,\)"):
        var_es([1.0, 2.0, float("nan")], 0.99)
    with pytest.raises(InputError, match="scenario/day axis first"):
        var_es(np.zeros((2, 2, 2)), 0.99)
    with pytest.raises(InputError, match="exceeds the number of scenarios"):
        var_es_by_count(PNL, 11)
    with pytest.raises(InputError, match="at least 1"):
        var_es_by_count(PNL, 0)
    with pytest.raises(InputError, match=r"weights\[1\]"):
        var_es(PNL[:3], 0.9, weights=[1.0, -1.0, 1.0])
    with pytest.raises(InputError, match="one per scenario"):
        var_es(PNL, 0.9, weights=[1.0, 1.0])
    with pytest.raises(InputError, match="sum to zero"):
        var_es(PNL[:2], 0.9, weights=[0.0, 0.0])
    with pytest.raises(InputError, match="n_scenarios"):
        tail_count(0.99, 0)


def test_many_portfolios_across_blocks_match_loop() -> None:
    # More portfolios than one internal block (256) so block boundaries are exercised.
    rng = np.random.default_rng(13)
    pnl = rng.normal(size=(50, 600))
    res = var_es(pnl, 0.9)  # k = ⌈0.1·50⌉ = 5
    var_ref, es_ref = _loop_reference(pnl, 5)
    np.testing.assert_array_equal(res.var, var_ref)
    np.testing.assert_allclose(res.es, es_ref, rtol=1e-13)
    np.testing.assert_array_equal(res.worst_index, pnl.argmin(axis=0))
    assert res.tail_indices.shape == (5, 600)


@pytest.mark.parametrize("k", [1, 2, 3, 5, 40])
def test_ties_keep_scenario_order_and_the_worst_is_the_earliest(k: int) -> None:
    # The compiled kernels' rule (fused_tail, row_tails): tied values in scenario order, the
    # worst scenario the earliest of the smallest value. Columns: all zeros (every scenario
    # tied), a few integer values (ties everywhere), three tied minima (at 7, 9, 30), random.
    rng = np.random.default_rng(5)
    pnl = np.zeros((40, 4))
    pnl[:, 1] = rng.integers(-3, 3, 40)
    pnl[:, 2] = rng.normal(size=40)
    pnl[[30, 9, 7], 3] = -5.0
    results = [var_es_by_count(pnl, k)]
    if k < 40:  # α = 1 − k/40 takes the k worst
        results.append(var_es(pnl, 1 - Fraction(k, 40)))
    for res in results:
        tail = np.asarray(res.tail_indices).reshape(k, 4)
        np.testing.assert_array_equal(
            np.asarray(res.worst_index).ravel(), [0, *pnl[:, 1:].argmin(axis=0)]
        )
        for c in range(4):
            values = pnl[tail[:, c], c]
            np.testing.assert_array_equal(values, np.sort(pnl[:, c])[:k])  # the k smallest
            tied = values[1:] == values[:-1]
            assert (np.diff(tail[:, c])[tied] > 0).all()  # ties in scenario order
    # many tied minima (values -2..2 over 300 scenarios): the earliest of them is the worst
    many = rng.integers(-2, 3, (300, 8)).astype(float)
    np.testing.assert_array_equal(var_es_by_count(many, k).worst_index, many.argmin(axis=0))
    # every scenario tied: the earliest k are the tail
    np.testing.assert_array_equal(np.asarray(var_es_by_count(pnl, k).tail_indices)[:, 0],
                                  np.arange(k))  # fmt: skip


def test_es_fractional_tail_weight_n250() -> None:
    # Acerbi & Tasche (2002) eq. (3.3): at 99% of n = 250 the tail mass is m = 2.5, so the ES
    # takes the two worst P&Ls in full and half of the third; averaging the three worst would
    # be ES at 1 - 3/250 = 98.8%. Losses 1 … 250 shuffled: ES = (250 + 249 + 0.5·248)/2.5.
    rng = np.random.default_rng(3)
    pnl = -rng.permutation(np.arange(1.0, 251.0))
    res = var_es(pnl, 0.99)
    assert int(res.k) == 3
    assert float(res.var) == 248.0
    assert float(res.es) == pytest.approx((250 + 249 + 0.5 * 248) / 2.5, rel=1e-15)
    # the same through equal weights (the weighted path)
    weighted = var_es(pnl, 0.99, weights=np.ones(250))
    assert float(weighted.es) == pytest.approx(float(res.es), rel=1e-13)
    assert tail_weights(0.99, 250).tolist() == [0.4, 0.4, 0.2]
    assert tail_mass(0.99, 250) == Fraction(5, 2)


def _fractional_reference(col: np.ndarray, confidence: float) -> float:
    """Plain loop: ES as the integral of the empirical quantile over the worst 1 − α."""
    s = sorted(col.tolist())
    n = len(s)
    mass = (1 - Fraction(str(confidence))) * n
    total, left = 0.0, mass
    for x in s:
        take = min(Fraction(1), left)
        if take <= 0:
            break
        total += float(take) * x
        left -= take
    return -total / float(mass)


@pytest.mark.parametrize(("n", "confidence"), [(250, 0.99), (365, 0.99), (252, 0.975), (37, 0.9)])
def test_fractional_es_equals_quantile_integral(n: int, confidence: float) -> None:
    rng = np.random.default_rng(n)
    pnl = rng.normal(size=(n, 4))
    res = var_es(pnl, confidence)
    ref = [_fractional_reference(pnl[:, j], confidence) for j in range(4)]
    np.testing.assert_allclose(res.es, ref, rtol=1e-12)


def test_es_adds_the_tail_worst_first_one_scenario_after_another() -> None:
    # magnitudes from 1e-8 to 1e16: the order of the additions shows in the last bits
    rng = np.random.default_rng(5)
    for _ in range(50):
        pnl = rng.normal(size=(200, 3)) * 10.0 ** rng.integers(-8, 17, size=(200, 3))
        got = var_es(pnl, 0.95)  # k = 10 worst of each column
        for j in range(3):
            tail = np.sort(pnl[:, j])[:10]  # worst first
            acc = float(tail[0])
            for y in tail[1:].tolist():  # Python floats, added one after another
                acc += y
            assert got.es[j] == -(acc / 10)  # bit for bit
            assert got.var[j] == -float(tail[-1])


def test_a_float_and_its_binary_fraction_keep_their_own_tail_counts() -> None:
    # 0.975 reads as 39/40 (k = 25 of 1,000); Fraction(0.975) is the double's binary value,
    # just under 39/40 (k = 26): equal as keys, so the cached counts must not be shared
    binary = Fraction(0.975)
    assert binary == 0.975
    for first, second in ((0.975, binary), (binary, 0.975)):
        tail_count.cache_clear()
        tail_mass.cache_clear()
        counts = {type(x): tail_count(x, 1000) for x in (first, second)}
        assert counts == {float: 25, Fraction: 26}
        assert tail_mass(0.975, 1000) == 25
        assert tail_mass(binary, 1000) > 25
