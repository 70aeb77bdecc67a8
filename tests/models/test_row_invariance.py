"""A row's margin does not depend on which other rows share the call, bit for bit.

The netting-set rule (``tests/test_netting_set_isolation.py``) holds each account's figures
to those of the account alone, bit for bit. Underneath it, every model margins a holdings row
from that row alone: margining any subset of a book's tier rows gives each row exactly the
figures it gets in the whole book's call. The service's row reuse
(:class:`crossmargin.models.cache.CachedModel`) relies on it.

It was not so for ``es``/``hvar`` on small books: their P&L came from a BLAS product, whose
summation order depends on the shape (a single row takes another kernel), so a row could
differ in its last bit between calls. ``row_pnl`` sums each row in column order, as the
sparse and fused paths do; its reference twin is SciPy's sparse product.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import scipy.sparse as sp

from crossmargin import api
from crossmargin.models import MarginModel, RowMargins, fused_tail, get_model
from crossmargin.netting.core import tier_layout
from crossmargin.portfolio import Portfolio
from crossmargin.pricing.revalue import aggregate_pnl, row_pnl
from market_inputs import history, sample_market


def _models() -> dict[str, MarginModel]:
    h = history()
    return {
        "rules": get_model("rules"),
        "span": get_model("span"),
        "pm_grid": get_model("pm_grid"),
        "pm_grid correlated": get_model(
            "pm_grid", correlation_set=True, correlation_contingency=0.5
        ),  # units scanned jointly: the plain (dense) path
        "es": get_model("es", history=h),
        "hvar": get_model("hvar", history=h),
        "es fhs": get_model("es", history=h, method="fhs"),
        "es floor": get_model("es", history=h, apc="floor"),
        "es stress-weight": get_model("es", history=h, apc="stress-weight"),
    }


NAMES = (
    "rules",
    "span",
    "pm_grid",
    "pm_grid correlated",
    "es",
    "hvar",
    "es fhs",
    "es floor",
    "es stress-weight",
)


def _assert_rows_equal(part: RowMargins, whole: RowMargins, rows: np.ndarray) -> None:
    np.testing.assert_array_equal(part.total, whole.total[rows])
    if whole.maintenance is not None:
        assert part.maintenance is not None
        np.testing.assert_array_equal(part.maintenance, whole.maintenance[rows])
    assert part.components.keys() == whole.components.keys()
    for name, values in whole.components.items():
        np.testing.assert_array_equal(part.components[name], values[rows], err_msg=name)
    if whole.worst_scenario is not None:
        assert part.worst_scenario is not None
        np.testing.assert_array_equal(part.worst_scenario, whole.worst_scenario[rows])


@pytest.mark.parametrize("name", NAMES)
def test_any_subset_of_rows_gets_the_figures_of_the_whole_call(name: str) -> None:
    model = _models()[name]
    book = api.sample_book()
    if name == "pm_grid correlated":  # a correlation set joins grids of one size: crypto
        book = Portfolio.from_positions(
            p for p in book.positions if p.instrument.underlying in ("BTC", "ETH")
        )
    layout = tier_layout(book, nets_collateral=model.nets_collateral)
    context = model.prepare(layout.instruments, sample_market())
    h = sp.csr_matrix(layout.holdings)
    whole = model.margin_rows(context, h)
    rng = np.random.default_rng(7)
    subsets = [np.array([r]) for r in range(0, h.shape[0], 7)]
    subsets += [np.sort(rng.choice(h.shape[0], size=int(rng.integers(2, 12)), replace=False))
                for _ in range(12)]  # fmt: skip
    subsets.append(np.arange(h.shape[0])[::-1].copy())  # every row, reversed
    for rows in subsets:
        _assert_rows_equal(model.margin_rows(context, h[rows]), whole, rows)


@pytest.mark.parametrize("name", ["es", "hvar", "es floor"])
def test_rows_alone_equal_the_fused_kernel_bit_for_bit(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Large books take the fused kernel; a row alone takes the small path. Forcing the
    whole book through the fused kernel gives every row the small path's figures."""
    model = _models()[name]
    book = api.sample_book()
    layout = tier_layout(book, nets_collateral=model.nets_collateral)
    context = model.prepare(layout.instruments, sample_market())
    h = sp.csr_matrix(layout.holdings)
    alone = [model.margin_rows(context, h[[r]]) for r in range(h.shape[0])]
    monkeypatch.setattr(fused_tail, "KERNEL_MIN_WORK", 1)
    fused = model.margin_rows(context, h)
    for r, row in enumerate(alone):
        _assert_rows_equal(row, fused, np.array([r]))


def test_row_pnl_equals_the_sparse_product_and_ignores_its_neighbours() -> None:
    rng = np.random.default_rng(3)
    q = rng.normal(size=(40, 25)) * (rng.random((40, 25)) < 0.3)
    q[5] = 0.0  # an empty row
    source = rng.normal(size=(500, 60)) * 1e4  # scenarios x instruments
    scen, cols = np.arange(100, 400), rng.choice(60, size=25, replace=False)
    block = source[np.ix_(scen, cols)]
    want = np.asarray((sp.csr_matrix(q) @ block.T).T)  # SciPy: row sums in column order
    got = row_pnl(source, scen, cols, q)
    np.testing.assert_array_equal(got, want)
    # read from a copy of the source kept instrument by instrument: the same sums
    by_instrument = np.ascontiguousarray(source.T)
    np.testing.assert_array_equal(row_pnl(source, scen, cols, q, by_instrument=by_instrument),
                                  want)  # fmt: skip
    gaps = scen[::3]  # not a run of scenarios: the kernel's gathering branch
    np.testing.assert_array_equal(
        row_pnl(source, gaps, cols, q, by_instrument=by_instrument),
        np.asarray((sp.csr_matrix(q) @ source[np.ix_(gaps, cols)].T).T),
    )
    np.testing.assert_array_equal(row_pnl(source, scen, cols, sp.csr_matrix(q)), want)
    np.testing.assert_array_equal(aggregate_pnl(block, sp.csr_matrix(q)), want)
    for rows in ([3], [0, 39], list(range(0, 40, 3))):
        np.testing.assert_array_equal(row_pnl(source, scen, cols, q[rows]), got[:, rows])
    # unsorted CSR columns are summed in column order all the same
    unsorted = sp.csr_matrix(q)
    ptr = unsorted.indptr.tolist()
    order = np.concatenate([np.arange(a, b)[::-1] for a, b in itertools.pairwise(ptr)])
    shuffled = sp.csr_matrix((unsorted.data[order], unsorted.indices[order], unsorted.indptr),
                             shape=q.shape)  # fmt: skip
    assert not shuffled.has_sorted_indices
    np.testing.assert_array_equal(row_pnl(source, scen, cols, shuffled), want)


def test_row_pnl_takes_the_scenarios_and_columns_asked() -> None:
    source = np.arange(12.0).reshape(4, 3)  # 4 scenarios x 3 instruments
    q = sp.csr_matrix(([2.0, -1.0, 0.5], [0, 1, 1], [0, 2, 3]), shape=(2, 2))
    got = row_pnl(source, np.array([3, 1]), np.array([2, 0]), q)
    # row 0: 2·source[s, 2] − 1·source[s, 0]; row 1: 0.5·source[s, 0]  (scenarios x rows)
    np.testing.assert_array_equal(got, [[2 * 11 - 9, 0.5 * 9], [2 * 5 - 3, 0.5 * 3]])
