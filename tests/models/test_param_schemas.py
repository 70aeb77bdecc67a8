"""Parameter files are checked against one pydantic schema per model: unknown keys at any
level and values a model cannot use are one-line InputErrors naming the file and key path."""

from __future__ import annotations

import json
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from crossmargin.errors import InputError
from crossmargin.models import get_model
from crossmargin.models.param_schemas import SCHEMAS
from crossmargin.models.params import load_parameters

MODELS = ("rules", "span", "pm_grid", "es", "basis")


def _shipped(model: str) -> dict[str, Any]:
    text = resources.files("crossmargin").joinpath(f"models/params/{model}.json")
    data: dict[str, Any] = json.loads(text.read_text("utf-8"))
    return data


def _write(tmp_path: Path, model: str, data: dict[str, Any]) -> Path:
    path = tmp_path / f"my_{model}.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_every_model_with_a_parameter_file_has_a_schema() -> None:
    assert set(SCHEMAS) == set(MODELS)


@pytest.mark.parametrize("model", MODELS)
def test_shipped_files_pass_their_schema(model: str) -> None:
    assert load_parameters(model).model == model


@pytest.mark.parametrize(
    ("model", "edit", "message"),
    [
        # a misspelt top-level key, with the key it was probably meant to be
        (
            "span",
            lambda d: d.update(underlyngs=d["underlyings"]),
            "unknown key 'underlyngs' (did you mean 'underlyings'?)",
        ),
        # a key no level of the file has
        ("span", lambda d: d["defaults"].update(method="x"), "unknown key 'defaults.method'"),
        # a method the model does not implement, with what it does (issue 16 added the
        # scanning inter spreads and the wpr/pmps intra methods: they are now accepted)
        (
            "span",
            lambda d: d["inter_spreads"][0].update(method="pmps"),
            "'inter_spreads[0].method' is 'pmps'; accepted: 'delta' or 'scanning'",
        ),
        (
            "span",
            lambda d: d["defaults"]["intra_spreads"][0].update(method="scanning"),
            "'defaults.intra_spreads[0].method' is 'scanning'; accepted: 'flat', 'wpr' or 'pmps'",
        ),
        (
            "span",
            lambda d: d["inter_spreads"][0].update(sides=["A", "C"]),
            "'inter_spreads[0].sides[1]' is 'C'; accepted: 'A' or 'B'",
        ),
        (
            "rules",
            lambda d: d["underlyings"]["SPX"].update(option_rule="finra"),
            "'underlyings.SPX.option_rule' is 'finra'; accepted: 'cboe' or 'deribit'",
        ),
        (
            "rules",
            lambda d: d["underlyings"]["BTC"].update(futures_imm=0.1),
            "unknown key 'underlyings.BTC.futures_imm' (did you mean 'futures_",
        ),
        (
            "pm_grid",
            lambda d: d["venues"]["paradex"]["defaults"].update(vol_states=["up", "sideways"]),
            "'venues.paradex.defaults.vol_states[1]' is 'sideways'",
        ),
        (
            "pm_grid",
            lambda d: d["underlyings"]["BTC"]["venue_params"].update(m_incc=0.1),
            "unknown key 'underlyings.BTC.venue_params.m_incc'",
        ),
        # an unknown key of a venue section (issue 16: venues carry mode and add-ons)
        (
            "pm_grid",
            lambda d: d["venues"]["okx"]["defaults"].update(mr7_rate=0.1),
            "unknown key 'venues.okx.defaults.mr7_rate'",
        ),
        (
            "pm_grid",
            lambda d: d["venues"]["deribit"].update(modes="cross"),
            "unknown key 'venues.deribit.modes' (did you mean 'mode'?)",
        ),
        (
            "pm_grid",
            lambda d: d["venues"]["deribit"].update(mode="portfolio"),
            "'venues.deribit.mode' is 'portfolio'; accepted: 'segregated' or 'cross'",
        ),
        (
            "pm_grid",
            lambda d: d["collateral_haircuts"].update(BTC=1.5),
            "haircut of BTC must be a number in [0, 1], got 1.5",
        ),
        (
            "es",
            lambda d: d["defaults"].update(method="monte-carlo"),
            "'defaults.method' is 'monte-carlo'; accepted: 'hs' or 'fhs'",
        ),
        (
            "es",
            lambda d: d["underlyings"]["BTC"].update(adv_volume_units="coins"),
            "'underlyings.BTC.adv_volume_units' is 'coins'; accepted: 'usd' or 'units'",
        ),
        # strict types: a number in quotes is not a number
        (
            "es",
            lambda d: d["defaults"].update(mpor="2"),
            "'defaults.mpor' should be a valid integer (got '2')",
        ),
        (
            "basis",
            lambda d: d["asset_classes"]["crypto"].update(funding_shock=-1),
            "'asset_classes.crypto.funding_shock' should be greater than or equal to 0 (got -1)",
        ),
        (
            "basis",
            lambda d: d["defaults"].pop("reference_days"),
            "missing key 'defaults.reference_days'",
        ),
    ],
)
def test_bad_files_are_one_line_errors_naming_file_and_key(
    tmp_path: Path, model: str, edit: Callable[[dict[str, Any]], object], message: str
) -> None:
    data = _shipped(model)
    edit(data)
    path = _write(tmp_path, model, data)
    with pytest.raises(InputError) as info:
        load_parameters(model, path)
    text = str(info.value)
    assert "\n" not in text
    assert text.startswith(f"{model} parameters {path}: ")
    assert message in text


def test_every_problem_of_a_file_is_reported_together(tmp_path: Path) -> None:
    data = _shipped("span")
    data["defaults"]["method"] = "x"
    data["inter_spreads"][1]["method"] = "magic"
    path = _write(tmp_path, "span", data)
    with pytest.raises(InputError) as info:
        load_parameters("span", path)
    text = str(info.value)
    assert "unknown key 'defaults.method'" in text
    assert "'inter_spreads[1].method' is 'magic'" in text


def test_the_model_refuses_the_file_before_any_work(tmp_path: Path) -> None:
    data = _shipped("span")
    data["inter_spreads"][0]["method"] = "magic"
    with pytest.raises(InputError, match="accepted: 'delta' or 'scanning'"):
        get_model("span", params=_write(tmp_path, "span", data))


def test_explicit_default_method_is_accepted(tmp_path: Path) -> None:
    # Naming the default method is allowed and changes nothing.
    data = _shipped("span")
    for spread in data["inter_spreads"]:
        spread["method"] = "delta"
    loaded = load_parameters("span", _write(tmp_path, "span", data))
    assert loaded.raw["inter_spreads"][0]["method"] == "delta"
