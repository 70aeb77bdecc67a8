"""The span model end to end: revaluation-built risk arrays, books, parameters and errors."""

from __future__ import annotations

import json
import math
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp
from span_fixtures import SPOTS, VOLS, instruments, snapshot

from crossmargin.errors import InputError, ModelError
from crossmargin.models import get_model, model_names
from crossmargin.models.span import SpanContext, SpanModel, composite_delta
from crossmargin.portfolio import Portfolio, Position
from crossmargin.portfolio.sample import sample_portfolio
from crossmargin.pricing import gbs_price
from crossmargin.pricing.greeks import reporting_greeks
from crossmargin.pricing.terms import instrument_terms


def _book(rows: list[tuple[str, str, float]]) -> Portfolio:
    return Portfolio.from_positions(
        Position(account=acc, instrument=instruments([sym])[0], quantity=q) for acc, sym, q in rows
    )


def _margin(symbols: list[str], quantities: list[list[float]], **kw: Any) -> Any:
    model = SpanModel(**kw)
    insts = instruments(symbols)
    ctx = model.prepare(insts, kw_snapshot())
    return model.margin_rows(ctx, sp.csr_matrix(np.array(quantities, dtype=float)))


def kw_snapshot() -> Any:
    return snapshot(rates=0.0, carry=False)


# ------------------------------------------------------------------ hand-computed futures


@pytest.mark.parametrize(
    ("symbol", "underlying", "multiplier", "psr"),
    [("ESH26", "SPX", 50.0, 0.08), ("BTCH26", "BTC", 5.0, 0.15), ("MBTH26", "BTC", 0.1, 0.15)],
)
def test_long_future_scan_risk_is_multiplier_price_scan_range(
    symbol: str, underlying: str, multiplier: float, psr: float
) -> None:
    # No carry and no rates: F = S, so the -3/3 scenario loses m x S x PSR exactly (the
    # extreme scenario loses 3 x PSR x 0.33 = 0.99 PSR, less). PSR from span.json.
    out = _margin([symbol], [[1.0], [-1.0]])
    expected = multiplier * SPOTS[underlying] * psr
    np.testing.assert_allclose(out.components["scan_risk"], [expected, expected], rtol=1e-12)
    np.testing.assert_allclose(out.maintenance, [expected, expected], rtol=1e-12)
    np.testing.assert_allclose(out.total, [1.1 * expected, 1.1 * expected], rtol=1e-12)
    names = [out.scenario_names[i] for i in out.worst_scenario]
    # A tie between vol up and vol down (a future has no vega): the first, vol up, wins.
    assert names == [f"{underlying} -3/3 vol up", f"{underlying} +3/3 vol up"]


def test_long_future_with_carry_hand_computed() -> None:
    # With carry b and a one-day look-ahead Δt: F₀ = S·e^{bT}; at -3/3 the future is worth
    # S(1 - PSR)·e^{b(T - Δt)}: loss m·(F₀ - S(1 - PSR)e^{b(T-Δt)}).
    snap = snapshot()
    model = SpanModel()
    (es,) = instruments(["ESH26"])
    out = model.margin_rows(model.prepare((es,), snap), sp.csr_matrix([[1.0]]))
    t = es.years_to_expiry(snap.valuation_time)
    s, b, dt = SPOTS["SPX"], 0.025, 1 / 365
    expected = 50.0 * (s * math.exp(b * t) - s * (1 - 0.08) * math.exp(b * (t - dt)))
    assert out.components["scan_risk"][0] == pytest.approx(expected, rel=1e-12)


def test_mcmillan_convention_override_changes_extreme_weight() -> None:
    model = SpanModel(extreme_move_multiple=2, extreme_cover_fraction=0.35)
    (es,) = instruments(["ESH26"])
    ctx = model.prepare((es,), kw_snapshot())
    assert isinstance(ctx, SpanContext)
    weighted = ctx.arrays.loss[:, 0] * ctx.arrays.weights[0]
    outright = 50.0 * SPOTS["SPX"] * 0.08
    # Extremes: 2 x PSR moves weighted 35% -> 0.70 x outright (McMillan: 7,000 of 10,000).
    np.testing.assert_allclose(weighted[14:], [-0.7 * outright, 0.7 * outright], rtol=1e-12)
    np.testing.assert_allclose(weighted[12], outright, rtol=1e-12)
    assert ctx.scenarios[0].names[10] == "SPX +3/3 vol up"


# ------------------------------------------------------------------ options, NOV, deltas


