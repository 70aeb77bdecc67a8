"""Procyclicality: peak-to-trough in a rolling window, ICE ES of % margin changes."""

from __future__ import annotations

import numpy as np
import pytest

from crossmargin.errors import InputError
from crossmargin.stats import ice_procyclicality, margin_change_es, peak_to_trough

MARGINS = np.array([100.0, 120.0, 90.0, 110.0, 60.0, 200.0])


def test_peak_to_trough_hand() -> None:
    # window 3 → pairs at most 2 apart.
    # Falls: 120→90 25%, 110→60 45.45%, 90→60 (lag 2) 33.3%, 120→110 (lag 2) 8.3% →
    # max 45.4545% from index 3 to 4.
    # Rises: 60→200 233.33% (index 4 → 5) is the largest.
    res = peak_to_trough(MARGINS, window=3)
    assert float(res.max_fall_pct) == pytest.approx(100 * 50 / 110)
    assert (int(res.fall_from), int(res.fall_to)) == (3, 4)
    assert float(res.max_rise_pct) == pytest.approx(100 * 140 / 60)
    assert (int(res.rise_from), int(res.rise_to)) == (4, 5)
    # Whole series in one window: 120 → 60 is a 50% fall (index 1 → 4).
    res = peak_to_trough(MARGINS, window=30)
    assert float(res.max_fall_pct) == pytest.approx(50.0)
    assert (int(res.fall_from), int(res.fall_to)) == (1, 4)
    # window 2 (adjacent days only): the 50% fall is out of reach, 110→60 remains the largest.
    assert float(peak_to_trough(MARGINS, window=2).max_fall_pct) == pytest.approx(100 * 50 / 110)


def _brute_force(m: np.ndarray, window: int) -> tuple[float, float]:
    fall = rise = 0.0
    for i in range(len(m)):
        for j in range(i + 1, min(i + window, len(m))):
            fall = max(fall, (m[i] - m[j]) / m[i] * 100)
            rise = max(rise, (m[j] - m[i]) / m[i] * 100)
    return fall, rise


def test_peak_to_trough_matches_brute_force_and_columns() -> None:
    rng = np.random.default_rng(8)
    m = 1e6 * np.exp(np.cumsum(rng.normal(0, 0.05, (300, 3)), axis=0))
    res = peak_to_trough(m, window=30)
    for j in range(3):
        fall, rise = _brute_force(m[:, j], 30)
        assert res.max_fall_pct[j] == pytest.approx(fall, rel=1e-12)
        assert res.max_rise_pct[j] == pytest.approx(rise, rel=1e-12)
        assert res.fall_to[j] - res.fall_from[j] <= 29
    # Monotone increasing margins never fall.
    assert float(peak_to_trough(np.arange(1.0, 50.0)).max_fall_pct) == 0.0


def test_margin_change_es_hand() -> None:
    # 1-day changes of (100, 110, 99, 121, 100): +10%, −10%, +22.22%, −17.36%.
    # lookback 4 at 50%: k = ⌈0.5·4⌉ = 2 largest: (10 + 22.2222)/2 = 16.1111%.
    end, es = margin_change_es([100.0, 110.0, 99.0, 121.0, 100.0], 1, confidence=0.5, lookback=4)
    assert end.tolist() == [4]
    assert es.tolist() == [pytest.approx((10 + 100 * 22 / 99) / 2, rel=1e-12)]


def test_margin_change_es_matches_plain_loop() -> None:
    rng = np.random.default_rng(10)
    m = 1e5 * np.exp(np.cumsum(rng.normal(0, 0.03, 400)))
    end, es = margin_change_es(m, 5, confidence=0.95, lookback=250)
    assert end[0] == 5 + 250 - 1
    assert end[-1] == 399
    for w, e in zip(range(len(end)), end, strict=True):
        changes = [100 * (m[t] / m[t - 5] - 1) for t in range(e - 249, e + 1)]
        top = sorted(changes, reverse=True)[:13]  # k = ⌈0.05·250⌉ = 13
        assert es[w] == pytest.approx(sum(top) / 13, rel=1e-12)


