"""Strict file schemas: pydantic models that refuse unknown keys, and one-line errors.

Every parameter, configuration and contract file crossmargin reads is described by a
:class:`Strict` pydantic model (``extra="forbid"``, strict types: a string is not a number,
``true`` is not 1). :func:`check_document` validates a parsed document against its schema and
turns every problem into one line naming the file and the key path, e.g.::

    span parameters my_span.json: unknown key 'defaults.method' (did you mean 'som_method'?)
    span parameters my_span.json: 'inter_spreads[0].method' is 'scanning'; accepted: 'delta'
    contracts my.json: 'products[2].multiplier' should be greater than 0 (got -5)

Several problems are joined with ``"; "`` on the same line, so one run shows all of them.
"""

from __future__ import annotations

import difflib
import re
import types
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, TypeVar, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, ValidationError

from crossmargin.errors import CrossMarginError, InputError

M = TypeVar("M", bound=BaseModel)
Loc = Sequence[str | int]


class Strict(BaseModel):
    """Base of every file schema: unknown keys are errors, types are not coerced."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


def key_path(loc: Loc) -> str:
    """``("inter_spreads", 0, "method")`` -> ``"inter_spreads[0].method"``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def did_you_mean(word: str, choices: Sequence[str]) -> str:
    """``" (did you mean 'model'?)"`` when a close match exists, else ``""``."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _unwrap(tp: Any) -> Any:
    """Strip ``Annotated`` and ``X | None`` down to the type that holds keys or items."""
    origin = get_origin(tp)
    if origin is Annotated:
        return _unwrap(get_args(tp)[0])
    if origin in (Union, types.UnionType):
        for arg in get_args(tp):
            inner = _unwrap(arg)
            if _is_model(inner) or get_origin(inner) in (dict, list, tuple):
                return inner
    return tp


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def _step(tp: Any, part: str | int) -> Any:
    tp = _unwrap(tp)
    if _is_model(tp):
        for name, field in tp.model_fields.items():
            if part in (name, field.alias):
                return field.annotation
        return None
    origin = get_origin(tp)
    args = get_args(tp)
    if origin is dict and len(args) == 2:
        return args[1]
    if origin in (list, tuple) and args:
        return args[0]
    return None


def allowed_keys(schema: Any, loc: Loc) -> list[str]:
    """The keys the schema accepts in the object at ``loc`` (empty if not an object)."""
    tp: Any = schema
    for part in loc:
        tp = _step(tp, part)
        if tp is None:
            return []
    tp = _unwrap(tp)
    if not _is_model(tp):
        return []
    return [field.alias or name for name, field in tp.model_fields.items()]


def describe_error(error: Mapping[str, Any], schema: Any) -> str:
    """One pydantic error as ``unknown key 'a.b'``, ``a.b is 'x'; accepted: ...`` and so on."""
    loc = tuple(error.get("loc", ()))
    path = key_path(loc)
    kind = error.get("type", "")
    value = error.get("input")
    if kind == "extra_forbidden":
        known = allowed_keys(schema, loc[:-1])
        return f"unknown key {path!r}" + did_you_mean(str(loc[-1]), known)
    if kind == "missing":
        return f"missing key {path!r}"
    if kind in ("literal_error", "enum"):
        expected = (error.get("ctx") or {}).get("expected", "")
        return f"{path!r} is {value!r}; accepted: {expected}"
    message = str(error.get("msg", "invalid"))
    message = message.removeprefix("Value error, ").removeprefix("Assertion failed, ")
    message = re.sub(
        r"^(Input|String|List|Dictionary|Value|Tuple|Set|Object) should", "should", message
    )
    where = f"{path!r} " if path else ""
    if not message.startswith("should"):
        where = f"{path!r}: " if path else ""
    shown = "" if isinstance(value, Mapping | list) else f" (got {value!r})"
    return f"{where}{message}{shown}"


def describe(exc: ValidationError, schema: Any) -> str:
    """Every error of ``exc``, one clause each, joined on one line."""
    parts = list(dict.fromkeys(describe_error(e, schema) for e in exc.errors()))
    return "; ".join(parts)


def check_document(
    schema: type[M],
    data: Any,
    *,
    label: str,
    error: type[CrossMarginError] = InputError,
) -> M:
    """Validate ``data`` against ``schema``; ``error`` (InputError) names ``label`` and keys."""
    try:
        return schema.model_validate(data)
    except ValidationError as exc:
        raise error(f"{label}: {describe(exc, schema)}") from None


__all__ = [
    "Strict",
    "allowed_keys",
    "check_document",
    "describe",
    "describe_error",
    "did_you_mean",
    "key_path",
]
