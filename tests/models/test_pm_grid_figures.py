"""The compiled per-unit figures of ``pm_grid`` (:func:`unit_figures`) against their NumPy
twin (:func:`unit_figures_plain`, built from the add-ons' own functions): bit for bit, on
drawn rows and parameters (zeros, ties, signs, tiers, an infinite threshold, a unit currency
other than USD) and on the units of every shipped venue's grids through the model."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import scipy.sparse as sp
from pm_grid_fixtures import book, market

from crossmargin.models.pm_grid import PMGridModel
from crossmargin.models.pm_grid_figures import (
    FIGURES,
    FigureTerms,
    unit_figures,
    unit_figures_plain,
)
from crossmargin.models.pm_grid_units import correlate, joint_members, unit_rows


def _bits(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.float64).view(np.int64)


def _same(grid, terms, scan, worst, net, gross, roll, corr) -> None:  # type: ignore[no-untyped-def]
    # the unit's slice of a book's (figures, units, rows) buffer, as unit_margins passes it
    out = np.full((len(FIGURES), 3, scan.size), 7.5)
    fast_worst = np.full((3, scan.size), 99, dtype=np.int64)
    unit_figures(terms, scan, worst, net, gross, roll, corr, out[:, 1, :], fast_worst[1])
    slow, slow_worst = unit_figures_plain(grid, terms, scan, worst, net, gross, roll, corr)
    assert tuple(slow) == FIGURES
    for i, key in enumerate(FIGURES):
        assert slow[key].shape == scan.shape, key
        np.testing.assert_array_equal(_bits(out[i, 1]), _bits(slow[key]), err_msg=key)
    np.testing.assert_array_equal(fast_worst[1], slow_worst)
    assert (out[:, [0, 2]] == 7.5).all()  # its slice only
    assert (fast_worst[[0, 2]] == 99).all()


def _drawn(rng: np.random.Generator, n: int, spot: float) -> tuple[np.ndarray, ...]:
    """Rows with zeros, exact ties and both signs of delta."""
    scan = np.where(rng.random(n) < 0.3, 0.0, rng.exponential(5e4, n))
    worst = rng.integers(0, 40, n).astype(np.int64)
    net = rng.normal(0.0, 20.0, n) * (rng.random(n) > 0.2)
    gross = np.abs(net) + np.where(rng.random(n) < 0.3, 0.0, rng.exponential(10.0, n))
    roll = np.where(rng.random(n) < 0.4, 0.0, rng.exponential(2e3, n))
    corr = np.where(rng.random(n) < 0.6, 0.0, rng.exponential(1e3, n))
    # ties: the floor equal to the risk, and a net delta exactly at the threshold
    if n > 4:
        net[0] = 2_000_000.0 / spot
        scan[1], roll[1], net[1], gross[1] = 0.0, 0.0, 0.0, 0.0
    return scan, worst, net, gross, roll, corr


@pytest.mark.parametrize("venue", ["deribit", "okx", "paradex"])
@pytest.mark.parametrize("seed", range(4))
def test_drawn_rows_and_parameters_bit_for_bit(venue: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    base = PMGridModel(venue=venue).grid("BTC")
    spot = float(rng.uniform(20_000.0, 90_000.0))
    for k in range(6):
        grid = dataclasses.replace(
            base,
            max_delta_shock=float(rng.choice([0.0, 0.01, 0.05])),
            delta_shock_threshold=float(rng.choice([math.inf, 0.0, 2_000_000.0, 1e5])),
            im_increment_rate=float(rng.choice([0.0, 1e-4, 0.003])),
            min_delta_net_rate=float(rng.choice([0.0, 0.02])),
            min_delta_hedged_rate=float(rng.choice([0.0, 0.01])),
            min_charge_rate=float(rng.choice([0.0, 0.002, 0.02])),
            min_charge_tiers=base.min_charge_tiers
            if k % 2
            else ((1e4, 1.0), (7e4, 2.0), (1.7e5, 4.0), (math.inf, 12.0)),
            im_factor=float(rng.choice([1.0, 1.3])),
            mm_factor=float(rng.choice([1.0, 0.75])),
        )
        fx = float(rng.choice([1.0, spot]))  # a coin-settled unit in segregated mode
        terms = FigureTerms.of(grid, spot, fx, int(rng.integers(0, 500)))
        for n in (0, 1, 7, 200):
            _same(grid, terms, *_drawn(rng, n, spot))


def test_a_nan_goes_through_as_the_twin_lets_it() -> None:
    grid = PMGridModel(venue="okx").grid("BTC")
    terms = FigureTerms.of(grid, 60_000.0, 1.0, 0)
    nan = np.array([np.nan, 1.0, np.nan])
    ones = np.ones(3)
    _same(grid, terms, nan, np.zeros(3, dtype=np.int64), ones, ones * 2, ones, ones)
    _same(grid, terms, ones, np.zeros(3, dtype=np.int64), nan, ones * 2, ones, ones)


@pytest.mark.parametrize("venue", ["deribit", "okx", "paradex"])
@pytest.mark.parametrize("mode", ["cross", "segregated"])
def test_the_models_units_bit_for_bit(venue: str, mode: str) -> None:
    """Every unit of a mixed book's context, its rows' figures through the model
    (``unit_margins``) equal to the twin's on the same unit rows."""
    model = PMGridModel(venue=venue, mode=mode)
    positions = book(
        ("BTC-PERPETUAL", 120_000),
        ("BTC-27MAR26-60000-C", -7),
        ("BTC-27MAR26-50000-P", 4),
        ("ETH-27MAR26-3000-C", 11),
        ("ETH-PERPETUAL", -30_000),
    )
    context = model.prepare(positions.instruments, market())
    rng = np.random.default_rng(7)
    h = sp.csr_matrix(rng.integers(-5, 6, (25, len(positions.instruments))).astype(float))
    h.sum_duplicates()
    per = model.unit_margins(context, h)
    joint = set(joint_members(context.units)) if mode == "cross" else set()
    rows = [unit_rows(u, h, keep_agg=k in joint) for k, u in enumerate(context.units)]
    contingency = correlate(context.units, rows) if mode == "cross" else []
    assert len(context.units) >= 2
    for k, (unit, r) in enumerate(zip(context.units, rows, strict=True)):
        corr = contingency[k] if contingency else np.zeros_like(r.scan)
        slow, worst = unit_figures_plain(
            unit.grid, unit.figure_terms, r.scan, r.worst, r.net, r.gross, r.roll, corr
        )
        for key in FIGURES:
            np.testing.assert_array_equal(_bits(per.stacked[key][k]), _bits(slow[key]), key)
            if not key.endswith("_uplift"):
                np.testing.assert_array_equal(_bits(getattr(per, key)[k]), _bits(slow[key]), key)
        np.testing.assert_array_equal(per.worst_scenario[k], worst)
        np.testing.assert_array_equal(per.worst_stacked[k], worst)


