"""The reusable VaR/ES CLI options parse and map onto the model constructor."""

from __future__ import annotations

from typing import Any

import typer
from typer.testing import CliRunner

from crossmargin.cli.var_options import (
    ApcOpt,
    ConfidenceOpt,
    HorizonOpt,
    LambdaOpt,
    LookbackOpt,
    MporOpt,
    VarMethodOpt,
    var_model_kwargs,
)
from crossmargin.models import get_model
from crossmargin.models.var import HistoricalVaRModel


def _app(seen: dict[str, Any]) -> typer.Typer:
    app = typer.Typer()

    @app.command()
    def margin(
        confidence: ConfidenceOpt = None,
        lookback: LookbackOpt = None,
        mpor: MporOpt = None,
        lam: LambdaOpt = None,
        apc: ApcOpt = None,
        method: VarMethodOpt = None,
        horizon: HorizonOpt = None,
    ) -> None:
        seen.update(
            var_model_kwargs(
                confidence=confidence,
                lookback=lookback,
                mpor=mpor,
                lam=lam,
                apc=apc,
                method=method,
                horizon=horizon,
            )
        )

    return app


def test_options_map_to_the_model_constructor() -> None:
    seen: dict[str, Any] = {}
    args = ["--confidence", "0.975", "--lookback", "500D", "--mpor", "5", "--lambda", "0.94"]
    args += ["--apc", "stress-weight", "--var-method", "fhs", "--horizon", "sqrt"]
    result = CliRunner().invoke(_app(seen), args)
    assert result.exit_code == 0, result.output
    model = get_model("es", **seen)
    assert isinstance(model, HistoricalVaRModel)
    params = model.parameters()
    assert (params["confidence"], params["lookback"], params["mpor"]) == (0.975, "500D", 5)
    assert (params["lam"], params["apc"], params["method"]) == (0.94, "stress-weight", "fhs")
    assert params["horizon_method"] == "sqrt"


def test_defaults_come_from_the_parameter_file_and_bad_values_are_refused() -> None:
    seen: dict[str, Any] = {}
    assert CliRunner().invoke(_app(seen), []).exit_code == 0
    params = get_model("hvar", **seen).parameters()
    assert (params["confidence"], params["mpor"], params["apc"]) == (0.99, 2, None)
    for bad in (["--confidence", "1"], ["--apc", "cushion"], ["--lambda", "0"]):
        assert CliRunner().invoke(_app({}), bad).exit_code != 0
