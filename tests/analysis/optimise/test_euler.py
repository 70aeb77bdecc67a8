"""Euler contributions per model: they sum to the margin, the totals are the model's, and
each marginal margin is the model's own central finite difference."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opt_fixtures import REAL_SYMBOLS, SYMBOLS, history_or_skip, inst, market, real_market
from scipy.integrate import quad_vec

from crossmargin.analysis.optimise.euler import euler_rows, numerical_rows, row_of_data
from crossmargin.instruments import Instrument
from crossmargin.market.snapshot import MarketSnapshot
from crossmargin.models import MarginModel, get_model
from crossmargin.models.base import RowMargins
from crossmargin.models.cache import CachedModel, ContextCache

REL = 1e-9

QTY = st.integers(-40, 40).filter(lambda q: q != 0)
ROW = st.lists(st.tuples(st.integers(0, 30), QTY), min_size=1, max_size=6)
ROWS = st.lists(ROW, min_size=1, max_size=4)


def _holdings(rows: list[list[tuple[int, int]]], n: int, scale: dict[int, float]) -> sp.csr_matrix:
    dense = np.zeros((len(rows), n))
    for r, legs in enumerate(rows):
        for i, q in legs:
            dense[r, i % n] += q * scale.get(i % n, 1.0)
    return sp.csr_matrix(dense)


def _scale(instruments: tuple[Instrument, ...]) -> dict[int, float]:
    """Sizes of one typical position per instrument (Deribit inverse contracts are 10 USD)."""
    out = {}
    for j, i in enumerate(instruments):
        if i.spec.style == "deribit" and i.kind in ("future", "perpetual"):
            out[j] = 2_000.0
        elif i.kind == "spot":
            out[j] = 50.0
        elif i.symbol.startswith("BTC_USDC"):
            out[j] = 100.0
    return out


def check(
    model: MarginModel,
    context: Any,
    h: sp.csr_matrix,
    fd_rel: float = 1e-5,
    *,
    homogeneous: bool = True,
) -> None:
    """Sum, totals and the finite-difference marginal of a sample of elements; the residual
    before allocation is 0 (``homogeneous``) or ``M(q) − dM(t·q)/dt`` at t = 1 (central
    difference along the ray, by Euler's identity for the part that is not degree 1)."""
    rows = euler_rows(model, context, h)
    margins = model.margin_rows(context, rows.holdings).total
    assert np.allclose(rows.total, margins, rtol=REL, atol=1e-9)
    assert np.allclose(rows.row_sums(), margins, rtol=REL, atol=1e-9)
    if homogeneous:
        assert np.all(np.abs(rows.residual) <= 1e-9 * np.maximum(1.0, margins))
    else:
        eps = 1e-6
        ray = (
            model.margin_rows(context, rows.holdings * (1 + eps)).total
            - model.margin_rows(context, rows.holdings * (1 - eps)).total
        ) / (2 * eps)
        assert np.allclose(rows.residual, margins - ray, rtol=1e-5, atol=1e-5 * margins.max())
    r = row_of_data(rows.holdings)
    rng = np.random.default_rng(0)
    for k in rng.choice(rows.holdings.nnz, min(12, rows.holdings.nnz), replace=False):
        base = rows.holdings[r[k]].toarray()
        step = 1e-5 * abs(base[0, rows.holdings.indices[k]])
        up, down = base.copy(), base.copy()
        up[0, rows.holdings.indices[k]] += step
        down[0, rows.holdings.indices[k]] -= step
        fd = (
            model.margin_rows(context, sp.csr_matrix(up)).total[0]
            - model.margin_rows(context, sp.csr_matrix(down)).total[0]
        ) / (2 * step)
        scale = max(1.0, abs(fd), margins[r[k]] / max(abs(base[0, rows.holdings.indices[k]]), 1))
        assert abs(fd - rows.marginal[k]) <= fd_rel * scale, (k, fd, rows.marginal[k])


@pytest.mark.parametrize("name", ["rules", "span", "pm_grid"])
@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=ROWS)
def test_scanning_models_on_random_books(name: str, rows: list[list[tuple[int, int]]]) -> None:
    instruments = tuple(inst(s) for s in SYMBOLS)
    model = get_model(name)
    context = model.prepare(instruments, market())
    # pm_grid's default venue (Deribit) has add-ons that are not homogeneous where they bind
    # (the extended dampener on a short option's far move): the residual is then checked
    # against the central difference along the ray, which is 0 where they do not
    h = _holdings(rows, len(instruments), _scale(instruments))
    check(model, context, h, homogeneous=name != "pm_grid")


