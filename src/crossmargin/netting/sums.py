"""Sums per group of integer-coded values, as accurate as ``math.fsum`` where it matters.

``group_sum(codes, values, n)`` adds ``values`` into ``n`` groups in one pass
(:func:`numpy.bincount`, input order). The rounding error of such a sum of ``k`` terms is at
most ``(k − 1)·u·Σ|x|`` (``u = 2⁻⁵³``; Higham, *Accuracy and Stability of Numerical
Algorithms*, 2nd ed., §4.2), so a group whose bound is within ``rtol·|S|`` is kept and every
other group is summed again with :func:`math.fsum` (the correctly rounded sum). Groups of one
or two terms are exact either way (``0 + a`` and ``a + b`` are rounded once, as ``fsum``
rounds). ``rtol = 0`` gives ``fsum``'s result for every group, bit for bit.

``row_group_sums(q, group, x, n)`` is the product ``q @ E`` of a CSR holdings matrix with the
instruments x groups matrix ``E`` holding ``x[i]`` in column ``group[i]``, without building
either sparse product: each row's entries are added in storage order from 0, as scipy's
sparse product adds them, so the result is the same bit for bit.

``ordered_row_sums(a, w)`` adds each row's columns (times ``w``) from the first to the last,
one at a time from 0. Columns a row does not hold are zeros, and ``s + 0 = s`` exactly, so a
row's sum is the same bit for bit whatever zero columns other rows add around its own: the
netting-set rule for sums across a row's columns (a BLAS product or ``numpy.sum`` may group
the terms by their positions, and a fused multiply-add rounds a product it adds once less).
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
#: Unit roundoff of float64.
UNIT_ROUNDOFF = 2.0**-53


def group_sum(codes: IntArray, values: FloatArray, n: int, *, rtol: float = 1e-14) -> FloatArray:
    """``values`` summed per code in ``0..n-1`` (module docstring; ValueError for a code
    outside that range)."""
    from crossmargin.netting.sum_kernels import group_totals

    codes = np.ascontiguousarray(codes, dtype=np.int64)
    values = np.ascontiguousarray(values, dtype=np.float64)
    if codes.shape != values.shape:
        raise ValueError(f"group_sum: {codes.size} codes for {values.size} values")
    out, wanted = group_totals(codes, values, int(n), float(rtol), UNIT_ROUNDOFF)
    return exact_where(codes, values, out, wanted)


def exact_where(codes: IntArray, values: FloatArray, out: FloatArray,
                wanted: npt.NDArray[np.bool_]) -> FloatArray:  # fmt: skip
    """``out`` (``values`` summed per code, :func:`group_sum`'s one pass) with each group
    flagged in ``wanted`` summed again with :func:`math.fsum` (in place)."""
    if wanted.any():
        rows = np.flatnonzero(wanted[codes])
        rows = rows[np.argsort(codes[rows], kind="stable")]
        bounds = np.flatnonzero(np.diff(codes[rows])) + 1
        for chunk in np.split(rows, bounds):
            out[codes[chunk[0]]] = math.fsum(values[chunk].tolist())
    return out


def as_csr(holdings: sp.spmatrix) -> sp.csr_matrix:
    """``holdings`` as a float64 CSR matrix to read: the matrix itself when it is one (a new
    matrix object over the same arrays costs more than most reads of a few rows), else a
    converted copy. Callers must not change it."""
    if isinstance(holdings, sp.csr_matrix) and holdings.dtype == np.float64:
        return holdings
    return sp.csr_matrix(holdings, dtype=np.float64)


def row_of_data(q: sp.csr_matrix) -> IntArray:
    """The row of each stored element of the CSR matrix ``q`` (storage order)."""
    indptr = q.indptr  # each row's count of entries (np.diff's own checks cost more here)
    return np.repeat(np.arange(q.shape[0], dtype=np.int64), indptr[1:] - indptr[:-1])


def row_dots(q: sp.csr_matrix, x: FloatArray, *, absolute: bool = False) -> FloatArray:
    """``q @ x`` (``|q| @ x`` with ``absolute``) of a CSR matrix: each row's entries added in
    storage order from 0, as scipy's sparse product adds them, so bit for bit the same,
    without a matrix made for ``|q|`` or the product's own checks."""
    data = np.abs(q.data) if absolute else q.data
    return entry_sums(row_of_data(q), data * np.asarray(x, dtype=np.float64)[q.indices],
                      q.shape[0])  # fmt: skip


def entry_sums(row: IntArray, values: FloatArray, n: int) -> FloatArray:
    """``values`` summed per ``row`` in ``0..n-1``, in their order from 0 (a CSR product's
    row sums, given each entry's row and term)."""
    return np.asarray(np.bincount(row, weights=values, minlength=n), dtype=np.float64)


def row_group_sums(q: sp.csr_matrix, group: IntArray, x: FloatArray, n: int) -> FloatArray:
    """Rows x ``n`` dense: ``Σᵢ q[r, i]·x[i]`` over the columns ``i`` with ``group[i] = g``
    (module docstring)."""
    n_rows = q.shape[0]
    key = row_of_data(q) * n + np.asarray(group, dtype=np.int64)[q.indices]
    sums = np.bincount(key, weights=q.data * x[q.indices], minlength=n_rows * n)
    return np.asarray(sums, dtype=np.float64).reshape(n_rows, n)


def ordered_row_sums(a: FloatArray, weights: FloatArray | None = None) -> FloatArray:
    """``Σ_c a[r, c]·w[c]`` per row ``r``, added in column order from 0 (module docstring);
    ``weights`` ``None`` for 1."""
    a = np.asarray(a, dtype=np.float64)
    out = np.zeros(a.shape[0])
    for c in range(a.shape[1]):
        out += a[:, c] if weights is None else a[:, c] * weights[c]
    return out


__all__ = [
    "as_csr",
    "entry_sums",
    "exact_where",
    "group_sum",
    "ordered_row_sums",
    "row_dots",
    "row_group_sums",
    "row_of_data",
]
