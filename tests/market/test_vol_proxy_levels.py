"""Implied-vol levels: EWMA fallback (mapped, capped), index -> ATM, one entry point, parameters."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from tests.market.vol_reference import atm_reference, cap_loop, ewma_vol_loop

from crossmargin.errors import InputError, MarketDataError
from crossmargin.market.builder import snapshot_from_history
from crossmargin.market.defaults import parse_vol_proxy, vol_proxy_params
from crossmargin.market.history import MarketHistory, rolling_realised_vol
from crossmargin.market.varswap import HouseSmile, atm_from_variance_swap
from crossmargin.market.vol_fallback import cap_daily_ratio, ewma_vol
from crossmargin.market.vol_proxies import (
    implied_vol_levels,
    implied_vol_on,
    implied_vol_proxy,
    vol_proxy_rule,
)

WriteFile = Callable[[str, Mapping[str, float]], Path]  # the conftest fixture write_file
P = vol_proxy_params()
T30 = P.atm_tenor_days / 365


def _smile(cls: str) -> tuple[float, float, float, float]:
    s = HouseSmile.for_asset_class(cls)
    return s.skew_1y, s.smile_1y, s.min_vol, s.max_vol_multiple


def _reference_fallback(
    closes: pd.Series, cls: str, days_per_year: int
) -> tuple[pd.Series, pd.DatetimeIndex]:
    """Plain twin of the fallback *level* (before the ATM map): EWMA loop, mapping, cap loop."""
    vols = ewma_vol_loop(closes.tolist(), P.ewma_lambda, P.seed_window, days_per_year)
    capped, bound = cap_loop([v * P.ratio_for(cls) for v in vols], P.max_daily_ratio)
    days = closes.index[P.seed_window + 1 :]
    return pd.Series(capped, index=days), pd.DatetimeIndex(days[bound])


# ---------------------------------------------------------------- synthetic history

DAYS = pd.date_range("2020-01-01", "2020-06-30", freq="D")
_RNG = np.random.default_rng(7)
BTC = 9000 * np.exp(np.cumsum(_RNG.normal(0, 0.03, DAYS.size)))
BTC[70] = BTC[69] * 0.55  # a crash on 2020-03-11 makes the cap bind
DVOL_DAYS = DAYS[(DAYS >= "2020-04-01") & ~DAYS.isin(pd.date_range("2020-05-10", "2020-05-14"))]
DVOL = 70 + np.cumsum(_RNG.normal(0, 1, DVOL_DAYS.size))


def _as_dict(days: pd.DatetimeIndex, values: np.ndarray) -> dict[str, float]:
    return dict(zip(days.strftime("%Y-%m-%d"), values.tolist(), strict=True))


def _write(write_file: WriteFile, btc: np.ndarray, dvol: np.ndarray) -> Path:
    write_file("crypto/btc_usd_yahoo_daily.csv", _as_dict(DAYS, btc))
    folder = write_file("crypto/btc_dvol_daily.csv", _as_dict(DVOL_DAYS, dvol))
    rates = folder / "rates" / "fred_rates_daily.csv"
    rates.parent.mkdir(parents=True, exist_ok=True)
    rates.write_text(
        "date,SOFR,EFFR\n" + "".join(f"{d:%Y-%m-%d},1.5,1.55\n" for d in DAYS), encoding="utf-8"
    )
    return folder


@pytest.fixture
def synthetic(write_file: WriteFile) -> MarketHistory:
    return MarketHistory.load(_write(write_file, BTC, DVOL))


def test_fallback_equals_the_plain_twin(synthetic: MarketHistory) -> None:
    levels = implied_vol_levels(synthetic, "BTC")
    level, bound = _reference_fallback(synthetic.series("BTC"), "crypto", 365)
    # Reported from the (seed_window + 1)-th return on: the first 30 return dates are the seed.
    assert levels.fallback.index[0] == DAYS[P.seed_window + 1]
    assert levels.fallback.index.equals(level.index)
    for day in ("2020-02-15", "2020-03-11", "2020-03-12", "2020-06-30"):
        want = atm_reference(float(level[day]), T30, _smile("crypto"))
        assert levels.fallback[day] == pytest.approx(want, rel=1e-9)
    np.testing.assert_allclose(
        levels.fallback, atm_from_variance_swap(level.to_numpy(), "crypto"), rtol=1e-12
    )
    assert levels.capped.equals(bound)
    assert pd.Timestamp("2020-03-11") in levels.capped


def test_index_is_the_atm_of_the_index_level(synthetic: MarketHistory) -> None:
    levels = implied_vol_levels(synthetic, "BTC")
    assert levels.index.index.equals(DVOL_DAYS)
    for i in (0, 17, DVOL.size - 1):
        want = atm_reference(DVOL[i] / 100, T30, _smile("crypto"))
        assert levels.index.iloc[i] == pytest.approx(want, rel=1e-9)
    assert levels.rule.method == "index"
    assert levels.index_capped.empty
    pd.testing.assert_series_equal(implied_vol_proxy(synthetic, "BTC"), levels.index)


def test_cached_per_history_object(synthetic: MarketHistory) -> None:
    first = implied_vol_levels(synthetic, "BTC")
    kept = dict(synthetic._derived)
    assert set(kept) == {("implied_vol_index", "BTC"), ("implied_vol_fallback", "BTC")}
    first.fallback.iloc[0] = -1.0  # a caller's edit does not reach the cache
    first.index.iloc[0] = -1.0
    again = implied_vol_levels(synthetic, "BTC")
    assert all(synthetic._derived[k] is v for k, v in kept.items())  # built once
    assert again.fallback.iloc[0] > 0
    assert again.index.iloc[0] > 0
    view = synthetic.until("2020-05-01")
    assert not view._derived  # a view never starts with the parent's derived values
    implied_vol_levels(view, "BTC")
    assert all(view._derived[k] is not v for k, v in kept.items())


def test_a_fresh_index_does_not_build_the_fallback(synthetic: MarketHistory) -> None:
    assert implied_vol_on(synthetic, "BTC", "2020-04-10").source == "index"
    assert set(synthetic._derived) == {("implied_vol_index", "BTC")}


def test_views_see_nothing_after_their_cut_off(write_file: WriteFile, tmp_path: Path) -> None:
    clean = MarketHistory.load(_write(write_file, BTC, DVOL))
    cut = pd.Timestamp("2020-04-20")
    dirty_btc = np.where(cut < DAYS, BTC * 3.0, BTC)
    dirty_dvol = np.where(cut < DVOL_DAYS, DVOL * 3.0, DVOL)
    dirty = MarketHistory.load(_write(write_file, dirty_btc, dirty_dvol))
    a, b = implied_vol_levels(clean.until(cut), "BTC"), implied_vol_levels(dirty.until(cut), "BTC")
    pd.testing.assert_series_equal(a.fallback, b.fallback)
    pd.testing.assert_series_equal(a.index, b.index)
    assert a.fallback.index[-1] == cut
    # Causal: the view's values are the full history's values up to the cut-off.
    full = implied_vol_levels(clean, "BTC")
    pd.testing.assert_series_equal(a.fallback, full.fallback.loc[:cut])
    # Before the index starts the view has no index values at all.
    early = implied_vol_levels(clean.until("2020-03-20"), "BTC")
    assert early.index.empty
    assert not early.fallback.empty


def test_implied_vol_on_picks_the_index_else_the_fallback(synthetic: MarketHistory) -> None:
    levels = implied_vol_levels(synthetic, "BTC")
    got = implied_vol_on(synthetic, "BTC", "2020-04-10")
    assert got.source == "index"
    assert got.value == levels.index["2020-04-10"]
    # The DVOL gap 2020-05-10..14: three days stale is fine, four is not.
    assert implied_vol_on(synthetic, "BTC", "2020-05-12").date == pd.Timestamp("2020-05-09")
    gap = implied_vol_on(synthetic, "BTC", "2020-05-13")
    assert (gap.source, gap.value) == ("fallback", levels.fallback["2020-05-13"])
    assert gap.note == "BTC (no BTC_DVOL value within 3 days; last 2020-05-09)"
    before = implied_vol_on(synthetic, "BTC", "2020-03-15")
    assert before.note == "BTC (before BTC_DVOL starts on 2020-04-01)"
    view = synthetic.until("2020-03-15")
    assert implied_vol_on(view, "BTC", "2020-03-15").note == "BTC (BTC_DVOL not started)"
    with pytest.raises(MarketDataError, match=r"before BTC_DVOL starts.*outside the history"):
        implied_vol_on(synthetic, "BTC", "2020-01-20")  # inside the EWMA seed window
    with pytest.raises(MarketDataError, match="BTC_DVOL has no observation in this history"):
        implied_vol_proxy(view, "BTC")


def test_snapshot_atm_is_the_same_definition(synthetic: MarketHistory) -> None:
    for day, source in (("2020-03-15", "fallback"), ("2020-04-10", "index")):
        snap = snapshot_from_history(day, ["BTC"], history=synthetic)
        got = implied_vol_on(synthetic, "BTC", day)
        assert got.source == source
        # The smile is flat in expiry at the money: every expiry has the same ATM.
        for t in (7 / 365, 30 / 365, 1.0, 2.0):
            assert float(snap.vols["BTC"].vol(t, 0.0)) == pytest.approx(got.value, rel=1e-14)
        fallback_note = "ATM vol from the capped EWMA fallback for BTC (before BTC_DVOL starts"
        assert (fallback_note in snap.source) == (source == "fallback")


def test_scaled_proxy_caps_the_ewma_ratio(write_file: WriteFile) -> None:
    eth = 200 * np.exp(np.cumsum(np.random.default_rng(8).normal(0, 0.04, DAYS.size)))
    eth[120:] *= 0.5  # ETH alone halves on 2020-04-30: its EWMA jumps, BTC's does not
    write_file("crypto/eth_usd_yahoo_daily.csv", _as_dict(DAYS, eth))
    write_file("crypto/eth_usd_coinbase_daily.csv", _as_dict(DAYS, eth))  # backfill: unused
    history = MarketHistory.load(_write(write_file, BTC, DVOL))
    levels = implied_vol_levels(history, "ETH")
    assert levels.rule.describe() == (
        "ETH: ATM of BTC_DVOL × EWMA(ETH)/EWMA(BTC) (λ 0.97, ratio capped ×1.5/day; crypto smile)"
    )
    mine = ewma_vol_loop(eth.tolist(), P.ewma_lambda, P.seed_window, 365)
    base = ewma_vol_loop(BTC.tolist(), P.ewma_lambda, P.seed_window, 365)
    ratio, bound = cap_loop([a / b for a, b in zip(mine, base, strict=True)], P.max_daily_ratio)
    ratio_days = DAYS[P.seed_window + 1 :]
    assert pd.Timestamp("2020-04-30") in [ratio_days[i] for i in bound]
    assert list(levels.index_capped) == [ratio_days[i] for i in bound]
    by_day = dict(zip(ratio_days, ratio, strict=True))
    level = np.array([d / 100 * by_day[day] for day, d in zip(DVOL_DAYS, DVOL, strict=True)])
    assert levels.index.index.equals(DVOL_DAYS)
    for i in (0, 29, 40):
        want = atm_reference(level[i], T30, _smile("crypto"))
        assert levels.index.iloc[i] == pytest.approx(want, rel=1e-9)


def test_rules_and_asset_classes(synthetic: MarketHistory) -> None:
    expected = {
        "BTC_LONG": ("index", "crypto"),
        "ES": ("index", "equity_index"),
        "SPX": ("index", "equity_index"),
        "SPY": ("index", "etf"),
        "QQQ": ("scaled_index", "etf"),
        "AAPL": ("ewma", "equity"),
        "SHY": ("ewma", "etf"),  # not in the contract table: NYSE default
    }
    for name, (method, cls) in expected.items():
        rule = vol_proxy_rule(synthetic, name)
        assert (rule.method, rule.asset_class) == (method, cls)
        assert rule.implied_over_realised == P.implied_over_realised[cls]
    assert vol_proxy_rule(synthetic, "AAPL").describe() == (
        "AAPL: ATM of 1.27 × EWMA(AAPL) (λ 0.97, capped ×1.5/day) (no implied-vol index)"
    )
    with pytest.raises(MarketDataError, match="DGS10: it is a rate"):
        implied_vol_levels(synthetic, "DGS10")


# ---------------------------------------------------------------- building blocks


def test_ewma_vol_edges(write_file: WriteFile) -> None:
    short = pd.Series([1.0, 1.1, 1.2], index=DAYS[:3], name="X")
    assert ewma_vol(short, "crypto", lam=0.97, seed_window=2).empty  # 2 returns, both seed
    assert ewma_vol(short, "nyse", lam=0.97, seed_window=1).iloc[0] == pytest.approx(
        ewma_vol_loop([1.0, 1.1, 1.2], 0.97, 1, 252)[0], rel=1e-14
    )
    flat = pd.Series(np.ones(40), index=DAYS[:40], name="FLAT")
    with pytest.raises(MarketDataError, match="EWMA vol of FLAT"):
        ewma_vol(flat, "crypto", lam=0.97, seed_window=30)
    with pytest.raises(InputError, match="seed_window"):
        ewma_vol(flat, "crypto", lam=0.97, seed_window=0)


def test_cap_equals_the_loop_on_random_paths() -> None:
    rng = np.random.default_rng(3)
    values = np.exp(np.cumsum(rng.normal(0, 0.4, 500)))
    series = pd.Series(values, index=pd.date_range("2001-01-01", periods=500))
    capped, bound = cap_daily_ratio(series, 1.5)
    want, idx = cap_loop(values.tolist(), 1.5)
    np.testing.assert_array_equal(capped.to_numpy(), want)
    assert list(bound) == [series.index[i] for i in idx]
    assert len(idx) > 10
    steps = capped.to_numpy()[1:] / capped.to_numpy()[:-1]
    assert steps.max() <= 1.5 * (1 + 1e-15)
    assert steps.min() >= 1 / 1.5 * (1 - 1e-15)
    with pytest.raises(InputError, match="max_ratio"):
        cap_daily_ratio(series, 1.0)


# ---------------------------------------------------------------- parameters


def _shipped() -> dict[str, Any]:
    text = resources.files("crossmargin").joinpath("data/market_defaults.json").read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def test_shipped_parameters() -> None:
    assert (P.ewma_lambda, P.seed_window, P.atm_tenor_days) == (0.97, 30, 30)
    assert set(P.implied_over_realised) == set(_shipped()["asset_classes"])
    assert 1.0 < P.max_daily_ratio < 2.0
    assert all(len(s) > 20 for s in P.sources.values())
    assert _shipped()["vol_proxy"]["calibration"]["script"] == "scripts/vol_proxy_calibration.py"
    assert (Path(__file__).parents[2] / "scripts" / "vol_proxy_calibration.py").is_file()


def _set(key: str, value: object) -> Callable[[dict[str, Any]], object]:
    return lambda block: block.update({key: value})


def _ratios(change: Callable[[dict[str, float]], object]) -> Callable[[dict[str, Any]], object]:
    return lambda block: change(block["implied_over_realised"]["value"])


@pytest.mark.parametrize(
    ("change", "pattern"),
    [
        (_set("ewma_lamda", {"value": 0.9}), r"unknown key 'vol_proxy\.ewma_lamda'"),
        (lambda block: block.pop("seed_window"), r"missing key 'vol_proxy\.seed_window'"),
        (
            _set("ewma_lambda", {"value": 1.0, "source": "x"}),
            r"'vol_proxy\.ewma_lambda\.value' should be less than 1 \(got 1\.0\)",
        ),
        (_set("ewma_lambda", 0.97), r"'vol_proxy\.ewma_lambda' should be a valid dictionary"),
        (
            _set("max_daily_ratio", {"value": 0.9, "source": "x"}),
            r"'vol_proxy\.max_daily_ratio\.value' should be greater than 1",
        ),
        (
            _set("seed_window", {"value": 2.5, "source": "x"}),
            r"'vol_proxy\.seed_window\.value' should be a valid integer",
        ),
        (
            _set("atm_tenor_days", {"value": 30, "source": ""}),
            r"'vol_proxy\.atm_tenor_days\.source' should have at least 1 character",
        ),
        (_ratios(lambda r: r.pop("etf")), r"missing: \['etf'\]"),
        (_ratios(lambda r: r.update(fx=1.1)), r"unknown: \['fx'\]"),
        (
            _ratios(lambda r: r.update(crypto=-1)),
            r"'vol_proxy\.implied_over_realised\.value\.crypto' should be greater than 0",
        ),
    ],
)
def test_bad_vol_proxy_blocks_name_the_file_and_key(
    change: Callable[[dict[str, Any]], object], pattern: str
) -> None:
    data = _shipped()
    block = data["vol_proxy"]
    change(block)
    with pytest.raises(MarketDataError, match=pattern) as info:
        parse_vol_proxy(block, data["asset_classes"])
    assert "crossmargin/data/market_defaults.json" in str(info.value)


# ---------------------------------------------------------------- real data


@pytest.mark.realdata
def test_ewma_equals_a_plain_loop_on_real_btc(real_history: MarketHistory) -> None:
    closes = real_history.series("BTC")
    got = ewma_vol(closes, "crypto", lam=P.ewma_lambda, seed_window=P.seed_window)
    want = ewma_vol_loop(closes.tolist(), P.ewma_lambda, P.seed_window, 365)
    assert len(got) == len(want) == len(closes) - 1 - P.seed_window
    np.testing.assert_allclose(got.to_numpy(), want, rtol=1e-12, atol=0)


@pytest.mark.realdata
def test_btc_fallback_never_moves_more_than_the_cap(real_history: MarketHistory) -> None:
    levels = implied_vol_levels(real_history, "BTC")
    fallback = levels.fallback.to_numpy()
    step = fallback[1:] / fallback[:-1]
    # The cap bounds the index-equivalent level; the crypto ATM map has elasticity >= 1
    # (d ln level / d ln ATM), so ATM moves by at most the same factor.
    r = P.max_daily_ratio
    assert step.max() <= r * (1 + 1e-12)
    assert step.min() >= (1 - 1e-12) / r
    assert {pd.Timestamp("2020-03-12"), pd.Timestamp("2020-03-13")} <= set(levels.capped)


@pytest.mark.realdata
def test_btc_march_2020_crash_has_no_ghost(real_history: MarketHistory) -> None:
    closes = real_history.series("BTC").loc[:"2020-04-11"]
    level, _ = _reference_fallback(closes, "crypto", 365)
    fallback = implied_vol_levels(real_history, "BTC").fallback
    for day in ("2020-03-11", "2020-03-12", "2020-04-10", "2020-04-11"):
        want = atm_reference(float(level[day]), T30, _smile("crypto"))
        assert fallback[day] == pytest.approx(want, rel=1e-9)
    # On 2020-03-12 (−37%) the raw EWMA nearly triples; the capped level rises by the cap only.
    assert level["2020-03-12"] == pytest.approx(P.max_daily_ratio * level["2020-03-11"], rel=1e-14)
    # 2020-04-11 is the day 2020-03-12 leaves a 30-day window: RV30 fell 91 vol points. The
    # EWMA has no window: the crash's weight decays by λ a day and nothing drops out, so the
    # fallback changes by one ordinary day's decay and return (about 1 vol point). 3 points
    # is far above that and far below any window-exit artefact.
    assert abs(fallback["2020-04-11"] - fallback["2020-04-10"]) < 0.03
    rv30 = rolling_realised_vol(real_history.series("BTC"), "crypto", 30)
    assert rv30["2020-04-11"] - rv30["2020-04-10"] < -0.9  # the old ghost, for contrast


@pytest.mark.realdata
def test_json_calibration_is_reproduced_from_the_data(real_history: MarketHistory) -> None:
    # Plain recomputation of scripts/vol_proxy_calibration.py's numbers (JSON rounds to 0.01).
    def ewma(name: str, days_per_year: int) -> pd.Series:
        closes = real_history.series(name)
        vols = ewma_vol_loop(closes.tolist(), P.ewma_lambda, P.seed_window, days_per_year)
        return pd.Series(vols, index=closes.index[P.seed_window + 1 :])

    crypto = (real_history.series("BTC_DVOL") / ewma("BTC", 365)).dropna().median()
    equity = (real_history.series("VIX") / ewma("SPX", 252)).dropna().median()
    assert P.ratio_for("crypto") == pytest.approx(crypto, abs=0.005)
    for cls in ("equity_index", "etf", "equity"):
        assert P.ratio_for(cls) == pytest.approx(equity, abs=0.005)
    dvol = real_history.series("BTC_DVOL")
    one_day = (dvol / dvol.shift(1))[dvol.index.to_series().diff().dt.days == 1]
    assert round(float(one_day.max()), 1) == P.max_daily_ratio  # DVOL's largest rise, ×1.545


@pytest.mark.realdata
@pytest.mark.parametrize(
    ("underlying", "index", "cls"),
    [("BTC", "BTC_DVOL", "crypto"), ("SPX", "VIX", "equity_index")],
)
def test_recent_atm_over_index(
    real_history: MarketHistory, underlying: str, index: str, cls: str
) -> None:
    level = real_history.series(index)
    day = min(level.index[-1], real_history.coverage(underlying)[1])
    got = implied_vol_on(real_history, underlying, day)
    assert got.source == "index"
    want = atm_reference(float(level.loc[:day].iloc[-1]), T30, _smile(cls))
    assert got.value == pytest.approx(want, rel=1e-9)
    assert 0.8 < got.value / float(level.loc[:day].iloc[-1]) < 1.0  # a smile lifts the index
    assert math.isfinite(got.value)


@pytest.mark.realdata
def test_es_vol_factor_of_btc_on_the_crash_and_the_old_ghost_day(
    real_history: MarketHistory,
) -> None:
    """The vol factor the ES scenarios use (BTC alone: crypto calendar, 1-day moves, as of
    2020-06-30, before DVOL) is the change of the fallback ATM: +cap-bound on 2020-03-12,
    about −1 vol point on 2020-04-11 (RV30's window exit gave −91)."""
    from crossmargin.instruments import parse_symbol
    from crossmargin.market.builder import snapshot_from_history
    from crossmargin.models.var import ExpectedShortfallModel

    view = real_history.until("2020-06-30")
    market = snapshot_from_history("2020-06-30", ["BTC"], history=view)
    model = ExpectedShortfallModel(mpor=1, history=view)
    context = model.prepare((parse_symbol("BTC_USDC"),), market)
    moves = context.calendar_pnl("crypto").moves
    vol = pd.Series(moves.vol[:, 0], index=moves.dates)
    closes = view.series("BTC")
    level, _ = _reference_fallback(closes, "crypto", 365)
    atm = {d: atm_reference(float(level[d]), T30, _smile("crypto")) for d in
           ("2020-03-11", "2020-03-12", "2020-04-10", "2020-04-11")}  # fmt: skip
    assert vol["2020-03-12"] == pytest.approx(atm["2020-03-12"] - atm["2020-03-11"], rel=1e-8)
    assert vol["2020-04-11"] == pytest.approx(atm["2020-04-11"] - atm["2020-04-10"], rel=1e-8)
    assert atm["2020-03-12"] / atm["2020-03-11"] <= P.max_daily_ratio * (1 + 1e-9)
    assert abs(vol["2020-04-11"]) < 0.03
    ratio = atm["2020-04-10"] / atm["2020-04-11"]
    assert 1 / P.max_daily_ratio <= ratio <= P.max_daily_ratio
