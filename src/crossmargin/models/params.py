"""Model parameters as versioned data files.

Each model ships a default JSON file ``crossmargin/models/params/<model>.json``::

    {"model": "rules", "version": "2026-01", "source": "...", "effective": "2026-01-01",
     "defaults": {...}, "underlyings": {"BTC": {...}, "SPX": {...}}}

``--params FILE`` replaces it with a user file of the same shape. Every file is checked
against its model's schema (:mod:`crossmargin.models.param_schemas`): an unknown key or a
value the model cannot use is one :class:`~crossmargin.errors.InputError` line naming the
file and the key path (``span parameters my_span.json: unknown key 'defaults.method'``). A
missing underlying is a :class:`~crossmargin.errors.ModelError` naming the underlying and the
file.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from crossmargin.errors import InputError, ModelError
from crossmargin.files import parse_json, read_text
from crossmargin.models.param_schemas import SCHEMAS
from crossmargin.validation import check_document


@dataclass(frozen=True, slots=True, kw_only=True)
class ParameterSet:
    """One model's parameters: metadata, defaults and per-underlying entries."""

    model: str
    version: str
    source: str
    path: str
    defaults: Mapping[str, Any]
    underlyings: Mapping[str, Mapping[str, Any]]
    raw: Mapping[str, Any]

    def for_underlying(self, underlying: str) -> Mapping[str, Any]:
        """Defaults overlaid with the underlying's entry; ModelError if it has none."""
        try:
            entry = self.underlyings[underlying]
        except KeyError:
            raise ModelError(
                f"model {self.model}: no parameters for underlying {underlying!r} in {self.path} "
                f"(it has {', '.join(sorted(self.underlyings))}); add an entry or pass --params"
            ) from None
        return {**self.defaults, **entry}

    def metadata(self) -> dict[str, str]:
        """Version, source and file, for reporting."""
        return {"version": self.version, "source": self.source, "file": self.path}


def load_parameters(model: str, path: str | Path | None = None) -> ParameterSet:
    """Load ``path`` or the shipped default file of ``model``; errors name the file."""
    if path is None:
        resource = resources.files("crossmargin").joinpath(f"models/params/{model}.json")
        label = f"crossmargin/models/params/{model}.json"
        try:
            text = resource.read_text("utf-8")
        except FileNotFoundError:
            raise ModelError(f"model {model}: no shipped parameter file {label}") from None
    else:
        label = str(path)
        text = read_text(path, what="parameter")
    data = parse_json(text, label, what="parameter")
    return parameters_from_document(model, data, label)


def parameters_from_document(model: str, data: Any, label: str) -> ParameterSet:
    """A parsed parameter document checked against ``model``'s schema (errors name ``label``)."""
    if not isinstance(data, dict):
        raise InputError(f"parameter file {label}: expected a JSON object")
    if "model" in data and data["model"] != model:
        raise InputError(f"parameter file {label} is for model {data['model']!r}, not {model!r}")
    schema = SCHEMAS.get(model)
    if schema is None:
        raise ModelError(f"model {model}: no parameter-file schema (have {', '.join(SCHEMAS)})")
    check_document(schema, data, label=f"{model} parameters {label}")
    return ParameterSet(
        model=model,
        version=str(data["version"]),
        source=str(data.get("source", "")),
        path=label,
        defaults=data.get("defaults", {}),
        underlyings=data["underlyings"],
        raw=data,
    )


def number(params: Mapping[str, Any], key: str, *, where: str) -> float:
    """``params[key]`` as a float; InputError naming the key and the file otherwise."""
    try:
        value = params[key]
    except KeyError:
        raise ModelError(f"{where}: parameter {key!r} is missing") from None
    try:
        return float(value)
    except (TypeError, ValueError):
        raise InputError(f"{where}: parameter {key!r} must be a number, got {value!r}") from None
