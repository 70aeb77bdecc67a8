"""Trading calendars: the days on which a netting set's scenarios end.

Two calendars, fixed (they never depend on which series a book happens to hold):

* ``crypto``: every UTC calendar day (crypto trades 24/7; closes are the 23:59:59 UTC value);
* ``nyse``: NYSE sessions from the ``XNYS`` calendar of the ``exchange-calendars`` package
  (holidays and unscheduled closures such as 2001-09-11..14, 2012-10-29/30 and the national
  days of mourning included). The shared ETF, stock and SPX files carry exactly these days.

A netting set lives on :func:`joint_calendar` of its underlyings: the crypto calendar when all
of them trade every day, else NYSE sessions. On NYSE sessions a crypto factor is sampled at
each session's date, so its move from Friday to Monday is the Fri→Mon move (Saturday and
Sunday included) and lines up with the Fri→Mon equity move: every factor of a joint scenario
spans the same wall-clock interval.

All dates are naive midnight timestamps (the UTC day), ``datetime64[us]`` like the history.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import cache

import pandas as pd

from crossmargin.errors import InputError
from crossmargin.market.history import Calendar, DateLike, to_timestamp

#: First and last day the NYSE calendar is loaded for (the shared history starts 1962).
NYSE_FIRST = pd.Timestamp("1960-01-01")
NYSE_LAST = pd.Timestamp("2035-12-31")


@cache
def nyse_sessions() -> pd.DatetimeIndex:
    """Every NYSE session from :data:`NYSE_FIRST` to :data:`NYSE_LAST` (XNYS)."""
    import warnings

    with warnings.catch_warnings():
        # exchange-calendars uses pandas APIs that pandas 3 marks as deprecated; the
        # warnings are its own and change nothing here
        warnings.simplefilter("ignore")
        import exchange_calendars  # lazy: ~0.2 s to import, needed only for NYSE sets

        cal = exchange_calendars.get_calendar(
            "XNYS", start=NYSE_FIRST.strftime("%Y-%m-%d"), end=NYSE_LAST.strftime("%Y-%m-%d")
        )
    sessions = pd.DatetimeIndex(cal.sessions).tz_localize(None)
    return pd.DatetimeIndex(sessions.as_unit("us"), name="date")


def calendar_days(calendar: Calendar, start: DateLike, end: DateLike) -> pd.DatetimeIndex:
    """The days of ``calendar`` in ``[start, end]`` (inclusive)."""
    lo, hi = to_timestamp(start), to_timestamp(end)
    if calendar == "crypto":
        return pd.DatetimeIndex(pd.date_range(lo, hi, freq="D").as_unit("us"), name="date")
    if calendar != "nyse":
        raise InputError(f"unknown calendar {calendar!r}: use 'crypto' or 'nyse'")
    if lo < NYSE_FIRST or hi > NYSE_LAST:
        raise InputError(
            f"NYSE sessions are loaded for {NYSE_FIRST:%Y-%m-%d}..{NYSE_LAST:%Y-%m-%d}; "
            f"{lo:%Y-%m-%d}..{hi:%Y-%m-%d} is outside"
        )
    days = nyse_sessions()
    return days[(days >= lo) & (days <= hi)]


def joint_calendar(calendars: Iterable[Calendar]) -> Calendar:
    """The calendar a netting set with factors on ``calendars`` lives on (module docstring)."""
    seen = set(calendars)
    if not seen:
        raise InputError("a netting set needs at least one underlying")
    return "crypto" if seen == {"crypto"} else "nyse"


_PERIOD = re.compile(r"^\s*(\d+)\s*([DWMY])\s*$", re.IGNORECASE)


def parse_period(text: str | int | None, *, name: str = "period") -> str:
    """Validate a calendar period such as ``12M``, ``365D``, ``52W`` or ``10Y``; return it
    normalised (``"12M"``). A bare number is refused: it would not say whether it counts
    calendar days, trading days or scenarios.
    """
    if isinstance(text, bool) or not isinstance(text, str | int):
        raise InputError(f"{name} must be a calendar period such as 12M, 365D or 10Y, got {text!r}")
    match = _PERIOD.match(str(text))
    if isinstance(text, int) or match is None:
        raise InputError(
            f"{name} must be a calendar period with a unit (D days, W weeks, M months, Y years), "
            f"e.g. 12M, 365D or 10Y; got {text!r}"
        )
    count = int(match.group(1))
    if count < 1:
        raise InputError(f"{name} must be a calendar period of at least one day, got {text!r}")
    return f"{count}{match.group(2).upper()}"


def period_start(end: DateLike, period: str) -> pd.Timestamp:
    """The first day of the window of length ``period`` ending on ``end`` (both inclusive).

    ``12M`` ending 2025-06-02 starts 2024-06-03: the window (2024-06-02, 2025-06-02] is twelve
    calendar months, 365 or 366 days.
    """
    norm = parse_period(period)
    count, unit = int(norm[:-1]), norm[-1]
    end_ts = to_timestamp(end)
    offset = {
        "D": pd.DateOffset(days=count),
        "W": pd.DateOffset(weeks=count),
        "M": pd.DateOffset(months=count),
        "Y": pd.DateOffset(years=count),
    }[unit]
    return pd.Timestamp(end_ts - offset) + pd.Timedelta(days=1)


__all__ = [
    "NYSE_FIRST",
    "NYSE_LAST",
    "calendar_days",
    "joint_calendar",
    "nyse_sessions",
    "parse_period",
    "period_start",
]
