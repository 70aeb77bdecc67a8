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
    """IM of one row with plain loops (module docstring formula), no sparse algebra."""
    total = 0.0
    for unit in ctx.units:
        qu = [q[int(j)] for j in unit.cols]
        worst = 0.0
        for s in range(unit.pnl.shape[0]):
            pnl = sum(qi * float(unit.pnl[s, k]) for k, qi in enumerate(qu))
            worst = min(worst, float(unit.weights[s]) * pnl)
        roll = sum(abs(qi) * float(unit.roll[k]) for k, qi in enumerate(qu))
        net = sum(qi * float(unit.delta[k]) for k, qi in enumerate(qu))
        gross = sum(abs(qi * float(unit.delta[k])) for k, qi in enumerate(qu))
        g = unit.grid
        floor = (
            g.min_delta_net_rate * abs(net) + g.min_delta_hedged_rate * (gross - abs(net)) / 2
        ) * unit.spot
        total += max(-worst + roll, floor)
    return total


@settings(max_examples=40, deadline=None)
@given(rows=books, mode=modes)
def test_vectorised_rows_match_the_scalar_twin(rows: list[list[float]], mode: str) -> None:
    got = margins(mode, rows)
    for i, q in enumerate(rows):
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
    # without a binding floor).
    base = margins(mode, [q])
    scaled = margins(mode, [[lam * x for x in q]])
    assert scaled.total[0] == pytest.approx(lam * base.total[0], rel=1e-9, abs=1e-9)
