"""Start-up stays light (issue 17, item 6): ``import crossmargin`` and ``crossmargin --help``
load none of the heavy libraries (their cost is measured by ``benchmarks/bench_startup.py``,
not timed here); the lazy public names still resolve; one default model everywhere.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import typer

import crossmargin
from crossmargin.cli.app import app
from crossmargin.defaults import BUILTIN_MODELS, DEFAULT_MODEL
from crossmargin.models import model_names

SRC = Path(crossmargin.__file__).resolve().parents[1]
HEAVY = ("numpy", "pandas", "scipy", "numba", "duckdb", "pyarrow", "pydantic", "fastapi")
PROBE = """
import sys
sys.argv = ["crossmargin", *sys.argv[1:]]
{body}
heavy = sorted({{m.split(".")[0] for m in sys.modules}} & set({heavy!r}))
print("HEAVY:" + ",".join(heavy))
"""


def _heavy_loaded(body: str, *args: str) -> tuple[str, str]:
    code = PROBE.format(body=body, heavy=HEAVY)
    done = subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True, text=True, timeout=120, env={"PYTHONPATH": str(SRC)},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    marker = [line for line in done.stdout.splitlines() if line.startswith("HEAVY:")]
    assert len(marker) == 1, done.stdout
    return marker[0].removeprefix("HEAVY:"), done.stdout


def test_import_crossmargin_loads_no_heavy_library() -> None:
    heavy, _ = _heavy_loaded("import crossmargin")
    assert heavy == ""


def test_help_loads_no_heavy_library() -> None:
    body = "import crossmargin.cli as cli\ntry:\n    cli.main()\nexcept SystemExit:\n    pass"
    heavy, out = _heavy_loaded(body, "--help")
    assert heavy == ""
    assert "what-if" in out  # the real help was printed
    assert "margin" in out


def test_lazy_public_names_resolve_to_their_homes() -> None:
    from crossmargin import api

    assert crossmargin.what_if is api.what_if
    assert crossmargin.margin is api.margin
    assert crossmargin.api is api
    assert "what_if" in dir(crossmargin)


def test_builtin_model_list_is_the_registry() -> None:
    assert tuple(model_names()) == BUILTIN_MODELS


def _model_default(command: str, option: str = "model") -> object:
    group = typer.main.get_command(app)  # typer vendors click: a group by its interface
    cmd = group.commands[command]  # type: ignore[attr-defined]
    return next(p.default for p in cmd.params if p.name == option)


def test_one_default_model_everywhere() -> None:
    from crossmargin.service.schemas import MarginRequest

    assert DEFAULT_MODEL in BUILTIN_MODELS
    for command in ("margin", "what-if", "stress", "backtest"):
        assert _model_default(command) == DEFAULT_MODEL, command
    assert _model_default("report", "backtest_model") == DEFAULT_MODEL
    assert MarginRequest.model_fields["model"].default == DEFAULT_MODEL