def test_ice_procyclicality_alignment() -> None:
    rng = np.random.default_rng(12)
    m = np.exp(np.cumsum(rng.normal(0, 0.02, (320, 2)), axis=0))
    res = ice_procyclicality(m)
    end5, es5 = margin_change_es(m, 5)
    end30, es30 = margin_change_es(m, 30)
    np.testing.assert_array_equal(res.end_index, end30)
    np.testing.assert_array_equal(res.long_term_pct, es30)
    np.testing.assert_array_equal(res.short_term_pct, es5[np.isin(end5, end30)])
    assert res.short_term_pct.shape == res.long_term_pct.shape == (320 - 280 + 1, 2)


def test_validation() -> None:
    with pytest.raises(InputError, match="positive"):
        peak_to_trough([100.0, 0.0, 50.0])
    with pytest.raises(InputError, match="shorter lookback"):
        margin_change_es(np.ones(100), 5)


def test_peak_to_trough_ratio_and_max_increase_by_hand() -> None:
    from crossmargin.stats import max_increase, peak_to_trough_ratio

    # MARGINS = 100, 120, 90, 110, 60, 200: peak 200 (index 5) over trough 60 (index 4)
    res = peak_to_trough_ratio(MARGINS)
    assert res.ratio == pytest.approx(200 / 60)
    assert (res.peak, res.trough) == (5, 4)
    # 1-step increases: +20%, −25%, +22.2%, −45.5%, +233.3% → 233.3% from index 4
    one = max_increase(MARGINS, 1)
    assert one.pct == pytest.approx(100 * 140 / 60)
    assert one.start == 4
    # 2-step: 90/100, 110/120, 60/90, 200/110 → +81.8% from index 3
    two = max_increase(MARGINS, 2)
    assert two.pct == pytest.approx(100 * 90 / 110)
    assert two.start == 3
    # a falling series: the largest "increase" is the smallest fall, negative
    assert max_increase([100.0, 90.0, 85.0], 1).pct == pytest.approx(100 * (85 / 90 - 1))
    assert np.isnan(max_increase(MARGINS, 6).pct)


def _buffer_twin(m: list[float], b: float, r: int) -> list[float]:
    """Scalar twin of the Art 28(1)(a) buffer rule, written from its docstring."""
    out = [(1 + b) * m[0]]
    for x in m[1:]:
        candidate = out[-1] + b * x / r
        out.append(min((1 + b) * x, max(x, candidate)))
    return out


def test_apc_buffer_runs_down_in_stress_and_rebuilds() -> None:
    from crossmargin.stats import apc_buffer, max_increase

    calm, spike = [100.0] * 10, [110.0, 125.0, 140.0, 160.0]
    m = np.array(calm + spike + [160.0] * 30 + [120.0] * 10)
    res = apc_buffer(m, buffer=0.25, rebuild_steps=20)
    np.testing.assert_allclose(res.collected, _buffer_twin(list(m), 0.25, 20), rtol=1e-15)
    assert res.collected[0] == 125.0  # a full 25% buffer in normal times
    assert np.all(res.collected >= m)
    assert np.all(res.collected <= 1.25 * m + 1e-9)
    # the rise from 100 to 160 (+60%) is called as less: the buffer absorbs the first part
    assert res.collected[13] == pytest.approx(160.0)  # exhausted at the peak
    assert bool(res.exhausted[13])
    raw = max_increase(m, 5).pct
    damped = max_increase(res.collected, 5).pct
    assert damped < raw
    assert raw == pytest.approx(60.0)
    # once the margin stops rising the buffer is rebuilt within 20 steps
    assert res.buffer[13 + 20] == pytest.approx(0.25)
    with pytest.raises(InputError, match="fraction of margin"):
        apc_buffer(m, buffer=-0.1)
