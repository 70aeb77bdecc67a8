"""Bad input: clear one-line InputErrors naming the file, key and value; the CLI exits 2."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from crossmargin.analysis.cascade import (
    ImpactLaw,
    hypothetical_path,
    load_params,
    load_population,
    load_spec,
    run_cascade,
)
from crossmargin.analysis.cascade.shocks import ShockPath, resolve_replay
from crossmargin.errors import InputError

from .conftest import population, prepared


def _params_file(tmp_path: Path, change: Any) -> Path:
    doc = json.loads(_shipped())
    change(doc)
    path = tmp_path / "cascade.json"
    path.write_text(json.dumps(doc))
    return path


def _shipped() -> str:
    from importlib import resources

    return resources.files("crossmargin").joinpath("data/cascade.json").read_text("utf-8")


def test_impact_parameter_out_of_range_names_file_key_and_value(tmp_path: Path) -> None:
    path = _params_file(tmp_path, lambda d: d["impact"].update(exponent=1.5))
    with pytest.raises(InputError) as bad:
        load_params(path)
    text = str(bad.value)
    assert str(path) in text
    assert "impact.exponent" in text
    assert "1.5" in text
    assert "\n" not in text
    for field, value in (("coefficient", 0.0), ("coefficient", 11.0), ("depth_collapse", 1.0)):
        path = _params_file(tmp_path, lambda d, f=field, v=value: d["impact"].update({f: v}))
        with pytest.raises(InputError, match=f"impact.{field}"):
            load_params(path)


def test_impact_law_rejects_out_of_range_values() -> None:
    for kwargs in (
        {"coefficient": -1.0, "exponent": 0.5},
        {"coefficient": 1.0, "exponent": 0.0},
        {"coefficient": 1.0, "exponent": 0.5, "depth_collapse": -0.1},
    ):
        with pytest.raises(InputError, match=r"impact|depth"):
            ImpactLaw(**kwargs)
    law = ImpactLaw(coefficient=1.0, exponent=0.5)
    with pytest.raises(InputError, match="fraction of the day"):
        law.log_impact(np.ones(1), np.ones(1), np.ones(1), step_fraction=0.0)


def test_a_negative_layer_is_an_error(tmp_path: Path) -> None:
    def negative(d: dict[str, Any]) -> None:
        d["waterfalls"]["ccp"][2] = {"layer": "skin_in_the_game", "amount": -7_000_000}

    path = _params_file(tmp_path, negative)
    with pytest.raises(InputError) as bad:
        load_params(path)
    assert "waterfalls.ccp.2.amount" in str(bad.value)
    assert "greater than or equal to 0" in str(bad.value)
    assert "-7000000" in str(bad.value)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda d: d.update(surprise=1), "surprise: unknown key"),
        (lambda d: d["impact"].update(depht=0.1), "impact.depht: unknown key"),
        (lambda d: d["waterfalls"]["venue"].reverse(), "first layer must be defaulter_margin"),
        (lambda d: d["waterfalls"]["ccp"].append({"layer": "adl"}), "unknown layer"),
        (
            lambda d: d["waterfalls"]["ccp"].append(
                {"layer": "assessments", "multiple_of_contribution": 1}
            ),
            "appears twice",
        ),
        (
            lambda d: d["venues"]["deribit"]["initial_rate"].update(BTC=0.005),
            "below maintenance_rate.BTC",
        ),
        (
            lambda d: d["venues"]["deribit"]["maintenance_rate"].update(BTC=0.0),
            "maintenance_rate.BTC",
        ),
        (lambda d: d["venues"].pop("house"), "needs a 'house' venue"),
        (lambda d: d["waterfalls"]["venue"][1].update(amount=5.0), "exactly one of"),
        (lambda d: d["default_fund"].update(sizing="amount"), "needs an amount"),
        (lambda d: d["engine"].update(max_iterations=0), "engine.max_iterations"),
    ],
)
def test_malformed_parameters(tmp_path: Path, change: Any, expected: str) -> None:
    path = _params_file(tmp_path, change)
    with pytest.raises(InputError, match=expected.replace("(", r"\(").replace(")", r"\)")):
        load_params(path)


def test_a_population_spec_with_zero_accounts() -> None:
    for spec in ("0", "0:3", {"accounts": 0}):
        with pytest.raises(InputError) as bad:
            load_spec(spec)
        assert "accounts" in str(bad.value)
        assert "greater than or equal to 1" in str(bad.value)
    with pytest.raises(InputError, match="legs"):
        load_spec({"accounts": 10, "legs": {"0": 1.0}})
    with pytest.raises(InputError, match="no products"):
        load_spec({"accounts": 10, "venues": {"cme": 1.0}})
    with pytest.raises(InputError, match="unknown key"):
        load_spec({"accounts": 10, "leverag": {}})
    with pytest.raises(InputError, match="cannot read"):
        load_spec("no-such-spec.json")


def test_a_written_population_with_a_bad_margin_mode(tmp_path: Path) -> None:
    path = tmp_path / "pop.json"
    path.write_text(
        json.dumps(
            {
                "positions": [{"account": "a", "symbol": "BTC_USDC-PERPETUAL", "quantity": 10}],
                "accounts": [{"account": "a", "margin_mode": "portfolio"}],
            }
        )
    )
    with pytest.raises(InputError, match=r"accounts row 1.*margin_mode"):
        load_population(path)
    path.write_text(
        json.dumps(
            {
                "positions": [{"account": "a", "symbol": "BTC_USDC-PERPETUAL", "quantity": 10}],
                "accounts": [{"account": "b", "margin_mode": "cross"}],
            }
        )
    )
    with pytest.raises(InputError, match="unknown account"):
        load_population(path)


def test_run_arguments() -> None:
    prep = prepared(population([(0, "BTC", 1.0)], [10_000.0]), load_params())
    shock = hypothetical_path({"BTC": -0.1}, name="d", steps=2)
    with pytest.raises(InputError, match="use venue or ccp"):
        run_cascade(prep, shock, allocation="exchange")
    with pytest.raises(InputError, match="margin mode"):
        run_cascade(prep, shock, modes=("portfolio",))
    with pytest.raises(InputError, match="> -1"):
        hypothetical_path({"BTC": -1.0}, name="x", steps=1)
    with pytest.raises(InputError, match="scale"):
        shock.scaled(-1.0)
    with pytest.raises(InputError, match="unknown crisis"):
        resolve_replay(load_params(), "black-monday")
    with pytest.raises(InputError, match="at most 31 days"):
        resolve_replay(load_params(), "2025-01-01:2025-03-01")
    with pytest.raises(InputError, match="start at 0"):
        ShockPath(
            name="x",
            kind="hypothetical",
            underlyings=("BTC",),
            log_path=np.array([[0.1], [0.2]]),
            step_fraction=np.array([1.0]),
            depth_collapse=np.zeros(1),
            labels=("a",),
        )
