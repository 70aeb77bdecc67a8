"""Read-only records of the run store, the canonical inputs hash and small helpers.

The records are what :class:`crossmargin.store.RunStore` returns; each has a
``to_dict()`` that the CLI ``--json`` output and the service reuse. The schema of the
store itself is described in :mod:`crossmargin.store`.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any

import numpy as np

KINDS = ("margin", "stress", "backtest", "simm", "cascade")


def _canonical(value: Any) -> Any:
    """``value`` with numbers normalised, so equal inputs serialise equally.

    Integers become floats (a quantity of ``1`` and ``1.0`` is the same book), ``-0.0``
    becomes ``0.0``, dates become ISO strings and tuples become lists. Key order is
    handled by ``sort_keys`` at serialisation.
    """
    kind = type(value)  # the exact built-in types first: the ABC checks below are slow
    if kind is str or value is None or kind is bool:
        return value
    if kind is dict:
        return {str(k): _canonical(v) for k, v in value.items()}
    if kind is list or kind is tuple:
        return [_canonical(v) for v in value]
    if isinstance(value, bool | str):
        return value
    if isinstance(value, int | float):
        number = float(value)
        if not math.isfinite(number):
            return repr(number)  # JSON has no NaN/inf; keep them distinct and stable
        return number + 0.0  # -0.0 + 0.0 == 0.0
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    return str(value)


def result_json(value: Any) -> str:
    """JSON of a result as it is (key order kept); NaN and infinities become strings."""

    def clean(v: Any) -> Any:
        kind = type(v)  # the exact built-in types first: the ABC checks below are slow
        if kind is str or kind is int or kind is bool or v is None:
            return v
        if kind is float:
            return v if math.isfinite(v) else repr(v)
        if kind is dict:
            return {str(k): clean(x) for k, x in v.items()}
        if kind is list or kind is tuple:
            return [clean(x) for x in v]
        if isinstance(v, float) and not math.isfinite(v):
            return repr(v)
        if isinstance(v, Mapping):
            return {str(k): clean(x) for k, x in v.items()}
        if isinstance(v, list | tuple):
            return [clean(x) for x in v]
        return v

    return json.dumps(clean(value), default=str, allow_nan=False)


def canonical_json(value: Any) -> str:
    """Compact JSON with sorted keys and normalised numbers (see ``_canonical``)."""
    return json.dumps(_canonical(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical_json_rows(values: Sequence[Mapping[str, Any]]) -> list[str]:
    """:func:`canonical_json` of each mapping, the same strings, faster for many mappings of
    numbers: mappings sharing their keys are written together by
    :func:`canonical_json_columns`."""
    out = [""] * len(values)
    by_keys: dict[tuple[Any, ...], list[int]] = {}
    for k, value in enumerate(values):
        by_keys.setdefault(tuple(value), []).append(k)
    for keys, rows in by_keys.items():
        cells = [[values[k][key] for k in rows] for key in keys]
        texts = canonical_json_columns(keys, cells) if keys else ["{}"] * len(rows)
        for k, text in zip(rows, texts, strict=True):
            out[k] = text
    return out


def canonical_json_columns(keys: Sequence[Any], columns: Sequence[Any]) -> list[str]:
    """:func:`canonical_json` of each row of mappings given as columns (row ``r`` maps
    ``keys[i]`` to ``columns[i][r]``), written from one template: each finite float as
    ``float + 0.0`` (``_canonical``) in ``repr`` (as :mod:`json` writes a float), each string
    and ``None`` as :mod:`json` writes them; a row holding anything else, or keys not
    distinct as text, is written by :func:`canonical_json`."""
    n = len(columns[0]) if columns else 0
    names = [str(k) for k in keys]
    distinct = len(set(names)) == len(names)
    order = sorted(range(len(keys)), key=names.__getitem__)
    template = "{" + ",".join(
        json.dumps(names[j], ensure_ascii=False).replace("%", "%%") + ":%s" for j in order
    ) + "}"  # fmt: skip
    arrays = all(isinstance(c, np.ndarray) and c.dtype == np.float64 for c in columns)
    if distinct and arrays and n:  # float arrays: repr column by column
        fine = np.logical_and.reduce([np.isfinite(c) for c in columns]).tolist()
        texts = [list(map(repr, (columns[j] + 0.0).tolist())) for j in order]
        out = [template % cells for cells in zip(*texts, strict=True)]
        for k in (k for k, ok in enumerate(fine) if not ok):
            row = {key: float(c[k]) for key, c in zip(keys, columns, strict=True)}
            out[k] = canonical_json(row)
        return out
    cols = [c.tolist() if hasattr(c, "tolist") else list(c) for c in columns]
    rows = zip(*cols, strict=True) if cols else iter([()] * n)
    if not distinct:
        return [canonical_json(dict(zip(keys, r, strict=True))) for r in rows]
    out = []
    strings: dict[str, str] = {}  # each distinct string's JSON, written once
    for r in rows:
        cells = []
        for j in order:
            c, kind = r[j], type(r[j])
            if kind is float and math.isfinite(c):
                cells.append(repr(c + 0.0))
            elif kind is str:
                text = strings.get(c)
                if text is None:
                    text = strings[c] = json.dumps(c, ensure_ascii=False)
                cells.append(text)
            elif c is None:
                cells.append("null")
            else:  # anything else (ints, bools, non-finite floats...): canonical_json decides
                break
        else:
            out.append(template % tuple(cells))
            continue
        out.append(canonical_json(dict(zip(keys, r, strict=True))))
    return out


def inputs_hash(
    *,
    book_rows: Iterable[Mapping[str, Any]],
    model: str,
    parameters: Mapping[str, Any],
    market_source: str,
) -> str:
    """SHA-256 (hex) of the canonical JSON of what determines a run's result::

        canonical_json({"book": sorted rows, "model": ..., "parameters": ...,
                        "market_source": ...})

    The book rows are sorted by their own canonical JSON first: the margin of a book does
    not depend on its row order, so neither does the hash. Dict key order never matters;
    any change of a value (a quantity, a parameter, the market source) changes the hash.

    The text is written from its parts (:func:`inputs_digest`), the same characters: each
    row's canonical JSON is already canonical (read back and written again it is unchanged),
    and the four keys are written in sorted order.
    """
    return inputs_digest(book_rows, model, canonical_json(parameters), market_source)


#: Book rows whose canonical JSON is kept (a service hashes books that differ in a row or
#: two from the books before them: a new fill, a what-if's trade).
ROW_TEXTS_KEPT = 20_000
_ROW_TEXTS: dict[tuple[Any, ...], str] = {}


def _row_texts(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """:func:`canonical_json_rows` of ``rows``, each row's text kept by the row's exact
    keys, value types and values (``1`` and ``1.0`` write alike, but are kept apart)."""
    keys: list[tuple[Any, ...] | None] = []
    for row in rows:
        values = tuple(row.values())  # keys, values and their types: built in C, per row
        key: tuple[Any, ...] | None = (tuple(row), values, tuple(map(type, values)))
        try:
            hash(key)
        except TypeError:  # an unhashable cell: written afresh
            key = None
        keys.append(key)
    out = [_ROW_TEXTS.get(k, "") if k is not None else "" for k in keys]
    missing = [i for i, text in enumerate(out) if not text]
    if missing:
        fresh = canonical_json_rows([rows[i] for i in missing])
        if len(_ROW_TEXTS) + len(missing) > ROW_TEXTS_KEPT:
            _ROW_TEXTS.clear()
        for i, text in zip(missing, fresh, strict=True):
            out[i] = text
            key = keys[i]
            if key is not None:
                _ROW_TEXTS[key] = text
    return out


def inputs_digest(
    book_rows: Iterable[Mapping[str, Any]], model: str, parameters_json: str, market_source: str
) -> str:
    """:func:`inputs_hash` given the parameters' :func:`canonical_json` (a caller that
    writes it anyway, as the run store does, writes it once)."""
    rows = sorted(_row_texts(list(book_rows)))
    payload = (
        f'{{"book":[{",".join(rows)}],"market_source":{canonical_json(market_source)},'
        f'"model":{canonical_json(model)},"parameters":{parameters_json}}}'
    )  # the keys in sorted order, as canonical_json writes them
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def default_store_path() -> Path:
    """Where runs are recorded by default (see :mod:`crossmargin.store`)."""
    explicit = os.environ.get("CROSSMARGIN_STORE")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_DATA_HOME")
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".local" / "share"
    return base / "crossmargin" / "runs.duckdb"


def new_run_id(now: datetime) -> str:
    """``r-YYYYMMDDTHHMMSS-<8 hex>`` of ``now`` (UTC): ids sort by time to the second."""
    return f"r-{now.astimezone(UTC):%Y%m%dT%H%M%S}-{secrets.token_hex(4)}"


def utc_naive(value: datetime | date | None) -> datetime | None:
    """A naive UTC timestamp for DuckDB's ``TIMESTAMP`` (dates at midnight UTC)."""
    if value is None:
        return None
    if not isinstance(value, datetime):
        value = datetime.combine(value, time(), tzinfo=UTC)
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value


