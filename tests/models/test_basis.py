"""Basis/calendar and funding add-ons (crossmargin.models.basis).

Expected values are written out by hand from the formulas in the module docstring:
forwards ``F = S·e^{bT}`` with ``T`` counted in the test from the contract's expiry date
(ACT/365), linear futures ``q·m·(F' − F)``, inverse futures ``q·m·(1/F − 1/F')`` coins
converted at spot, options by the Black-76 formula, funding ``|N|·f·h/365``. The tests
marked ``realdata`` read the shared history: the review's two books (a BTC calendar spread and
spot vs a CME future) against the ``span`` model, and the table of docs/models/basis.md.
"""

from __future__ import annotations

import importlib.util
import json
import math
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.stats import norm

from crossmargin.config import find_data_dir
from crossmargin.errors import InputError, ModelError
from crossmargin.instruments import Instrument, contract_table, parse_symbol
from crossmargin.market.builder import snapshot_from_history
from crossmargin.market.history import MarketHistory
from crossmargin.market.snapshot import Carry, MarketSnapshot
from crossmargin.market.volsurface import VolSurface
from crossmargin.models.basis import (
    BasisTerms,
    basis_terms,
    resolve_parameters,
    shift_carry,
)
from crossmargin.models.params import ParameterSet, load_parameters
from crossmargin.pricing.terms import instrument_terms
from crossmargin.pricing.valuation import base_fx, base_values

NOW = datetime(2026, 2, 11, 21, 0, tzinfo=UTC)
S_BTC, S_ETH, S_SPX = 70_000.0, 2_000.0, 6_900.0
B_BTC, R_USD = 0.05, 0.04  # flat BTC carry; USD rate (the ETH carry when none is given)
DELTA_BTC, F_BTC = 0.10, 1.5  # test parameter file below
DELTA_ETH, F_ETH = 0.20, 3.0
DELTA_EQ = 0.01
YEAR = 365.0 * 86400.0


def _params_file(tmp_path: Path, **changes: Any) -> Path:
    data: dict[str, Any] = {
        "model": "basis",
        "version": "test",
        "source": "test file",
        "defaults": {"reference_days": 2},
        "asset_classes": {
            "crypto": {"basis_shock": DELTA_ETH, "funding_shock": F_ETH},
            "equity_index": {"basis_shock": DELTA_EQ, "funding_shock": 0.5},
        },
        "underlyings": {"BTC": {"basis_shock": DELTA_BTC, "funding_shock": F_BTC}},
    }
    data.update(changes)
    path = tmp_path / "basis.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


@pytest.fixture
def params(tmp_path: Path) -> ParameterSet:
    return load_parameters("basis", _params_file(tmp_path))


@pytest.fixture
def market() -> MarketSnapshot:
    return MarketSnapshot(
        valuation_time=NOW,
        spots={"BTC": S_BTC, "ETH": S_ETH, "SPX": S_SPX},
        rates={"USD": R_USD, "USDC": R_USD},
        carries={"BTC": Carry(carry_rate=B_BTC)},
        vols={"BTC": VolSurface.flat(0.5), "ETH": VolSurface.flat(0.7)},
        fx={"USDC": 1.0},
    )


def _years(expiry: datetime) -> float:
    return (expiry - NOW).total_seconds() / YEAR


def _instruments(*symbols: str) -> tuple[Instrument, ...]:
    return tuple(parse_symbol(s, reference_year=2026) for s in symbols)


def _row(*quantities: float) -> sp.csr_matrix:
    return sp.csr_matrix(np.array([quantities], dtype=float))


