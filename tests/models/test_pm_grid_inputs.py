"""``pm_grid`` parameters and bad input: coverage of the contract table, file errors.

Shipped values are checked against METHODS.md §3.2 (Deribit ``model_params``, BTC Jun
2024; ETH Feb 2026), §3.3 (Paradex) and §1 (FINRA 4210(g) ranges for equities).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pm_grid_fixtures import book, market

from crossmargin.errors import InputError, ModelError
from crossmargin.instruments import contract_table
from crossmargin.models.params import load_parameters
from crossmargin.models.pm_grid import PMGridModel


def shipped() -> dict[str, Any]:
    data: dict[str, Any] = dict(load_parameters("pm_grid").raw)
    return json.loads(json.dumps(data))


def write(tmp_path: Path, data: dict[str, Any] | str) -> Path:
    path = tmp_path / "pm_grid_custom.json"
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return path


@pytest.mark.parametrize("underlying", contract_table().underlyings())
def test_every_contract_table_underlying_has_documented_parameters(underlying: str) -> None:
    for venue in ("deribit", "paradex", "okx"):
        g = PMGridModel(venue=venue).grid(underlying)
        assert 0 < g.price_range < 1
    entry = shipped()["underlyings"][underlying]
    assert entry["source"]
    assert entry["sources"]


def test_published_deribit_and_equity_values() -> None:
    btc, eth = PMGridModel().grid("BTC"), PMGridModel().grid("ETH")
    # METHODS §3.2, Deribit BTC Jun 2024.
    assert (btc.price_range, btc.buckets_count, btc.vol_up, btc.vol_down) == (0.16, 4, 0.5, 0.25)
    assert (btc.min_vol_up, btc.vega_power_short, btc.vega_power_long) == (0.5, 0.30, 0.13)
    assert btc.mm_factor == 0.8
    r = btc.roll_rate("BTC")
    assert (r.annualised_move_risk, r.min_annualised_move) == (0.075, 0.01)
    r = btc.roll_rate("USDC")
    assert (r.annualised_move_risk, r.min_annualised_move) == (0.1, 0.01)
    # ETH Feb 2026.
    assert (eth.price_range, eth.vol_up, eth.vol_down) == (0.18, 0.4, 0.25)
    r = eth.roll_rate("ETH")
    assert (r.annualised_move_risk, r.min_annualised_move) == (0.05, 0.005)
    # METHODS §3.3 Paradex.
    px = PMGridModel(venue="paradex").grid("BTC")
    assert (px.price_range, px.vol_up, px.vol_down, px.mm_factor) == (0.16, 0.4, 0.22, 0.5)
    # House values after FINRA 4210(g) (METHODS §1): ±8% S&P/Nasdaq, ±10% IWM, ±15% stocks.
    ranges = {u: PMGridModel().grid(u).price_range for u in ("SPX", "SPY", "QQQ", "IWM", "AAPL")}
    assert ranges == {"SPX": 0.08, "SPY": 0.08, "QQQ": 0.08, "IWM": 0.10, "AAPL": 0.15}


def test_missing_underlying_is_a_model_error_naming_it_and_the_file(tmp_path: Path) -> None:
    data = shipped()
    del data["underlyings"]["TSLA"]
    path = write(tmp_path, data)
    model = PMGridModel(params=path)
    with pytest.raises(ModelError, match=r"TSLA.*pm_grid_custom\.json"):
        model.compute(book(("TSLA", 10)), market(TSLA=400.0))


def test_malformed_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not valid JSON"):
        PMGridModel(params=write(tmp_path, "{not json"))


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("price_range", "wide", "'underlyings.BTC.price_range' should be a valid number"),
        ("price_range", 1.5, "price_range must be in"),
        ("buckets_count", 2.5, "buckets_count"),
        ("extended_weights", [0.5], "extended_moves but 1 extended_weights"),
        ("vol_states", ["up", "sideways"], "vol_states"),
        ("extended_linear", "half", "extended_linear"),
        ("roll_shock", {"BTC": {"annualised_move_risk": 0.1, "min_annualised_move": 0.01}}, "'*'"),
    ],
)
def test_bad_values_are_input_errors(tmp_path: Path, key: str, value: object, message: str) -> None:
    data = shipped()
    data["underlyings"]["BTC"][key] = value
    data["venues"]["deribit"]["underlyings"]["BTC"].pop(key, None)  # the venue's own value
    with pytest.raises(InputError, match=message) as err:
        PMGridModel(params=write(tmp_path, data))
    assert "pm_grid_custom.json" in str(err.value) or "BTC" in str(err.value)


def test_unknown_mode_and_venue_are_input_errors() -> None:
    with pytest.raises(InputError, match="unknown pm_grid mode 'portfolio'"):
        PMGridModel(mode="portfolio")
    with pytest.raises(InputError, match="unknown venue 'kraken'"):  # okx is a venue now
        PMGridModel(venue="kraken")


def test_file_for_another_model_is_rejected(tmp_path: Path) -> None:
    data = shipped()
    data["model"] = "span"
    with pytest.raises(InputError, match="is for model 'span'"):
        PMGridModel(params=write(tmp_path, data))


def test_mode_comes_from_the_venue_then_the_file(tmp_path: Path) -> None:
    data = shipped()
    data["default_mode"] = "segregated"
    assert PMGridModel(params=write(tmp_path, data)).mode == "segregated"
    data["venues"]["deribit"]["mode"] = "cross"
    assert PMGridModel(params=write(tmp_path, data)).mode == "cross"
    assert PMGridModel(params=write(tmp_path, data), mode="segregated").mode == "segregated"
    assert PMGridModel().mode == "cross"  # the shipped default_mode
