"""Where ``pm_grid`` parameters come from: the shipped file, a user file of the same shape,
or a Deribit ``model_params`` response (:mod:`crossmargin.models.deribit_params`)."""

from __future__ import annotations

import json
from pathlib import Path

from crossmargin.errors import InputError
from crossmargin.models.deribit_params import deribit_overlay, is_model_params, read_model_params
from crossmargin.models.params import ParameterSet, load_parameters, parameters_from_document


def load_grid_parameters(path: str | Path | None) -> ParameterSet:
    """``pm_grid`` parameters from ``path`` (``None``: the shipped file).

    A Deribit ``private/pme/simulate`` or ``public/get_portfolio_margins`` response (or its
    ``model_params`` block) replaces the shipped file's ``deribit`` venue; anything else must
    be a ``pm_grid`` parameter file.
    """
    if path is None:
        return load_parameters("pm_grid")
    label = str(path)
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"parameter file {label} not found") from None
    except json.JSONDecodeError as bad:
        raise InputError(f"parameter file {label}: not valid JSON ({bad})") from None
    if not is_model_params(data):
        return parameters_from_document("pm_grid", data, label)
    params = read_model_params(data, label=label)
    shipped = json.loads(json.dumps(dict(load_parameters("pm_grid").raw)))
    return parameters_from_document("pm_grid", deribit_overlay(shipped, params, label=label), label)
