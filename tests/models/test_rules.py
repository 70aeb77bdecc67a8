"""The ``rules`` (isolated) model: hand-computed rule charges and its properties.

Rule texts: FINRA Rule 4210(f)(2)(D) / Cboe Margin Manual (short equity option: premium +
max(20% x underlying − OTM, 10% x underlying (calls) or 10% x strike (puts)); 15% for
broad-based indices); Regulation T (long options paid in full, 50% on long stock);
Deribit standard margin for crypto options (IM = max(0.15 − OTM/S, 0.10) + mark,
MM = 0.075 + mark). Our requirements are equity-inclusive, so a short option's charge
here is the rule amount *without* its premium (crossmargin/models/base.py).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crossmargin.errors import InputError, ModelError
from crossmargin.instruments import parse_symbol
from crossmargin.market import MarketSnapshot, VolSurface
from crossmargin.models import get_model
from crossmargin.portfolio import Portfolio, Position
from crossmargin.pricing.terms import instrument_terms
from crossmargin.pricing.valuation import base_values

T0 = datetime(2026, 2, 11, 21, tzinfo=UTC)
MARKET = MarketSnapshot(
    valuation_time=T0,
    spots={"AAPL": 200.0, "SPX": 6000.0, "BTC": 60_000.0, "SPY": 600.0},
    vols={
        u: VolSurface.flat(v) for u, v in {"AAPL": 0.3, "SPX": 0.2, "BTC": 0.6, "SPY": 0.2}.items()
    },
    rates={"USD": 0.04},
)


def book(*rows: tuple[str, str, float]) -> Portfolio:
    return Portfolio.from_positions(
        Position(account=a, instrument=parse_symbol(s, reference_year=2026), quantity=q)
        for a, s, q in rows
    )


def rules_total(*rows: tuple[str, str, float]) -> float:
    return get_model("rules").compute(book(*rows), MARKET).total


def premium(symbol: str) -> float:
    inst = parse_symbol(symbol, reference_year=2026)
    return float(base_values(instrument_terms((inst,), MARKET))[0])


def test_short_equity_call_cboe_rule() -> None:
    # Short 2 AAPL 220 calls, stock 200: OTM 20; max(0.20 x 200 − 20, 0.10 x 200) = max(20, 20)
    # = 20 per share x 100 shares x 2 contracts = 4,000 (beyond the premium).
    assert rules_total(("a", "AAPL  260320C00220000", -2)) == pytest.approx(4_000.0)


def test_short_index_put_uses_15_percent_and_strike_floor() -> None:
    # Short 1 SPY 500 put, SPY 600: OTM 100; max(0.15 x 600 − 100, 0.10 x 500) = max(−10, 50)
    # = 50 x 100 = 5,000.
    assert rules_total(("a", "SPY   260320P00500000", -1)) == pytest.approx(5_000.0)


def test_long_option_is_its_premium() -> None:
    sym = "SPY   260320C00620000"
    assert rules_total(("a", sym, 3)) == pytest.approx(3 * premium(sym))


def test_deribit_short_call_standard_margin() -> None:
    # Short 1 BTC 66,000 call at S = 60,000: OTM 6,000 → max(0.15 − 0.1, 0.10) = 0.10 BTC
    # = 6,000 USD; MM = 0.075 BTC = 4,500 USD.
    res = get_model("rules").compute(book(("a", "BTC-27MAR26-66000-C", -1)), MARKET)
    assert res.total == pytest.approx(6_000.0)
    assert res.maintenance_total == pytest.approx(4_500.0)


def test_futures_percent_of_notional() -> None:
    # ES: 50 x F per contract, F = 6000·e^{b T}; 7.2% IM, 6.5% MM from params/rules.json.
    inst = parse_symbol("ESH26", reference_year=2026)
    fwd = float(MARKET.forward("SPX", inst.years_to_expiry(T0)))
    res = get_model("rules").compute(book(("a", "ESH26", -3)), MARKET)
    assert res.total == pytest.approx(0.072 * 3 * 50 * fwd)
    assert res.maintenance_total == pytest.approx(0.065 * 3 * 50 * fwd)
    # Inverse perpetual: notional is the USD face, 10 USD x 1,000 contracts x 10% IM.
    assert rules_total(("a", "BTC-PERPETUAL", 1_000)) == pytest.approx(1_000.0)


def test_no_netting_benefit_by_construction() -> None:
    res = get_model("rules").compute(
        book(("a", "ESH26", -1), ("a", "SPY", 1000), ("a", "SPY   260320P00500000", 5)), MARKET
    )
    assert res.benefit == pytest.approx(0.0, abs=1e-6)
    assert res.netted_total == pytest.approx(res.standalone_total)


SYMBOLS = ["ESH26", "SPY", "SPY   260320P00550000", "AAPL  260320C00210000", "BTC-PERPETUAL",
           "BTC-27MAR26-70000-P", "BTC_USDC-PERPETUAL"]  # fmt: skip


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["a", "b"]), st.sampled_from(SYMBOLS),
                  st.integers(-50, 50).filter(bool)),
        min_size=1, max_size=8,
    ),
    st.integers(1, 5),
)  # fmt: skip
def test_properties(rows: list[tuple[str, str, int]], scale: int) -> None:
    model = get_model("rules")
    res = model.compute(book(*rows), MARKET)
    assert all(a.total >= 0 for a in res.accounts)
    # Row order does not matter.
    assert model.compute(book(*reversed(rows)), MARKET).total == pytest.approx(res.total)
    # Splitting every position in two changes nothing.
    halves = [(a, s, q / 2) for a, s, q in rows] * 2
    assert model.compute(book(*halves), MARKET).total == pytest.approx(res.total)
    # Positive homogeneity: the rules have no floor.
    scaled = [(a, s, q * scale) for a, s, q in rows]
    assert model.compute(book(*scaled), MARKET).total == pytest.approx(scale * res.total)


def test_missing_underlying_parameters_name_file(tmp_path: Path) -> None:
    params = json.loads(
        (Path(__file__).parents[2] / "src/crossmargin/models/params/rules.json").read_text()
    )
    del params["underlyings"]["AAPL"]
    path = tmp_path / "rules.json"
    path.write_text(json.dumps(params))
    with pytest.raises(ModelError, match=r"no parameters for underlying 'AAPL' in .*rules\.json"):
        get_model("rules", params=path).compute(book(("a", "AAPL", 10)), MARKET)


def test_malformed_parameter_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text("{not json")
    with pytest.raises(InputError, match="not valid JSON"):
        get_model("rules", params=path)
    path.write_text(json.dumps({"model": "span", "version": "1", "underlyings": {}}))
    with pytest.raises(InputError, match="is for model 'span'"):
        get_model("rules", params=path)


def test_unknown_model() -> None:
    with pytest.raises(ModelError, match="unknown model 'nope': choose one of"):
        get_model("nope")