def utc_aware(value: datetime | None) -> datetime | None:
    """A naive UTC timestamp read from DuckDB, made timezone-aware."""
    return None if value is None else value.replace(tzinfo=UTC)


def as_float(value: Any) -> float | None:
    """``float(value)``, keeping ``None``."""
    return None if value is None else float(value)


def account_rows(result: Mapping[str, Any]) -> list[tuple[Any, ...]]:
    """``run_accounts`` rows from a result dict's ``accounts`` list (none if it has none)."""
    rows = []
    for acc in result.get("accounts") or ():
        if not isinstance(acc, Mapping) or "account" not in acc:
            continue
        standalone, netted = as_float(acc.get("standalone")), as_float(acc.get("netted"))
        benefit = as_float(acc.get("benefit"))
        if benefit is None and standalone is not None and netted is not None:
            benefit = standalone - netted
        components = acc.get("components") or {}
        rows.append(
            (
                str(acc["account"]),
                as_float(acc.get("total")),
                standalone,
                netted,
                benefit,
                canonical_json(components),
            )
        )
    return rows


@dataclass(frozen=True, slots=True, kw_only=True)
class RunSummary:
    """One line of ``RunStore.list``: a run without its full result."""

    run_id: str
    kind: str
    created_at: datetime
    model: str
    market_asof: datetime | None
    book_source: str
    status: str
    accounts: int
    total: float | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "run_id": self.run_id,
            "kind": self.kind,
            "created_at": self.created_at.isoformat(),
            "model": self.model,
            "market_asof": self.market_asof.isoformat() if self.market_asof else None,
            "book_source": self.book_source,
            "status": self.status,
            "accounts": self.accounts,
            "total": self.total,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class RunRecord:
    """A stored run in full: its provenance and its result as recorded."""

    run_id: str
    kind: str
    created_at: datetime
    model: str
    parameters: Mapping[str, Any]
    market_asof: datetime | None
    market_source: str
    inputs_hash: str
    book_source: str
    status: str
    version: str
    result: Mapping[str, Any]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "run_id": self.run_id,
            "kind": self.kind,
            "created_at": self.created_at.isoformat(),
            "model": self.model,
            "parameters": dict(self.parameters),
            "market_asof": self.market_asof.isoformat() if self.market_asof else None,
            "market_source": self.market_source,
            "inputs_hash": self.inputs_hash,
            "book_source": self.book_source,
            "status": self.status,
            "version": self.version,
            "result": dict(self.result),
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class AccountRecord:
    """One account's figures in one run (a row of ``run_accounts`` with its run's context)."""

    run_id: str
    created_at: datetime
    kind: str
    model: str
    account: str
    total: float | None
    standalone: float | None
    netted: float | None
    benefit: float | None
    components: Mapping[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "run_id": self.run_id,
            "created_at": self.created_at.isoformat(),
            "kind": self.kind,
            "model": self.model,
            "account": self.account,
            "total": self.total,
            "standalone": self.standalone,
            "netted": self.netted,
            "benefit": self.benefit,
            "components": dict(self.components),
        }