# -------------------------------------------------------------------- hand computations
def test_linear_calendar_spread_closed_form(market: MarketSnapshot, params: ParameterSet) -> None:
    # CME Bitcoin futures, 5 BTC; last Friday of the month 15:00 UTC.
    inst = _instruments("BTCH26", "BTCM26")
    t1 = _years(datetime(2026, 3, 27, 15, 0, tzinfo=UTC))
    t2 = _years(datetime(2026, 6, 26, 15, 0, tzinfo=UTC))
    f1, f2 = S_BTC * math.exp(B_BTC * t1), S_BTC * math.exp(B_BTC * t2)
    q, m = 3.0, 5.0
    # Long T1, short T2: +δ loses on the far leg more than it gains on the near one.
    expected = q * m * (f2 * math.expm1(DELTA_BTC * t2) - f1 * math.expm1(DELTA_BTC * t1))
    terms = basis_terms(inst, market, params)
    got = terms.basis(_row(q, -q), np.array([2.0]))
    assert got[0] == pytest.approx(expected, rel=1e-12)
    # One short future alone: |q|·m·F·(e^{δT} − 1); one long alone: q·m·F·(1 − e^{−δT}).
    short = terms.basis(_row(0.0, -q), np.array([2.0]))[0]
    long_ = terms.basis(_row(q, 0.0), np.array([2.0]))[0]
    assert short == pytest.approx(q * m * f2 * math.expm1(DELTA_BTC * t2), rel=1e-12)
    assert long_ == pytest.approx(-q * m * f1 * math.expm1(-DELTA_BTC * t1), rel=1e-12)


def test_inverse_calendar_spread_coin_form(market: MarketSnapshot, params: ParameterSet) -> None:
    # Deribit inverse futures, 10 USD face; expiry 08:00 UTC. Coin P&L of q contracts when the
    # mark moves F -> F' is q·m·(1/F − 1/F'); the settlement coin is worth S (spot unchanged).
    inst = _instruments("BTC-27MAR26", "BTC-26JUN26")
    t1 = _years(datetime(2026, 3, 27, 8, 0, tzinfo=UTC))
    t2 = _years(datetime(2026, 6, 26, 8, 0, tzinfo=UTC))
    f1, f2 = S_BTC * math.exp(B_BTC * t1), S_BTC * math.exp(B_BTC * t2)
    q1, q2, m = 100_000.0, -100_000.0, 10.0

    def pnl_usd(sign: float) -> float:
        coins = q1 * m * (1 / f1 - 1 / (f1 * math.exp(sign * DELTA_BTC * t1)))
        coins += q2 * m * (1 / f2 - 1 / (f2 * math.exp(sign * DELTA_BTC * t2)))
        return coins * S_BTC

    expected = max(0.0, -min(pnl_usd(1.0), pnl_usd(-1.0)))
    terms = basis_terms(inst, market, params)
    assert terms.basis(_row(q1, q2), np.array([2.0]))[0] == pytest.approx(expected, rel=1e-12)
    # About the USD notional times δ times the expiry gap.
    assert expected == pytest.approx(1e6 * DELTA_BTC * (t2 - t1), rel=0.05)
    # Per contract: the up/down P&L of one long near contract.
    near_up = m * (1 / f1 - 1 / (f1 * math.exp(DELTA_BTC * t1))) * S_BTC
    assert terms.basis_pnl_up[0] == pytest.approx(near_up, rel=1e-12)


def test_option_reprices_on_the_shifted_forward(
    market: MarketSnapshot, params: ParameterSet
) -> None:
    # Linear BTC option (0.01 BTC, USDC): Black-76 on F·e^{±δT}, discounted at the USD rate,
    # vol unchanged (sticky strike; the surface is flat).
    (opt,) = _instruments("BTC_USDC-26JUN26-75000-C")
    t = _years(datetime(2026, 6, 26, 8, 0, tzinfo=UTC))
    f, k, vol, m = S_BTC * math.exp(B_BTC * t), 75_000.0, 0.5, 0.01

    def black_call(fwd: float) -> float:
        d1 = (math.log(fwd / k) + 0.5 * vol * vol * t) / (vol * math.sqrt(t))
        d2 = d1 - vol * math.sqrt(t)
        return math.exp(-R_USD * t) * (fwd * norm.cdf(d1) - k * norm.cdf(d2))

    terms = basis_terms((opt,), market, params)
    up = m * (black_call(f * math.exp(DELTA_BTC * t)) - black_call(f))
    down = m * (black_call(f * math.exp(-DELTA_BTC * t)) - black_call(f))
    assert terms.basis_pnl_up[0] == pytest.approx(up, rel=1e-9)
    assert terms.basis_pnl_down[0] == pytest.approx(down, rel=1e-9)
    # Short 10 calls: the up move hurts.
    assert terms.basis(_row(-10.0), np.array([2.0]))[0] == pytest.approx(10 * up, rel=1e-9)


