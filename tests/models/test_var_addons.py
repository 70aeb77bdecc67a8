"""Liquidity (delta and vega terms) and concentration (days to liquidate) add-ons of es/hvar.

Every expected figure is the formula of ``crossmargin.models.var_addons`` written out here:
Black-Scholes with zero rates (``F = S``) for the options, ``S·sinh(b)/b`` for the central
difference of a spot, the fractional-tail ES of the hand history for the core.
"""

from __future__ import annotations

import dataclasses
import json
import math
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from var_fixtures import crypto_history, holdings, instruments, snapshot

from crossmargin.errors import InputError, ModelError
from crossmargin.instruments import parse_symbol
from crossmargin.market.history import MarketHistory
from crossmargin.market.snapshot import MarketSnapshot
from crossmargin.market.volsurface import VolSurface
from crossmargin.models.params import load_parameters
from crossmargin.models.var import ExpectedShortfallModel
from crossmargin.models.var_addons import AddOnTerms, addon_terms, dollar_deltas, vegas
from crossmargin.pricing.greeks import reporting_greeks
from crossmargin.pricing.terms import instrument_terms

# daily log returns of the 20-day lookback (worst -0.12, then -0.07; best 0.05, then 0.04)
RETURNS = [0.01, -0.02, 0.03, -0.12, 0.00, 0.02, -0.01, 0.04, -0.07, 0.01]
RETURNS += [0.02, -0.03, 0.01, 0.00, -0.04, 0.05, -0.02, 0.01, 0.03, -0.01]
VOL = 0.6
CALL, PUT, SPOT = "BTC_USDC-27MAR20-9000-C", "BTC-27MAR20-9500-P", "BTC_USDC"
EXPIRY = datetime(2020, 3, 27, 8, tzinfo=UTC)  # Deribit expiries: 08:00 UTC
HUGE = {"adv_units": 1.0e12, "option_adv_units": 1.0e12}  # no concentration from these


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> MarketHistory:
    """BTC: 40 days near 10,000 then the 20 returns above; DVOL 60; as of the last day."""
    folder = tmp_path_factory.mktemp("addons")
    rets = np.concatenate([np.tile([0.001, -0.001], 20), RETURNS])
    closes = 10_000.0 * np.exp(np.concatenate([[0.0], np.cumsum(rets)]))
    days = pd.date_range("2020-01-01", periods=closes.size, freq="D")
    return crypto_history(folder, pd.Series(closes, index=days), dvol=100 * VOL)


def _market(history: MarketHistory) -> MarketSnapshot:
    asof = f"{history.coverage('BTC')[1]:%Y-%m-%d}"
    return dataclasses.replace(snapshot(history, asof, ["BTC"]), vols={"BTC": VolSurface.flat(VOL)})


def _params(folder: Path, *, defaults: dict[str, Any] | None = None, **venues: Any) -> Path:
    """The shipped es.json with ``defaults`` updated and ``venues`` (``BTC={...}``) replaced."""
    text = resources.files("crossmargin").joinpath("models/params/es.json").read_text("utf-8")
    data = json.loads(text)
    data["defaults"].update(defaults or {})
    data["venues"].update(venues)
    path = folder / "es_params.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def _black(s: float, k: float, t: float, call: bool) -> tuple[float, float]:
    """Black-Scholes with r = b = 0: (∂V/∂S, ∂V/∂σ) per unit of underlying."""
    d1 = (math.log(s / k) + 0.5 * VOL**2 * t) / (VOL * math.sqrt(t))
    cdf = 0.5 * (1.0 + math.erf(d1 / math.sqrt(2.0)))
    pdf = math.exp(-0.5 * d1 * d1) / math.sqrt(2.0 * math.pi)
    return (cdf if call else cdf - 1.0), s * pdf * math.sqrt(t)


def _hand_greeks(market: MarketSnapshot) -> dict[str, tuple[float, float]]:
    """(dollar delta ∂V/∂ln S, vega per 1.00 of vol) per contract, USD, by hand."""
    s = market.spots["BTC"]
    t = (EXPIRY - market.valuation_time).total_seconds() / (365.0 * 86400.0)
    dc, vc = _black(s, 9000.0, t, True)
    dp, vp = _black(s, 9500.0, t, False)
    # linear BTC_USDC option: 0.01 BTC; inverse BTC option: 1 BTC, USD value p_BTC·S = BS price
    return {
        SPOT: (s * math.sinh(0.01) / 0.01, 0.0),
        CALL: (0.01 * s * dc, 0.01 * vc),
        PUT: (s * dp, vp),
    }