def test_span_spreads_and_short_option_minimum_bind() -> None:
    """A BTC calendar (intra spread), BTC vs ETH (inter credit) and a lone short far put (SOM)."""
    symbols = ("BTC-27MAR26", "BTC-26JUN26", "ETH-PERPETUAL", "BTC-27MAR26-30000-P", "ESH26")
    instruments = tuple(inst(s) for s in symbols)
    model = get_model("span")
    context = model.prepare(instruments, market())
    h = sp.csr_matrix(
        np.array(
            [
                [20_000.0, -20_000.0, 0.0, 0.0, 0.0],  # calendar: intra spread
                [20_000.0, 0.0, -700_000.0, 0.0, 0.0],  # BTC vs ETH: inter credit
                [0.0, 0.0, 0.0, -5.0, 0.0],  # far short put: SOM binds
                [15_000.0, -5_000.0, -300_000.0, -2.0, 1.0],
            ]
        )
    )
    margins = model.margin_rows(context, h)
    assert margins.components["intra_spread"][0] > 0
    assert margins.components["inter_credit"][1] < 0
    assert margins.components["short_option_minimum"][2] > 0
    check(model, context, h)


def test_pm_grid_delta_floor_binds() -> None:
    """Paradex's venue (the one with a minimum-delta floor; Deribit has none) with the floor's
    rates raised (30% of net, 20% of hedged delta) so that it binds."""
    instruments = tuple(inst(s) for s in ("BTC-27MAR26-70000-C", "BTC-PERPETUAL", "BTC-27MAR26"))
    model = get_model("pm_grid", venue="paradex", min_delta_net_rate=0.3, min_delta_hedged_rate=0.2)
    context = model.prepare(instruments, market())
    h = sp.csr_matrix(
        np.array([[10.0, 0.0, -35_000.0], [0.0, 50_000.0, -30_000.0], [-3.0, 1_000.0, 0.0]])
    )
    margins = model.margin_rows(context, h)
    assert np.all(margins.components["delta_floor"][:2] > 0)
    check(model, context, h)


class _Square(MarginModel):
    """A toy model that is not homogeneous: ``Σ_j w_j·q_j²`` (for the numerical fallback)."""

    name = "square"
    description = "toy"

    def prepare(self, instruments: tuple[Instrument, ...], market: MarketSnapshot) -> Any:
        return np.arange(1.0, len(instruments) + 1.0)

    def margin_rows(
        self, context: Any, holdings: sp.csr_matrix, *, detail: Any = None
    ) -> RowMargins:
        h = sp.csr_matrix(holdings)
        return RowMargins(total=np.asarray(h.multiply(h) @ context, dtype=float).reshape(-1))


def test_numerical_fallback_allocates_the_residual() -> None:
    model = _Square()
    h = sp.csr_matrix(np.array([[1.0, -2.0, 3.0], [0.0, 4.0, 0.0]]))
    rows = numerical_rows(model, np.array([1.0, 2.0, 3.0]), h)
    assert rows.total == pytest.approx([1 + 8 + 27, 32])
    # gradient 2·w·q; Euler sum is 2·M, so the residual is −M, allocated pro rata |c|
    assert rows.marginal == pytest.approx([2, -8, 18, 16], rel=1e-6)
    assert rows.residual == pytest.approx([-36.0, -32.0], rel=1e-6)
    assert rows.row_sums() == pytest.approx(rows.total, rel=1e-12)
    assert rows.contribution == pytest.approx([1, 8, 27, 32], rel=1e-6)


def test_cached_model_maps_columns_back() -> None:
    instruments = tuple(inst(s) for s in SYMBOLS[:6])
    model = get_model("span")
    cache = ContextCache()
    wrapped = CachedModel(model, cache, model_key="span", market_key="m")
    wrapped.prepare(instruments, market())  # cache holds all six columns
    sub = instruments[3:] + instruments[:2]  # a reordered subset
    ctx = wrapped.prepare(sub, market())
    h = sp.csr_matrix(np.array([[-2.0, 0.0, 1.0, 5_000.0, -3_000.0]]))
    got = euler_rows(wrapped, ctx, h)
    plain = euler_rows(model, model.prepare(sub, market()), h)
    assert got.contribution == pytest.approx(plain.contribution, rel=1e-12)
    assert got.marginal == pytest.approx(plain.marginal, rel=1e-12)


# ------------------------------------------------------------------ real history (es, hvar)


def _real_model(name: str, **kw: Any) -> MarginModel:
    history = history_or_skip()
    if name == "conservative":
        return get_model(
            "conservative", first=get_model("span"), second=get_model("es", history=history)
        )
    return get_model(name, history=history, **kw)


