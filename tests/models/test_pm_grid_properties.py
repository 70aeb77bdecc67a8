"""``pm_grid`` properties (hypothesis) and a plain scalar twin of the vectorised rows.

DESIGN.md "Tests that mean something": margin >= 0, invariance to row order and to
splitting/merging positions, positive homogeneity; each vectorised hot path has an
obviously-correct twin. The formula is METHODS §3.1-3.3 (see crossmargin.models.pm_grid).
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from pm_grid_fixtures import book, inst, market

from crossmargin.models.pm_grid import PMGridContext, PMGridModel

SYMBOLS = (
    "BTC-PERPETUAL",
    "BTC-27MAR26",
    "BTC-27MAR26-80000-C",
    "BTC-27MAR26-60000-P",
    "BTC_USDC-PERPETUAL",
    "BTC_USDC-8FEB26-70000-C",
    "ETH-PERPETUAL",
    "ETH-27MAR26-1800-P",
    "ESH26",
    "SPY   260320P00580000",
)
INSTRUMENTS = tuple(inst(s) for s in SYMBOLS)
MODELS = {m: PMGridModel(mode=m) for m in ("cross", "segregated")}
CONTEXTS = {m: model.prepare(INSTRUMENTS, market()) for m, model in MODELS.items()}
# The Deribit extended dampener is a fixed USD allowance and the delta shock starts above a
# fixed threshold, so Deribit's margin is not positively homogeneous; without them it is.
HOMOGENEOUS = {
    m: PMGridModel(mode=m, settlement_currencies={}, max_delta_shock=0.0, im_increment_rate=0.0)
    for m in ("cross", "segregated")
}
H_CONTEXTS = {m: model.prepare(INSTRUMENTS, market()) for m, model in HOMOGENEOUS.items()}
N = len(SYMBOLS)

quantities = st.lists(
    st.one_of(st.just(0.0), st.floats(-50, 50, allow_nan=False).map(lambda x: round(x, 2))),
    min_size=N,
    max_size=N,
)
books = st.lists(quantities, min_size=1, max_size=6)
modes = st.sampled_from(("cross", "segregated"))


def margins(mode: str, rows: list[list[float]]):  # type: ignore[no-untyped-def]
    return MODELS[mode].margin_rows(CONTEXTS[mode], sp.csr_matrix(np.array(rows, dtype=float)))


def twin(ctx: PMGridContext, q: list[float]) -> float:
    """IM of one row with plain loops (pm_grid module docstring), no sparse algebra."""
    total = 0.0
    for unit in ctx.units:
        g = unit.grid
        qu = [q[int(j)] for j in unit.cols]
        agg = [0.0] * unit.pnl.shape[0]
        for group in unit.groups:
            for s in range(unit.pnl.shape[0]):
                p = float(unit.weights[s]) * sum(qu[k] * float(unit.pnl[s, k]) for k in group.cols)
                if unit.extended[s]:  # dampener: shrink toward 0 by the allowance
                    d = float(group.allowance[s])
                    p = (1 if p > 0 else -1) * max(abs(p) - d, 0.0)
                gain = min(group.terms.pnl_offset * max(p, 0.0), group.terms.max_offsetable_pnl)
                agg[s] += min(p, 0.0) + gain
        worst = max(0.0, -min(agg))
        roll = sum(abs(qi) * float(unit.roll[k]) for k, qi in enumerate(qu))
        net = sum(qi * float(unit.delta[k]) for k, qi in enumerate(qu))
        gross = sum(abs(qi * float(unit.delta[k])) for k, qi in enumerate(qu))
        excess = max(abs(net) - g.delta_shock_threshold / unit.spot, 0.0)
        risk = worst + roll + g.max_delta_shock * excess * unit.spot
        floor = (
            g.min_delta_net_rate * abs(net) + g.min_delta_hedged_rate * (gross - abs(net)) / 2
        ) * unit.spot
        raw = g.min_charge_rate * gross * unit.spot
        charge, lo = 0.0, 0.0
        for hi, mult in g.min_charge_tiers or ((float("inf"), 1.0),):
            charge += mult * min(max(raw - lo, 0.0), hi - lo)
            lo = hi
        base = max(risk, floor, charge)
        total += g.im_factor * base + g.im_increment_rate * excess**2 * unit.spot
    return total


@settings(max_examples=40, deadline=None)
@given(rows=books, mode=modes)
def test_vectorised_rows_match_the_scalar_twin(rows: list[list[float]], mode: str) -> None:
    got = margins(mode, rows)
    for i, q in enumerate(rows):
        assert got.total[i] == pytest.approx(twin(CONTEXTS[mode], q), rel=1e-9, abs=1e-6)


@settings(max_examples=15, deadline=None)
@given(rows=books, mode=modes)
def test_twin_on_books_large_enough_for_the_dampener_and_delta_shock(
    rows: list[list[float]], mode: str
) -> None:
    # × 40,000: extended losses around Deribit's dampener allowances (25,000-372,000 USD per
    # scenario) and deltas around its 20m USD threshold, so both add-ons bite partially.
    big = [[40_000 * x for x in q] for q in rows]
    got = margins(mode, big)
    for i, q in enumerate(big):
        assert got.total[i] == pytest.approx(twin(CONTEXTS[mode], q), rel=1e-9, abs=1e-6)


@settings(max_examples=40, deadline=None)
@given(rows=books, mode=modes)
def test_margin_non_negative_and_components_add_up(rows: list[list[float]], mode: str) -> None:
    got = margins(mode, rows)
    assert np.all(got.total >= 0)
    assert got.maintenance is not None
    assert np.all(got.maintenance <= got.total + 1e-9)
    parts = sum(got.components.values())
    np.testing.assert_allclose(parts, got.total, rtol=1e-12, atol=1e-9)
    for arr in got.components.values():
        assert np.all(arr >= 0)


@settings(max_examples=30, deadline=None)
@given(rows=books, mode=modes, seed=st.integers(0, 2**32 - 1))
def test_row_order_does_not_matter(rows: list[list[float]], mode: str, seed: int) -> None:
    perm = np.random.default_rng(seed).permutation(len(rows))
    a = margins(mode, rows)
    b = margins(mode, [rows[i] for i in perm])
    np.testing.assert_allclose(b.total, a.total[perm], rtol=1e-12)


@settings(max_examples=30, deadline=None)
@given(q=quantities, mode=modes, frac=st.floats(0.1, 0.9))
def test_splitting_a_position_does_not_matter(q: list[float], mode: str, frac: float) -> None:
    # The same row with every quantity split into two entries of the same column.
    cols = np.arange(N)
    data = np.concatenate([np.array(q) * frac, np.array(q) * (1 - frac)])
    split = sp.csr_matrix((data, (np.zeros(2 * N, int), np.tile(cols, 2))), shape=(1, N))
    whole = margins(mode, [q])
    got = MODELS[mode].margin_rows(CONTEXTS[mode], split)
    assert got.total[0] == pytest.approx(whole.total[0], rel=1e-9, abs=1e-9)


def test_split_positions_in_a_book_are_merged() -> None:
    # Two position rows of one instrument margin like one row of their sum.
    a = book(("BTC-PERPETUAL", 3_000), ("BTC-PERPETUAL", 2_000), ("BTC-27MAR26-80000-C", -2))
    b = book(("BTC-PERPETUAL", 5_000), ("BTC-27MAR26-80000-C", -2))
    model = MODELS["cross"]
    assert model.compute(a, market()).total == pytest.approx(model.compute(b, market()).total)


@settings(max_examples=30, deadline=None)
@given(q=quantities, mode=modes, lam=st.floats(0.1, 10.0))
def test_positive_homogeneity(q: list[float], mode: str, lam: float) -> None:
    # Scan, roll and floor are each degree-1 homogeneous, so the IM is too (with or
    # without a binding floor) once the fixed-size dampener and delta shock are off.
    model, ctx = HOMOGENEOUS[mode], H_CONTEXTS[mode]
    base = model.margin_rows(ctx, sp.csr_matrix(np.array([q], dtype=float)))
    scaled = model.margin_rows(ctx, sp.csr_matrix(lam * np.array([q], dtype=float)))
    assert scaled.total[0] == pytest.approx(lam * base.total[0], rel=1e-9, abs=1e-9)