FIGURES = ("total", "standalone", "netted", "benefit")


def _minus(after: float | None, before: float | None) -> float | None:
    return None if after is None or before is None else after - before


@dataclass(frozen=True, slots=True, kw_only=True)
class AccountDelta:
    """An account present in both runs: its figures in each and the change (second − first)."""

    account: str
    first: AccountRecord
    second: AccountRecord

    def delta(self, figure: str) -> float | None:
        """``second − first`` of ``figure`` (one of :data:`FIGURES`); None if either is."""
        if figure not in FIGURES:
            raise ValueError(f"unknown figure {figure!r} (have: {', '.join(FIGURES)})")
        after: float | None = getattr(self.second, figure)
        before: float | None = getattr(self.first, figure)
        return _minus(after, before)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: each figure as ``{first, second, delta}``."""
        out: dict[str, Any] = {"account": self.account}
        for name in FIGURES:
            out[name] = {
                "first": getattr(self.first, name),
                "second": getattr(self.second, name),
                "delta": self.delta(name),
            }
        return out


@dataclass(frozen=True, slots=True, kw_only=True)
class RunDiff:
    """What changed between two runs: per-account deltas, accounts in one run only,
    parameter and inputs changes.

    ``parameter_changes`` maps each top-level parameter whose value differs (or that is
    present in one run only; ``None`` stands for absent) to ``(first, second)``.
    """

    first: RunSummary
    second: RunSummary
    accounts: tuple[AccountDelta, ...]
    only_in_first: tuple[str, ...]
    only_in_second: tuple[str, ...]
    parameter_changes: Mapping[str, tuple[Any, Any]]
    first_inputs_hash: str
    second_inputs_hash: str

    @property
    def inputs_changed(self) -> bool:
        """True when the book, model, parameters or market source differ."""
        return self.first_inputs_hash != self.second_inputs_hash

    @property
    def total_delta(self) -> float | None:
        """Change of the sum of account totals (None if either run has no totals)."""
        return _minus(self.second.total, self.first.total)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "first": self.first.to_dict(),
            "second": self.second.to_dict(),
            "total_delta": self.total_delta,
            "accounts": [a.to_dict() for a in self.accounts],
            "only_in_first": list(self.only_in_first),
            "only_in_second": list(self.only_in_second),
            "parameter_changes": {
                k: {"first": a, "second": b} for k, (a, b) in self.parameter_changes.items()
            },
            "inputs_changed": self.inputs_changed,
            "first_inputs_hash": self.first_inputs_hash,
            "second_inputs_hash": self.second_inputs_hash,
        }


__all__ = [
    "FIGURES",
    "KINDS",
    "AccountDelta",
    "AccountRecord",
    "RunDiff",
    "RunRecord",
    "RunSummary",
    "account_rows",
    "as_float",
    "canonical_json",
    "canonical_json_columns",
    "canonical_json_rows",
    "default_store_path",
    "inputs_digest",
    "inputs_hash",
    "new_run_id",
    "result_json",
    "utc_aware",
    "utc_naive",
]