def test_options_match_revaluation_on_a_shifted_snapshot(
    market: MarketSnapshot, params: ParameterSet
) -> None:
    # For options (not futures, whose value is variation against the snapshot's own mark),
    # today's value on a carry-shifted copy minus today's value is the same P&L, inverse too.
    inst = _instruments("BTC-26JUN26-80000-C", "BTC-27MAR26-60000-P", "BTC_USDC-26JUN26-60000-P")
    terms = basis_terms(inst, market, params)
    base = instrument_terms(inst, market)
    for delta, pnl in ((DELTA_BTC, terms.basis_pnl_up), (-DELTA_BTC, terms.basis_pnl_down)):
        shifted = instrument_terms(inst, shift_carry(market, "BTC", delta))
        want = (base_values(shifted) - base_values(base)) * base_fx(base)
        np.testing.assert_allclose(pnl, want, rtol=1e-10)


def test_perpetual_funding_by_hand(market: MarketSnapshot, params: ParameterSet) -> None:
    inst = _instruments("BTC-PERPETUAL", "BTC_USDC-PERPETUAL", "ETH-PERPETUAL", "BTC_USDC")
    # Inverse BTC: 10 USD face; linear BTC: 0.001 BTC x S; inverse ETH: 1 USD face.
    q = (-20_000.0, 15_000.0, 300_000.0, 5.0)
    net_btc = -20_000.0 * 10.0 + 15_000.0 * 0.001 * S_BTC  # -200,000 + 1,050,000
    net_eth = 300_000.0 * 1.0
    h = 3.0
    expected = (abs(net_btc) * F_BTC + abs(net_eth) * F_ETH) * h / 365.0
    terms = basis_terms(inst, market, params)
    assert terms.funding(_row(*q), np.array([h]))[0] == pytest.approx(expected, rel=1e-12)
    # The sign of the net notional does not matter; perpetuals have no basis charge.
    flipped = _row(*(-x for x in q))
    assert terms.funding(flipped, np.array([h]))[0] == pytest.approx(expected, rel=1e-12)
    assert terms.basis(_row(*q), np.array([h]))[0] == 0.0
    np.testing.assert_array_equal(terms.perpetual_notional[3], 0.0)


def test_rows_without_dated_or_perpetual_instruments_get_zero(
    market: MarketSnapshot, params: ParameterSet
) -> None:
    inst = _instruments("BTC_USDC", "BTCH26", "BTC-PERPETUAL")
    terms = basis_terms(inst, market, params)
    rows = sp.csr_matrix(np.array([[10.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 2.0, 0.0]]))
    h = np.full(3, 2.0)
    basis, funding = terms.basis(rows, h), terms.funding(rows, h)
    assert basis[0] == 0.0
    assert basis[1] == 0.0
    assert basis[2] > 0.0
    np.testing.assert_array_equal(funding, 0.0)


# --------------------------------------------------------------------------- properties
def _book_terms(market: MarketSnapshot, params: ParameterSet) -> BasisTerms:
    inst = _instruments(
        "BTC-27MAR26",
        "BTC-26JUN26",
        "BTCH26",
        "BTC_USDC",
        "BTC-PERPETUAL",
        "BTC_USDC-PERPETUAL",
        "BTC-26JUN26-80000-C",
        "ETH-27MAR26",
        "ETH-PERPETUAL",
        "ESH26",
        "ESM26",
    )
    return basis_terms(inst, market, params)


def _random_rows(n_rows: int, n_cols: int, seed: int) -> sp.csr_matrix:
    rng = np.random.default_rng(seed)
    dense = rng.normal(0.0, 100.0, (n_rows, n_cols)) * (rng.random((n_rows, n_cols)) < 0.4)
    return sp.csr_matrix(dense)