def _es_hand(pnl: list[float], alpha: float = 0.9) -> float:
    """Fractional-tail ES of a P&L list (margin > 0); k = 2 for 20 scenarios at 90%."""
    worst = sorted(pnl)
    m = (1 - alpha) * len(pnl)
    k = math.ceil(m - 1e-9)
    return -(sum(worst[: k - 1]) + (m - (k - 1)) * worst[k - 1]) / m


def _model(history: MarketHistory, params: Path | None = None) -> ExpectedShortfallModel:
    return ExpectedShortfallModel(
        confidence=0.9, lookback="20D", mpor=1, history=history, params=params
    )


# ---------------------------------------------------------------- liquidity


def test_liquidity_delta_and_vega_terms_by_hand(history: MarketHistory, tmp_path: Path) -> None:
    market = _market(history)
    path = _params(tmp_path, BTC={"deribit": {"half_spread": 4e-4, "vol_half_spread": 0.012,
                                              **HUGE}})  # fmt: skip
    model = _model(history, path)
    insts = instruments(SPOT, CALL, PUT)
    rows = model.margin_rows(model.prepare(insts, market), holdings([[-3.0, 40.0, -2.0]]))
    g = _hand_greeks(market)
    qty = {SPOT: -3.0, CALL: 40.0, PUT: -2.0}
    delta_hand = 4e-4 * sum(abs(g[k][0] * q) for k, q in qty.items())
    vega_hand = 0.012 * sum(abs(g[k][1] * q) for k, q in qty.items())
    assert rows.components["liquidity_delta"][0] == pytest.approx(delta_hand, rel=1e-3)
    assert rows.components["liquidity_vega"][0] == pytest.approx(vega_hand, rel=2e-4)
    assert rows.components["concentration"][0] == 0.0
    total = sum(rows.components[k] for k in rows.components if k != "apc")
    np.testing.assert_allclose(rows.total, total, rtol=1e-12)


def test_vega_by_finite_difference_matches_closed_form_black_vega(
    history: MarketHistory,
) -> None:
    market = _market(history)
    symbols = (CALL, PUT, "BTC-27MAR20-12000-C", "BTC_USDC-26JUN20-7000-P", "BTC-PERPETUAL")
    insts = instruments(*symbols)
    fd = vegas(insts, market, bump=0.01)
    closed = reporting_greeks(instrument_terms(insts, market)).vega  # Haug GBS, per 1.00 vol
    np.testing.assert_allclose(fd, closed, rtol=1e-4, atol=1e-9)
    g = _hand_greeks(market)
    assert fd[0] == pytest.approx(g[CALL][1], rel=1e-4)
    assert fd[1] == pytest.approx(g[PUT][1], rel=1e-4)
    assert fd[4] == 0.0  # no vega outside options
    fd_delta = dollar_deltas(insts[:2], market, bump=0.01)  # error O(bump²·S²Γ)
    assert fd_delta[0] == pytest.approx(g[CALL][0], rel=1e-3)
    assert fd_delta[1] == pytest.approx(g[PUT][0], rel=1e-3)


def test_liquidity_is_homogeneous_in_the_position(history: MarketHistory) -> None:
    model = _model(history)
    ctx = model.prepare(instruments(SPOT, CALL, PUT), _market(history))
    base = np.array([-3.0, 40.0, -2.0])
    rows = model.margin_rows(ctx, holdings([base, 2.5 * base, -base]))
    for key in ("liquidity_delta", "liquidity_vega"):
        one = rows.components[key][0]
        np.testing.assert_allclose(rows.components[key], [one, 2.5 * one, one], rtol=1e-12)


# ---------------------------------------------------------------- concentration


def test_concentration_scales_core_by_sqrt_days_over_mpor(
    history: MarketHistory, tmp_path: Path
) -> None:
    market = _market(history)
    s0 = market.spots["BTC"]
    # Deribit BTC: 100 BTC a day, 10% of it a day, 365 venue days a year
    path = _params(tmp_path, BTC={"deribit": {"adv_units": 100.0, "option_adv_units": 1.0}})
    model = _model(history, path)
    rows = model.margin_rows(model.prepare(instruments(SPOT), market), holdings([[-50.0]]))
    core = _es_hand([-50.0 * s0 * math.expm1(r) for r in RETURNS])
    assert rows.components["core"][0] == pytest.approx(core, rel=1e-12)
    days = 50.0 * s0 * math.sinh(0.01) / 0.01 / (0.1 * 100.0 * s0)  # |Δ·q| / (p·ADV·S)
    assert rows.info["days_to_liquidate"][0] == pytest.approx(days, rel=1e-12)
    h = 1.0  # one step of the crypto calendar = one calendar day
    expected = core * (math.sqrt(days / h) - 1.0)
    assert rows.components["concentration"][0] == pytest.approx(expected, rel=1e-12)
    # a venue trading 252 days a year: 365/252 calendar days per venue day
    path = _params(tmp_path, BTC={"deribit": {"adv_units": 100.0, "adv_days_per_year": 252}})
    model = _model(history, path)
    rows = model.margin_rows(model.prepare(instruments(SPOT), market), holdings([[-50.0]]))
    assert rows.info["days_to_liquidate"][0] == pytest.approx(days * 365 / 252, rel=1e-12)
    slow = core * (math.sqrt(days * 365 / 252) - 1.0)
    assert rows.components["concentration"][0] == pytest.approx(slow, rel=1e-12)


