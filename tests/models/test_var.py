"""The ``es`` and ``hvar`` models on synthetic histories: conventions, add-ons, APC, errors."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from var_fixtures import (
    ASOF,
    corrupt_after,
    crypto_history,
    holdings,
    instruments,
    params_file,
    random_history,
    snapshot,
)

from crossmargin.errors import InputError, MarketDataError
from crossmargin.market.history import MarketHistory
from crossmargin.models import get_model, model_names
from crossmargin.models.var import (
    ExpectedShortfallModel,
    HistoricalVaRMarginModel,
    implied_correlations,
)
from crossmargin.portfolio.book import Portfolio, Position
from crossmargin.stats.tail import var_es

# Hand-picked daily log returns of the last 20 days (the lookback): worst -0.12, then -0.07.
LAST_RETURNS = [0.01, -0.02, 0.03, -0.12, 0.00, 0.02, -0.01, 0.04, -0.07, 0.01]
LAST_RETURNS += [0.02, -0.03, 0.01, 0.00, -0.04, 0.05, -0.02, 0.01, 0.03, -0.01]


@pytest.fixture(scope="module")
def hand_history(tmp_path_factory: pytest.TempPathFactory) -> MarketHistory:
    """BTC: 40 days at 10,000 (small noise), then the 20 returns above; as of the last day."""
    folder = tmp_path_factory.mktemp("hand")
    noise = np.tile([0.001, -0.001], 20)
    rets = np.concatenate([noise, LAST_RETURNS])
    closes = 10_000.0 * np.exp(np.concatenate([[0.0], np.cumsum(rets)]))
    days = pd.date_range("2020-01-01", periods=closes.size, freq="D")
    return crypto_history(folder, pd.Series(closes, index=days))


@pytest.fixture(scope="module")
def random_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return random_history(tmp_path_factory.mktemp("random"))


def test_hand_computed_var_and_es_through_the_model(hand_history: MarketHistory) -> None:
    # Convention: k = ceil((1 - a) n); VaR = k-th worst loss, ES = mean of the k worst losses.
    # n = 20 one-day scenarios at a = 0.9 gives k = 2: the returns -0.12 and -0.07.
    asof = f"{hand_history.coverage('BTC')[1]:%Y-%m-%d}"
    market = snapshot(hand_history, asof, ["BTC"])
    s0 = market.spots["BTC"]
    losses = sorted(-s0 * math.expm1(r) for r in LAST_RETURNS)[::-1]  # 1 BTC spot, loss > 0
    var_hand, es_hand = losses[1], (losses[0] + losses[1]) / 2
    inst = instruments("BTC_USDC")
    kw = {"confidence": 0.9, "lookback": 20, "mpor": 1, "history": hand_history}
    for cls, expected in ((HistoricalVaRMarginModel, var_hand), (ExpectedShortfallModel, es_hand)):
        model = cls(**kw)  # type: ignore[arg-type]
        ctx = model.prepare(inst, market)
        rows = model.margin_rows(ctx, holdings([[1.0], [2.0]]))
        assert rows.components["core"][0] == pytest.approx(expected, rel=1e-12)
        assert rows.components["core"][1] == pytest.approx(2 * expected, rel=1e-12)
        assert (
            rows.scenario_names[int(rows.worst_scenario[0])]
            == f"{pd.Timestamp(asof) - pd.Timedelta(days=16):%Y-%m-%d}"
        )
    assert es_hand >= var_hand


def test_short_position_uses_the_upper_tail(hand_history: MarketHistory) -> None:
    asof = f"{hand_history.coverage('BTC')[1]:%Y-%m-%d}"
    market = snapshot(hand_history, asof, ["BTC"])
    s0 = market.spots["BTC"]
    model = ExpectedShortfallModel(confidence=0.9, lookback=20, mpor=1, history=hand_history)
    rows = model.margin_rows(model.prepare(instruments("BTC_USDC"), market), holdings([[-1.0]]))
    gains = sorted((s0 * math.expm1(r) for r in LAST_RETURNS), reverse=True)
    assert rows.components["core"][0] == pytest.approx((gains[0] + gains[1]) / 2, rel=1e-12)


def test_liquidity_and_concentration_add_ons_by_hand(hand_history: MarketHistory) -> None:
    asof = f"{hand_history.coverage('BTC')[1]:%Y-%m-%d}"
    market = snapshot(hand_history, asof, ["BTC"])
    s0 = market.spots["BTC"]
    model = ExpectedShortfallModel(confidence=0.9, lookback=20, mpor=1, history=hand_history)
    rows = model.margin_rows(model.prepare(instruments("BTC_USDC"), market), holdings([[-3.0]]))
    delta = s0 * math.sinh(0.01) / 0.01  # central difference of S0*e^x at x = +-1%
    assert rows.components["liquidity"][0] == pytest.approx(0.0002 * delta * 3, rel=1e-9)
    # ADV = 2e10 USD (volume column, USD units) -> threshold 20% = 4e9: 3 BTC is far below.
    assert rows.components["concentration"][0] == 0.0
    total = rows.components["core"] + rows.components["liquidity"]
    np.testing.assert_allclose(rows.total, total, rtol=1e-12)


def test_concentration_charges_the_excess_over_adv(tmp_path: Path) -> None:
    closes = pd.Series(
        20_000.0 * np.exp(np.cumsum(np.tile([0.02, -0.015], 30))),
        index=pd.date_range("2020-01-01", periods=60, freq="D"),
    )
    history = crypto_history(tmp_path, closes)
    path = tmp_path / "crypto/btc_usd_yahoo_daily.csv"
    path.write_text(
        path.read_text().replace(",2e+10", ",10000.0").replace(",20000000000.0", ",10000.0")
    )
    history = MarketHistory.load(tmp_path)
    asof = f"{closes.index[-1]:%Y-%m-%d}"
    market = snapshot(history, asof, ["BTC"])
    model = ExpectedShortfallModel(lookback=30, history=history)
    rows = model.margin_rows(
        model.prepare(instruments("BTC_USDC"), market), holdings([[1.0], [-1.0]])
    )
    delta = market.spots["BTC"] * math.sinh(0.01) / 0.01
    expected = 0.05 * (delta - 0.2 * 10_000.0)  # rate 5% of the net notional over 20% of ADV
    np.testing.assert_allclose(rows.components["concentration"], [expected, expected], rtol=1e-9)


def test_es_at_least_var_and_vectorised_equals_row_loop(random_folder: Path) -> None:
    history = MarketHistory.load(random_folder)
    market = snapshot(history, ASOF, ["BTC", "SPY"])
    inst = instruments("BTC_USDC", "SPY", "BTC_USDC-PERPETUAL")
    rng = np.random.default_rng(5)
    book = sp.csr_matrix(rng.normal(0, 5, (40, 3)) * (rng.random((40, 3)) < 0.7))
    es = ExpectedShortfallModel(lookback=500, history=history)
    var = HistoricalVaRMarginModel(lookback=500, history=history)
    ctx = es.prepare(inst, market)
    m_es, m_var = es.margin_rows(ctx, book), var.margin_rows(ctx, book)
    assert np.all(m_es.components["core"] >= m_var.components["core"] - 1e-9)
    # Plain twin: one row at a time, dense P&L, the stats function on a 1-D vector.
    dense = book.toarray()
    for r in range(book.shape[0]):
        pnl = ctx.core.pnl_by_scenario @ dense[r]
        assert m_es.components["core"][r] == pytest.approx(max(float(var_es(pnl, 0.99).es), 0.0))


def test_no_look_ahead(tmp_path: Path) -> None:
    clean = random_history(tmp_path / "clean")
    dirty = random_history(tmp_path / "dirty")
    corrupt_after(dirty, ASOF)
    inst = instruments("BTC_USDC", "SPY", "BTC-PERPETUAL", "BTC-25SEP20-9000-C")
    book = holdings([[1.0, -40.0, 500.0, 2.0], [0.0, 10.0, 0.0, -1.0], [2.0, 0.0, 0.0, 0.0]])
    results = []
    for folder in (clean, dirty):
        history = MarketHistory.load(folder)
        market = snapshot(history, ASOF, ["BTC", "SPY"])
        market = _with_flat_vols(market)
        for apc in (None, "stress-weight", "floor"):
            model = ExpectedShortfallModel(lookback=400, method="fhs", apc=apc, history=history)
            rows = model.margin_rows(model.prepare(inst, market), book)
            results.append(np.column_stack([rows.total, *rows.components.values()]))
    assert not np.array_equal(
        pd.read_csv(clean / "etf/spy_daily.csv")["close"],
        pd.read_csv(dirty / "etf/spy_daily.csv")["close"],
    )
    for a, b in zip(results[:3], results[3:], strict=True):
        np.testing.assert_array_equal(a, b)
        assert np.all(a[:, 0] > 0)


def _with_flat_vols(market):  # type: ignore[no-untyped-def]
    from dataclasses import replace

    from crossmargin.market.volsurface import VolSurface

    flat = VolSurface.from_parameters(atm_vol=0.6)
    return replace(market, vols={"BTC": flat, "SPY": flat})


def test_apc_components(random_folder: Path) -> None:
    history = MarketHistory.load(random_folder)
    market = snapshot(history, ASOF, ["BTC", "SPY"])
    inst = instruments("BTC_USDC", "SPY")
    book = holdings([[1.0, -30.0], [1.0, 0.0]])
    base = ExpectedShortfallModel(lookback=250, history=history)
    ctx = base.prepare(inst, market)
    plain = base.margin_rows(ctx, book)
    buffered = ExpectedShortfallModel(lookback=250, apc="buffer", history=history)
    rows = buffered.margin_rows(buffered.prepare(inst, market), book)
    np.testing.assert_allclose(rows.components["apc"], 0.25 * plain.components["core"])
    floor = ExpectedShortfallModel(lookback=250, apc="floor", history=history)
    rows = floor.margin_rows(floor.prepare(inst, market), book)
    assert np.all(rows.components["apc"] >= 0)
    assert np.all(rows.total >= plain.total)
    weighted = ExpectedShortfallModel(lookback=250, apc="stress-weight", history=history)
    wctx = weighted.prepare(inst, market)
    rows = weighted.margin_rows(wctx, book)
    start, stop = weighted.stress_slice(wctx, book)  # type: ignore[misc]
    assert stop - start == 250
    np.testing.assert_allclose(rows.components["stress"], plain.components["stress"])
    # the weighted measure lies between the lookback and the stressed-window measures
    mixed = rows.components["core"] + rows.components["apc"]
    lo = np.minimum(plain.components["core"], plain.components["stress"])
    hi = np.maximum(plain.components["core"], plain.components["stress"])
    assert np.all((mixed >= lo - 1e-9) & (mixed <= hi + 1e-9))


def test_given_stress_window_dates(random_folder: Path) -> None:
    history = MarketHistory.load(random_folder)
    market = snapshot(history, ASOF, ["BTC", "SPY"])
    model = ExpectedShortfallModel(stress_window=("2018-01-01", "2018-12-31"), history=history)
    ctx = model.prepare(instruments("BTC_USDC"), market)
    start, stop = model.stress_slice(ctx, holdings([[1.0]]))  # type: ignore[misc]
    assert ctx.history is not None
    names = ctx.history.scenarios.names[start:stop]
    assert names[0] >= "2018-01-01"
    assert names[-1] <= "2018-12-31"
    assert len(names) > 200


def test_compute_netting_and_correlations(random_folder: Path) -> None:
    history = MarketHistory.load(random_folder)
    market = snapshot(history, ASOF, ["BTC", "SPY"])
    btc, spy = instruments("BTC_USDC", "SPY")
    book = Portfolio.from_positions(
        [
            Position(account="A", instrument=btc, quantity=1.0),
            Position(account="A", instrument=spy, quantity=-20.0),
        ]
    )
    model = get_model("es", lookback=500, history=history)
    result = model.compute(book, market)
    acc = result.accounts[0]
    assert set(acc.components) == {"core", "stress", "apc", "liquidity", "concentration"}
    assert acc.worst_scenario is not None
    assert acc.worst_scenario.startswith("20")
    assert acc.netted <= acc.standalone  # ES core is subadditive; add-ons here are linear
    corr = implied_correlations(model, book.instruments, market)  # type: ignore[arg-type]
    assert list(corr.columns) == ["BTC", "SPY", "vol:BTC", "vol:SPY"]
    np.testing.assert_allclose(np.diag(corr.to_numpy()), 1.0)
    assert {"es", "hvar"} <= set(model_names())
    assert result.parameters["parameter_file"]["version"] == "2026-01"


def test_bad_inputs(random_folder: Path) -> None:
    history = MarketHistory.load(random_folder)
    market = snapshot(history, ASOF, ["BTC", "SPY"])
    for bad in (0.0, 1.0, 1.5, -0.1):
        with pytest.raises(InputError, match="confidence must be strictly between 0 and 1"):
            ExpectedShortfallModel(confidence=bad)
    with pytest.raises(InputError, match="apc"):
        ExpectedShortfallModel(apc="cushion")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="method"):
        ExpectedShortfallModel(method="mc")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="lookback"):
        ExpectedShortfallModel(lookback=0)
    with pytest.raises(InputError, match="stress-weight"):
        ExpectedShortfallModel(apc="stress-weight", stress_window=None)
    model = ExpectedShortfallModel(lookback=5000, history=history)
    with pytest.raises(
        MarketDataError, match=r"longer than the \d+ daily moves.*choose a lookback"
    ):
        model.prepare(instruments("BTC_USDC"), market)
    crypto_only = MarketHistory(
        data_dir=history.data_dir, catalogue={k: history.catalogue[k] for k in ("BTC", "BTC_DVOL")}
    )
    model = ExpectedShortfallModel(history=crypto_only)
    with pytest.raises(MarketDataError, match=r"'SPY' has no daily price history.*add the series"):
        model.prepare(instruments("BTC_USDC", "SPY"), market)
    with pytest.raises(MarketDataError, match="no scenario dated in the stress window"):
        ExpectedShortfallModel(stress_window=("2030-01-01", "2030-12-31"), history=history).prepare(
            instruments("BTC_USDC"), market
        )


def test_parameter_file_override(random_folder: Path, tmp_path: Path) -> None:
    history = MarketHistory.load(random_folder)
    market = snapshot(history, ASOF, ["BTC"])
    path = params_file(tmp_path, {"confidence": 0.975, "lookback": 300, "mpor": 3})
    model = ExpectedShortfallModel(params=path, history=history)
    assert (model.confidence, model.lookback, model.mpor) == (0.975, 300, 3)
    ctx = model.prepare(instruments("BTC_USDC"), market)
    assert ctx.core.scenarios.size == 300 - 3 + 1
    np.testing.assert_allclose(ctx.core.scenarios.time_steps, 3 / 365)
