"""The compiled account-aggregation kernel equals SciPy's sparse product (its twin)."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from crossmargin.pricing.kernels import aggregate_rows


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
