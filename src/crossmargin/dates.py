"""ISO dates, strictly: the one parser of every date a user types.

Every date crossmargin reads from a user (``--asof``, ``--start``, ``--end``, ``--backtest
START:END``, crisis windows, API arguments given as text) is ISO 8601: ``YYYY-MM-DD``
(:func:`parse_date`), or for a point in time ``YYYY-MM-DDTHH:MM[:SS[.ffffff]][Z|±HH:MM]``
(:func:`parse_when`). Anything else (``yesterday``, ``10/02/2025``, ``20260211``,
``2026-02-30``, an empty string) is an :class:`~crossmargin.errors.InputError` of one line
naming the option and the text: day-first and month-first forms are never guessed.
"""

from __future__ import annotations

import re
from datetime import date, datetime

from crossmargin.errors import InputError

DATE_FORMAT = "YYYY-MM-DD"
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_WHEN = re.compile(
    r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?(?:Z|[+-]\d{2}:\d{2})?)?"
)
_SHOWN = 60  # characters of a bad value echoed in a message


def _shown(text: str) -> str:
    return repr(text if len(text) <= _SHOWN else text[:_SHOWN] + "…")


def parse_date(text: str | date, *, what: str = "date") -> date:
    """``YYYY-MM-DD`` as a :class:`~datetime.date` (a date is returned as it is).

    Raises
    ------
    InputError
        ``what`` (e.g. ``--asof``) and the text, with the reason: not ISO, or not a day of
        the calendar (``2026-02-30``).
    """
    if isinstance(text, datetime):
        return text.date()
    if isinstance(text, date):
        return text
    if not isinstance(text, str):
        raise InputError(f"{what}: expected a date {DATE_FORMAT}, got {type(text).__name__}")
    cleaned = text.strip()
    if not cleaned:
        raise InputError(f"{what} is empty: give a date as {DATE_FORMAT} (e.g. 2026-02-11)")
    if not _DATE.fullmatch(cleaned):
        raise InputError(
            f"{what} {_shown(text)} is not an ISO date: use {DATE_FORMAT} (e.g. 2026-02-11)"
        )
    try:
        return date.fromisoformat(cleaned)
    except ValueError as bad:
        raise InputError(f"{what} {_shown(text)} is not a calendar date ({bad})") from None


def parse_when(text: str, *, what: str = "date") -> datetime:
    """An ISO date or date-time (``2026-02-11``, ``2026-02-11T16:00:00+00:00``) as a
    :class:`~datetime.datetime` (naive where the text gives no offset)."""
    cleaned = text.strip() if isinstance(text, str) else text
    if not isinstance(cleaned, str) or not cleaned:
        parse_date(text, what=what)  # raises the empty / wrong-type message
    if not _WHEN.fullmatch(cleaned):
        raise InputError(
            f"{what} {_shown(text)} is not an ISO date: use {DATE_FORMAT} (e.g. 2026-02-11)"
        )
    try:
        return datetime.fromisoformat(cleaned.replace("Z", "+00:00"))
    except ValueError as bad:
        raise InputError(f"{what} {_shown(text)} is not a calendar date ({bad})") from None


__all__ = ["DATE_FORMAT", "parse_date", "parse_when"]