def test_net_option_value_and_long_option_bounded_by_premium() -> None:
    snap = kw_snapshot()
    symbol = "SPY   260320C00680000"
    out = _margin([symbol], [[-2.0], [1.0]])
    (inst,) = instruments([symbol])
    t = inst.years_to_expiry(snap.valuation_time)
    premium = 100.0 * float(gbs_price(680.0, 680.0, t, VOLS["SPY"], 0.0, 0.0, True))
    nov = out.info["net_option_value"]
    np.testing.assert_allclose(nov, [-2 * premium, premium], rtol=1e-10)
    # A long option cannot lose more than its premium: equity-inclusive scan risk <= NOV,
    # so its cash-basis requirement (maintenance - NOV) is <= 0.
    assert out.components["scan_risk"][1] <= premium
    # A short option's cash requirement is its risk plus the premium received.
    assert out.maintenance[0] - nov[0] > out.maintenance[0]


def test_composite_delta_of_futures_and_options() -> None:
    snap = kw_snapshot()
    spx = SpanModel().cc_parameters("SPX")
    insts = instruments(["ESH26", "ESH26 C6800", "ESH26 P6800", "ESH26 C9000"])
    terms = instrument_terms(insts, snap)
    d = composite_delta(terms, spx) / (50.0 * SPOTS["SPX"])
    # A linear future's delta is its multiplier at every price point: notional m·S.
    future, call, put, far = d
    assert future == pytest.approx(1.0)
    assert 0.4 < call < 0.6
    assert -0.6 < put < -0.4
    assert call - put == pytest.approx(1.0, abs=1e-9)  # parity holds point by point
    # A far out-of-the-money call has a small composite delta, but more than its delta
    # today: its delta is convex there and the +2/3, +3/3 scan points carry weight.
    today = reporting_greeks(terms).delta[3] / 50.0
    assert today < far < 0.1


def test_intra_commodity_calendar_charge_on_inverse_futures() -> None:
    # Long $1m face BTC Mar vs short $0.5m face BTC Jun (Deribit inverse): tiers 30-90d and
    # 90-180d, crypto adjacent-tier rate 1% of the spread's composite-delta notional. An
    # inverse future's notional delta is face x S/F (close to its face).
    snap = snapshot()
    out = SpanModel().margin_rows(
        SpanModel().prepare(instruments(["BTC-27MAR26", "BTC-26JUN26"]), snap),
        sp.csr_matrix([[100_000.0, -50_000.0]]),
    )
    (jun,) = instruments(["BTC-26JUN26"])
    t = jun.years_to_expiry(snap.valuation_time)
    assert out.components["intra_spread"][0] == pytest.approx(
        0.01 * 500_000.0 * math.exp(-0.04 * t), rel=5e-3
    )


# ------------------------------------------------------------------ books end to end


def test_sample_book_end_to_end() -> None:
    result = SpanModel().compute(sample_portfolio(), snapshot())
    assert result.model == "span"
    assert result.total > 0
    for acc in result.accounts:
        assert acc.netted >= 0
        assert acc.standalone >= 0
        assert acc.maintenance is not None
        assert acc.total >= acc.netted - 1e-9  # offsets capped by the default policy
        assert acc.total == pytest.approx(acc.tiers[-1].capped)
        assert acc.maintenance <= acc.total
        assert acc.worst_scenario is not None
        underlying, rest = acc.worst_scenario.split(" ", 1)
        assert underlying in SPOTS
        assert rest.split()[0] in {"0", "+1/3", "-1/3", "+2/3", "-2/3", "+3/3", "-3/3",
                                   "+extreme", "-extreme"}  # fmt: skip
        c = acc.components
        maintenance = (
            c["scan_risk"] + c["intra_spread"] + c["inter_credit"] + c["short_option_minimum"]
        )
        # the maintenance figure scales with the offset caps (total / netted)
        assert maintenance * acc.total / acc.netted == pytest.approx(acc.maintenance)
        assert maintenance + c["im_uplift"] == pytest.approx(acc.netted)
        assert c["inter_credit"] <= 0 <= c["short_option_minimum"]
    for pos in result.positions:
        assert pos.standalone >= 0
    # beta-macro holds short ES puts against long SPY puts: the SPX/SPY spread credits it.
    beta = next(a for a in result.accounts if a.account == "beta-macro")
    assert beta.components["inter_credit"] < 0
    json.dumps(result.to_dict())


def test_delta_neutral_covered_position_margins_less_than_its_legs() -> None:
    # Long 1 ES future, short 2 at-the-money ES calls (composite delta about zero).
    book = _book([("a", "ESH26", 1.0), ("a", "ESH26 C6800", -2.0)])
    result = SpanModel().compute(book, snapshot())
    (acc,) = result.accounts
    assert acc.netted < acc.standalone
    assert acc.netted < 0.5 * acc.standalone


