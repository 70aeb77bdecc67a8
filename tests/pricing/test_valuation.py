"""Settlement values and P&L of linear and inverse contracts (valuation.py conventions).

Per contract, ``F = S·e^{bT}``; linear future ``m·(F₁ − F₀)``; inverse future
``m·(1/F₀ − 1/F₁)`` coins; inverse perpetual ``m·(1/S₀ − 1/S₁)``; inverse option
``m·GBS/F`` coins; reporting-currency P&L ``V₁·X₁ − V₀·X₀`` with ``X`` the settlement
currency's USD value (a coin's own scenario spot).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crossmargin.instruments import parse_symbol
from crossmargin.market import Carry, MarketSnapshot, ScenarioSet, VolSurface
from crossmargin.pricing import gbs_price, revalue_instruments
from crossmargin.pricing.terms import instrument_terms
from crossmargin.pricing.valuation import base_fx, base_values, settlement_value

NOW = datetime(2025, 6, 2, 8, 0, tzinfo=UTC)
T_JUN26 = 389 / 365  # 2025-06-02 08:00 -> 2026-06-26 08:00 is 389 days


def _snapshot(
    btc: float = 100_000.0, carry: float = 0.0, r: float = 0.0, **extra: object
) -> MarketSnapshot:
    return MarketSnapshot(
        valuation_time=NOW,
        spots={"BTC": btc, "SPX": 6000.0},
        vols={"BTC": VolSurface.flat(0.6), "SPX": VolSurface.flat(0.2)},
        rates={"USD": r, "BTC": r},
        carries={"BTC": Carry(carry_rate=carry), "SPX": Carry(carry_rate=carry)},
        **extra,  # type: ignore[arg-type]
    )


def _scen(moves: list[float], steps: list[float] | None = None, und=("BTC",)) -> ScenarioSet:
    return ScenarioSet(
        underlyings=und,
        spot_shocks=np.array([[m] * len(und) for m in moves]),
        time_steps=np.zeros(len(moves)) if steps is None else np.array(steps),
    )


def test_t_jun26_day_count() -> None:
    inst = parse_symbol("BTC-26JUN26")
    assert inst.years_to_expiry(NOW) == pytest.approx(T_JUN26, rel=1e-15)


# --------------------------------------------------------------------------- hand-worked numbers


def test_inverse_future_hand_example() -> None:
    # Deribit BTC future, 10 USD face. S0=100,000 -> S1=110,000 with zero carry:
    # coin P&L = 10·(1/100000 − 1/110000) = 9.0909e-6 BTC; in USD at S1: 10·(1.1 − 1) = 1.0.
    res = revalue_instruments((parse_symbol("BTC-26JUN26"),), _snapshot(), _scen([0.10]))
    assert res.base_value[0] == 0.0
    assert res.pnl_settlement_by_scenario[0, 0] == pytest.approx(10 / 1.1e6, rel=1e-13)
    assert res.pnl_by_scenario[0, 0] == pytest.approx(1.0, rel=1e-12)


def test_linear_future_hand_example() -> None:
    # CME ES future, 50 USD x index: 6000 -> 6060 with zero carry is 50·60 = 3000 USD.
    res = revalue_instruments(
        (parse_symbol("ESZ5", reference_year=2025),), _snapshot(), _scen([0.01], und=("SPX",))
    )
    assert res.pnl_by_scenario[0, 0] == pytest.approx(3000.0, rel=1e-12)
    assert res.pnl_settlement_by_scenario[0, 0] == pytest.approx(3000.0, rel=1e-12)


# --------------------------------------------------------------------------- identities

_move = st.floats(-0.6, 1.5)
_step = st.sampled_from([0.0, 1 / 365, 0.5, 2.0])  # 2.0 > T: the future expires in scenario


@settings(max_examples=50, deadline=None)
@given(s0=st.floats(1e3, 2e5), carry=st.floats(-0.1, 0.2), x=_move, dt=_step)
def test_inverse_future_and_perpetual_pnl(s0: float, carry: float, x: float, dt: float) -> None:
    fut, perp = parse_symbol("BTC-26JUN26"), parse_symbol("BTC-PERPETUAL")
    res = revalue_instruments((fut, perp), _snapshot(s0, carry), _scen([x], [dt]))
    s1 = s0 * (1 + x)
    f0 = s0 * math.exp(carry * T_JUN26)
    f1 = s1 * math.exp(carry * max(T_JUN26 - dt, 0.0))
    fut_coin = 10 * (1 / f0 - 1 / f1)  # 10 USD face per contract (contracts.csv)
    perp_coin = 10 * (1 / s0 - 1 / s1)
    tol = 1e-12 * 10 / min(s0, s1)
    np.testing.assert_allclose(
        res.pnl_settlement_by_scenario[0], [fut_coin, perp_coin], rtol=1e-10, atol=tol
    )
    # Reporting currency: V1·X1 − V0·X0 with V0 = 0 and X1 the coin's scenario spot.
    np.testing.assert_allclose(
        res.pnl_by_scenario[0], [fut_coin * s1, perp_coin * s1], rtol=1e-10, atol=tol * s1
    )
    # Three contracts are three times one: the per-contract matrix aggregates linearly.
    # (against the engine's own per-contract column: the closed form is checked above with its
    # cancellation floor, which a tiny move x leaves far below rtol on its own)
    np.testing.assert_allclose(
        res.aggregate(np.array([[3.0, 0.0]]))[0], 3 * res.pnl_by_scenario[0][0], rtol=1e-12
    )


@settings(max_examples=50, deadline=None)
@given(s0=st.floats(1e3, 2e5), carry=st.floats(-0.1, 0.2), x=_move, dt=_step)
def test_linear_contracts_pnl(s0: float, carry: float, x: float, dt: float) -> None:
    insts = tuple(
        parse_symbol(s, reference_year=2025)
        for s in ("MBTF6", "BTC_USDC-PERPETUAL", "BTC_USDC", "BTCF6")
    )
    res = revalue_instruments(insts, _snapshot(s0, carry), _scen([x], [dt]))
    s1 = s0 * (1 + x)
    t0 = insts[0].years_to_expiry(NOW)
    f0, f1 = s0 * math.exp(carry * t0), s1 * math.exp(carry * max(t0 - dt, 0.0))
    # Multipliers from contracts.csv: MBT 0.1 BTC, BTC_USDC perp 0.001 BTC, spot 1, BTC 5.
    expected = [0.1 * (f1 - f0), 0.001 * (s1 - s0), s1 - s0, 5 * (f1 - f0)]
    np.testing.assert_allclose(res.pnl_by_scenario[0], expected, rtol=1e-10, atol=1e-10 * s0)
    np.testing.assert_allclose(
        res.pnl_settlement_by_scenario[0], expected, rtol=1e-10, atol=1e-10 * s0
    )
    assert res.base_value[2] == pytest.approx(s0)  # spot is valued at m·S, not as a P&L
    np.testing.assert_array_equal(res.base_value[[0, 1, 3]], 0.0)


@settings(max_examples=50, deadline=None)
@given(
    s0=st.floats(2e4, 2e5),
    lm=st.floats(-0.5, 0.5),
    r=st.floats(0.0, 0.1),
    carry=st.floats(-0.05, 0.15),
    x=st.floats(-0.4, 0.6),
    call=st.booleans(),
)
def test_inverse_option_is_linear_value_over_forward(
    s0: float, lm: float, r: float, carry: float, x: float, call: bool
) -> None:
    # Same strike and expiry, inverse (1 BTC per contract) and linear (0.01 BTC), with the
    # coin's rate set equal to USD's so both discount alike: V_inv = (V_lin / 0.01) / F.
    strike = max(1, round(s0 * math.exp(lm)))
    cp = "C" if call else "P"
    inv = parse_symbol(f"BTC-26JUN26-{strike}-{cp}")
    lin = parse_symbol(f"BTC_USDC-26JUN26-{strike}-{cp}")
    res = revalue_instruments((inv, lin), _snapshot(s0, carry, r), _scen([x], [0.1]))
    v0 = res.base_value
    f0 = s0 * math.exp(carry * T_JUN26)
    assert v0[0] == pytest.approx(v0[1] / 0.01 / f0, rel=1e-10, abs=1e-14)
    v1 = res.pnl_settlement_by_scenario[0] + v0
    f1 = s0 * (1 + x) * math.exp(carry * (T_JUN26 - 0.1))
    assert v1[0] == pytest.approx(v1[1] / 0.01 / f1, rel=1e-10, abs=1e-14)
    # Reporting currency: inverse V1·S1 − V0·S0; linear (USDC, worth 1 USD) V1 − V0.
    assert res.pnl_by_scenario[0, 0] == pytest.approx(
        v1[0] * s0 * (1 + x) - v0[0] * s0, rel=1e-9, abs=1e-9 * s0
    )
    assert res.pnl_by_scenario[0, 1] == pytest.approx(v1[1] - v0[1], rel=1e-9, abs=1e-9 * s0)


def test_inverse_option_value_from_settlement_value() -> None:
    # The NumPy valuation function directly: m·GBS(S, K, T, σ, r_coin, b)/F for inverse.
    snap = _snapshot(90_000.0, carry=0.05, r=0.0)
    inst = parse_symbol("BTC-26JUN26-100000-C")
    terms = instrument_terms((inst,), snap)
    got = settlement_value(terms, np.array([95_000.0]), np.array([0.5]), np.array([0.55]))
    fwd = 95_000.0 * math.exp(0.05 * 0.5)
    expected = float(gbs_price(95_000.0, 100_000.0, 0.5, 0.55, 0.0, 0.05, True)) / fwd
    assert got[0] == pytest.approx(expected, rel=1e-14)
    assert base_fx(terms)[0] == 90_000.0  # coin valued at its own spot
    assert base_values(terms)[0] > 0.0


def test_stable_coin_fx_scales_reporting_pnl() -> None:
    # A USDC-settled perpetual with USDC worth 0.999 USD: reporting P&L = 0.999 × USDC P&L.
    snap = _snapshot(fx={"USDC": 0.999})
    res = revalue_instruments((parse_symbol("BTC_USDC-PERPETUAL"),), snap, _scen([0.05]))
    usdc = 0.001 * 5_000.0  # 0.001 BTC per contract × (105,000 − 100,000)
    assert res.pnl_settlement_by_scenario[0, 0] == pytest.approx(usdc, rel=1e-12)
    assert res.pnl_by_scenario[0, 0] == pytest.approx(0.999 * usdc, rel=1e-12)
    assert res.settlement_currencies == ("USDC",)
    assert res.reporting_currency == "USD"


def test_terms_are_kept_per_snapshot_and_spelling() -> None:
    # the same instruments (spelled the same) on the same snapshot: the same read-only terms;
    # another snapshot or another spelling: resolved again; a collected snapshot: forgotten
    import gc

    from crossmargin.pricing import terms as terms_module

    insts = (parse_symbol("BTC-26JUN26-100000-C"), parse_symbol("BTC-PERPETUAL"))
    snap = _snapshot()
    first = instrument_terms(insts, snap)
    assert instrument_terms(insts, snap) is first
    assert not first.vol.flags.writeable
    with pytest.raises(ValueError, match="read-only"):
        first.spot[0] = 1.0
    other = _snapshot(btc=90_000.0)
    moved = instrument_terms(insts, other)
    assert moved is not first
    assert moved.spot[0] == 90_000.0
    assert first.spot[0] == 100_000.0
    esz5, esz25 = parse_symbol("ESZ5"), parse_symbol("ESZ25")
    assert esz5 == esz25  # one instrument, two spellings: settlements are looked up by symbol
    assert instrument_terms((esz5,), snap) is not instrument_terms((esz25,), snap)
    key = id(other)
    assert key in terms_module._kept
    del other, moved
    gc.collect()
    assert key not in terms_module._kept


@pytest.mark.parametrize("seed", range(4))
def test_position_mtm_through_a_layout_is_the_books_bit_for_bit(seed: int) -> None:
    # cross_margin prices each position's MTM through its tier layout's columns (canonical
    # order, collateral instruments among them); the figures are those priced through the
    # book's own instruments, row by row, to the last bit, for a book whose rows net too.
    from crossmargin import api
    from crossmargin.netting.layout import tier_layout
    from crossmargin.portfolio import Portfolio
    from crossmargin.pricing.mtm import position_mtm
    from market_inputs import sample_market

    rng = np.random.default_rng(seed)
    book = api.sample_book()
    order = rng.permutation(len(book.raw))
    book = Portfolio(raw=tuple(book.raw[k] for k in order), source=book.source,
                     collateral=book.collateral)  # fmt: skip
    market = sample_market()
    for nets in (True, False):
        layout = tier_layout(book, nets_collateral=nets)
        via, own = position_mtm(book, market, layout), position_mtm(book, market)
        assert (via[0] == own[0]).all()
        assert (via[1] == own[1]).all()
    netted = Portfolio(raw=book.raw + book.raw[:2] + book.raw[5:6], source=book.source)
    assert len(netted.positions) < len(netted.raw)
    layout = tier_layout(netted)
    via, own = position_mtm(netted, market, layout), position_mtm(netted, market)
    want = _mtm_by_row_codes(netted, market)
    for got in (via, own):
        assert (got[0] == want[0]).all()
        assert (got[1] == want[1]).all()


def _mtm_by_row_codes(book: Any, market: Any) -> tuple[np.ndarray, np.ndarray]:
    """The reference: each booked row priced through its own instrument's column of the
    book's instruments, its position the first-seen code of (account, instrument, venue)."""
    from crossmargin.pricing.mtm import row_mtm

    column = {inst: j for j, inst in enumerate(book.instruments)}
    keys: dict[tuple[str, int, str], int] = {}
    at = [keys.setdefault((p.account, column[p.instrument], p.venue), len(keys)) for p in book.raw]
    return row_mtm(
        instrument_terms(tuple(book.instruments), market),
        np.array([column[p.instrument] for p in book.raw], dtype=np.int64),
        np.array([p.quantity for p in book.raw]),
        np.array([np.nan if p.trade_price is None else p.trade_price for p in book.raw]),
        np.array(at, dtype=np.int64),
        len(keys),
    )