def test_vega_bucket_days_against_options_adv(history: MarketHistory, tmp_path: Path) -> None:
    market = _market(history)
    s0 = market.spots["BTC"]
    venue = {"adv_units": 1.0e12, "option_adv_units": 40.0, "participation": 0.2}
    model = _model(history, _params(tmp_path, BTC={"deribit": venue}))
    rows = model.margin_rows(model.prepare(instruments(PUT), market), holdings([[-30.0]]))
    vega = _hand_greeks(market)[PUT][1]
    # options ADV as vega: 40 BTC a day x the vega of 1 BTC of a 30-day ATM option, S·φ(0)·√T
    capacity = 0.2 * 40.0 * s0 * math.sqrt(30 / 365) / math.sqrt(2 * math.pi)
    days = 30.0 * vega / capacity
    assert days > 1.0
    assert rows.info["days_to_liquidate"][0] == pytest.approx(days, rel=2e-4)
    core = rows.components["core"][0]
    conc = core * (math.sqrt(days) - 1.0)
    assert rows.components["concentration"][0] == pytest.approx(conc, rel=2e-4)


def test_concentration_is_zero_within_limits_and_superlinear_once_it_binds(
    history: MarketHistory, tmp_path: Path
) -> None:
    market = _market(history)
    path = _params(tmp_path, BTC={"deribit": {"adv_units": 100.0, "option_adv_units": 1.0}})
    model = _model(history, path)
    ctx = model.prepare(instruments(SPOT), market)
    # 5 BTC = 0.5 day, 10 BTC = 1 day (= the MPOR), 40 and 80 BTC = 4 and 8 days
    rows = model.margin_rows(ctx, holdings([[5.0], [10.0], [-40.0], [-80.0]]))
    conc, core = rows.components["concentration"], rows.components["core"]
    days = rows.info["days_to_liquidate"]
    np.testing.assert_allclose(days, np.array([5, 10, 40, 80]) * math.sinh(0.01) / 0.1)
    assert conc[0] == 0.0
    assert conc[1] == pytest.approx(core[1] * (math.sqrt(days[1]) - 1.0), abs=1e-9)
    assert core[3] == pytest.approx(2 * core[2], rel=1e-12)  # the core ES is homogeneous
    assert conc[3] > 2 * conc[2]  # the add-on is not: it grows like q^(3/2)
    assert conc[3] == pytest.approx(2 * core[2] * (math.sqrt(2 * days[2]) - 1.0), rel=1e-12)


def test_realistic_positions_within_limits_get_no_concentration(history: MarketHistory) -> None:
    model = _model(history)  # shipped parameters
    ctx = model.prepare(instruments(SPOT, CALL, PUT, "BTC-PERPETUAL"), _market(history))
    rows = model.margin_rows(ctx, holdings([[3.0, 0, 0, 0], [0, 100.0, -20.0, 0], [0, 0, 0, -5e4]]))
    np.testing.assert_array_equal(rows.components["concentration"], 0.0)
    assert np.all(rows.info["days_to_liquidate"] < 0.1)


# ---------------------------------------------------------------- twins


def _reference(terms: AddOnTerms, q: np.ndarray) -> tuple[list[float], list[float], list[float]]:
    """Row by row, bucket by bucket: liquidity (delta, vega) and days, in plain Python."""
    liq_d, liq_v, days = [], [], []
    for row in q:
        liq_d.append(sum(terms.half_spread[i] * abs(terms.dollar_delta[i] * x)
                         for i, x in enumerate(row)))  # fmt: skip
        liq_v.append(sum(terms.vol_half_spread[i] * abs(terms.vega[i] * x)
                         for i, x in enumerate(row)))  # fmt: skip
        worst = 0.0
        for b in range(len(terms.buckets)):
            members = [i for i in range(row.size) if terms.bucket_index[i] == b]
            net_d = abs(sum(terms.dollar_delta[i] * row[i] for i in members))
            net_v = abs(sum(terms.vega[i] * row[i] for i in members))
            worst = max(worst, net_d / terms.delta_capacity[b])
            if net_v > 0:
                worst = max(worst, net_v / terms.vega_capacity[b])
        days.append(worst)
    return liq_d, liq_v, days


