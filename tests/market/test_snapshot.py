"""Market snapshots: validation, look-ups, forwards from carry, FX and the JSON file."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from crossmargin.errors import InputError, MarketDataError
from crossmargin.market import Carry, MarketSnapshot, VolSurface

NOW = datetime(2025, 6, 2, 8, 0, tzinfo=UTC)


def _snap(**kwargs: object) -> MarketSnapshot:
    base: dict[str, object] = {
        "valuation_time": NOW,
        "spots": {"BTC": 100_000.0, "SPX": 6000.0, "SPY": 598.0},
        "vols": {"BTC": VolSurface.from_parameters(atm_vol=0.55, skew=-0.05)},
        "rates": {"USD": 0.04, "EUR": 0.02},
        "carries": {
            "SPX": Carry(futures=((0.25, 6060.0), (1.0, 6300.0))),
            "SPY": Carry(carry_rate=0.025),
        },
        "fx": {"EUR": 1.08},
        "settlements": {"BTC-30MAY25-100000-C": 104_000.0},
        "source": "unit test",
    }
    return MarketSnapshot(**{**base, **kwargs})  # type: ignore[arg-type]


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"valuation_time": datetime(2025, 6, 2)}, "timezone-aware"),
        ({"spots": {"BTC": 0.0}}, "spot of BTC must be positive"),
        ({"spots": {"BTC": -1.0}}, "spot of BTC must be positive"),
        ({"spots": {"BTC": math.nan}}, "spot of BTC must be positive"),
        ({"fx": {"EUR": 0.0}}, "FX rate of EUR must be positive"),
        ({"fx": {"EUR": math.inf}}, "FX rate of EUR must be positive"),
    ],
)
def test_validation(kwargs: dict[str, object], pattern: str) -> None:
    with pytest.raises(MarketDataError, match=pattern):
        _snap(**kwargs)


@pytest.mark.parametrize("quote", [(0.0, 100.0), (-1.0, 100.0), (1.0, 0.0), (1.0, math.inf)])
def test_carry_validation(quote: tuple[float, float]) -> None:
    with pytest.raises(MarketDataError, match="needs T > 0 and a positive price"):
        Carry(futures=(quote,))


def test_mappings_are_read_only_copies() -> None:
    spots = {"BTC": 1.0}
    snap = MarketSnapshot(valuation_time=NOW, spots=spots)
    spots["BTC"] = 2.0
    assert snap.spot("BTC") == 1.0
    with pytest.raises(TypeError):
        snap.spots["BTC"] = 3.0  # type: ignore[index]


# --------------------------------------------------------------------------- look-ups


def test_missing_spot_and_vol_name_what_is_missing() -> None:
    snap = _snap()
    with pytest.raises(MarketDataError, match=r"no spot for 'ETH'.*have: BTC, SPX, SPY"):
        snap.spot("ETH")
    with pytest.raises(MarketDataError, match=r"missing vol for option underlying 'SPY'.*: BTC"):
        snap.vol_surface("SPY")
    assert snap.vol_surface("BTC") is snap.vols["BTC"]


def test_rates() -> None:
    snap = _snap()
    assert snap.rate("USD") == 0.04
    assert snap.rate("EUR") == 0.02
    assert snap.rate("USDC") == 0.04  # stable coins fall back to the USD rate
    assert snap.rate("USDT") == 0.04
    assert snap.rate("BTC") == 0.0  # coins not listed: 0
    assert MarketSnapshot(valuation_time=NOW, spots={}).rate("USD") == 0.0


def test_carry_without_futures_uses_the_quote_rate_or_override() -> None:
    snap = _snap()
    t = np.array([0.1, 1.0, 5.0])
    np.testing.assert_array_equal(snap.carry("BTC", t), 0.04)
    np.testing.assert_array_equal(snap.carry("BTC", t, "EUR"), 0.02)
    np.testing.assert_array_equal(snap.carry("SPY", t), 0.025)
    np.testing.assert_allclose(snap.forward("SPY", t), 598.0 * np.exp(0.025 * t), rtol=1e-15)


def test_carry_from_quoted_futures() -> None:
    snap = _snap()
    b1 = math.log(6060 / 6000) / 0.25  # implied carry of each quote: ln(F/S)/T
    b2 = math.log(6300 / 6000) / 1.0
    t = np.array([0.1, 0.25, 0.625, 1.0, 3.0])
    expected_b = np.array([b1, b1, 0.5 * (b1 + b2), b2, b2])  # linear in T, flat outside
    np.testing.assert_allclose(snap.carry("SPX", t), expected_b, rtol=1e-13)
    fwd = snap.forward("SPX", t)
    np.testing.assert_allclose(fwd, 6000 * np.exp(expected_b * t), rtol=1e-13)
    # The quoted futures are reproduced exactly at their own expiries.
    assert fwd[1] == pytest.approx(6060.0, rel=1e-14)
    assert fwd[3] == pytest.approx(6300.0, rel=1e-14)


def test_forward_of_expired_time_is_spot() -> None:
    np.testing.assert_array_equal(_snap().forward("SPY", [-0.5, 0.0]), 598.0)


def test_fx_rates() -> None:
    snap = _snap()
    assert snap.fx_rate("USD") == 1.0
    assert snap.fx_rate("EUR") == 1.08
    assert snap.fx_rate("BTC") == 100_000.0  # coins valued at their spot
    assert snap.fx_rate("USDC") == 1.0
    with pytest.raises(MarketDataError, match=r"no FX rate for GBP into USD: add fx\['GBP'\]"):
        snap.fx_rate("GBP")


def test_with_spots_returns_a_new_snapshot() -> None:
    snap = _snap()
    moved = snap.with_spots({"BTC": 90_000.0})
    assert moved.spot("BTC") == 90_000.0
    assert moved.spot("SPX") == 6000.0
    assert snap.spot("BTC") == 100_000.0


# --------------------------------------------------------------------------- JSON file


def test_save_load_round_trip(tmp_path: Path) -> None:
    snap = _snap()
    path = tmp_path / "snap.json"
    snap.save(path)
    back = MarketSnapshot.load(path)
    assert {**back.to_dict(), "source": ""} == {**snap.to_dict(), "source": ""}
    assert back.valuation_time == NOW
    assert back.vols["BTC"] == snap.vols["BTC"]
    assert back.carries["SPX"] == snap.carries["SPX"]
    assert back.settlements == {"BTC-30MAY25-100000-C": 104_000.0}
    assert back.source == str(path)  # a loaded snapshot's source is its file
    t = np.linspace(0.01, 3.0, 9)
    np.testing.assert_array_equal(back.forward("SPX", t), snap.forward("SPX", t))


def test_from_dict_minimal_and_naive_time_is_utc() -> None:
    snap = MarketSnapshot.from_dict(
        {"valuation_time": "2025-06-02T08:00:00", "spots": {"SPY": 600}, "rates": {"USD": 0.0}},
        source="x.json",
    )
    assert snap.valuation_time == NOW
    assert snap.rates == {"USD": 0.0}
    assert snap.source == "x.json"
    assert not snap.stable_at_par  # a file states its stable coins' rate and FX


@pytest.mark.parametrize(
    ("content", "error", "pattern"),
    [
        ("{oops", InputError, "not valid JSON"),
        (json.dumps({"spots": {"BTC": 1.0}}), InputError, "missing field 'valuation_time'"),
        # issue 20: a missing rate is an error, never a silent 0.0
        (
            json.dumps({"valuation_time": "2025-06-02T08:00:00Z", "spots": {"BTC": 1.0}}),
            InputError,
            "no rate for the reporting currency USD",
        ),
        (
            json.dumps(
                {
                    "valuation_time": "2025-06-02",
                    "spots": {},
                    "rates": {"USD": 0.0},
                    "sources": "typo",
                }
            ),
            InputError,
            "unknown key 'sources'",
        ),
        (
            '{"valuation_time": "2025-06-02", "spots": {"BTC": NaN}, "rates": {"USD": 0}}',
            InputError,
            "NaN is not a JSON number",
        ),
        (json.dumps({"valuation_time": "2025-06-02T08:00:00+00:00"}), InputError, "'spots'"),
        (
            json.dumps({"valuation_time": "yesterday", "spots": {}}),
            InputError,
            "valuation_time 'yesterday' is not an ISO date",
        ),
        (
            json.dumps(
                {
                    "valuation_time": "2025-06-02T08:00:00Z",
                    "spots": {"BTC": "lots"},
                    "rates": {"USD": 0.0},
                }
            ),
            InputError,
            "invalid value",
        ),
        (json.dumps([1, 2, 3]), InputError, "market snapshot"),
        (
            json.dumps(
                {
                    "valuation_time": "2025-06-02T08:00:00Z",
                    "spots": {"BTC": 1.0},
                    "rates": {"USD": 0.0},
                    "vols": {"BTC": {"expiries": [1.0], "moneyness": [0.0]}},
                }
            ),
            InputError,
            "missing field 'vols'",
        ),
        (
            json.dumps(
                {
                    "valuation_time": "2025-06-02T08:00:00Z",
                    "spots": {"BTC": -5.0},
                    "rates": {"USD": 0.0},
                }
            ),
            MarketDataError,
            "spot of BTC must be positive",
        ),
    ],
)
def test_malformed_files(tmp_path: Path, content: str, error: type, pattern: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(error, match=pattern) as info:
        MarketSnapshot.load(path)
    if error is InputError:
        assert str(path) in str(info.value)
        assert "\n" not in str(info.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not found"):
        MarketSnapshot.load(tmp_path / "nope.json")