def test_a_tuple_asked_for_again_is_found_without_hashing_its_instruments(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # a cached layout asks with the same tuple object on every what-if: found by its identity
    # (no instrument hashed); an equal tuple built anew is found by its terms as before
    from crossmargin.instruments import Instrument
    from crossmargin.pricing import terms as terms_module

    snap = _snapshot()
    insts = (parse_symbol("BTC-26JUN26-100000-C"), parse_symbol("BTC-PERPETUAL"))
    first = instrument_terms(insts, snap)

    def refuse(self: object) -> int:
        raise AssertionError("an instrument was hashed")

    monkeypatch.setattr(Instrument, "__hash__", refuse)
    assert instrument_terms(insts, snap) is first
    with pytest.raises(AssertionError, match="hashed"):
        instrument_terms(tuple(list(insts)), snap)
    monkeypatch.undo()
    again = tuple(list(insts))
    assert instrument_terms(again, snap) is first  # by its terms, then kept by identity too
    entry = terms_module._kept[id(snap)]
    assert entry[2][id(again)] == (again, first)
    for k in range(terms_module.KEPT - 2):  # full: insts is the least recent
        instrument_terms((parse_symbol(f"BTC-26JUN26-{50_000 + 1_000 * k}-P"),), snap)
    assert len(entry[2]) == terms_module.KEPT
    assert instrument_terms(insts, snap) is first  # found by identity: the most recent again
    for k in range(2):
        instrument_terms((parse_symbol(f"BTC-26JUN26-{20_000 + 1_000 * k}-P"),), snap)
    assert id(insts) in entry[2]
    assert id(again) not in entry[2]
    for k in range(terms_module.KEPT + 5):  # the identity memo keeps the last KEPT tuples
        instrument_terms((parse_symbol(f"BTC-26JUN26-{100_000 + 1_000 * k}-C"),), snap)
    assert len(entry[2]) == terms_module.KEPT
    assert id(insts) not in entry[2]
    resolved = instrument_terms(insts, snap)  # dropped from both: resolved again, same figures
    assert resolved is not first
    assert resolved.spot.tolist() == first.spot.tolist()