def test_cross_asset_credit_is_modest() -> None:
    # Long BTC vs short ES: the BTC/SPX house credit (10%) applies, and only that much.
    book = _book([("a", "BTCH26", 1.0), ("a", "ESH26", -1.0)])
    result = SpanModel().compute(book, snapshot(rates=0.0, carry=False))
    (acc,) = result.accounts
    scan = acc.components["scan_risk"]
    assert -0.1 * scan <= acc.components["inter_credit"] < 0


def test_registry_and_parameters() -> None:
    assert "span" in model_names()
    model = get_model("span", extreme_move_multiple=2)
    assert isinstance(model, SpanModel)
    params = model.parameters()
    assert params["overrides"] == {"extreme_move_multiple": 2}
    assert params["version"]
    json.dumps(params)
    assert SpanModel.subadditive is False


def test_every_contract_table_underlying_has_parameters() -> None:
    from crossmargin.instruments import contract_table

    model = SpanModel()
    for underlying in contract_table().underlyings():
        p = model.cc_parameters(underlying)
        assert 0 < p.price_scan_range < 1
        assert len(p.scan_points) == 16


# ------------------------------------------------------------------ bad input


def _shipped() -> dict[str, Any]:
    text = resources.files("crossmargin").joinpath("models/params/span.json").read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def _write(tmp_path: Path, data: dict[str, Any] | str) -> Path:
    path = tmp_path / "span_params.json"
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return path


def test_missing_underlying_names_underlying_and_file(tmp_path: Path) -> None:
    data = _shipped()
    del data["underlyings"]["SPY"]
    path = _write(tmp_path, data)
    model = SpanModel(path)
    with pytest.raises(ModelError, match=r"'SPY'") as err:
        model.compute(sample_portfolio(), snapshot())
    assert str(path) in str(err.value)


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (lambda d: d["underlyings"]["BTC"].update(price_scan_range=-0.1), "price_scan_range"),
        (lambda d: d["underlyings"]["BTC"].update(price_scan_range="wide"), "price_scan_range"),
        (lambda d: d["underlyings"]["ETH"].update(extreme_move_multiple=6), "extreme_move"),
        (lambda d: d["defaults"].update(som_method="net"), "som_method"),
        (lambda d: d["defaults"].update(tier_max_days=[90, 30]), "tier_max_days"),
        (
            lambda d: d["defaults"]["intra_spreads"].append({"legs": ["0-30d", "1y"], "rate": 1}),
            "unknown tier",
        ),
        (lambda d: d["defaults"]["scan_points"].append({"price": [1, 0]}), "scan_points"),
        (lambda d: d["inter_spreads"].append({"legs": ["BTC"], "rate": 0.1}), "legs"),
        (
            lambda d: d["inter_spreads"].append({"legs": ["BTC", "ETH"], "rate": 1.5}),
            r"'inter_spreads\[7\]\.rate' should be less than or equal to 1 \(got 1\.5\)",
        ),
        (lambda d: d.update(model="rules"), "not 'span'"),
    ],
)
def test_malformed_parameter_file_is_input_error(tmp_path: Path, edit: Any, match: str) -> None:
    data = _shipped()
    edit(data)
    path = _write(tmp_path, data)
    with pytest.raises(InputError, match=match) as err:
        SpanModel(path)
    assert str(path) in str(err.value)


def test_unparseable_parameter_file_is_input_error(tmp_path: Path) -> None:
    path = _write(tmp_path, "{not json")
    with pytest.raises(InputError, match="not valid JSON"):
        SpanModel(path)


def test_missing_key_is_model_error(tmp_path: Path) -> None:
    data = _shipped()
    del data["defaults"]["im_ratio"]
    with pytest.raises(ModelError, match="im_ratio"):
        SpanModel(_write(tmp_path, data))


def test_unknown_override_is_input_error() -> None:
    with pytest.raises(InputError, match="unknown parameter override"):
        SpanModel(price_scan=0.1)


def test_different_scan_tables_are_refused(tmp_path: Path) -> None:
    data = _shipped()
    points = list(reversed(data["defaults"]["scan_points"]))
    data["underlyings"]["ETH"]["scan_points"] = points
    model = SpanModel(_write(tmp_path, data))
    with pytest.raises(ModelError, match="scan-point table"):
        model.prepare(instruments(["BTCH26", "ETH-27MAR26"]), snapshot())


def test_margin_rows_needs_its_context() -> None:
    with pytest.raises(ModelError, match="context"):
        SpanModel().margin_rows(object(), sp.csr_matrix((1, 1)))
