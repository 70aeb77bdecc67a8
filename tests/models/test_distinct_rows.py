"""Each distinct holdings row margined once: the grouping against a dictionary of the rows'
exact contents, and the margins against the model's own, row by row."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from distinct_rows_twin import distinct_rows_twin
from hypothesis import given, settings
from hypothesis import strategies as st
from pm_grid_fixtures import inst, market

import crossmargin.models.distinct_rows as distinct_module
from crossmargin.models.distinct_rows import distinct_rows, margin_distinct_rows
from crossmargin.models.pm_grid import PMGridModel


def _content(h: sp.csr_matrix, r: int) -> tuple[tuple[int, ...], tuple[float, ...]]:
    lo, hi = h.indptr[r], h.indptr[r + 1]
    return tuple(h.indices[lo:hi].tolist()), tuple(h.data[lo:hi].tolist())


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n_rows=st.integers(0, 60), n_cols=st.integers(1, 6))
def test_rows_group_exactly_by_their_contents(seed: int, n_rows: int, n_cols: int) -> None:
    rng = np.random.default_rng(seed)
    base = rng.integers(-2, 3, (max(n_rows // 3, 1), n_cols)).astype(float)
    dense = base[rng.integers(0, base.shape[0], n_rows)]  # many repeats, some empty rows
    dense[rng.random(dense.shape) < 0.05] = -0.5
    h = sp.csr_matrix(dense.reshape(n_rows, n_cols))
    h.sort_indices()
    first, inverse = distinct_rows(h)
    seen: dict[tuple[tuple[int, ...], tuple[float, ...]], int] = {}
    want_first, want_inverse = [], []
    for r in range(n_rows):
        key = _content(h, r)
        if key not in seen:
            seen[key] = len(want_first)
            want_first.append(r)
        want_inverse.append(seen[key])
    np.testing.assert_array_equal(first, want_first)
    np.testing.assert_array_equal(inverse, want_inverse)


def test_duplicate_entries_are_summed_before_comparing() -> None:
    # row 0 stores column 1 twice (2 + 3); row 1 stores 5 once: the same holdings
    h = sp.csr_matrix((np.array([2.0, 3.0, 5.0]), np.array([1, 1, 1]), np.array([0, 2, 3])),
                      shape=(2, 3))  # fmt: skip
    first, inverse = distinct_rows(h)
    np.testing.assert_array_equal(first, [0])
    np.testing.assert_array_equal(inverse, [0, 0])


@pytest.mark.parametrize("mode", ["cross", "segregated"])
def test_margins_equal_the_models_row_by_row(mode: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(distinct_module, "DISTINCT_MIN_ROWS", 0)  # search even this small book
    model = PMGridModel(mode=mode)
    symbols = ("BTC-PERPETUAL", "BTC-27MAR26-70000-C", "ETH-PERPETUAL", "ESH26", "SPY")
    ctx = model.prepare(tuple(inst(s) for s in symbols), market())
    rng = np.random.default_rng(3)
    base = rng.integers(-20, 21, (30, len(symbols))) * (rng.random((30, len(symbols))) < 0.5)
    h = sp.csr_matrix(base[rng.integers(0, 30, 200)].astype(float))
    detail = rng.random(200) < 0.3
    got = margin_distinct_rows(model, ctx, h, detail=detail)
    want = model.margin_rows(ctx, h, detail=detail)
    np.testing.assert_array_equal(got.total, want.total)
    np.testing.assert_array_equal(got.maintenance, want.maintenance)
    np.testing.assert_array_equal(got.worst_scenario, want.worst_scenario)
    assert got.components.keys() == want.components.keys()
    for name, values in want.components.items():
        np.testing.assert_array_equal(got.components[name], values)
    for name, values in want.info.items():
        np.testing.assert_array_equal(got.info[name], values)
    assert len(distinct_rows(h)[0]) <= 30


@settings(max_examples=80, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n_rows=st.integers(0, 300),
    n_cols=st.integers(1, 8),
    canonical=st.booleans(),
)
def test_the_search_equals_the_array_at_a_time_twin(
    seed: int, n_rows: int, n_cols: int, canonical: bool
) -> None:
    rng = np.random.default_rng(seed)
    base = rng.integers(-2, 3, (max(n_rows // 4, 1), n_cols)) * rng.choice([1.0, 0.1], n_cols)
    dense = base[rng.integers(0, base.shape[0], n_rows)].reshape(n_rows, n_cols)
    h = sp.csr_matrix(dense)
    if not canonical:  # each entry split in two, columns unsorted: summed before comparing
        coo = h.tocoo()
        half = coo.data / 2.0
        rows = np.r_[coo.row, coo.row]
        order = np.argsort(rows, kind="stable")[::-1]  # rows descending: reversed in rows
        order = order[np.argsort(rows[order], kind="stable")]
        cols, vals = np.r_[coo.col, coo.col][order], np.r_[half, coo.data - half][order]
        indptr = np.r_[0, np.cumsum(np.bincount(rows, minlength=n_rows))]
        h = sp.csr_matrix((vals, cols, indptr), shape=h.shape)
        assert h.nnz == 0 or not h.has_canonical_format
    first, inverse = distinct_rows(h)
    want_first, want_inverse = distinct_rows_twin(h)
    np.testing.assert_array_equal(first, want_first)
    np.testing.assert_array_equal(inverse, want_inverse)


def test_a_key_collision_keeps_the_row_on_its_own(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every row proposed the same key: only rows equal to the first row join it."""
    h = sp.csr_matrix(np.array([[1.0, 0], [0, 2.0], [1.0, 0], [0, 2.0], [0, -0.0]]))
    monkeypatch.setattr(
        distinct_module, "_row_keys", lambda indptr, *_: np.zeros(indptr.size - 1, np.uint64)
    )
    first, inverse = distinct_rows(h)
    np.testing.assert_array_equal(first, [0, 1, 3, 4])
    np.testing.assert_array_equal(inverse, [0, 1, 0, 2, 3])