def test_vectorised_terms_agree_with_a_plain_loop(history: MarketHistory) -> None:
    market = _market(history)
    insts = instruments(SPOT, CALL, PUT, "BTC-PERPETUAL", "MBTH20")
    params = load_parameters("es")
    terms = addon_terms(insts, market, history, params)
    assert terms.buckets == (("BTC", "deribit"), ("BTC", "cme"))
    q = np.random.default_rng(5).normal(0.0, 50.0, (40, len(insts)))
    q[q < -40] = 0.0
    liq_d, liq_v, days = _reference(terms, q)
    delta, vega = terms.liquidity(sp.csr_matrix(q))
    np.testing.assert_allclose(delta, liq_d, rtol=1e-12)
    np.testing.assert_allclose(vega, liq_v, rtol=1e-12)
    np.testing.assert_allclose(terms.days_to_liquidate(sp.csr_matrix(q)), days, rtol=1e-12)


def test_extended_terms_equal_a_fresh_build(history: MarketHistory) -> None:
    market = _market(history)
    params = load_parameters("es")
    first = instruments(SPOT, "BTC-PERPETUAL")  # Deribit BTC, no options yet
    new = instruments(CALL, "MBTH20", PUT)  # options new to the bucket, and a CME bucket
    extended = addon_terms(first, market, history, params).extend(
        addon_terms(new, market, history, params)
    )
    fresh = addon_terms(first + new, market, history, params)
    assert extended.buckets == fresh.buckets
    for field in ("bucket_index", "dollar_delta", "vega", "half_spread", "vol_half_spread",
                  "delta_capacity", "vega_capacity"):  # fmt: skip
        np.testing.assert_allclose(getattr(extended, field), getattr(fresh, field), rtol=1e-12)
    assert np.isfinite(fresh.vega_capacity[0])


# ---------------------------------------------------------------- bad parameters


@pytest.mark.parametrize(
    ("defaults", "venues", "message"),
    [
        ({}, {"BTC": {"deribit": {"half_spread": -1e-4}}},
         r"'venues\.BTC\.deribit\.half_spread' should be greater than or equal to 0"),
        ({}, {"BTC": {"deribit": {"vol_half_spread": -0.01}}},
         r"'venues\.BTC\.deribit\.vol_half_spread' should be greater than or equal to 0"),
        ({"participation": 0.0}, {}, r"'defaults\.participation' should be greater than 0"),
        ({}, {"BTC": {"cme": {"participation": 1.5}}},
         r"'venues\.BTC\.cme\.participation' should be less than or equal to 1"),
        ({}, {"BTC": {"binance": {"adv_units": 1.0}}},
         r"venues\.BTC\.binance: unknown venue 'binance' \(venues are the contract styles: "
         r"cme, deribit, occ, plain\)"),
        ({}, {"DOGE": {"deribit": {"adv_units": 1.0}}}, r"venues\.DOGE: no such underlying"),
        ({}, {"BTC": {"deribit": {"option_adv": 1.0}}},
         r"unknown key 'venues\.BTC\.deribit\.option_adv'"),
        ({}, {"BTC": {"deribit": {"adv_units": 1.0, "adv_usd": 1.0}}}, r"give one of"),
        ({"concentration_rate": 0.05}, {}, r"unknown key 'defaults\.concentration_rate'"),
    ],
)  # fmt: skip
def test_bad_parameters_are_errors_naming_file_and_key(
    history: MarketHistory,
    tmp_path: Path,
    defaults: dict[str, Any],
    venues: dict[str, Any],
    message: str,
) -> None:
    path = _params(tmp_path, defaults=defaults, **venues)
    with pytest.raises(InputError, match=message) as info:  # on loading, or on first use
        _model(history, path).prepare(instruments(SPOT), _market(history))
    assert str(path) in str(info.value)


def test_options_without_an_options_adv_are_refused(history: MarketHistory, tmp_path: Path) -> None:
    text = resources.files("crossmargin").joinpath("models/params/es.json").read_text("utf-8")
    data = json.loads(text)
    del data["venues"]["BTC"]["deribit"]["option_adv_units"]
    path = tmp_path / "no_option_adv.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    model = _model(history, path)
    model.prepare(instruments(SPOT), _market(history))  # no options: fine
    with pytest.raises(ModelError, match=r"venues\.BTC\.deribit\.option_adv_units"):
        model.prepare(instruments(SPOT, CALL), _market(history))


