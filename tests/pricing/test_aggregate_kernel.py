"""The compiled account-aggregation kernel equals SciPy's sparse product (its twin)."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from crossmargin.pricing.kernels import aggregate_rows, rows_at_into


def test_aggregate_rows_equals_scipy() -> None:
    rng = np.random.default_rng(3)
    n_rows, n_inst, n_scen = 500, 300, 130  # 130 scenarios: blocks of 64, 64 and 2
    dense = rng.normal(size=(n_rows, n_inst)) * (rng.random((n_rows, n_inst)) < 0.05)
    dense[7] = 0.0  # an empty row
    q = sp.csr_matrix(dense)
    pnl = rng.normal(size=(n_inst, n_scen))
    out = aggregate_rows(q.indptr, q.indices, q.data, pnl)
    np.testing.assert_allclose(out, q @ pnl, rtol=1e-12, atol=1e-12)
    assert np.all(out[7] == 0.0)
    for block in (1, 7, 200):
        np.testing.assert_allclose(
            aggregate_rows(q.indptr, q.indices, q.data, pnl, block=block), q @ pnl,
            rtol=1e-12, atol=1e-12,
        )  # fmt: skip


def _rows_at_slowly(
    q: sp.csr_matrix, source: np.ndarray, scenarios: np.ndarray, columns: np.ndarray
) -> np.ndarray:
    """The scalar twin of ``rows_at_into``: per row and scenario, ``0 + q1*p1 + q2*p2 + ...``
    over the row's stored entries in order, in plain Python floats."""
    out = np.empty((q.shape[0], scenarios.size))
    for r in range(q.shape[0]):
        for k, s in enumerate(scenarios.tolist()):
            acc = 0.0
            for p in range(q.indptr[r], q.indptr[r + 1]):
                acc += float(q.data[p]) * float(source[s, columns[q.indices[p]]])
            out[r, k] = acc
    return out


def _rows_at(q: sp.csr_matrix, source: np.ndarray, scenarios: np.ndarray,
             columns: np.ndarray) -> np.ndarray:  # fmt: skip
    out = np.full((q.shape[0], scenarios.size), np.nan)
    rows_at_into(q.indptr.astype(np.int64), q.indices.astype(np.int64), q.data,
                 np.ascontiguousarray(source.T), scenarios, columns, out)  # fmt: skip
    return out


def test_rows_at_into_sums_each_row_in_entry_order() -> None:
    rng = np.random.default_rng(11)
    source = rng.normal(size=(400, 60)) * 10.0 ** rng.integers(-3, 6, size=(400, 60))
    columns = np.sort(rng.choice(60, 25, replace=False)).astype(np.int64)
    dense = rng.normal(size=(9, 25)) * (rng.random((9, 25)) < 0.5)
    dense[4] = 0.0  # an empty row
    q = sp.csr_matrix(dense)
    picks = {
        "scattered": np.sort(rng.choice(400, 150, replace=False)).astype(np.int64),
        "a run": np.arange(230, 380, dtype=np.int64),  # the kernel's streaming branch
        "a run, then a gap": np.r_[np.arange(10, 60), np.arange(61, 90)].astype(np.int64),
        "one": np.array([399], dtype=np.int64),
        "none": np.zeros(0, dtype=np.int64),
        "unsorted": rng.permutation(400)[:40].astype(np.int64),
    }
    for what, scenarios in picks.items():
        out = _rows_at(q, source, scenarios, columns)
        want = _rows_at_slowly(q, source, scenarios, columns)
        assert np.array_equal(out, want), what  # bit for bit
        assert np.all(out[4] == 0.0)
        block = source[np.ix_(scenarios, columns)]
        np.testing.assert_allclose(out, (q @ block.T), rtol=1e-9, atol=1e-6)
