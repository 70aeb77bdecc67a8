"""Exceptions, coverage and overlapping-window sub-samples (METHODS §9.1, §9.5)."""

from __future__ import annotations

import numpy as np
import pytest

from crossmargin.errors import InputError
from crossmargin.stats import (
    Zone,
    coverage,
    exception_indicator,
    kupiec_pof,
    non_overlapping_subsamples,
    subsample_backtest,
    traffic_light_zones,
)

# Hand example: realised P&L and margin held at the start of each window.
PNL = np.array([-5.0, -12.0, 3.0, -20.0, -9.0, -10.0])
MARGIN = np.array([10.0, 10.0, 10.0, 15.0, 10.0, 10.0])
# Losses 5, 12, −3, 20, 9, 10 vs margins 10, 10, 10, 15, 10, 10:
# exceptions on day 1 (shortfall 2) and day 3 (shortfall 5); day 5 loss = margin → none.


def test_exception_indicator_hand() -> None:
    assert exception_indicator(PNL, MARGIN).tolist() == [False, True, False, True, False, False]


def test_coverage_hand() -> None:
    res = coverage(PNL, MARGIN)
    assert res.n_obs == 6
    assert int(res.n_exceptions) == 2
    assert float(res.coverage_ratio) == pytest.approx(4 / 6)
    assert float(res.average_shortfall) == pytest.approx(3.5)  # (2 + 5)/2
    assert float(res.max_shortfall) == 5.0


def test_coverage_vectorised_matches_columns_and_no_exception_case() -> None:
    pnl = np.column_stack([PNL, -PNL])
    margin = np.column_stack([MARGIN, MARGIN])
    res = coverage(pnl, margin)
    assert res.n_exceptions.tolist() == [2, 0]
    assert res.average_shortfall.tolist() == [3.5, 0.0]
    assert res.coverage_ratio.tolist() == [pytest.approx(4 / 6), 1.0]
    with pytest.raises(InputError, match="align them"):
        coverage(PNL, MARGIN[:-1])


def test_non_overlapping_subsamples() -> None:
    subs = non_overlapping_subsamples(np.arange(10), 3)
    assert [s.tolist() for s in subs] == [[0, 3, 6, 9], [1, 4, 7], [2, 5, 8]]
    with pytest.raises(InputError, match="at least h"):
        non_overlapping_subsamples(np.arange(2), 3)


def test_subsample_backtest_per_offset() -> None:
    # 500 daily exceptions of a 5-day margin; a cluster of 5 consecutive exceptions (one
    # bad week seen by 5 overlapping windows) falls once into each sub-sample.
    h = 5
    e = np.zeros(500, dtype=bool)
    e[100:105] = True
    e[[300, 310]] = True  # offsets 0 and 0 (300 % 5 = 0, 310 % 5 = 0)
    res = subsample_backtest(e, 0.01, h)
    assert res.h == h
    assert [s.n_obs for s in res.subsamples] == [100] * 5
    assert [s.n_exceptions for s in res.subsamples] == [3, 1, 1, 1, 1]
    for s in res.subsamples:
        ref = kupiec_pof(s.n_obs, s.n_exceptions, 0.01)
        assert s.kupiec.lr == ref.lr
        assert s.zone is traffic_light_zones(100, 0.01).zone(s.n_exceptions)
        assert s.christoffersen is not None
    # Binomial(100, 1%): P(X ≤ 2) = 0.9206, P(X ≤ 3) = 0.9816 → 3 exceptions is yellow.
    assert res.subsamples[0].zone is Zone.YELLOW
    p_min = min(s.kupiec.p_value for s in res.subsamples)
    assert res.bonferroni_p_value_pof == pytest.approx(min(1.0, h * p_min))
    assert "Bonferroni" in res.note


def test_subsample_validation() -> None:
    with pytest.raises(InputError, match="0/1"):
        subsample_backtest([0, 3, 1, 0], 0.01, 2)
    with pytest.raises(InputError, match="1-D"):
        subsample_backtest(np.zeros((4, 2)), 0.01, 2)