# ---------------------------------------------------------------- real data


@pytest.fixture(scope="module")
def real_history() -> MarketHistory:
    from crossmargin.config import find_data_dir

    folder = find_data_dir()
    if folder is None or not folder.is_dir():
        pytest.skip("shared market data not found (set CROSSMARGIN_DATA or add ../shared/data)")
    return MarketHistory.load(folder)


def _real_rows(history: MarketHistory, symbols: list[str], rows: list[list[float]]) -> Any:
    from crossmargin.market.builder import snapshot_from_history

    insts = tuple(parse_symbol(s, reference_year=2026) for s in symbols)
    unds = sorted({i.underlying for i in insts})
    market = snapshot_from_history("2026-02-11", unds, history=history)
    model = ExpectedShortfallModel(history=history)
    return market, insts, model.margin_rows(model.prepare(insts, market), holdings(rows))


@pytest.mark.realdata
def test_short_5000_deribit_btc_calls_bind_on_real_data(real_history: MarketHistory) -> None:
    """5,000 short BTC-27MAR26-70000-C on 2026-02-11 (BTC 66,992): 2,500 fit in the 2-day
    MPOR, 5,000 do not. Days by hand from es.json (Deribit BTC: 12,000 BTC a day of futures
    and perpetuals, 25,000 BTC a day of options, participation 10%, 365 venue days) and the
    closed-form Greeks."""
    market, insts, rows = _real_rows(real_history, ["BTC-27MAR26-70000-C"], [[-5000.0], [-2500.0]])
    s = market.spots["BTC"]
    greeks = reporting_greeks(instrument_terms(insts, market))
    delta_days = 5000 * abs(greeks.delta[0]) * s / (0.1 * 12_000 * s)  # Δ per contract in BTC
    vega_days = (
        5000 * greeks.vega[0] / (0.1 * 25_000 * s * math.sqrt(30 / 365) / math.sqrt(2 * math.pi))
    )
    days = max(delta_days, vega_days)
    assert days == pytest.approx(rows.info["days_to_liquidate"][0], rel=1e-3)
    assert rows.info["days_to_liquidate"][1] == pytest.approx(
        rows.info["days_to_liquidate"][0] / 2, rel=1e-12
    )
    core, conc = rows.components["core"], rows.components["concentration"]
    assert conc[0] == pytest.approx(core[0] * (math.sqrt(days / 2.0) - 1.0), rel=1e-3)
    assert conc[0] > 0.05 * core[0]  # material: ~9% of a ~17m USD core ES
    assert conc[1] == 0.0  # 2,500 contracts close within the MPOR


@pytest.mark.realdata
def test_20000_es_futures_fit_in_the_mpor(real_history: MarketHistory) -> None:
    """20,000 ESH26 (7bn USD) are 1.3% of a day of E-mini + Micro E-mini volume (79M index
    units a CME day): 0.18 calendar days at 10% participation, no concentration; it takes
    about 400,000 contracts to outlast the 2-session MPOR."""
    market, insts, rows = _real_rows(real_history, ["ESH26"], [[20_000.0], [400_000.0]])
    t = insts[0].years_to_expiry(market.valuation_time)
    fwd = float(market.forward("SPX", t))
    capacity = 0.1 * 79e6 * market.spots["SPX"] * 252 / 365  # USD a calendar day
    days = 20_000 * 50 * fwd / capacity
    assert rows.info["days_to_liquidate"][0] == pytest.approx(days, rel=1e-3)
    assert days < 0.25
    assert rows.components["concentration"][0] == 0.0
    h = rows.facts[1]["mpor_calendar_days"]["mean"]  # 2 NYSE sessions: 2.9 calendar days
    assert 2.0 < h < 3.5
    assert rows.components["concentration"][1] == pytest.approx(
        rows.components["core"][1] * (math.sqrt(20 * days / h) - 1.0), rel=1e-3
    )


@pytest.mark.realdata
def test_docs_addons_table_is_the_scripts_output(real_history: MarketHistory) -> None:
    import importlib.util

    from crossmargin.report.docs import read_block

    root = Path(__file__).resolve().parents[2]
    spec = importlib.util.spec_from_file_location("addons_table", root / "scripts/addons_table.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert read_block(root / "docs/models/es.md", "addons-table") == module.table(real_history)
