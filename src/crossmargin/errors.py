"""The one exception tree of crossmargin.

::

    CrossMarginError
    ├── InputError            bad user input (files, arguments, parameters)
    │   └── SchemaError       one or more bad rows/fields; carries every Issue found
    ├── MarketDataError       market data missing, out of range or inconsistent
    ├── PricingError          an instrument cannot be valued (e.g. expired without settlement)
    ├── ModelError            a margin model cannot run (unknown model, missing parameters)
    └── StoreError            the run store cannot be used (busy, corrupt, foreign, read-only)

Library code raises; loaders and batch runs collect every failure into one
:class:`SchemaError` so that nothing is silently dropped. Messages say what to do next.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass


class CrossMarginError(Exception):
    """Root of every error crossmargin raises on purpose."""


class InputError(CrossMarginError):
    """User input is invalid: a file, an argument or a parameter value."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Issue:
    """One problem with one input field.

    ``row`` is 1-based as a user sees it in a spreadsheet (the header is row 1 in CSV,
    so the first data row is row 2); ``None`` where the issue is not tied to a row.
    """

    source: str
    reason: str
    row: int | None = None
    column: str | None = None
    value: object = None

    def __str__(self) -> str:
        where = self.source
        if self.row is not None:
            where += f", row {self.row}"
        if self.column is not None:
            where += f", column {self.column!r}"
        shown = "" if self.value is None else f" (value {_cut(repr(self.value))})"
        return f"{where}: {_cut(self.reason, 300)}{shown}"


def _cut(text: str, limit: int = 80) -> str:
    """``text`` cut to ``limit`` characters: a 1 MB cell is named, not echoed in full."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


class SchemaError(InputError):
    """Every problem found in one input, reported together.

    Attributes
    ----------
    issues:
        All problems found, in input order. ``str(error)`` lists each on its own line.
    """

    def __init__(self, issues: Sequence[Issue], *, headline: str | None = None) -> None:
        if not issues:
            raise ValueError("SchemaError needs at least one issue")
        self.issues: tuple[Issue, ...] = tuple(issues)
        n = len(self.issues)
        head = headline or f"{n} problem{'s' if n != 1 else ''} in {self.issues[0].source}"
        super().__init__(head + ":\n" + "\n".join(f"  - {i}" for i in self.issues))

    @classmethod
    def raise_if_any(cls, issues: Iterable[Issue], *, headline: str | None = None) -> None:
        """Raise one SchemaError listing ``issues`` if there are any."""
        found = list(issues)
        if found:
            raise cls(found, headline=headline)


class MarketDataError(CrossMarginError):
    """Market data is missing, out of its date range or inconsistent."""


class PricingError(CrossMarginError):
    """An instrument cannot be valued with the data given."""


class ModelError(CrossMarginError):
    """A margin model cannot run: unknown name, missing or malformed parameters."""


class StoreError(CrossMarginError):
    """The run store cannot be used: busy beyond the wait, not a run store, corrupt, of a
    newer schema, or not writable. A computation whose recording fails keeps its result: the
    CLI prints it and says it was not recorded (:mod:`crossmargin.store`)."""


__all__ = [
    "CrossMarginError",
    "InputError",
    "Issue",
    "MarketDataError",
    "ModelError",
    "PricingError",
    "SchemaError",
    "StoreError",
]
