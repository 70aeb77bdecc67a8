"""``pm_grid``: worked examples checked by hand.

Sources: METHODS.md §3.1 (common grid algorithm), §3.2 (Deribit PME ``model_params``, BTC
Jun 2024: price_range 0.16, buckets_count 4, vol up 0.5 / down 0.25, min vol for shock up
0.5, vega powers 0.30 / 0.13, mm_factor 0.8), §3.3 (Paradex, docs.paradex.trade/risk/
portfolio-margin: MinDelta example = $1,400, extended weights 24% ... 3.20%, MMR = 50%),
§0 (inverse contract P&L ``q·(1 − 1/(1+m))`` coins).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp
from pm_grid_fixtures import NOW, SPOTS, book, bs_call, bs_call_delta, inst, market

from crossmargin.instruments import Instrument
from crossmargin.models import get_model
from crossmargin.models.pm_grid import PMGridContext, PMGridModel
from crossmargin.models.pm_grid_params import min_delta_floor
from published import check

DERIBIT = PMGridModel()
PARADEX = PMGridModel(venue="paradex")
YEAR = 365.0


def scenario_pnl(model: PMGridModel, symbol: str, name: str, vol: float) -> float:
    """USD P&L of one long contract of ``symbol`` in scenario ``name`` (from prepare)."""
    ctx: PMGridContext = model.prepare((inst(symbol),), market(vol))
    (unit,) = ctx.units
    return float(unit.pnl[ctx.scenario_names.index(name), 0])


def row(model: PMGridModel, instruments: tuple[Instrument, ...], qty: list[float], vol: float):  # type: ignore[no-untyped-def]
    ctx = model.prepare(instruments, market(vol))
    return model.margin_rows(ctx, sp.csr_matrix(np.array([qty], dtype=float)))


# ----------------------------------------------------------------------- registry


def test_registered_under_its_name() -> None:
    model = get_model("pm_grid", mode="segregated")
    assert isinstance(model, PMGridModel)
    assert model.mode == "segregated"
    assert model.venue == "deribit"
    assert PMGridModel.subadditive is False


# ------------------------------------------------------------ minimum-delta floor


def test_paradex_min_delta_floor_published_example() -> None:
    # METHODS §3.3 / docs.paradex.trade: long 1 BTC-PERP (δ +1), short 5 calls of δ 0.3,
    # spot 70,000: net −0.5, gross 2.5, hedged 1.0 → (0.02·0.5 + 0.01·1.0)·70,000 = 1,400.
    deltas = np.array([1.0, -5 * 0.3])
    floor = min_delta_floor(
        deltas.sum(), np.abs(deltas).sum(), 70_000.0, net_rate=0.02, hedged_rate=0.01
    )
    check("paradex-min-delta", float(floor))
    g = PARADEX.grid("BTC")
    assert (g.min_delta_net_rate, g.min_delta_hedged_rate) == (0.02, 0.01)


def test_min_delta_floor_binds_end_to_end() -> None:
    # Long 1 BTC of linear perpetual (1,000 x 0.001 BTC), short 5 BTC of 30-day 76,000 calls
    # (500 x 0.01 BTC). Call delta N(d1) by hand (r = b = 0); a tiny price range keeps the
    # scan loss under the floor so IM = MinDelta (no vol shock, no extended table).
    vol, k, t = 0.6, 76_000.0, 30 / YEAR
    d = bs_call_delta(70_000.0, k, t, vol)
    assert 0.25 < d < 0.45  # a ~0.3-delta call, as in the Paradex example
    net, gross = 1.0 - 5 * d, 1.0 + 5 * d
    hedged = (gross - abs(net)) / 2
    expected = (0.02 * abs(net) + 0.01 * hedged) * 70_000.0
    model = PMGridModel(
        venue="paradex",
        price_range=0.0005,
        volatility_range_up=0.0,
        volatility_range_down=0.0,
        extended_moves=[],
        extended_weights=[],
    )
    portfolio = book(("BTC_USDC-PERPETUAL", 1_000), ("BTC_USDC-3MAR26-76000-C", -500))
    res = model.compute(portfolio, market(vol))
    (acc,) = res.accounts
    assert acc.netted == pytest.approx(expected, rel=1e-9)
    assert acc.components["delta_floor"] > 0
    total = sum(acc.components.values())
    assert total == pytest.approx(acc.netted, rel=1e-12)
    # The floor is also what the unit reports with the shipped grid (where the scan binds).
    ctx = PARADEX.prepare(portfolio.instruments, market(vol))
    qty = np.array([[p.quantity for p in portfolio.positions]])
    per = PARADEX.unit_margins(ctx, sp.csr_matrix(qty))
    assert float(per.floor[0][0]) == pytest.approx(expected, rel=1e-9)
    assert float(per.initial[0][0]) > expected


# -------------------------------------------------------------- grid construction


def test_btc_grid_27_standard_plus_8_extended() -> None:
    s = DERIBIT.scenarios("BTC")
    std = ~s.extended
    assert std.sum() == 27
    assert s.extended.sum() == 8
    moves = np.unique(np.round(s.moves[std], 12))
    assert moves.tolist() == pytest.approx([-0.16, -0.12, -0.08, -0.04, 0, 0.04, 0.08, 0.12, 0.16])
    for m in moves:  # three vol states per price point
        assert sorted(s.vol_shift[std][np.isclose(s.moves[std], m)]) == [-0.25, 0.0, 0.5]
    assert np.all(s.weights[std] == 1.0)
    assert s.moves[s.extended].tolist() == [-0.66, -0.33, 0.5, 1.0, 2.0, 3.0, 4.0, 5.0]
    assert np.all(s.vol_shift[s.extended] == 0.5)
    assert s.names[0] == "BTC −16% vol up"


def test_extended_weights_are_point16_over_abs_move() -> None:
    # Paradex table: 24%, 48%, 32%, 16%, 8%, 5.33%, 4%, 3.20% = 0.16/|m| as published
    # (rounded to the published precision: 0.16/0.66 = 24.2%, 0.16/0.33 = 48.5%).
    s = PARADEX.scenarios("BTC")
    w = s.weights[s.extended]
    published = [0.24, 0.48, 0.32, 0.16, 0.08, 0.0533, 0.04, 0.032]
    assert w.tolist() == pytest.approx(published, abs=5e-5)
    assert w == pytest.approx(0.16 / np.abs(s.moves[s.extended]), abs=0.005)
    # Paradex: 24 scenarios in all (±16% vol up only; ±12..0% with +40% and −22%).
    assert len(s.names) == 24


@pytest.mark.parametrize(
    ("days", "vol", "power", "floored"),
    [(7, 0.6, 0.30, False), (90, 0.3, 0.13, True), (90, 0.6, 0.13, False)],
)
def test_vol_shock_by_hand(days: int, vol: float, power: float, floored: bool) -> None:
    # σ_up = max(σ·(1 + 0.5·(30/DTE)^p), 0.5); σ_dn = σ·(1 − 0.25·(30/DTE)^p), p = 0.30 below
    # 30 days, 0.13 above (METHODS §3.1-3.2). Checked through the model's own revaluation:
    # linear BTC_USDC calls (0.01 BTC), ATM, at an unchanged price.
    expiry = {7: "8FEB26", 90: "2MAY26"}[days]
    symbol = f"BTC_USDC-{expiry}-70000-C"
    t = days / YEAR
    assert (inst(symbol).expiry - NOW).days == days  # type: ignore[operator]
    f = (30 / days) ** power
    up = max(vol * (1 + 0.5 * f), 0.5)
    assert (vol * (1 + 0.5 * f) < 0.5) is floored
    dn = vol * (1 - 0.25 * f)
    s0 = SPOTS["BTC"]
    p0 = bs_call(s0, 70_000.0, t, vol)
    for name, sigma in (("BTC +0% vol up", up), ("BTC +0% vol down", dn)):
        got = scenario_pnl(DERIBIT, symbol, name, vol)
        assert got == pytest.approx(0.01 * (bs_call(s0, 70_000.0, t, sigma) - p0), rel=1e-9)


# ----------------------------------------------------------------- end to end


def test_long_inverse_perpetual_segregated_and_cross() -> None:
    # 1,000 BTC-PERPETUAL (10 USD face each). Coin P&L at −16% (METHODS §0/§3.2, inverse
    # formula m·(1/S0 − 1/S1)): 10,000·(1/70,000 − 1/58,800) BTC.
    q, face, s0 = 1_000, 10.0, SPOTS["BTC"]
    coin = q * face * (1 / s0 - 1 / (0.84 * s0))
    roll = q * face * 0.01  # |δ|·S·max(1%, 7.5%·0): δ = face/S per contract (BTC currency)
    seg = PMGridModel(mode="segregated")
    r = row(seg, (inst("BTC-PERPETUAL"),), [q], 0.6)
    assert r.components["scan_loss"][0] == pytest.approx(-coin * s0, rel=1e-12)  # at today's spot
    assert r.components["roll_shock"][0] == pytest.approx(roll, rel=1e-12)
    assert r.total[0] == pytest.approx(-coin * s0 + roll, rel=1e-12)
    assert r.scenario_names[r.worst_scenario[0]].startswith("BTC −16% vol")  # type: ignore[index]
    # Cross mode: the same coin P&L valued at the scenario spot: 10,000·0.16 USD.
    x = row(DERIBIT, (inst("BTC-PERPETUAL"),), [q], 0.6)
    assert x.components["scan_loss"][0] == pytest.approx(-coin * 0.84 * s0, rel=1e-12)
    assert x.components["scan_loss"][0] == pytest.approx(q * face * 0.16, rel=1e-12)
    # The coin figure is reported per unit (segregated: unit currency BTC).
    ctx = seg.prepare((inst("BTC-PERPETUAL"),), market())
    per = seg.unit_margins(ctx, sp.csr_matrix(np.array([[float(q)]])))
    assert per.units == (("BTC", "BTC"),)
    assert per.initial_in_currency[0][0] == pytest.approx(-coin + roll / s0, rel=1e-12)


def test_far_otm_short_call_is_margined_by_the_extended_table() -> None:
    # Short BTC 200,000 calls, 90 days, vol 60%, spot 70,000 (cross mode, USD). At +500%
    # (S = 420,000, vol up to 0.6·(1 + 0.5·(1/3)^0.13)) the loss times 0.16/5 = 3.2% is the
    # extended value; Deribit's dampener (btc extended_dampener 100,000 USD) shrinks it by
    # (5/0.16 − 1) × 100,000 = 3,025,000 USD (pm_grid_addons [3]), so the extended table
    # margins large far-OTM shorts only ("primarily meant to account for large short
    # options positions that are far out of the money", Deribit Portfolio Margin [P]).
    symbol, k, t, vol = "BTC-2MAY26-200000-C", 200_000.0, 90 / YEAR, 0.6
    s0 = SPOTS["BTC"]
    up = max(vol * (1 + 0.5 * (30 / 90) ** 0.13), 0.5)
    loss_500 = bs_call(6 * s0, k, t, up) - bs_call(s0, k, t, vol)
    worst_std = bs_call(1.16 * s0, k, t, up) - bs_call(s0, k, t, vol)
    big = 1_000.0
    full = row(DERIBIT, (inst(symbol),), [-big], vol)
    assert full.components["scan_loss"][0] == pytest.approx(
        0.032 * big * loss_500 - 3_025_000.0, rel=1e-7
    )
    assert full.scenario_names[full.worst_scenario[0]] == "BTC +500% vol up (extended)"  # type: ignore[index]
    # One contract: its 3.2% (7,105 USD) is inside the allowance; the standard grid binds.
    one = row(DERIBIT, (inst(symbol),), [-1.0], vol)
    assert one.components["scan_loss"][0] == pytest.approx(worst_std, rel=1e-7)
    # Without the dampener the extended table charges the single contract too.
    undamped = PMGridModel(settlement_currencies={})
    bare = row(undamped, (inst(symbol),), [-1.0], vol)
    assert bare.components["scan_loss"][0] == pytest.approx(0.032 * loss_500, rel=1e-7)
    no_ext = PMGridModel(extended_moves=[], extended_weights=[])
    std = row(no_ext, (inst(symbol),), [-big], vol)
    assert std.components["scan_loss"][0] == pytest.approx(big * worst_std, rel=1e-7)
    assert full.total[0] > 10 * std.total[0]  # the standard grid alone under-margins it


def test_linear_only_book_same_in_both_modes() -> None:
    # USDC-settled BTC perpetual and options, USD-settled ES futures and SPY: every unit has
    # one settlement currency, so S:PM and cross mode see identical USD P&L.
    portfolio = book(
        ("BTC_USDC-PERPETUAL", 2_000),
        ("BTC_USDC-2MAY26-80000-C", -150),
        ("BTC_USDC-8FEB26-65000-P", 300),
        ("ESH26", -3),
        ("SPY", 500),
    )
    seg = PMGridModel(mode="segregated").compute(portfolio, market())
    cross = DERIBIT.compute(portfolio, market())
    assert seg.total == pytest.approx(cross.total, rel=1e-12)
    assert seg.total > 0
    assert seg.standalone_total == pytest.approx(cross.standalone_total, rel=1e-12)


@pytest.mark.parametrize(("model", "factor"), [(DERIBIT, 0.8), (PARADEX, 0.5)])
def test_maintenance_is_mm_factor_times_initial(model: PMGridModel, factor: float) -> None:
    portfolio = book(("BTC-PERPETUAL", 5_000), ("BTC-27MAR26-80000-C", -2), ("ETH-PERPETUAL", -900))
    res = model.compute(portfolio, market())
    for acc in res.accounts:
        assert acc.maintenance == pytest.approx(factor * acc.netted, rel=1e-12)
    for pos in res.positions:
        assert pos.maintenance == pytest.approx(factor * pos.standalone, rel=1e-12)


def test_cross_mode_sums_units_and_components_add_up() -> None:
    portfolio = book(("BTC-PERPETUAL", 5_000), ("ETH-PERPETUAL", -900), ("ESH26", 2))
    res = DERIBIT.compute(portfolio, market())
    (acc,) = res.accounts
    assert acc.netted == pytest.approx(acc.grouped, rel=1e-12)  # units = underlyings
    assert math.fsum(acc.components.values()) == pytest.approx(acc.netted, rel=1e-12)
    assert acc.components["delta_floor"] == 0.0


def test_parameters_report_haircuts_and_sources() -> None:
    p = DERIBIT.parameters()
    assert p["mode"] == "cross"
    assert p["venue"] == "deribit"
    assert p["collateral_haircuts"]["BTC"] == 0.0
    assert p["collateral_haircuts_applied"] is False
    btc = p["underlyings"]["BTC"]
    assert btc["price_range"] == 0.16
    assert btc["mm_factor"] == 0.8
    assert "Deribit" in btc["source"]
