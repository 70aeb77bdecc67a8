"""Per-group sums against ``math.fsum`` of each group (the correctly rounded sum)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from crossmargin.netting.sums import group_sum
from crossmargin.portfolio.codes import codes, combine


def _fsum_per_group(code: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    return np.array([math.fsum(values[code == g].tolist()) for g in range(n)])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_group_sum_is_fsum_bit_for_bit_with_rtol_zero(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 50
    code = rng.integers(0, n, 2000)
    values = rng.normal(size=2000) * 10.0 ** rng.integers(-8, 9, 2000)
    np.testing.assert_array_equal(group_sum(code, values, n, rtol=0.0),
                                  _fsum_per_group(code, values, n))  # fmt: skip


@pytest.mark.parametrize("seed", [3, 4])
def test_group_sum_agrees_with_fsum_to_its_tolerance_under_cancellation(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 40
    code = rng.integers(0, n, 3000)
    big = rng.normal(size=3000) * 1e12
    values = np.concatenate([big, -big, rng.normal(size=3000)])  # sums of order 1
    code = np.concatenate([code, code, code])
    got, want = group_sum(code, values, n), _fsum_per_group(code, values, n)
    np.testing.assert_allclose(got, want, rtol=1e-14, atol=0.0)
    naive = np.bincount(code, weights=values, minlength=n)
    assert np.max(np.abs(naive - want)) > 1e-6  # the plain sum alone would be off


def test_group_sum_of_one_or_two_terms_is_exact_and_empty_groups_are_zero() -> None:
    code = np.array([0, 2, 2, 3, 3, 3])
    values = np.array([0.1, 0.1, 0.2, 1e16, 1.0, -1e16])
    got = group_sum(code, values, 5)
    assert got.tolist() == [0.1, 0.0, 0.1 + 0.2, 1.0, 0.0]


def test_codes_number_values_first_seen() -> None:
    code, distinct = codes(["b", "a", "b", "c"])
    assert code.tolist() == [0, 1, 0, 2]
    assert distinct.tolist() == ["b", "a", "c"]
    code, distinct = codes([("x", 1), ("y", 2), ("x", 1)])
    assert code.tolist() == [0, 1, 0]
    assert distinct.tolist() == [("x", 1), ("y", 2)]
    pair = combine((np.array([1, 0, 1, 1]), 2), (np.array([0, 0, 0, 1]), 2))
    assert pair.tolist() == [0, 1, 0, 2]


@pytest.mark.parametrize("seed", range(8))
def test_row_group_sums_are_the_sparse_product_bit_for_bit(seed: int) -> None:
    # q @ E, E the instruments x groups matrix with x[i] in column group[i]: what the liquidity
    # horizon and the basis charge computed before; duplicates, unsorted rows, empty rows,
    # zeros of both signs
    import scipy.sparse as sp

    from crossmargin.netting.sums import row_group_sums

    rng = np.random.default_rng(seed)
    n_rows, n_cols, n_groups, nnz = 30, 50, 6, 150
    rows = np.sort(rng.integers(n_rows, size=nnz))
    cols = rng.integers(n_cols, size=nnz)
    data = rng.normal(scale=1e3, size=nnz) * (rng.random(nnz) > 0.05)
    data[rng.random(nnz) < 0.03] = -0.0
    indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=n_rows))])
    q = sp.csr_matrix((data, cols, indptr), shape=(n_rows, n_cols))
    group = rng.integers(n_groups, size=n_cols)
    x = rng.normal(scale=1e5, size=n_cols) * (rng.random(n_cols) > 0.1)
    e = sp.csr_matrix((x, (np.arange(n_cols), group)), shape=(n_cols, n_groups))
    want = np.asarray((q @ e).todense())
    got = row_group_sums(q, group, x, n_groups)
    assert got.shape == want.shape
    assert np.array_equal(got.view(np.int64), want.view(np.int64))


@pytest.mark.parametrize("seed", range(6))
def test_group_totals_kernel_equals_the_numpy_passes_bit_for_bit(seed: int) -> None:
    # The compiled pass against the numpy passes it replaced: each group's terms added in
    # input order from 0 (bincount), and the same groups sent to fsum by the same bound.
    from crossmargin.netting.sum_kernels import group_totals
    from crossmargin.netting.sums import UNIT_ROUNDOFF

    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 30))
    code = rng.integers(0, n, int(rng.integers(0, 500)))
    values = rng.normal(size=code.size) * 10.0 ** rng.integers(-8, 9, code.size)
    if seed % 2:
        values = np.abs(values)  # margins: no cancellation, no group redone
    rtol = 1e-14
    sums, redo = group_totals(code, values, n, rtol, UNIT_ROUNDOFF)
    plain = np.bincount(code, weights=values, minlength=n)
    count = np.bincount(code, minlength=n)
    bound = (count - 1) * UNIT_ROUNDOFF * np.bincount(code, weights=np.abs(values), minlength=n)
    assert (sums == plain).all()
    assert (redo == ((count > 2) & ~(bound <= rtol * np.abs(plain)))).all()


def test_group_sum_refuses_codes_outside_its_groups() -> None:
    with pytest.raises(ValueError, match="outside"):
        group_sum(np.array([0, 3]), np.array([1.0, 2.0]), 3)
    with pytest.raises(ValueError, match="outside"):
        group_sum(np.array([0, -1]), np.array([1.0, 2.0]), 3)
    with pytest.raises(ValueError, match="2 codes for 1 values"):
        group_sum(np.array([0, 1]), np.array([1.0]), 3)


@pytest.mark.parametrize("seed", range(5))
def test_row_dots_are_the_sparse_products_bit_for_bit(seed: int) -> None:
    import scipy.sparse as sp

    from crossmargin.netting.sums import row_dots

    rng = np.random.default_rng(seed)
    dense = rng.normal(size=(30, 12)) * 10.0 ** rng.integers(-6, 7, (30, 12))
    dense *= rng.random((30, 12)) < 0.3
    dense[[0, -1]] = 0.0  # empty rows, the last included
    q = sp.csr_matrix(dense)
    x = rng.normal(size=12) * 10.0 ** rng.integers(-6, 7, 12)
    assert (row_dots(q, x) == q @ x).all()
    assert (row_dots(q, x, absolute=True) == abs(q) @ x).all()


@pytest.mark.parametrize("seed", range(5))
def test_factor_set_groups_are_numpys_unique_rows(seed: int) -> None:
    # es groups a request's rows by the underlyings they hold with a dictionary where
    # numpy's unique over rows grouped them: the same groups, in the same order.
    from crossmargin.models import var

    rng = np.random.default_rng(seed)
    held = rng.random((int(rng.integers(1, 40)), int(rng.integers(1, 20)))) < 0.3
    packed = np.packbits(held, axis=1)
    keys, want = np.unique(packed, axis=0, return_inverse=True)
    n, got = var._set_groups(packed)
    assert n == keys.shape[0]
    assert (got == np.asarray(want).reshape(-1)).all()
