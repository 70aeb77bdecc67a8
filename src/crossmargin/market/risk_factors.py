"""Aligned daily risk-factor return panels and implied-vol proxies for the VaR/ES models.

Return per kind (METHODS §4.2): ``price`` -> log return ``ln(P_t / P_{t-1})``;
``vol_index`` -> absolute change of the decimal vol ``σ_t − σ_{t-1}``; ``rate`` -> absolute
change of the decimal rate. Each row of a panel is the move from the previous panel day to
that day, for every factor.

Calendar alignment
------------------
* A panel of crypto series only lives on the crypto calendar: every UTC calendar day.
* As soon as one NYSE series is in the panel, the panel lives on **NYSE days**, and every
  factor's move runs from the previous NYSE day to this one. A crypto factor's level is
  sampled on NYSE days, so its log return is compounded (log returns summed) over the
  calendar days in between: Monday's BTC return is the Fri→Mon return, the sum of the
  Saturday, Sunday and Monday log returns, and lines up with the Fri→Mon equity return.
* NYSE days are the sessions of the exchange's calendar
  (:mod:`crossmargin.market.calendars`, ``XNYS``), fixed whatever series the panel holds;
  the ETF, stock and SPX files carry exactly these days. Other NYSE-filed series may not:
  FRED rates follow the government-securities calendar (a value on Good Friday, none on
  Columbus Day) and the CBOE VIX file has rows on NYSE holidays since 2022 (Memorial Day,
  Juneteenth ...). Such an extra value is only carried into the next session, like a crypto
  weekend; a value missing on a session is a gap.

Gaps
----
A gap is a run of days on which a series has no observation although its calendar expects
one: every calendar day for crypto, every panel day for NYSE series. A gap is forward-filled
when the value carried over is at most ``max_fill_days`` calendar days old on its last
missing day (default 3; for a crypto series that is a gap of at most 3 days). A longer gap is
not filled at all: every panel day whose move needs a level from inside it (the gap days and
the day after) is dropped from the panel. Every gap met, filled or not, and every dropped day
are listed in the panel's :class:`GapReport`; nothing is filled silently.

Implied-vol proxies live in :mod:`crossmargin.market.vol_proxies`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from crossmargin.errors import InputError, MarketDataError
from crossmargin.market.history import (
    Calendar,
    DateLike,
    Kind,
    MarketHistory,
    to_timestamp,
)

DEFAULT_MAX_FILL_DAYS = 3


@dataclass(frozen=True, slots=True, kw_only=True)
class Gap:
    """One run of missing observations of one series inside a panel window.

    Attributes
    ----------
    series : str
        Series name.
    first_missing, last_missing : pandas.Timestamp
        First and last day without an observation.
    length : int
        Missing days on the series' calendar (calendar days for crypto, panel days for NYSE).
    stale_days : int
        Calendar days from the last observation before the gap to ``last_missing``.
    filled : bool
        True if forward-filled (``stale_days <= max_fill_days``), False if its days were dropped.
    """

    series: str
    first_missing: pd.Timestamp
    last_missing: pd.Timestamp
    length: int
    stale_days: int
    filled: bool

    def __str__(self) -> str:
        action = "filled" if self.filled else "dropped"
        return (
            f"{self.series}: {self.first_missing:%Y-%m-%d}..{self.last_missing:%Y-%m-%d} "
            f"({self.length} missing, {self.stale_days} days stale) {action}"
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class GapReport:
    """Every gap met while building a panel and every panel day dropped because of one."""

    max_fill_days: int
    gaps: tuple[Gap, ...]
    dropped_dates: tuple[pd.Timestamp, ...]

    @property
    def filled(self) -> tuple[Gap, ...]:
        """Gaps short enough to forward-fill."""
        return tuple(g for g in self.gaps if g.filled)

    @property
    def unfilled(self) -> tuple[Gap, ...]:
        """Gaps longer than ``max_fill_days`` whose days were dropped."""
        return tuple(g for g in self.gaps if not g.filled)

    def summary(self) -> str:
        """A short human-readable account, one line per gap."""
        head = (
            f"{len(self.gaps)} gaps ({len(self.filled)} filled, {len(self.unfilled)} longer "
            f"than {self.max_fill_days} days); {len(self.dropped_dates)} panel days dropped"
        )
        return "\n".join([head, *(f"  - {g}" for g in self.gaps)])


@dataclass(frozen=True, slots=True, kw_only=True)
class RiskFactorPanel:
    """Aligned risk-factor moves, the date axis first.

    Attributes
    ----------
    dates : pandas.DatetimeIndex
        The day each row's move ends on (it starts on the previous panel day).
    names : tuple of str
        Factor (series) names, one per column.
    kinds : tuple of str
        ``price`` (log return) or ``vol_index`` / ``rate`` (absolute decimal change).
    returns : numpy.ndarray
        Shape ``(len(dates), len(names))``, float64, read-only.
    calendar : {"crypto", "nyse"}
        The panel calendar.
    gaps : GapReport
        Gaps met and days dropped.
    """

    dates: pd.DatetimeIndex
    names: tuple[str, ...]
    kinds: tuple[Kind, ...]
    returns: npt.NDArray[np.float64]
    calendar: Calendar
    gaps: GapReport

    def __post_init__(self) -> None:
        shape = (len(self.dates), len(self.names))
        if self.returns.shape != shape or len(self.kinds) != len(self.names):
            raise ValueError(f"returns must have shape {shape}, got {self.returns.shape}")
        self.returns.flags.writeable = False

    def column(self, name: str) -> npt.NDArray[np.float64]:
        """The moves of factor ``name``."""
        return self.returns[:, self.names.index(name)]

    def to_frame(self) -> pd.DataFrame:
        """The panel as a DataFrame (dates × names)."""
        return pd.DataFrame(self.returns, index=self.dates, columns=list(self.names))


def _runs(missing: pd.DatetimeIndex, calendar_days: pd.DatetimeIndex) -> list[tuple[int, int]]:
    """Group missing days into runs of consecutive positions on ``calendar_days``."""
    pos = calendar_days.get_indexer(missing)
    runs: list[tuple[int, int]] = []
    for p in pos.tolist():
        if runs and p == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], p)
        else:
            runs.append((p, p))
    return runs


def _levels_on_own_calendar(
    name: str, obs: pd.Series, own: pd.DatetimeIndex, max_fill_days: int
) -> tuple[pd.Series, list[Gap]]:
    """Reindex ``obs`` to ``own`` days, forward-filling short gaps only; list every gap."""
    seen = pd.DatetimeIndex(obs.index)
    filled = obs.reindex(seen.union(own)).ffill().reindex(own)
    keep = np.ones(len(own), dtype=bool)
    gaps: list[Gap] = []
    for lo, hi in _runs(own.difference(seen), own):
        first, last = own[lo], own[hi]
        n_before = int(seen.searchsorted(first))
        stale = (last - seen[n_before - 1]).days if n_before else 10**9
        ok = stale <= max_fill_days
        gaps.append(
            Gap(
                series=name,
                first_missing=first,
                last_missing=last,
                length=hi - lo + 1,
                stale_days=stale,
                filled=ok,
            )
        )
        if not ok:
            keep[lo : hi + 1] = False
    return filled.where(pd.Series(keep, index=own)), gaps


def levels_on_calendar(
    history: MarketHistory, name: str, days: pd.DatetimeIndex, *, max_fill_days: int
) -> tuple[npt.NDArray[np.float64], list[Gap]]:
    """Levels of series ``name`` on ``days`` with the gap rules of the module docstring.

    Gaps are judged on the series' own calendar (every day for crypto, NYSE sessions for NYSE
    series) between its first observation and ``days[-1]``: a run of missing days is filled
    with the last observation when that is at most ``max_fill_days`` calendar days old on the
    run's last day, else the whole run is NaN. Days before the first observation are NaN.
    Observations off the series' calendar (VIX rows on NYSE holidays) are used only as the
    value carried into the next calendar day, never as a day of their own.
    """
    from crossmargin.market.calendars import calendar_days

    whole = _whole_levels(history, name, days)
    if whole is not None:
        return whole.window(name, days, max_fill_days)
    obs = history.series(name)
    spec = history.spec(name)
    out = np.full(len(days), np.nan)
    if not len(days) or obs.empty:
        return out, []
    first = max(pd.Timestamp(obs.index[0]), pd.Timestamp(days[0]))
    if first > days[-1]:
        return out, []
    own = calendar_days(spec.calendar, first, days[-1])
    levels, gaps = _levels_on_own_calendar(name, obs, own, max_fill_days)
    values = levels.reindex(days).to_numpy(dtype=float)
    return values, gaps


@dataclass(frozen=True, slots=True, kw_only=True)
class _WholeLevels:
    """A series on its own calendar over its whole history, before any gap rule: what
    :func:`levels_on_calendar` cuts per window in a backtest (built once, see
    :meth:`MarketHistory.causal`)."""

    own: pd.DatetimeIndex  # the series' calendar, first to last observation
    ordinal: npt.NDArray[np.int64]  # own as day numbers
    carried: npt.NDArray[np.float64]  # last observation on or before each own day
    missing: npt.NDArray[np.bool_]  # no observation on the own day
    before: npt.NDArray[np.int64]  # day number of the last observation before the own day

    @classmethod
    def build(cls, history: MarketHistory, name: str) -> _WholeLevels | None:
        from crossmargin.market.calendars import calendar_days

        obs = history.series(name)
        try:
            own = calendar_days(history.spec(name).calendar, obs.index[0], obs.index[-1])
        except InputError:
            return None
        seen = pd.DatetimeIndex(obs.index)
        carried = obs.reindex(seen.union(own)).ffill().reindex(own).to_numpy(dtype=float)
        seen_ord = _ordinal(seen)
        ordinal = _ordinal(own)
        n_before = np.searchsorted(seen_ord, ordinal, side="left")
        before = np.where(n_before > 0, seen_ord[np.maximum(n_before - 1, 0)], _NO_DAY)
        missing = ~np.isin(ordinal, seen_ord)
        return cls(own=own, ordinal=ordinal, carried=carried, missing=missing, before=before)

    def window(
        self, name: str, days: pd.DatetimeIndex, max_fill_days: int
    ) -> tuple[npt.NDArray[np.float64], list[Gap]]:
        """:func:`levels_on_calendar` on ``days`` (own days from ``days[0]`` to ``days[-1]``;
        every run of missing days judged on its last day inside the window, as there)."""
        day_ord = _ordinal(days)
        a = int(np.searchsorted(self.ordinal, day_ord[0], side="left"))
        b = int(np.searchsorted(self.ordinal, day_ord[-1], side="right"))
        out = np.full(len(days), np.nan)
        if a >= b:
            return out, []
        values = self.carried[a:b].copy()
        missing = self.missing[a:b]
        gaps: list[Gap] = []
        if missing.any():
            edges = np.diff(np.concatenate([[0], missing.astype(np.int8), [0]]))
            los, his = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1
            ords, before = self.ordinal[a:b], self.before[a:b]
            stale = np.where(before[los] == _NO_DAY, 10**9, ords[his] - before[los])
            for lo, hi, st in zip(los.tolist(), his.tolist(), stale.tolist(), strict=True):
                ok = st <= max_fill_days
                gaps.append(
                    Gap(
                        series=name,
                        first_missing=self.own[a + lo],
                        last_missing=self.own[a + hi],
                        length=hi - lo + 1,
                        stale_days=int(st),
                        filled=ok,
                    )
                )
                if not ok:
                    values[lo : hi + 1] = np.nan
        pos = np.searchsorted(self.ordinal[a:b], day_ord)
        safe = np.minimum(pos, b - a - 1)
        hit = self.ordinal[a:b][safe] == day_ord
        out[hit] = values[safe[hit]]
        return out, gaps


_NO_DAY = np.iinfo(np.int64).min


def _ordinal(days: pd.DatetimeIndex) -> npt.NDArray[np.int64]:
    return np.asarray(days.to_numpy().astype("datetime64[D]").astype(np.int64))


def _whole_levels(history: MarketHistory, name: str, days: pd.DatetimeIndex) -> _WholeLevels | None:
    """The whole-history levels of ``name`` shared by a backtest's views, when cutting them
    at ``days`` is exactly what the view computes alone: ``days`` end by the view's cut-off
    (so the view holds every observation up to ``days[-1]``, as the whole history does), the
    view has an observation (else its own path reports it) and ``days`` end by the series'
    last own day."""
    if not len(days) or history.cutoff is None or days[-1] > history.cutoff:
        return None
    if not history.has_observations(name):
        return None
    whole = history.causal(("whole_levels", name), lambda root: _WholeLevels.build(root, name))
    if whole is None or days[-1] > whole.own[-1]:
        return None
    return whole


def build_panel(
    history: MarketHistory,
    names: Sequence[str],
    start: DateLike,
    end: DateLike,
    *,
    max_fill_days: int = DEFAULT_MAX_FILL_DAYS,
) -> RiskFactorPanel:
    """Aligned daily risk-factor moves of ``names`` for panel days in [start, end].

    See the module docstring for the calendar, return and gap rules.

    Parameters
    ----------
    history : MarketHistory
        Where the series come from.
    names : sequence of str
        Series names (duplicates are ignored).
    start, end : date-like
        First and last panel day wanted (inclusive). Each series must have an observation on
        the panel day before ``start`` (for the first move) and one on or after ``end``.
    max_fill_days : int, default 3
        Longest staleness, in calendar days, that a forward-fill may carry a value.

    Raises
    ------
    InputError
        Empty ``names``, ``start`` after ``end`` or a negative ``max_fill_days``.
    MarketDataError
        Unknown series or a window outside a series' history.
    """
    factors = list(dict.fromkeys(names))
    start_ts, end_ts = to_timestamp(start), to_timestamp(end)
    if not factors:
        raise InputError("build_panel needs at least one series name")
    if start_ts > end_ts:
        raise InputError(f"panel start {start_ts:%Y-%m-%d} is after its end {end_ts:%Y-%m-%d}")
    if max_fill_days < 0:
        raise InputError("max_fill_days must be >= 0")
    from crossmargin.market.calendars import calendar_days, joint_calendar

    specs = [history.spec(n) for n in factors]
    calendar = joint_calendar(s.calendar for s in specs)
    first_all = max(history.coverage(n)[0] for n in factors)
    days = calendar_days(calendar, first_all, end_ts)
    window = f"a panel {start_ts:%Y-%m-%d}..{end_ts:%Y-%m-%d}"
    for n in factors:
        first, last = history.coverage(n)
        if last < end_ts:
            raise MarketDataError(
                f"{window} needs {n} up to its end, but {n} covers {first:%Y-%m-%d}.."
                f"{last:%Y-%m-%d}; end the panel on or before {last:%Y-%m-%d}"
            )
    before = days[days < start_ts]
    if not len(before) or not len(days[days >= start_ts]):
        latest = max(factors, key=lambda n: history.coverage(n)[0])
        first, last = history.coverage(latest)
        raise MarketDataError(
            f"{window} has no panel day before its start or none inside it: {latest} covers "
            f"{first:%Y-%m-%d}..{last:%Y-%m-%d} and the first move needs the panel day before "
            f"the start; start the panel after {first:%Y-%m-%d}"
        )
    days = days[days >= before[-1]]
    moves: list[npt.NDArray[np.float64]] = []
    gaps: list[Gap] = []
    for spec in specs:
        x, found = levels_on_calendar(history, spec.name, days, max_fill_days=max_fill_days)
        gaps.extend(found)
        moves.append(np.log(x[1:] / x[:-1]) if spec.kind == "price" else x[1:] - x[:-1])
    matrix = np.column_stack(moves)
    ok = np.asarray(~np.isnan(matrix).any(axis=1), dtype=bool)
    row_dates = days[1:]
    gaps.sort(key=lambda g: (g.first_missing, g.series))
    report = GapReport(
        max_fill_days=max_fill_days,
        gaps=tuple(gaps),
        dropped_dates=tuple(row_dates[~ok]),
    )
    return RiskFactorPanel(
        dates=row_dates[ok],
        names=tuple(factors),
        kinds=tuple(s.kind for s in specs),
        returns=np.ascontiguousarray(matrix[ok]),
        calendar=calendar,
        gaps=report,
    )


__all__ = [
    "DEFAULT_MAX_FILL_DAYS",
    "Gap",
    "GapReport",
    "RiskFactorPanel",
    "build_panel",
    "levels_on_calendar",
]
