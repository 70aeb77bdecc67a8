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
import sys
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

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


def dumps(content: Any, *, thorough: bool = False) -> str:
    """Strict JSON text of ``content``, scrubbed (:func:`scrub_text`); ModelError on NaN or
    infinity."""
    try:
        text = json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except ValueError:
        where = _non_finite_at(content)
        if where is None:
            raise
        raise ModelError(
            f"the result holds a non-finite figure (NaN or infinity) at {where}: refused "
            "(check the quantities and the market data of the request)"
        ) from None
    return scrub_text(text, thorough=thorough)


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
    "ThoroughJSONResponse",
    "dumps",
    "json_response",
    "register_roots",
    "scrub_text",
]
