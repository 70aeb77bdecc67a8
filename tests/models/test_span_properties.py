"""Span properties (hypothesis) and the vectorised risk-array path against a plain twin."""

from __future__ import annotations

from functools import cache

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from span_fixtures import instruments, scan_points, snapshot

from crossmargin.instruments import parse_symbol
from crossmargin.models.span import SpanContext, SpanModel
from crossmargin.models.span_core import SpanArrays, Spread, span_margins
from crossmargin.portfolio import Portfolio, Position

SYMBOLS = (
    "ESH26",
    "ESM26",
    "ESH26 C6800",
    "ESH26 P6500",
    "ESM26 C7200",
    "SPY   260320P00650000",
    "SPY",
    "BTCH26",
    "BTC-27MAR26-75000-C",
    "BTC-PERPETUAL",
    "BTC_USDC-27MAR26-60000-P",
    "ETH-27MAR26-1800-P",
    "ETH-PERPETUAL",
    "QQQ   260320C00620000",
)
N = len(SYMBOLS)
SETTINGS = settings(max_examples=30, deadline=None)
quantities = st.lists(st.integers(-5, 5), min_size=N, max_size=N)


@cache
def _prepared() -> tuple[SpanModel, SpanContext]:
    model = SpanModel()
    ctx = model.prepare(instruments(SYMBOLS), snapshot())
    assert isinstance(ctx, SpanContext)
    return model, ctx


@SETTINGS
@given(st.lists(quantities, min_size=1, max_size=6))
def test_margin_non_negative_and_ordered(rows: list[list[int]]) -> None:
    model, ctx = _prepared()
    out = model.margin_rows(ctx, sp.csr_matrix(np.array(rows, dtype=float)))
    assert out.maintenance is not None
    assert np.all(out.maintenance >= 0)
    assert np.all(out.total >= out.maintenance - 1e-9)
    assert np.all(out.components["scan_risk"] >= 0)


@SETTINGS
@given(quantities)
def test_netted_scan_risk_at_most_sum_of_standalone(q: list[int]) -> None:
    # Scan risk alone is subadditive: max_j Σ_i ≤ Σ_i max_j (spreads and SOM are not).
    _model, ctx = _prepared()
    qty = np.array(q, dtype=float)
    alone = sp.csr_matrix(np.diag(qty))
    netted = sp.csr_matrix(qty[None, :])
    arrays = ctx.arrays
    standalone = span_margins(arrays, alone).scan.sum(axis=0)  # per CC
    together = span_margins(arrays, netted).scan[0]
    assert np.all(together <= standalone + 1e-6 * (1 + standalone))


@SETTINGS
@given(st.lists(quantities, min_size=2, max_size=6), st.randoms(use_true_random=False))
def test_invariant_to_row_order(rows: list[list[int]], rnd: object) -> None:
    model, ctx = _prepared()
    h = np.array(rows, dtype=float)
    perm = np.arange(len(rows))
    rnd.shuffle(perm)  # type: ignore[attr-defined]
    a = model.margin_rows(ctx, sp.csr_matrix(h))
    b = model.margin_rows(ctx, sp.csr_matrix(h[perm]))
    np.testing.assert_allclose(b.total, a.total[perm], rtol=1e-12)
    for name, values in a.components.items():
        np.testing.assert_allclose(b.components[name], values[perm], rtol=1e-12, atol=1e-9)
    np.testing.assert_array_equal(b.worst_scenario, a.worst_scenario[perm])  # type: ignore[index]


@SETTINGS
@given(quantities, st.floats(0.5, 4.0))
def test_positive_homogeneity(q: list[int], k: float) -> None:
    # Scan risk, spreads (linear in deltas) and SOM (linear in short contracts) all scale.
    model, ctx = _prepared()
    qty = np.array(q, dtype=float)
    base = model.margin_rows(ctx, sp.csr_matrix(qty[None, :]))
    scaled = model.margin_rows(ctx, sp.csr_matrix(k * qty[None, :]))
    np.testing.assert_allclose(
        scaled.components["scan_risk"], k * base.components["scan_risk"], rtol=1e-9, atol=1e-6
    )
    np.testing.assert_allclose(scaled.total, k * base.total, rtol=1e-9, atol=1e-6)


@settings(max_examples=15, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(SYMBOLS), st.integers(-4, 4).filter(bool), st.integers(-3, 3)),
        min_size=1,
        max_size=6,
    )
)
def test_invariant_to_splitting_and_merging_positions(
    legs: list[tuple[str, int, int]],
) -> None:
    # One book holds each position whole, the other splits it into two rows (q = a + (q-a));
    # the portfolio nets identical instruments, so the account margins agree.
    snap = snapshot()
    model = SpanModel()
    merged, split = [], []
    for symbol, q, part in legs:
        inst = parse_symbol(symbol, reference_year=2026)
        merged.append(Position(account="x", instrument=inst, quantity=float(q)))
        split.append(Position(account="x", instrument=inst, quantity=float(part)))
        split.append(Position(account="x", instrument=inst, quantity=float(q - part)))
    a = model.compute(Portfolio.from_positions(merged), snap)
    b = model.compute(Portfolio.from_positions(split[::-1]), snap)
    assert b.accounts[0].netted == pytest.approx(a.accounts[0].netted, rel=1e-9, abs=1e-6)
    assert b.accounts[0].worst_scenario == a.accounts[0].worst_scenario


# --------------------------------------------------------------------------- twin


