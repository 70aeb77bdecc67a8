"""revalue(): full vs delta-gamma, account aggregation, position P&L and error paths."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crossmargin.errors import InputError, PricingError
from crossmargin.instruments import Instrument, parse_symbol
from crossmargin.market import Carry, MarketSnapshot, ScenarioSet, VolSurface
from crossmargin.portfolio import Portfolio, Position
from crossmargin.pricing import revalue, revalue_instruments

NOW = datetime(2025, 6, 2, 8, 0, tzinfo=UTC)
UNDERLYINGS = ("BTC", "SPX", "SPY")

OPTIONS = (
    "BTC-26DEC25-110000-C",
    "BTC-26DEC25-90000-P",
    "BTC_USDC-26DEC25-100000-C",
    "ESZ5 C6100",
    "ESZ5 P5800",
    "SPY   251219C00600000",
    "SPY   251219P00550000",
)
LINEAR = ("ESZ5", "MESZ5", "MBTF6", "BTC_USDC-PERPETUAL", "BTC_USDC", "SPY")


def _snapshot(**extra: object) -> MarketSnapshot:
    return MarketSnapshot(
        valuation_time=NOW,
        spots={"BTC": 100_000.0, "SPX": 6000.0, "SPY": 598.0},
        vols={
            "BTC": VolSurface.from_parameters(atm_vol=0.55, skew=-0.05, smile=0.2),
            "SPX": VolSurface.from_parameters(atm_vol=0.18, skew=-0.15, smile=0.1),
            "SPY": VolSurface.flat(0.17),
        },
        rates={"USD": 0.04},
        carries={"SPX": Carry(carry_rate=0.025), "SPY": Carry(carry_rate=0.03)},
        **extra,  # type: ignore[arg-type]
    )


def _inst(symbols: tuple[str, ...]) -> tuple[Instrument, ...]:
    return tuple(parse_symbol(s, reference_year=2025) for s in symbols)


def _spot_only(moves: list[float]) -> ScenarioSet:
    return ScenarioSet(
        underlyings=UNDERLYINGS, spot_shocks=np.array([[m] * 3 for m in moves], dtype=float)
    )


# --------------------------------------------------------------------------- delta-gamma


def test_delta_gamma_close_to_full_for_small_moves() -> None:
    insts = _inst(OPTIONS)
    snap = _snapshot()
    moves = [-0.01, -0.005, 0.005, 0.01]
    full = revalue_instruments(insts, snap, _spot_only(moves))
    dg = revalue_instruments(insts, snap, _spot_only(moves), method="delta_gamma")
    assert dg.method == "delta_gamma"
    np.testing.assert_allclose(dg.base_value, full.base_value, rtol=1e-14)
    err = np.abs(dg.pnl_by_scenario - full.pnl_by_scenario)
    # Within 0.5% of the full-repricing P&L for ±1% moves ...
    assert np.all(err <= 5e-3 * np.abs(full.pnl_by_scenario))
    # ... and the error is third order: halving the move divides it by about 2³ = 8.
    ratio = err[[0, 3]] / err[[1, 2]]
    assert np.all((ratio > 6.0) & (ratio < 10.0)), ratio


def test_delta_gamma_includes_vega_and_theta() -> None:
    insts = _inst(OPTIONS)
    snap = _snapshot()
    scen = ScenarioSet(
        underlyings=UNDERLYINGS,
        spot_shocks=np.zeros((2, 3)),
        vol_shocks=np.array([[0.002] * 3, [0.0] * 3]),
        time_steps=np.array([0.0, 1 / 365]),
    )
    full = revalue_instruments(insts, snap, scen).pnl_by_scenario
    dg = revalue_instruments(insts, snap, scen, method="delta_gamma").pnl_by_scenario
    assert np.all(np.abs(full) > 0)
    np.testing.assert_allclose(dg, full, rtol=2e-2)


@settings(max_examples=30, deadline=None)
@given(
    moves=st.lists(st.floats(-0.5, 1.0), min_size=1, max_size=5),
    vol=st.floats(-0.1, 0.3),
)
def test_delta_gamma_exact_for_linear_instruments(moves: list[float], vol: float) -> None:
    # Spot, linear perpetuals and linear futures are linear in S (no time step here), so
    # the expansion is exact up to the rounding of the bumped derivatives.
    insts = _inst(LINEAR)
    snap = _snapshot()
    scen = ScenarioSet(
        underlyings=UNDERLYINGS,
        spot_shocks=np.array([[m] * 3 for m in moves]),
        vol_shocks=np.full((len(moves), 3), vol),
    )
    full = revalue_instruments(insts, snap, scen).pnl_by_scenario
    dg = revalue_instruments(insts, snap, scen, method="delta_gamma").pnl_by_scenario
    notional = np.array([50 * 6000, 5 * 6000, 0.1 * 1e5, 0.001 * 1e5, 1e5, 598.0])
    # Bumped gamma of a linear function is rounding noise of order eps·V/h² (h = 1e-4·S),
    # which times ds² leaves ~1e-8 of notional; anything model-like would be far larger.
    scale = notional * (1.0 + np.abs(np.array(moves)))[:, None] ** 2
    assert np.all(np.abs(dg - full) <= 2e-8 * scale)


def test_unknown_method_is_an_input_error() -> None:
    with pytest.raises(InputError, match="unknown revaluation method"):
        revalue_instruments(_inst(("SPY",)), _snapshot(), _spot_only([0.1]), method="taylor")  # type: ignore[arg-type]


# --------------------------------------------------------------------------- aggregation

_ALL = OPTIONS + LINEAR


@st.composite
def _books(draw: st.DrawFn) -> list[tuple[str, str, float]]:
    n = draw(st.integers(1, 25))
    return [
        (
            draw(st.sampled_from(["acc1", "acc2", "acc3", "acc4"])),
            draw(st.sampled_from(_ALL)),
            draw(st.floats(-50, 50, allow_nan=False).map(lambda x: round(x, 2))),
        )
        for _ in range(n)
    ]


def _portfolio(rows: list[tuple[str, str, float]]) -> Portfolio:
    return Portfolio.from_positions(
        Position(account=a, instrument=parse_symbol(s, reference_year=2025), quantity=q)
        for a, s, q in rows
    )


_SCEN = ScenarioSet(
    underlyings=("SPY", "BTC", "SPX", "ETH"),  # order differs from the book's; ETH unused
    spot_shocks=np.array([[0.1, -0.2, 0.05, 0.0], [-0.15, 0.3, -0.1, 0.5], [0.0, 0.0, 0.0, 0.0]]),
    vol_shocks=np.array([[0.02, 0.1, -0.03, 0.0], [0.05, -0.1, 0.04, 0.0], [0.0, 0.0, 0.0, 0.0]]),
    time_steps=np.array([1 / 365, 2 / 365, 0.0]),
)


@settings(max_examples=40, deadline=None)
@given(rows=_books(), method=st.sampled_from(["full", "delta_gamma"]))
def test_account_aggregation_equals_per_account_loop(
    rows: list[tuple[str, str, float]], method: str
) -> None:
    book = _portfolio(rows)
    res = revalue(book, _snapshot(), _SCEN, method=method)  # type: ignore[arg-type]
    inst_pnl = res.instrument_pnl
    assert res.account_pnl_by_scenario.shape == (3, len(book.accounts))
    for col, account in enumerate(res.accounts):
        expected = np.zeros(3)
        for a, s, q in rows:  # the raw rows, not the netted view
            if a == account:
                j = inst_pnl.instruments.index(parse_symbol(s, reference_year=2025))
                expected += q * inst_pnl.pnl_by_scenario[:, j]
        np.testing.assert_allclose(
            res.account_pnl_by_scenario[:, col], expected, rtol=1e-10, atol=1e-6
        )
    # Dense and sparse aggregation agree.
    dense = inst_pnl.aggregate(book.quantity_matrix().toarray())
    np.testing.assert_allclose(dense, res.account_pnl_by_scenario, rtol=1e-12, atol=1e-9)
    # position_pnl: one column per netted position, quantity × instrument P&L; it sums
    # to the account P&L.
    pos = res.position_pnl()
    assert pos.shape == (3, len(book.positions))
    for p_col, p in enumerate(book.positions):
        j = inst_pnl.instruments.index(p.instrument)
        np.testing.assert_allclose(pos[:, p_col], p.quantity * inst_pnl.pnl_by_scenario[:, j])
    for col, account in enumerate(res.accounts):
        mask = [p.account == account for p in book.positions]
        np.testing.assert_allclose(
            pos[:, mask].sum(axis=1), res.account_pnl_by_scenario[:, col], rtol=1e-10, atol=1e-6
        )


def test_each_unique_instrument_revalued_once() -> None:
    book = _portfolio([("a", "SPY", 1), ("b", "SPY", 2), ("a", "ESZ5", 1), ("a", "SPY", 3)])
    res = revalue(book, _snapshot(), _SCEN)
    assert [i.symbol for i in res.instrument_pnl.instruments] == ["SPY", "ESZ5"]
    assert res.instrument_pnl.pnl_by_scenario.shape == (3, 2)
    # SPY spot: +10% of 598 per share; a holds 4, b holds 2.
    np.testing.assert_allclose(res.account_pnl_by_scenario[0, 1], 2 * 59.8, rtol=1e-12)


def test_columns_of_unrevalued_instrument_is_input_error() -> None:
    res = revalue_instruments(_inst(("SPY",)), _snapshot(), _SCEN)
    with pytest.raises(InputError, match="was not revalued"):
        res.columns(_inst(("MESZ5",)))


# --------------------------------------------------------------------------- error paths


def test_book_underlying_missing_from_scenarios() -> None:
    book = _portfolio([("a", "SPY", 1), ("a", "BTC-PERPETUAL", 1)])
    scen = ScenarioSet(underlyings=("SPY",), spot_shocks=np.array([[0.1]]), label="spy only")
    with pytest.raises(InputError, match=r"no moves for 'BTC'"):
        revalue(book, _snapshot(), scen)


def test_empty_book() -> None:
    with pytest.raises(InputError, match="empty"):
        revalue(Portfolio(raw=()), _snapshot(), _SCEN)


def test_expired_option_without_settlement_names_the_symbol() -> None:
    insts = _inst(("ESM5 C5900",))  # expired 2025-06-20 13:30 UTC (third Friday)
    assert insts[0].expiry is not None
    later = MarketSnapshot(
        valuation_time=datetime(2025, 7, 1, tzinfo=UTC),
        spots={"SPX": 6100.0},
        vols={"SPX": VolSurface.flat(0.2)},
    )
    with pytest.raises(PricingError, match=re.escape("ESM5 C5900")) as info:
        revalue_instruments(insts, later, ScenarioSet(underlyings=("SPX",), spot_shocks=[[0.1]]))
    assert "settlement" in str(info.value)


@pytest.mark.parametrize("method", ["full", "delta_gamma"])
def test_expired_options_value_at_intrinsic_with_zero_pnl(method: str) -> None:
    # ESM5 expired on 2025-06-20 13:30 UTC (third Friday of June 2025); the Deribit BTC
    # option on 2025-06-27 08:00. Valued on 2025-07-01 with final settlement prices.
    insts = _inst(("ESM5 C5900", "ESM5 P5900", "BTC-27JUN25-100000-C", "BTC-27JUN25-100000-P"))
    snap = MarketSnapshot(
        valuation_time=datetime(2025, 7, 1, tzinfo=UTC),
        spots={"SPX": 6200.0, "BTC": 107_000.0},
        vols={"SPX": VolSurface.flat(0.2), "BTC": VolSurface.flat(0.5)},
        settlements={
            "ESM5 C5900": 6000.0,
            "ESM5 P5900": 6000.0,
            "BTC-27JUN25-100000-C": 106_000.0,
            "BTC-27JUN25-100000-P": 106_000.0,
        },
    )
    scen = ScenarioSet(
        underlyings=("SPX", "BTC"),
        spot_shocks=np.array([[0.2, -0.3], [-0.2, 0.4]]),
        vol_shocks=np.array([[0.1, 0.1], [-0.1, -0.1]]),
        time_steps=np.array([0.0, 0.1]),
    )
    res = revalue_instruments(insts, snap, scen, method=method)  # type: ignore[arg-type]
    # ES call: 50 × (6000 − 5900) = 5000 USD; put worthless. BTC call: 1 × 6000/106000
    # coins (inverse payoff in coin = (S − K)/S); put worthless.
    np.testing.assert_allclose(res.base_value, [5000.0, 0.0, 6000 / 106_000, 0.0], rtol=1e-14)
    np.testing.assert_array_equal(res.pnl_settlement_by_scenario, 0.0)
    np.testing.assert_array_equal(res.pnl_by_scenario[:, [0, 1, 3]], 0.0)
    # The coin-settled payoff is a BTC balance: its USD value still moves with BTC
    # (V·X1 − V·X0 with X the scenario BTC price).
    np.testing.assert_allclose(
        res.pnl_by_scenario[:, 2], 6000 / 106_000 * 107_000.0 * np.array([-0.3, 0.4]), rtol=1e-12
    )


def test_expired_future_without_settlement_is_pricing_error() -> None:
    snap = MarketSnapshot(valuation_time=datetime(2026, 2, 1, tzinfo=UTC), spots={"BTC": 1e5})
    with pytest.raises(PricingError, match="MBTF6"):
        revalue_instruments(
            _inst(("MBTF6",)), snap, ScenarioSet(underlyings=("BTC",), spot_shocks=[[0.0]])
        )


def test_option_without_vol_surface_is_market_data_error() -> None:
    from crossmargin.errors import MarketDataError

    snap = MarketSnapshot(valuation_time=NOW, spots={"SPY": 600.0})
    with pytest.raises(MarketDataError, match="missing vol for option underlying 'SPY'"):
        revalue_instruments(_inst(("SPY   251219C00600000",)), snap, _SCEN)
