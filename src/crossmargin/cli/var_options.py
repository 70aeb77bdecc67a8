"""Reusable options of the historical VaR/ES models (``--model es`` / ``--model hvar``).

Each option defaults to ``None``: the model then takes the value of its parameter file
(``crossmargin/models/params/es.json``). :func:`var_model_kwargs` maps the options to the
constructor of :class:`crossmargin.models.var.HistoricalVaRModel`::

    --confidence  -> confidence       --lookback -> lookback     --mpor -> mpor
    --lambda      -> lam              --apc      -> apc          --var-method -> method
    --horizon     -> horizon_method   --data     -> data_dir     --params -> params
"""

from __future__ import annotations

from enum import Enum, StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer


def _open_unit(value: float | None) -> float | None:
    """Refuse values outside the open interval (0, 1)."""
    if value is not None and not 0.0 < value < 1.0:
        raise typer.BadParameter(f"must be strictly between 0 and 1, got {value}")
    return value


class ApcChoice(StrEnum):
    """EMIR RTS 153/2013 Art 28(1) anti-procyclicality tools."""

    buffer = "buffer"
    stress_weight = "stress-weight"
    floor = "floor"


class VarMethodChoice(StrEnum):
    """Plain or filtered historical simulation."""

    hs = "hs"
    fhs = "fhs"


class HorizonChoice(StrEnum):
    """How daily moves reach the MPOR."""

    overlapping = "overlapping"
    sqrt = "sqrt"


ConfidenceOpt = Annotated[
    float | None,
    typer.Option(
        "--confidence",
        callback=_open_unit,
        help="VaR/ES confidence in (0, 1) (default 0.99, EMIR Art 24).",
    ),
]
LookbackOpt = Annotated[
    str | None,
    typer.Option(
        "--lookback",
        help="Lookback as calendar time: 12M, 365D, 2Y ... (default 12M, EMIR Art 25).",
    ),
]
MporOpt = Annotated[
    int | None,
    typer.Option(
        "--mpor",
        min=1,
        help="Margin period of risk in steps of each netting set's calendar: days for "
        "crypto-only sets, NYSE sessions otherwise (default 2, EMIR Art 26).",
    ),
]
LambdaOpt = Annotated[
    float | None,
    typer.Option(
        "--lambda",
        callback=_open_unit,
        help="EWMA decay for --var-method fhs (default 0.97; 0.94-0.97 usual).",
    ),
]
ApcOpt = Annotated[
    ApcChoice | None,
    typer.Option(
        "--apc",
        case_sensitive=False,
        help="Anti-procyclicality (EMIR Art 28): 25% buffer, 25% stress weight or 10-year floor.",
    ),
]
VarMethodOpt = Annotated[
    VarMethodChoice | None,
    typer.Option("--var-method", help="Historical (hs) or filtered historical (fhs) scenarios."),
]
HorizonOpt = Annotated[
    HorizonChoice | None,
    typer.Option("--horizon", help="Overlapping h-day returns or sqrt(h) scaling."),
]
VarParamsOpt = Annotated[
    Path | None,
    typer.Option("--params", help="Parameter file replacing the shipped es.json."),
]


def var_model_kwargs(
    *,
    confidence: float | None = None,
    lookback: str | None = None,
    mpor: int | None = None,
    lam: float | None = None,
    apc: ApcChoice | str | None = None,
    method: VarMethodChoice | str | None = None,
    horizon: HorizonChoice | str | None = None,
    data_dir: Path | None = None,
    params: Path | None = None,
) -> dict[str, Any]:
    """Constructor keyword arguments of the ``es``/``hvar`` models from the CLI options."""

    def value(x: Enum | str | None) -> str | None:
        return x.value if isinstance(x, Enum) else x

    return {
        "confidence": confidence,
        "lookback": lookback,
        "mpor": mpor,
        "lam": lam,
        "apc": value(apc),
        "method": value(method),
        "horizon_method": value(horizon),
        "data_dir": data_dir,
        "params": params,
    }


__all__ = [
    "ApcChoice",
    "ApcOpt",
    "ConfidenceOpt",
    "HorizonChoice",
    "HorizonOpt",
    "LambdaOpt",
    "LookbackOpt",
    "MporOpt",
    "VarMethodChoice",
    "VarMethodOpt",
    "VarParamsOpt",
    "var_model_kwargs",
]