@pytest.mark.parametrize("venue", ["deribit", "okx", "paradex"])
@pytest.mark.parametrize("rows", [1, 3, 40])
def test_the_books_totals_are_the_sums_of_the_units_tuples(venue: str, rows: int) -> None:
    """margin_rows reduces each stacked block; the sum it replaced was ``np.sum`` of the
    units' tuple (with its own order for one row): the same bits, every row count."""
    model = PMGridModel(venue=venue)
    positions = book(
        ("BTC-PERPETUAL", 120_000),
        ("BTC-27MAR26-60000-C", -7),
        ("ETH-27MAR26-3000-C", 11),
        ("ETH-PERPETUAL", -30_000),
    )
    context = model.prepare(positions.instruments, market())
    rng = np.random.default_rng(rows)
    h = sp.csr_matrix(rng.normal(0.0, 4.0, (rows, len(positions.instruments))))
    per = model.unit_margins(context, h)
    got = model.margin_rows(context, h)
    np.testing.assert_array_equal(_bits(got.total), _bits(np.sum(per.initial, axis=0)))
    np.testing.assert_array_equal(_bits(got.maintenance), _bits(np.sum(per.maintenance, axis=0)))
    for key in FIGURES:
        np.testing.assert_array_equal(
            _bits(np.add.reduce(per.stacked[key], axis=0)),
            _bits(np.sum(tuple(per.stacked[key]), axis=0)),
            err_msg=key,
        )


def test_buffers_of_the_wrong_shape_are_refused() -> None:
    grid = PMGridModel(venue="okx").grid("BTC")
    terms = FigureTerms.of(grid, 60_000.0, 1.0, 0)
    ones = np.ones(3)
    worst = np.zeros(3, dtype=np.int64)
    with pytest.raises(ValueError, match="buffers of shape"):
        unit_figures(terms, ones, worst, ones, ones, ones, ones, np.empty((len(FIGURES), 2)),
                     np.empty(3, dtype=np.int64))  # fmt: skip