def _reference_basis(terms: BasisTerms, rows: sp.csr_matrix, h: np.ndarray) -> np.ndarray:
    """Plain twin: one row and one underlying at a time."""
    dense = rows.toarray()
    out = np.zeros(dense.shape[0])
    for r in range(dense.shape[0]):
        for u in range(len(terms.underlyings)):
            up = down = 0.0
            for i in range(terms.size):
                if terms.underlying_index[i] == u:
                    up += dense[r, i] * terms.basis_pnl_up[i]
                    down += dense[r, i] * terms.basis_pnl_down[i]
            out[r] += max(0.0, -min(up, down)) * math.sqrt(h[r] / terms.reference_days)
    return out


def test_vectorised_rows_agree_with_the_plain_twin(
    market: MarketSnapshot, params: ParameterSet
) -> None:
    terms = _book_terms(market, params)
    rows = _random_rows(40, terms.size, seed=7)
    h = np.random.default_rng(8).uniform(0.5, 10.0, 40)
    np.testing.assert_allclose(terms.basis(rows, h), _reference_basis(terms, rows, h), rtol=1e-12)
    dense = rows.toarray()
    want = np.zeros(40)
    for u in range(len(terms.underlyings)):
        cols = terms.underlying_index == u
        want += np.abs(dense[:, cols] @ terms.perpetual_notional[cols]) * terms.funding_shock[u]
    np.testing.assert_allclose(terms.funding(rows, h), want * h / 365.0, rtol=1e-12)


@pytest.mark.parametrize("scale", [2.0, 0.5, 7.0])
def test_positive_homogeneity(market: MarketSnapshot, params: ParameterSet, scale: float) -> None:
    terms = _book_terms(market, params)
    rows = _random_rows(25, terms.size, seed=11)
    h = np.full(25, 2.0)
    for charge in (terms.basis, terms.funding):
        base = charge(rows, h)
        assert np.all(base >= 0.0)
        assert np.all(np.isfinite(base))
        np.testing.assert_allclose(charge(rows * scale, h), scale * base, rtol=1e-12)


def test_horizon_scaling(market: MarketSnapshot, params: ParameterSet) -> None:
    terms = _book_terms(market, params)
    rows = _random_rows(6, terms.size, seed=5)
    at_ref = terms.basis(rows, np.full(6, 2.0))
    # Basis: √(h/2); funding: linear in h. Per-row horizons equal row-by-row calls.
    np.testing.assert_allclose(terms.basis(rows, np.full(6, 8.0)), 2.0 * at_ref, rtol=1e-12)
    np.testing.assert_allclose(terms.basis(rows, np.full(6, 1.0)), at_ref / math.sqrt(2.0))
    fund2 = terms.funding(rows, np.full(6, 2.0))
    np.testing.assert_allclose(terms.funding(rows, np.full(6, 10.0)), 5.0 * fund2, rtol=1e-12)
    mixed = np.array([1.0, 2.0, 3.0, 5.0, 8.0, 0.0])
    one_by_one = [terms.basis(rows[r], mixed[r : r + 1])[0] for r in range(6)]
    np.testing.assert_allclose(terms.basis(rows, mixed), one_by_one, rtol=1e-12)
    assert terms.basis(rows, mixed)[5] == 0.0
    assert terms.funding(rows, mixed)[5] == 0.0


def test_extend_equals_building_at_once(market: MarketSnapshot, params: ParameterSet) -> None:
    first = _instruments("BTC-27MAR26", "BTC-PERPETUAL", "ESH26")
    second = _instruments("ETH-PERPETUAL", "BTC-26JUN26", "ETH-27MAR26", "ESM26")
    joined = basis_terms(first, market, params).extend(basis_terms(second, market, params))
    whole = basis_terms(first + second, market, params)
    np.testing.assert_allclose(joined.basis_pnl_up, whole.basis_pnl_up, rtol=1e-14)
    np.testing.assert_allclose(joined.basis_pnl_down, whole.basis_pnl_down, rtol=1e-14)
    np.testing.assert_allclose(joined.perpetual_notional, whole.perpetual_notional, rtol=1e-14)
    # Underlying columns may be ordered differently; the charges may not differ.
    names = [joined.underlyings[j] for j in joined.underlying_index]
    assert names == [whole.underlyings[j] for j in whole.underlying_index]
    rows = _random_rows(20, whole.size, seed=3)
    h = np.full(20, 2.0)
    np.testing.assert_allclose(joined.basis(rows, h), whole.basis(rows, h), rtol=1e-12)
    np.testing.assert_allclose(joined.funding(rows, h), whole.funding(rows, h), rtol=1e-12)


