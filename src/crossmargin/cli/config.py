"""``--config FILE``: option defaults from a TOML file, one table per command.

::

    # crossmargin.toml
    [margin]
    model = "es"
    cap = 0.8
    data = "/srv/market"

    [backtest]
    start = "2020-01-01"
    mpor = 2

    [runs.list]          # sub-commands nest
    limit = 50

Keys are the options' parameter names (``no_store``, ``var_method`` ...). Options given on the
command line win over the file. Without ``--config`` the file named by
``$CROSSMARGIN_CONFIG`` is used, if set. The file is validated against a schema built from
the commands' own parameters (pydantic, ``extra="forbid"``): an unknown command table, an
unknown option name or a value of the wrong type is one input error (exit 2) naming the file,
the table and the key, e.g. ``config crossmargin.toml: unknown option 'modle' in [margin]
(did you mean 'model'?)``.
"""

from __future__ import annotations

import datetime as dt
import enum
import os
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer

from crossmargin.cli.app import app
from crossmargin.errors import InputError

if TYPE_CHECKING:  # pydantic is imported when a config is given, not at start-up
    from pydantic import BaseModel

ENV_VAR = "CROSSMARGIN_CONFIG"


def load_config(path: Path) -> dict[str, Any]:
    """Parse the TOML file; InputError naming the file and the problem."""
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError:
        raise InputError(f"config file {path} not found") from None
    except tomllib.TOMLDecodeError as bad:
        raise InputError(f"config file {path}: not valid TOML ({bad})") from None
    return data


def _text(value: Any) -> Any:
    """TOML dates (``asof = 2026-02-11``) stand for their ISO text; other values are kept."""
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    return value


def _value_type(param: Any) -> Any:
    """The pydantic type of one command parameter, from its annotation."""
    descriptor = getattr(param, "type_descriptor", None)
    annotation = getattr(descriptor, "annotation", None)
    if annotation is bool:
        kind: Any = bool
    elif annotation is int:
        kind = int
    elif annotation is float:
        kind = float
    elif isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        kind = Literal[tuple(str(m.value) for m in annotation)]
    elif annotation in (str, Path):
        from pydantic import BeforeValidator

        kind = Annotated[str, BeforeValidator(_text)]
    else:
        kind = Any
    if getattr(param, "multiple", False) or getattr(param, "nargs", 1) not in (1, None):
        kind = list[kind]
    return kind | None


def command_schema(command: Any, name: str = "config", *, options: bool = True) -> type[BaseModel]:
    """A strict model of the tables ``command`` accepts: its parameters (unless ``options`` is
    false: the application's own ``--config`` is no table key) and its sub-commands."""
    from pydantic import Field, create_model

    from crossmargin.validation import Strict

    # Fields are keyed by position and carry the TOML name as alias: option names such as
    # ``json`` would otherwise shadow pydantic's own attributes.
    fields: dict[str, Any] = {}
    for param in getattr(command, "params", ()) if options else ():
        if param.name and param.expose_value:
            fields[f"f{len(fields)}"] = (_value_type(param), Field(None, alias=param.name))
    for sub, child in getattr(command, "commands", {}).items():
        table = command_schema(child, f"{name}.{sub}")
        fields[f"f{len(fields)}"] = (table | None, Field(None, alias=sub))
    model: type[BaseModel] = create_model(name.replace(".", "_"), __base__=Strict, **fields)
    return model


def _sub_schema(annotation: Any) -> type[BaseModel] | None:
    """The table model inside ``Model | None``, if the field is a (sub-command) table."""
    from pydantic import BaseModel

    for arg in getattr(annotation, "__args__", (annotation,)):
        if isinstance(arg, type) and issubclass(arg, BaseModel):
            return arg
    return None


def _fields(schema: type[BaseModel] | None) -> dict[str, Any]:
    """TOML name -> annotation of a table model."""
    if schema is None:
        return {}
    return {info.alias or f: info.annotation for f, info in schema.model_fields.items()}


def _describe(error: Any, schema: type[BaseModel]) -> str:
    """One config error: unknown table, unknown option (with a suggestion) or a bad value."""
    from crossmargin.validation import describe_error, did_you_mean

    loc = tuple(str(part) for part in error.get("loc", ()))
    table, key = ".".join(loc[:-1]), loc[-1] if loc else ""
    here: type[BaseModel] | None = schema
    for part in loc[:-1]:
        here = _sub_schema(_fields(here).get(part))
    fields = _fields(here)
    tables = sorted(f for f, annotation in fields.items() if _sub_schema(annotation))
    prefix = f"{table}." if table else ""
    if error.get("type") == "extra_forbidden":
        close = did_you_mean(key, tables)
        hint = f" (did you mean [{prefix}{close.split(chr(39))[1]}]?)" if close else ""
        scope = f" of [{table}]" if table else ""
        if isinstance(error.get("input"), dict):
            return f"unknown command table [{prefix}{key}]{hint}; commands{scope}: " + ", ".join(
                tables
            )
        if not table:
            return (
                f"unknown top-level key {key!r}: option defaults go in a command table "
                f"({', '.join(f'[{t}]' for t in tables)})"
            )
        options = [f for f in fields if f not in tables]
        return f"unknown option {key!r} in [{table}]" + did_you_mean(key, options)
    clause = describe_error({**error, "loc": (key,)}, schema)
    return f"[{table}] {clause}" if table else clause


def check_config(data: dict[str, Any], command: Any, *, label: str) -> None:
    """Validate a parsed config against ``command``'s tables; one InputError naming each key."""
    from pydantic import ValidationError

    schema = command_schema(command, options=False)
    try:
        schema.model_validate(data)
    except ValidationError as exc:
        parts = list(dict.fromkeys(_describe(e, schema) for e in exc.errors()))
        raise InputError(f"config {label}: " + "; ".join(parts)) from None


@app.callback()
def main_options(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            help=f"TOML file with option defaults per command (or ${ENV_VAR}).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Cross-margining risk engine: margin, stress and backtest multi-asset derivative books."""
    chosen = config or (Path(os.environ[ENV_VAR]) if os.environ.get(ENV_VAR) else None)
    if chosen is None:
        return
    data = load_config(chosen)
    check_config(data, ctx.command, label=str(chosen))
    ctx.default_map = data
