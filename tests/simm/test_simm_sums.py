"""Risk-factor sums equal pandas' groupby sum bit for bit, on both paths (simm/sums.py)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from crossmargin.simm import sums


def _pandas(codes: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    out = np.zeros(n)
    got = pd.Series(values).groupby(codes).sum()
    out[got.index.to_numpy()] = got.to_numpy()
    return out


@pytest.mark.parametrize("compiled", [False, True])
@pytest.mark.parametrize("seed", range(4))
def test_equal_to_the_pandas_groupby_sum_bit_for_bit(
    seed: int, compiled: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sums, "COMPILED_FROM", 0 if compiled else 10**12)
    rng = np.random.default_rng(seed)
    n, lines = 300, 20_000
    codes = rng.integers(n, size=lines)
    # large terms that cancel, small ones that a plain sum would lose, signed zeros
    values = rng.normal(scale=1e5, size=lines) * 10.0 ** rng.integers(-6, 9, size=lines)
    values[rng.random(lines) < 0.01] = -0.0
    got = sums.factor_sums(codes, values, n)
    want = _pandas(codes, values, n)
    assert np.array_equal(got.view(np.int64), want.view(np.int64))


@pytest.mark.parametrize("compiled", [False, True])
def test_compensation_recovers_what_a_plain_sum_loses(
    compiled: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 1e16 + 1 + 1 - 1e16: a plain left-to-right sum gives 0 (each 1 is lost), Kahan gives 2
    monkeypatch.setattr(sums, "COMPILED_FROM", 0 if compiled else 10**12)
    values = np.array([1e16, 1.0, 1.0, -1e16, 5.0])
    codes = np.array([0, 0, 0, 0, 2])
    got = sums.factor_sums(codes, values, 3)
    assert got.tolist() == [2.0, 0.0, 5.0]
    assert math.fsum(values[:4]) == 2.0
    assert np.bincount(codes, weights=values)[0] == 0.0


@pytest.mark.parametrize("compiled", [False, True])
def test_an_infinite_term_gives_an_infinite_sum_not_nan(
    compiled: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sums, "COMPILED_FROM", 0 if compiled else 10**12)
    got = sums.factor_sums(np.array([0, 0, 1]), np.array([1.0, np.inf, 3.0]), 2)
    assert got.tolist() == [np.inf, 3.0]