def test_extend_refuses_inconsistent_terms(market: MarketSnapshot, params: ParameterSet) -> None:
    terms = basis_terms(_instruments("BTC-PERPETUAL"), market, params)
    other = BasisTerms(
        underlyings=("BTC",),
        basis_pnl_up=np.zeros(1),
        basis_pnl_down=np.zeros(1),
        underlying_index=np.zeros(1, dtype=np.int64),
        perpetual_notional=np.full(1, 10.0),
        funding_shock=np.array([F_BTC + 1.0]),
        reference_days=2.0,
    )
    with pytest.raises(ModelError, match="funding shock of BTC differs"):
        terms.extend(other)
    with pytest.raises(ModelError, match="reference"):
        terms.extend(BasisTerms(**{**_fields(other), "reference_days": 1.0}))


def _fields(terms: BasisTerms) -> dict[str, Any]:
    return {
        name: getattr(terms, name)
        for name, f in BasisTerms.__dataclass_fields__.items()
        if f.init  # the constructor's fields (not the derived exposures)
    }


def test_bad_rows_are_input_errors(market: MarketSnapshot, params: ParameterSet) -> None:
    terms = basis_terms(_instruments("BTCH26", "BTCM26"), market, params)
    with pytest.raises(InputError, match="instrument columns"):
        terms.basis(sp.csr_matrix(np.ones((1, 3))), np.array([2.0]))
    with pytest.raises(InputError, match="horizon_days"):
        terms.funding(sp.csr_matrix(np.ones((1, 2))), np.array([-1.0]))


# --------------------------------------------------------------------------- the carry
def test_shift_carry_moves_every_forward_by_exp_delta_t(market: MarketSnapshot) -> None:
    quoted = MarketSnapshot(
        valuation_time=NOW,
        spots={"BTC": S_BTC},
        carries={"BTC": Carry(futures=((0.1, 70_500.0), (0.5, 73_000.0)))},
    )
    t = np.array([0.05, 0.1, 0.3, 0.5, 0.9])  # before, on, between, on, after the quotes
    for snap in (quoted, market):
        ratio = shift_carry(snap, "BTC", 0.07).forward("BTC", t) / snap.forward("BTC", t)
        np.testing.assert_allclose(ratio, np.exp(0.07 * t), rtol=1e-12)
    # No carry for ETH in the snapshot: the USD rate, shifted.
    eth = shift_carry(market, "ETH", -0.02).carry("ETH", [0.25])
    np.testing.assert_allclose(eth, [R_USD - 0.02])
    assert market.carries["BTC"].carry_rate == B_BTC  # the original is untouched


# --------------------------------------------------------------------------- parameters
def test_shipped_file_covers_every_asset_class_of_the_contract_table() -> None:
    shipped = load_parameters("basis")
    assert shipped.raw["effective"]
    assert shipped.source
    assert shipped.version
    for spec in contract_table().specs:
        p = resolve_parameters(shipped, spec.underlying, spec.asset_class)
        assert p.basis_shock > 0
        assert p.funding_shock >= 0
        assert p.reference_days == 2.0
    for name, entry in shipped.underlyings.items():
        assert set(entry["sources"]) == {"basis_shock", "funding_shock"}, name
    for name, entry in shipped.raw["asset_classes"].items():
        assert set(entry["sources"]) == {"basis_shock", "funding_shock"}, name


def test_default_parameters_are_the_shipped_file(market: MarketSnapshot) -> None:
    inst = _instruments("BTCH26", "BTC-PERPETUAL")
    default = basis_terms(inst, market)
    explicit = basis_terms(inst, market, load_parameters("basis"))
    np.testing.assert_array_equal(default.basis_pnl_up, explicit.basis_pnl_up)
    np.testing.assert_array_equal(default.funding_shock, explicit.funding_shock)


