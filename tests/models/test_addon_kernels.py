"""The compiled add-on pass against its slow twins, the NumPy forms of each charge.

``AddOnTerms.row_figures`` must give the figures of ``liquidity``, ``days_to_liquidate``
and ``concentration``, and ``BasisTerms.row_charges`` those of ``basis`` and ``funding``,
bit for bit: on random books, empty rows, buckets without capacity (an infinity of days,
read as the largest float as ``numpy.nan_to_num`` reads it), buckets without options
(infinite vega capacity), no exposure and no capacity (0/0: 0 days), rows whose MPOR is 0.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from crossmargin.errors import InputError
from crossmargin.models.basis import BasisTerms
from crossmargin.models.var_addons import AddOnTerms


def _book(rng: np.random.Generator, n_rows: int, n_inst: int) -> sp.csr_matrix:
    dense = rng.integers(-30, 31, (n_rows, n_inst)) * (rng.random((n_rows, n_inst)) < 0.35)
    dense = dense * 10.0 ** rng.integers(-2, 4, (n_rows, n_inst))
    dense[3] = 0.0  # an empty row
    return sp.csr_matrix(dense.astype(np.float64))


def _addons(rng: np.random.Generator, n_inst: int, n_buckets: int) -> AddOnTerms:
    delta_capacity = rng.uniform(1e3, 1e7, n_buckets)
    vega_capacity = rng.uniform(1e2, 1e6, n_buckets)
    if n_buckets >= 3:
        delta_capacity[0] = 0.0  # no capacity: exposure gives infinite days, none gives 0/0
        vega_capacity[1] = np.inf  # a bucket without options
        vega_capacity[2] = 0.0
    vega = rng.normal(0.0, 50.0, n_inst) * (rng.random(n_inst) < 0.5)
    return AddOnTerms(
        buckets=tuple((f"U{b}", "venue") for b in range(n_buckets)),
        bucket_index=rng.integers(0, max(n_buckets, 1), n_inst).astype(np.int64),
        dollar_delta=rng.normal(0.0, 1e4, n_inst),
        vega=vega,
        half_spread=rng.uniform(1e-4, 1e-2, n_inst),
        vol_half_spread=rng.uniform(1e-3, 2e-2, n_inst),
        delta_capacity=delta_capacity,
        vega_capacity=vega_capacity,
    )


@pytest.mark.parametrize("seed", range(6))
def test_row_figures_equal_the_numpy_charges(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n_inst = 30
    book = _book(rng, 40, n_inst)
    terms = _addons(rng, n_inst, 5)
    core = rng.uniform(0.0, 1e6, 40)
    horizon = rng.choice([0.0, 1.0, 2.0, 3.5], 40)  # 0: the charge is off
    liq_d, liq_v, days, conc = terms.row_figures(book, core, horizon)
    want_d, want_v = terms.liquidity(book)
    want_days = terms.days_to_liquidate(book)
    np.testing.assert_array_equal(liq_d, want_d)
    np.testing.assert_array_equal(liq_v, want_v)
    np.testing.assert_array_equal(days, want_days)
    np.testing.assert_array_equal(conc, terms.concentration(book, core, horizon))
    assert days[3] == 0.0
    assert liq_d[3] == 0.0
    assert conc[3] == 0.0
    assert np.any(days == np.finfo(np.float64).max)  # a bucket without capacity binds
    assert np.any(conc > 0.0)  # the charge binds somewhere: the test is not all zeros


def test_row_figures_without_buckets_are_zero_days() -> None:
    rng = np.random.default_rng(1)
    terms = _addons(rng, 6, 0)
    book = _book(rng, 5, 6)
    core, horizon = np.ones(5), np.full(5, 2.0)
    liq_d, _, days, conc = terms.row_figures(book, core, horizon)
    np.testing.assert_array_equal(days, terms.days_to_liquidate(book))
    np.testing.assert_array_equal(days, np.zeros(5))
    np.testing.assert_array_equal(conc, np.zeros(5))
    np.testing.assert_array_equal(liq_d, terms.liquidity(book)[0])


def _basis(rng: np.random.Generator, n_inst: int, n_und: int) -> BasisTerms:
    perp = rng.random(n_inst) < 0.3
    return BasisTerms(
        underlyings=tuple(f"U{u}" for u in range(n_und)),
        basis_pnl_up=rng.normal(0.0, 300.0, n_inst) * ~perp,
        basis_pnl_down=rng.normal(0.0, 300.0, n_inst) * ~perp,
        underlying_index=rng.integers(0, n_und, n_inst).astype(np.int64),
        perpetual_notional=rng.uniform(1e3, 1e5, n_inst) * perp,
        funding_shock=rng.uniform(0.0, 0.5, n_und),
        reference_days=2.0,
    )


@pytest.mark.parametrize("seed", range(6))
def test_row_charges_equal_the_numpy_charges(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    n_inst = 25
    book = _book(rng, 30, n_inst)
    terms = _basis(rng, n_inst, 4)
    horizon = rng.choice([0.0, 1.0, 2.0, 5.0], 30)
    basis, funding = terms.row_charges(book, horizon)
    np.testing.assert_array_equal(basis, terms.basis(book, horizon))
    np.testing.assert_array_equal(funding, terms.funding(book, horizon))
    assert np.any(basis > 0.0)
    assert np.any(funding > 0.0)
    assert basis[3] == 0.0
    assert funding[3] == 0.0


def test_row_charges_check_their_inputs_as_the_numpy_forms_do() -> None:
    rng = np.random.default_rng(5)
    terms = _basis(rng, 8, 2)
    book = _book(rng, 4, 8)
    with pytest.raises(InputError, match="horizon_days"):
        terms.row_charges(book, np.array([1.0, -1.0, 1.0, 1.0]))
    bad = book.copy()
    bad.data[0] = np.nan
    with pytest.raises(InputError, match="finite"):
        terms.row_charges(bad, np.ones(4))
    with pytest.raises(InputError, match="instrument columns"):
        terms.row_charges(sp.csr_matrix(np.ones((2, 3))), np.ones(2))


def test_row_figures_refuse_holdings_of_other_instruments() -> None:
    # the compiled pass reads the terms without bounds checks: a wrong width must not reach it
    terms = _addons(np.random.default_rng(2), 6, 3)
    with pytest.raises(InputError, match="instrument columns"):
        terms.row_figures(sp.csr_matrix(np.ones((2, 7))), np.ones(2), np.full(2, 2.0))
