"""The fused ``pm_grid`` scan kernel against its slow twin, the dense aggregated P&L.

The twin (:func:`crossmargin.models.pm_grid_units.dense_agg`) builds the (rows x scenarios)
matrix with a sparse product and the vectorised add-on formulas of
:mod:`crossmargin.models.pm_grid_addons`, then takes ``argmin``; the kernel must give the
same scan loss (to 1e-12 relative: its sums may take a row's entries in another order) and a
worst scenario at which the twin's P&L is the minimum (the same index wherever the minimum
is unique).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from pm_grid_fixtures import inst, market

from crossmargin.models.pm_grid import PMGridModel
from crossmargin.models.pm_grid_addons import dampen, offset_gains
from crossmargin.models.pm_grid_scan import fused_scan
from crossmargin.models.pm_grid_units import UnitEntries, dense_agg, scan_terms, unit_rows

SYMBOLS = (
    "BTC-PERPETUAL", "BTC-27MAR26", "BTC-27MAR26-70000-C", "BTC-27MAR26-60000-P",
    "BTC-27FEB26-80000-C", "BTC_USDC-PERPETUAL", "BTC_USDC-27MAR26-76000-C",
    "ETH-PERPETUAL", "ETH-27MAR26-2000-P", "ETH_USDC-PERPETUAL",
)  # fmt: skip


def _scalar(pnl, weights, group_of, allowance, offset, cap, cols, qty):  # type: ignore[no-untyped-def]
    """One row by the formulas, scenario by scenario, in plain Python (the scalar twin)."""
    best, at = math.inf, 0
    for s in range(pnl.shape[0]):
        total = 0.0
        for g in range(allowance.shape[0]):
            p = sum(q * pnl[s, j] for j, q in zip(cols, qty, strict=True) if group_of[j] == g)
            v = p * weights[s]
            if allowance[g, s] != 0.0:
                v = math.copysign(max(abs(v) - allowance[g, s], 0.0), v)
            if not (offset[g] >= 1.0 and math.isinf(cap[g])):
                v = min(v, 0.0) + min(offset[g] * max(v, 0.0), cap[g])
            total += v
        if total < best:
            best, at = total, s
    return max(-best, 0.0), at


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n_groups=st.integers(1, 3), plain=st.booleans())
def test_kernel_matches_the_scalar_formulas(seed: int, n_groups: int, plain: bool) -> None:
    rng = np.random.default_rng(seed)
    n_scen, n_cols, n_rows = int(rng.integers(1, 40)), int(rng.integers(1, 8)), 25
    pnl = rng.normal(0.0, 1_000.0, (n_scen, n_cols))
    weights = rng.uniform(0.1, 1.0, n_scen)
    group_of = rng.integers(0, n_groups, n_cols)
    allowance = np.where(
        rng.random((n_groups, n_scen)) < 0.3, rng.uniform(0, 800, (n_groups, n_scen)), 0.0
    )
    offset = np.ones(n_groups) if plain else rng.uniform(0.0, 1.0, n_groups)
    cap = np.full(n_groups, np.inf) if plain else rng.choice([np.inf, 500.0, 0.0], n_groups)
    dense = rng.integers(-5, 6, (n_rows, n_cols)) * (rng.random((n_rows, n_cols)) < 0.5)
    h = sp.csr_matrix(dense.astype(float))
    scan, worst = fused_scan(h, pnl, weights, group_of, allowance, offset, cap)
    for r in range(n_rows):
        cols = h.indices[h.indptr[r] : h.indptr[r + 1]]
        qty = h.data[h.indptr[r] : h.indptr[r + 1]]
        want, at = _scalar(pnl, weights, group_of, allowance, offset, cap, cols, qty)
        assert scan[r] == pytest.approx(want, rel=1e-12, abs=1e-9)
        assert worst[r] == at or scan[r] == pytest.approx(0.0, abs=1e-9)


def _book_rows(units: int, n_rows: int, rng: np.random.Generator) -> sp.csr_matrix:
    dense = rng.integers(-50, 51, (n_rows, units)) * (rng.random((n_rows, units)) < 0.35)
    dense[:units, :] = np.diag(rng.integers(1, 20, units))  # single-position rows too
    return sp.csr_matrix(dense.astype(float))


@pytest.mark.parametrize("mode", ["cross", "segregated"])
@pytest.mark.parametrize("buckets", [None, 25])
def test_unit_scan_equals_the_dense_twin_on_deribit_grids(mode: str, buckets: int | None) -> None:
    # Deribit's shipped grid: BTC's pnl_offset 0 and extended dampener, ETH's 0.6 with a cap;
    # the extended table; coin-settled and USDC columns in one unit (cross) or apart.
    extra = {} if buckets is None else {"buckets_count": buckets}
    model = PMGridModel(mode=mode, **extra)
    instruments = tuple(inst(s) for s in SYMBOLS)
    ctx = model.prepare(instruments, market())
    h = _book_rows(len(instruments), 400, np.random.default_rng(7))
    for unit in ctx.units:
        rows = unit_rows(unit, h)
        hu = sp.csr_matrix(h[:, unit.cols])
        held = np.flatnonzero(np.diff(hu.indptr))
        agg = dense_agg(unit, hu[held])
        assert agg.shape[1] > 30
        want = np.maximum(-agg.min(axis=1), 0.0)
        assert (want > 0).sum() > held.size // 2
        np.testing.assert_allclose(rows.scan[held], want, rtol=1e-12, atol=1e-9)
        at = rows.worst[held]
        np.testing.assert_allclose(agg[np.arange(held.size), at], agg.min(axis=1),
                                   rtol=1e-12, atol=1e-9)  # fmt: skip
        unique = (agg == agg.min(axis=1, keepdims=True)).sum(axis=1) == 1
        np.testing.assert_array_equal(at[unique], np.argmin(agg, axis=1)[unique])
        assert rows.agg.shape[0] == 0  # nothing kept off a correlation set
        kept = unit_rows(unit, h, keep_agg=True)
        np.testing.assert_array_equal(kept.agg, agg)


def test_dense_agg_is_the_addon_formulas() -> None:
    # The twin itself: weights, then the dampener on extended scenarios, then the offset.
    model = PMGridModel(mode="segregated")
    ctx = model.prepare((inst("BTC-PERPETUAL"), inst("BTC-27MAR26-70000-C")), market())
    (unit,) = ctx.units
    q = sp.csr_matrix(np.array([[3.0, -2.0]]))
    (group,) = unit.groups
    p = (unit.pnl @ np.array([3.0, -2.0])) * unit.weights
    ext = unit.extended
    p[ext] = dampen(p[ext], group.allowance[ext])
    want = offset_gains(p, group.terms.pnl_offset, group.terms.max_offsetable_pnl)
    np.testing.assert_allclose(dense_agg(unit, q)[0], want, rtol=1e-13)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), mode=st.sampled_from(["cross", "segregated"]))
def test_unit_entries_equal_the_sparse_products_bit_for_bit(seed: int, mode: str) -> None:
    # UnitEntries (no matrix object per unit) against the scipy path it replaced: the unit's
    # columns by fancy indexing, then sparse products. Empty rows, the last row empty and
    # stored zeros included; every figure equal with ==, not to a tolerance.
    rng = np.random.default_rng(seed)
    model = PMGridModel(mode=mode)
    ctx = model.prepare(tuple(inst(s) for s in SYMBOLS), market())
    n_rows = int(rng.integers(1, 30))
    dense = rng.normal(0, 40, (n_rows, len(SYMBOLS))) * (rng.random((n_rows, len(SYMBOLS))) < 0.4)
    dense[-1] = 0.0
    h = sp.csr_matrix(dense)
    if h.nnz:
        h.data[0] = 0.0  # a stored zero: a row holding it counts as holding the unit
    for unit in ctx.units:
        hu = sp.csr_matrix(h[:, unit.cols])
        entries = UnitEntries.of(unit, h)
        np.testing.assert_array_equal(entries.held, np.flatnonzero(np.diff(hu.indptr)))
        held = entries.held_matrix(unit.cols.size)
        want = hu[entries.held]
        np.testing.assert_array_equal(held.indptr, want.indptr)
        np.testing.assert_array_equal(held.indices, want.indices)
        np.testing.assert_array_equal(held.data, want.data)
        assert (entries.net == hu @ unit.delta).all()
        assert (entries.gross == abs(hu) @ np.abs(unit.delta)).all()
        assert (entries.roll == abs(hu) @ unit.roll).all()
        np.testing.assert_array_equal(entries.local, hu.indices)
        np.testing.assert_array_equal(entries.quantity, hu.data)
        rows = unit_rows(unit, h)
        scan, worst = fused_scan(want, unit.pnl, unit.weights,
                                 *scan_terms(unit))  # fmt: skip
        assert (rows.scan[entries.held] == scan).all()
        assert (rows.worst[entries.held] == worst).all()
        assert (np.delete(rows.scan, entries.held) == 0.0).all()