def test_negative_shock_names_file_and_key(tmp_path: Path, market: MarketSnapshot) -> None:
    path = _params_file(tmp_path, underlyings={"BTC": {"basis_shock": -0.1, "funding_shock": 1}})
    with pytest.raises(
        InputError, match=r"basis\.json: 'underlyings\.BTC\.basis_shock' should be gr"
    ):
        basis_terms(_instruments("BTCH26"), market, load_parameters("basis", path))


def test_unknown_key_names_file_and_key(tmp_path: Path, market: MarketSnapshot) -> None:
    path = _params_file(
        tmp_path, underlyings={"BTC": {"basis_shok": 0.1, "basis_shock": 0.1, "funding_shock": 1}}
    )
    with pytest.raises(
        InputError, match=r"basis\.json: unknown key 'underlyings\.BTC\.basis_shok'"
    ):
        basis_terms(_instruments("BTCH26"), market, load_parameters("basis", path))
    path = _params_file(tmp_path, extra={})
    with pytest.raises(InputError, match=r"basis\.json: unknown key 'extra'"):
        basis_terms(_instruments("BTCH26"), market, load_parameters("basis", path))


def test_missing_underlying_without_class_default(tmp_path: Path, market: MarketSnapshot) -> None:
    path = _params_file(tmp_path, asset_classes={})
    with pytest.raises(ModelError, match=r"basis\.json.*'ETH'.*'crypto'"):
        basis_terms(_instruments("ETH-27MAR26"), market, load_parameters("basis", path))
    path = _params_file(tmp_path, asset_classes={"crypto": {"basis_shock": 0.2}})
    with pytest.raises(ModelError, match=r"basis\.json.*'funding_shock'"):
        basis_terms(_instruments("ETH-27MAR26"), market, load_parameters("basis", path))


# ------------------------------------------------------------------ real data (shared)
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def history() -> MarketHistory:
    folder = find_data_dir()
    if folder is None or not folder.is_dir():
        pytest.skip("shared market data not found (set CROSSMARGIN_DATA or add ../shared/data)")
    return MarketHistory.load(folder)


@pytest.fixture(scope="module")
def examples() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "basis_examples", ROOT / "scripts" / "basis_examples.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.realdata
@pytest.mark.parametrize("asof", ["2026-02-02", "2026-02-11"])
def test_acceptance_books_within_a_factor_four_of_span(
    history: MarketHistory, examples: ModuleType, asof: str
) -> None:
    rows = {r["book"]: r for r in examples.example_rows(history, asof)}
    for book in examples.ACCEPTANCE:  # the BTC calendar spread and spot vs CME future
        row = rows[book]
        assert row["basis"] > 0.0, book
        assert 0.25 <= row["basis"] / row["span"] <= 4.0, row
    assert rows["spot-perp"]["funding"] > 0.0
    assert rows["spot-perp"]["basis"] == 0.0


@pytest.mark.realdata
def test_spot_future_basis_by_hand_on_the_real_snapshot(history: MarketHistory) -> None:
    # Short 2 CME BTCH26 (5 BTC each) against 10 BTC spot: the short future loses
    # 10·F·(e^{δT} − 1) when the carry rises by the shipped BTC δ; T to the last Friday of
    # March 2026, 15:00 UTC, from the snapshot's valuation time.
    delta = load_parameters("basis").underlyings["BTC"]["basis_shock"]
    market = snapshot_from_history("2026-02-11", ["BTC"], history=history)
    b = market.carries["BTC"].carry_rate
    assert b is not None
    t = (datetime(2026, 3, 27, 15, 0, tzinfo=UTC) - market.valuation_time).total_seconds() / YEAR
    fwd = market.spots["BTC"] * math.exp(b * t)
    inst = _instruments("BTC_USDC", "BTCH26")
    terms = basis_terms(inst, market)
    got = terms.basis(_row(10.0, -2.0), np.array([2.0]))[0]
    assert got == pytest.approx(10.0 * fwd * math.expm1(delta * t), rel=1e-12)


@pytest.mark.realdata
def test_docs_table_matches_the_script(history: MarketHistory, examples: ModuleType) -> None:
    text = (ROOT / "docs" / "models" / "basis.md").read_text(encoding="utf-8")
    assert examples.HEADER in text
    for asof in examples.DATES:
        for row in examples.example_rows(history, asof):
            assert examples.markdown(row) in text.splitlines(), row