def _reference(arrays: SpanArrays, h: np.ndarray) -> np.ndarray:
    """Plain per-row, per-CC SPAN (METHODS §2.1/2.4/2.5/2.7/2.8): maintenance per row."""
    out = []
    m, k = len(arrays.cc_names), len(arrays.tier_cc)
    for q in h:
        scan, price, intra, credit, som = ([0.0] * m for _ in range(5))
        for c in range(m):
            losses = []
            for j in range(arrays.n_scenarios):
                total = 0.0
                for i in range(len(q)):
                    if arrays.cc_of[i] == c:
                        total += q[i] * arrays.loss[j, i]
                losses.append(total * arrays.weights[c, j])
            jw = int(np.argmax(losses))
            time_risk = sum(losses[j] for j in arrays.time_scenarios) / len(arrays.time_scenarios)
            scan[c] = max(losses[jw], 0.0)
            price[c] = (losses[jw] + losses[int(arrays.pair[jw])]) / 2 - time_risk
        tier = [0.0] * k
        for i in range(len(q)):
            tier[arrays.tier_of[i]] += q[i] * arrays.composite_delta[i]
        cc_delta = [sum(tier[t] for t in range(k) if arrays.tier_cc[t] == c) for c in range(m)]
        for s in arrays.intra_spreads:
            if tier[s.a] * tier[s.b] < 0:
                n = min(abs(tier[s.a]) / s.ratio_a, abs(tier[s.b]) / s.ratio_b)
                intra[arrays.tier_cc[s.a]] += n * s.rate
                tier[s.a] -= np.sign(tier[s.a]) * n * s.ratio_a
                tier[s.b] -= np.sign(tier[s.b]) * n * s.ratio_b
        wpr = [max(price[c], 0) / abs(cc_delta[c]) if cc_delta[c] else 0.0 for c in range(m)]
        rem = list(cc_delta)
        for s in arrays.inter_spreads:
            if rem[s.a] * rem[s.b] < 0:
                n = min(abs(rem[s.a]) / s.ratio_a, abs(rem[s.b]) / s.ratio_b)
                credit[s.a] += n * s.ratio_a * wpr[s.a] * s.rate
                credit[s.b] += n * s.ratio_b * wpr[s.b] * s.rate
                rem[s.a] -= np.sign(rem[s.a]) * n * s.ratio_a
                rem[s.b] -= np.sign(rem[s.b]) * n * s.ratio_b
        assert arrays.som_per_short is not None
        assert arrays.som_gross is not None
        for c in range(m):
            calls = sum(
                -q[i] * arrays.som_per_short[i]
                for i in range(len(q))
                if arrays.cc_of[i] == c and q[i] < 0 and arrays.is_call[i]  # type: ignore[index]
            )
            puts = sum(
                -q[i] * arrays.som_per_short[i]
                for i in range(len(q))
                if arrays.cc_of[i] == c and q[i] < 0 and arrays.is_put[i]  # type: ignore[index]
            )
            som[c] = calls + puts if arrays.som_gross[c] else max(calls, puts)
        out.append(sum(max(scan[c] + intra[c] - credit[c], som[c], 0.0) for c in range(m)))
    return np.array(out)


def test_vectorised_path_agrees_with_plain_twin() -> None:
    rng = np.random.default_rng(7)
    n, m = 9, 3
    cc_of = np.array([0, 0, 0, 0, 1, 1, 1, 2, 2])
    tier_cc = np.array([0, 0, 0, 1, 1, 2])
    tier_of = np.array([0, 1, 2, 2, 3, 4, 4, 5, 5])
    pts = scan_points()
    arrays = SpanArrays(
        cc_names=("A", "B", "C"),
        scenario_labels=tuple(p.label for p in pts),
        loss=rng.normal(0, 100, size=(16, n)),
        weights=np.tile([0.33 if p.extreme else 1.0 for p in pts], (m, 1)),
        pair=np.array([1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10, 13, 12, 14, 15]),
        time_scenarios=np.array([0, 1]),
        cc_of=cc_of,
        composite_delta=rng.normal(0, 1, size=n),
        tier_of=tier_of,
        tier_cc=tier_cc,
        intra_spreads=(
            Spread(a=0, b=1, rate=5.0),
            Spread(a=1, b=2, ratio_a=2.0, rate=7.0),
            Spread(a=0, b=2, rate=9.0),
            Spread(a=3, b=4, rate=3.0),
        ),
        inter_spreads=(
            Spread(a=0, b=1, ratio_a=1.0, ratio_b=2.0, rate=0.4),
            Spread(a=1, b=2, rate=0.6),
            Spread(a=0, b=2, rate=0.2),
        ),
        som_per_short=np.where(rng.random(n) < 0.6, 20.0, 0.0),
        is_call=rng.random(n) < 0.5,
        is_put=rng.random(n) < 0.5,
        som_gross=np.array([True, False, True]),
        im_ratio=np.array([1.1, 1.0, 1.2]),
    )
    h = rng.integers(-4, 5, size=(200, n)).astype(float)
    h[rng.random(h.shape) < 0.4] = 0.0
    fast = span_margins(arrays, sp.csr_matrix(h))
    np.testing.assert_allclose(fast.maintenance, _reference(arrays, h), rtol=1e-10, atol=1e-8)
    np.testing.assert_allclose(fast.initial, fast.requirement @ arrays.im_ratio)  # type: ignore[operator]