@pytest.mark.realdata
@pytest.mark.parametrize(
    ("name", "kw"),
    [
        ("es", {}),
        ("hvar", {}),
        ("es", {"apc": "buffer"}),
        ("es", {"apc": "floor"}),
        ("es", {"apc": "stress-weight"}),
        ("es", {"method": "fhs"}),
        ("conservative", {}),
    ],
)
@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=ROWS)
def test_historical_models_on_random_books(
    name: str, kw: dict[str, Any], rows: list[list[tuple[int, int]]]
) -> None:
    model = _real_model(name, **kw)
    instruments = tuple(inst(s) for s in REAL_SYMBOLS)
    context = model.prepare(instruments, real_market())
    check(model, context, _holdings(rows, len(instruments), _scale(instruments)), fd_rel=1e-4)


@pytest.mark.realdata
def test_concentration_is_allocated_by_aumann_shapley() -> None:
    """5,000 short BTC calls bind the concentration add-on; the closed-form Aumann–Shapley
    allocation equals QUADPACK's integral of the gradient along the ray, split at the kink
    t = h/D where the days to liquidate reach the MPOR."""
    model = _real_model("es")
    instruments = tuple(inst(s) for s in ("BTC-27MAR26-70000-C", "BTC-27MAR26", "ETH-PERPETUAL"))
    context = model.prepare(instruments, real_market())
    h = sp.csr_matrix(np.array([[-5_000.0, 300_000.0, 2_000_000.0]]))
    margins = model.margin_rows(context, h)
    assert margins.components["concentration"][0] > 0
    rows = euler_rows(model, context, h)
    assert rows.row_sums()[0] == pytest.approx(margins.total[0], rel=REL)
    days = margins.info["days_to_liquidate"][0]
    kink = margins.facts[0]["mpor_calendar_days"]["mean"] / days
    assert 0.0 < kink < 1.0
    integral, _ = quad_vec(
        lambda t: euler_rows(model, context, h * t).marginal, 0.0, 1.0, points=[kink], epsrel=1e-9
    )
    assert rows.contribution == pytest.approx(integral * h.data, rel=1e-6)
    # the Euler sum alone overshoots: the piece is not homogeneous
    assert abs(float((h.data * rows.marginal).sum()) - margins.total[0]) > 1.0


def test_pm_grid_deribit_addons_sum_and_residual_is_the_non_homogeneous_part() -> None:
    """Deribit's venue with its add-ons active (40M USD of perpetuals: above the 20M USD
    delta-shock threshold, so delta shock and the size-based IM increment bind): the
    contributions still sum to the IM, each marginal is the model's central difference, and
    the residual before allocation is ``M(q) − dM(t·q)/dt|₁`` (a central difference along
    the ray), which is 0 for rows without add-ons and not for the large row."""
    symbols = ("BTC-PERPETUAL", "BTC-27MAR26-70000-C", "BTC-27MAR26-65000-P", "BTC-26JUN26")
    instruments = tuple(inst(s) for s in symbols)
    model = get_model("pm_grid", venue="deribit")
    context = model.prepare(instruments, market())
    h = sp.csr_matrix(
        np.array(
            [
                [4_000_000.0, 0.0, 0.0, -500_000.0],
                [0.0, -40.0, -60.0, 0.0],
                [20_000.0, -2.0, 0.0, 0.0],
            ]
        )
    )
    parts = model.margin_rows(context, h).components
    assert parts["delta_shock"][0] > 0
    assert parts["im_increment"][0] > 0
    assert parts["delta_shock"][1:].max() == 0.0
    check(model, context, h, homogeneous=False)
    rows = euler_rows(model, context, h)
    assert "pro rata" in rows.method
    assert abs(rows.residual[0]) > 1e-3 * rows.total[0]


def test_pm_grid_correlation_set_rows_by_central_differences() -> None:
    """BTC and ETH in one X:PM correlation set (contingency d = 0.5): rows holding both are
    attributed by the numerical rule, and still sum to the model's IM."""
    instruments = tuple(inst(s) for s in ("BTC-PERPETUAL", "ETH-PERPETUAL", "BTC-27MAR26"))
    model = get_model("pm_grid", venue="deribit", correlation_set=True, correlation_contingency=0.5)
    context = model.prepare(instruments, market())
    h = sp.csr_matrix(np.array([[20_000.0, -300_000.0, 0.0], [20_000.0, 0.0, -10_000.0]]))
    assert model.margin_rows(context, h).components["correlation_contingency"][0] > 0
    rows = euler_rows(model, context, h)
    assert "central differences" in rows.method
    assert np.allclose(rows.row_sums(), model.margin_rows(context, h).total, rtol=REL)
    check(model, context, h, homogeneous=False)
