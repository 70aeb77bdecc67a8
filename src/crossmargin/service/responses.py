"""JSON responses of the service: strict JSON, no server paths.

* **Strict JSON**: ``NaN`` and infinities are not JSON; a payload holding one is refused
  (:class:`~crossmargin.errors.ModelError`, a 422 naming the field) rather than sent as
  invalid JSON or hidden.
* **No server paths**: every body passes through :func:`scrub_text`, which replaces an
  absolute file path (``/srv/data/market/index/spx_daily.csv``, ``~/.local/...``) by
  ``.../`` and its last part (``.../spx_daily.csv``). Health, ``market`` fields, stored runs
  and error messages therefore name files, never where they live on the server.
"""

from __future__ import annotations

import json
import math
import re
import secrets
import sys
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import ujson
from fastapi import Request
from fastapi.responses import Response

from crossmargin.errors import ModelError

#: An absolute POSIX path (at least one folder deep) or a home-relative one, not part of a
#: word, a URL, a relative path or an endpoint (``BTC/ETH``, ``USD/day``, ``../x``,
#: ``http://h/x`` and ``/v1/runs`` are left alone).
_PATH = re.compile(
    r"(?<![\w.:/~\\-])~?/(?!v1/|docs|openapi|redoc)(?:[^\s/\"'<>|\\]+/)+([^\s/\"'<>|,;)\\]*)"
)
_ROOTS: list[str] = []


def register_roots(paths: Iterable[str | Path | None]) -> None:
    """Folders whose absolute names must never reach a response (data, store, market and
    contracts folders, home, working folder, the Python prefix, the temp folder)."""
    for p in paths:
        if p is None:
            continue
        for form in {str(Path(p).expanduser()), str(Path(p).expanduser().resolve())}:
            if form not in ("/", "") and form not in _ROOTS:
                _ROOTS.append(form.rstrip("/"))
    _ROOTS.sort(key=len, reverse=True)
    global _ANY_ROOT
    _ANY_ROOT = re.compile("|".join(re.escape(r) for r in _ROOTS)) if _ROOTS else None


_ANY_ROOT: re.Pattern[str] | None = None


register_roots([Path.home(), Path.cwd(), sys.prefix, tempfile.gettempdir(),
                Path(__file__).resolve().parents[2]])  # fmt: skip


def scrub_text(text: str, *, thorough: bool = True) -> str:
    """``text`` with server paths cut (module docstring).

    Registered folders (:func:`register_roots`) are replaced by ``...`` always (fast); with
    ``thorough`` (errors, health, stored runs) any other absolute path is cut to its last
    part as well.
    """
    if "/" not in text:
        return text
    if thorough:
        text = _PATH.sub(lambda m: f".../{m.group(1)}", text)
    if _ANY_ROOT is None or _ANY_ROOT.search(text) is None:  # one pass over the text
        return text
    for root in _ROOTS:
        if root in text:
            text = text.replace(root + "/", ".../").replace(root, "...")
    return text


def _non_finite_at(value: Any, path: str = "") -> str | None:
    """The first field holding NaN or an infinity, as a dotted path."""
    if isinstance(value, float) and not math.isfinite(value):
        return path or "(the payload)"
    if isinstance(value, Mapping):
        for k, v in value.items():
            found = _non_finite_at(v, f"{path}.{k}" if path else str(k))
            if found:
                return found
    elif isinstance(value, list | tuple):
        for i, v in enumerate(value):
            found = _non_finite_at(v, f"{path}.{i}" if path else str(i))
            if found:
                return found
    return None


def strict_json(content: Any) -> str:
    """Compact strict JSON text of ``content``, not scrubbed; ModelError on NaN or
    infinity.

    Written by ``ujson`` (floats in their shortest form that reads back to the same bits,
    as ``json`` writes them, though with ``1e-5`` for ``1e-05``; a tenth of a what-if's
    time went on ``json``'s float formatting); anything it refuses (a non-finite figure, a
    value it cannot write) goes to the standard ``json`` module, whose answer or error
    stands."""
    try:
        return ujson.dumps(
            content, ensure_ascii=False, escape_forward_slashes=False, allow_nan=False
        )
    except (OverflowError, TypeError, ValueError):
        pass
    try:
        return json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except ValueError:
        where = _non_finite_at(content)
        if where is None:
            raise
        raise ModelError(
            f"the result holds a non-finite figure (NaN or infinity) at {where}: refused "
            "(check the quantities and the market data of the request)"
        ) from None


def dumps(content: Any, *, thorough: bool = False) -> str:
    """Strict JSON text of ``content`` (:func:`strict_json`), scrubbed (:func:`scrub_text`)."""
    return scrub_text(strict_json(content), thorough=thorough)


def prefixed(head: Mapping[str, Any], body: Mapping[str, Any], text: str) -> str:
    """The :func:`strict_json` text of ``{**head, **body}``, given ``text``, that of
    ``body``: the same characters, without writing the body again. The keys must differ."""
    if head.keys() & body.keys():
        raise ValueError(f"keys in both parts: {sorted(head.keys() & body.keys())}")
    first = strict_json(dict(head))
    if not body:
        return first
    if not head:
        return text
    return f"{first[:-1]},{text[1:]}"


#: Marks no request or result can hold (a NUL and a per-process random token): where a
#: part written already goes in :func:`spliced`.
_MARK = f"\x00{secrets.token_hex(8)}:"


def spliced(content: Mapping[str, Any], texts: Mapping[str, str]) -> str:
    """The :func:`strict_json` text of ``content``, the value at each key of ``texts`` given
    as that text (the caller's :func:`strict_json` of what it stands for: a part written
    once and kept, not written again). The same characters as writing the whole: compact
    JSON writes a value the same wherever it sits. A non-finite figure in the rest raises
    as :func:`strict_json` does."""
    marks = {key: f"{_MARK}{i}\x00" for i, key in enumerate(texts)}
    text = strict_json({k: marks.get(k, v) for k, v in content.items()})
    for key, mark in marks.items():
        written = strict_json(mark)
        if text.count(written) != 1:
            raise ValueError(f"no single place for the part {key!r}")
        text = text.replace(written, texts[key])
    return text


class TextJSONResponse(Response):
    """A response whose body is JSON text already written (:func:`strict_json`), scrubbed
    on the way out."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return scrub_text(str(content), thorough=False).encode("utf-8")


class ServiceJSONResponse(Response):
    """A JSON response rendered by :func:`dumps` (strict, scrubbed)."""

    media_type = "application/json"
    thorough = False

    def render(self, content: Any) -> bytes:
        return dumps(content, thorough=self.thorough).encode("utf-8")


class ThoroughJSONResponse(ServiceJSONResponse):
    """As :class:`ServiceJSONResponse`, every absolute path cut (errors, health, runs)."""

    thorough = True


def json_response(
    content: Any,
    *,
    status_code: int = 200,
    request: Request | None = None,
    headers: Mapping[str, str] | None = None,
    thorough: bool = True,
) -> Response:
    """A strict, scrubbed JSON response (``request`` is accepted for symmetry, unused)."""
    del request
    cls = ThoroughJSONResponse if thorough else ServiceJSONResponse
    return cls(content, status_code=status_code, headers=dict(headers or {}))


__all__ = [
    "ServiceJSONResponse",
    "TextJSONResponse",
    "ThoroughJSONResponse",
    "dumps",
    "json_response",
    "prefixed",
    "register_roots",
    "scrub_text",
    "spliced",
    "strict_json",
]
