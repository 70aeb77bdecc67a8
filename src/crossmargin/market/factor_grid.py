"""Risk-factor moves of each underlying on a trading calendar, shared by every netting set.

The historical VaR/ES models margin each netting set on its own factors (METHODS §4.2,
DESIGN "the netting set is the unit"), yet the work must be shared between netting sets. It
is, because a scenario of one underlying does not depend on which other underlyings sit
beside it: on a given calendar, the h-step move of BTC ending on 2022-11-09 is the same
number in a BTC-only set and in a BTC+ETH set. So each underlying's moves are computed once
per calendar (:class:`HorizonMoves`, every day of the calendar up to the as-of date), and a
netting set only *selects* the days on which all of its underlyings have a move
(:meth:`HorizonMoves.valid_rows`).

Factors of an underlying ``u`` (levels on the calendar's days, :func:`underlying_levels`):

* ``u``: log price ``ln Sₜ`` (gap rules of
  :func:`crossmargin.market.risk_factors.levels_on_calendar`);
* ``vol:u``: the 30-day ATM implied-vol level, from the implied index where it has a fresh
  value (DVOL, VIX or a scaled index) and from the fallback level otherwise
  (:mod:`crossmargin.market.vol_proxies`).

The h-step move ending on day ``t`` of the calendar (``t − h`` = the day h steps earlier):

* ``hs`` / ``overlapping``: ``ln Sₜ − ln Sₜ₋ₕ``; the vol move ``σₜ − σₜ₋ₕ`` from the index if
  it has a value at both ends, else from the fallback if it has both, else 0 (counted);
* ``sqrt``: ``√h`` times the 1-step move;
* ``fhs``: the 1-step moves are EWMA-filtered per factor, ``rₜ·σ_T/σₜ``
  (:func:`crossmargin.stats.ewma.fhs_scenarios`; the EWMA starts ``burn_in`` days before the
  lookback window and skips days with no move), then summed over the h steps (or ``√h``·).

A move is valid where the price has a level at both ends (a gap longer than the fill limit
leaves no move across it); vol moves never invalidate a day. The move's **calendar span** is
the calendar days from ``t − h`` to ``t``: ``h`` on the crypto calendar, 2–5 for two NYSE
sessions (a weekend or a holiday inside); the time step of a scenario is that span / 365
years, so options decay by the calendar time the move took.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from crossmargin.errors import InputError, MarketDataError
from crossmargin.market.calendars import calendar_days
from crossmargin.market.history import (
    Calendar,
    DateLike,
    MarketHistory,
    to_timestamp,
)
from crossmargin.market.risk_factors import Gap, levels_on_calendar
from crossmargin.market.vol_proxies import cuts_exactly, implied_vol_levels
from crossmargin.stats.ewma import fhs_scenarios

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
ScenarioMethod = Literal["hs", "fhs"]
HorizonMethod = Literal["overlapping", "sqrt"]

VOL_PREFIX = "vol:"

#: Codes of :attr:`HorizonMoves.vol_source`.
VOL_FROM_INDEX, VOL_FROM_FALLBACK, VOL_NONE = 0, 1, 2


@dataclass(frozen=True, slots=True, kw_only=True)
class UnderlyingLevels:
    """Factor levels of one underlying on the days of a calendar (NaN: no usable level).

    ``vol_rule`` describes the implied-vol source; ``capped`` flags the days on which the
    fallback's daily-change cap bound.
    """

    underlying: str
    log_spot: FloatArray
    vol_index: FloatArray
    vol_fallback: FloatArray
    capped: BoolArray
    vol_rule: str
    gaps: tuple[Gap, ...]


def underlying_levels(
    history: MarketHistory, underlying: str, days: pd.DatetimeIndex, *, max_fill_days: int
) -> UnderlyingLevels:
    """Levels of ``underlying``'s two factors on ``days`` (see the module docstring)."""
    spec = history.spec(underlying)
    if spec.kind != "price":
        raise MarketDataError(
            f"underlying {underlying!r} has no daily price history in the market catalogue "
            f"(crossmargin/data/market_series.json); historical VaR/ES needs one per "
            "underlying: add the series to the catalogue or margin it with another model"
        )
    spot, gaps = levels_on_calendar(history, underlying, days, max_fill_days=max_fill_days)
    at = _nanoseconds(days)
    vol = _vol_arrays(history, underlying, int(at[-1]) if at.size else 0)
    return UnderlyingLevels(
        underlying=underlying,
        log_spot=np.log(spot),
        vol_index=_sample_at(vol.index_at, vol.index, at, max_fill_days),
        vol_fallback=_sample_at(vol.fallback_at, vol.fallback, at, max_fill_days),
        capped=np.isin(at, vol.capped_at),
        vol_rule=vol.rule,
        gaps=tuple(gaps),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class _VolArrays:
    """:func:`_vol_levels` as arrays (times in ns), made once per history view."""

    index_at: npt.NDArray[np.int64]
    index: FloatArray
    fallback_at: npt.NDArray[np.int64]
    fallback: FloatArray
    capped_at: npt.NDArray[np.int64]
    rule: str


def _vol_arrays(history: MarketHistory, underlying: str, last: int) -> _VolArrays:
    """The arrays of ``history``, or of the whole history it was cut from when sampling those
    on days up to ``last`` (ns) is exactly sampling the view's (the days end by the view's
    cut-off and the view's vols are the whole history's cut there; built once and shared,
    :meth:`MarketHistory.causal`)."""
    cut = history.cutoff
    if cut is not None and last <= cut.value and cuts_exactly(history, underlying):
        whole = history.causal(("vol_arrays", underlying), lambda root: _arrays(root, underlying))
        if whole is not None:
            return whole
    return _arrays(history, underlying)


def _arrays(history: MarketHistory, underlying: str) -> _VolArrays:
    index, fallback, capped, rule = _vol_levels(history, underlying)
    return _VolArrays(
        index_at=_nanoseconds(pd.DatetimeIndex(index.index)),
        index=index.to_numpy(dtype=float),
        fallback_at=_nanoseconds(pd.DatetimeIndex(fallback.index)),
        fallback=fallback.to_numpy(dtype=float),
        capped_at=_nanoseconds(capped),
        rule=rule,
    )


def _nanoseconds(days: pd.DatetimeIndex) -> npt.NDArray[np.int64]:
    return np.asarray(days.to_numpy().astype("datetime64[ns]").astype(np.int64))


_DAY_NS = 86_400 * 10**9


def _sample_at(
    at: npt.NDArray[np.int64], values: FloatArray, days: npt.NDArray[np.int64], max_stale: int
) -> FloatArray:
    """:func:`_sample` on arrays: the last value at or before each day (ns), NaN if none or
    staler than ``max_stale`` whole days."""
    if not at.size:
        return np.full(days.size, np.nan)
    pos = np.searchsorted(at, days, side="right") - 1
    ok = pos >= 0
    safe = np.where(ok, pos, 0)
    stale = (days - at[safe]) // _DAY_NS
    out: FloatArray = np.where(ok & (stale <= max_stale), values[safe], np.nan)
    return out


def _vol_levels(
    history: MarketHistory, underlying: str
) -> tuple[pd.Series, pd.Series, pd.DatetimeIndex, str]:
    """(index ATM levels, fallback ATM levels, days a cap bound, rule description)."""
    vol = implied_vol_levels(history, underlying)
    capped = pd.DatetimeIndex(vol.capped).union(pd.DatetimeIndex(vol.index_capped))
    return vol.index, vol.fallback, capped, vol.rule.describe()


def _sample(series: pd.Series, days: pd.DatetimeIndex, max_stale: int) -> FloatArray:
    """Last value of ``series`` on or before each day, NaN if none or staler than the limit."""
    if series.empty:
        return np.full(len(days), np.nan)
    idx = pd.DatetimeIndex(series.index)
    pos = idx.searchsorted(days, side="right") - 1
    ok = pos >= 0
    safe = np.where(ok, pos, 0)
    stale = (days - idx[safe]).days.to_numpy()
    values = series.to_numpy(dtype=float)[safe]
    out: FloatArray = np.where(ok & (stale <= max_stale), values, np.nan)
    return out


@dataclass(frozen=True, slots=True, kw_only=True)
class HorizonMoves:
    """h-step moves of several underlyings on one calendar, one row per end day.

    Attributes
    ----------
    calendar : {"crypto", "nyse"}
    dates : pandas.DatetimeIndex
        The day each move ends on (rows), ascending, the last one the as-of date or before.
    underlyings : tuple of str
        Column order of the arrays.
    spot, vol : ndarray (rows, underlyings)
        Log price move and absolute ATM-vol move (decimal); ``spot`` is NaN where invalid,
        ``vol`` is 0 where no source has both ends.
    vol_source : ndarray of int8 (rows, underlyings)
        :data:`VOL_FROM_INDEX`, :data:`VOL_FROM_FALLBACK` or :data:`VOL_NONE`.
    capped : ndarray of bool (rows, underlyings)
        The fallback's cap bound on the move's end day.
    span_days : ndarray (rows,)
        Calendar days from the move's start to its end.
    mpor : int
        h, in steps of the calendar.
    label : str
        e.g. ``hs h=2 overlapping``.
    """

    calendar: Calendar
    dates: pd.DatetimeIndex
    underlyings: tuple[str, ...]
    spot: FloatArray
    vol: FloatArray
    vol_source: npt.NDArray[np.int8]
    capped: BoolArray
    span_days: FloatArray
    mpor: int
    label: str

    def column(self, underlying: str) -> int:
        """Column of ``underlying``; InputError if absent."""
        try:
            return self.underlyings.index(underlying)
        except ValueError:
            raise InputError(
                f"no moves of {underlying!r} on the {self.calendar} calendar "
                f"({', '.join(self.underlyings)})"
            ) from None

    def valid_rows(self, underlyings: Sequence[str]) -> BoolArray:
        """Rows on which every one of ``underlyings`` has a valid move."""
        cols = [self.column(u) for u in underlyings]
        out: BoolArray = np.all(np.isfinite(self.spot[:, cols]), axis=1)
        return out


def day_names(days: pd.DatetimeIndex) -> tuple[str, ...]:
    """``YYYY-MM-DD`` of each day (NumPy's formatter: ~50x faster than ``strftime``)."""
    return tuple(np.datetime_as_string(days.to_numpy(dtype="datetime64[D]"), unit="D").tolist())


def _shift(x: FloatArray, h: int) -> FloatArray:
    """``x`` shifted down by ``h`` rows (NaN on top): ``out[t] = x[t − h]``."""
    out = np.full_like(x, np.nan)
    if h < x.shape[0]:
        out[h:] = x[: x.shape[0] - h]
    return out


def _vol_moves(
    index: FloatArray, fallback: FloatArray, h: int
) -> tuple[FloatArray, npt.NDArray[np.int8]]:
    """h-step vol moves with the same source at both ends (module docstring)."""
    d_idx = index - _shift(index, h)
    d_fb = fallback - _shift(fallback, h)
    use_idx = np.isfinite(d_idx)
    use_fb = ~use_idx & np.isfinite(d_fb)
    moves: FloatArray = np.where(use_idx, d_idx, np.where(use_fb, d_fb, 0.0))
    source = np.where(use_idx, VOL_FROM_INDEX, np.where(use_fb, VOL_FROM_FALLBACK, VOL_NONE))
    return moves, source.astype(np.int8)


def horizon_moves(
    levels: Sequence[UnderlyingLevels],
    days: pd.DatetimeIndex,
    calendar: Calendar,
    *,
    mpor: int,
    horizon_method: HorizonMethod = "overlapping",
) -> HorizonMoves:
    """Unfiltered h-step moves ending on every day of ``days`` (module docstring)."""
    if mpor < 1:
        raise InputError(f"the margin period of risk must be >= 1 day, got {mpor}")
    if horizon_method not in ("overlapping", "sqrt"):
        raise InputError(f"unknown horizon method {horizon_method!r}: use 'overlapping' or 'sqrt'")
    step = 1 if horizon_method == "sqrt" else mpor
    scale = np.sqrt(mpor) if horizon_method == "sqrt" else 1.0
    spot = np.column_stack([lv.log_spot - _shift(lv.log_spot, step) for lv in levels]) * scale
    vols = [_vol_moves(lv.vol_index, lv.vol_fallback, step) for lv in levels]
    return HorizonMoves(
        calendar=calendar,
        dates=days,
        underlyings=tuple(lv.underlying for lv in levels),
        spot=np.ascontiguousarray(spot),
        vol=np.ascontiguousarray(np.column_stack([v for v, _ in vols]) * scale),
        vol_source=np.column_stack([s for _, s in vols]),
        capped=np.column_stack([lv.capped for lv in levels]),
        span_days=_spans(days, mpor),
        mpor=mpor,
        label=f"hs h={mpor} {horizon_method}",
    )


def _spans(days: pd.DatetimeIndex, mpor: int) -> FloatArray:
    """Calendar days from ``days[t − h]`` to ``days[t]`` (NaN for the first h rows)."""
    ordinal = np.asarray(days.to_numpy().astype("datetime64[D]").astype(np.int64), dtype=float)
    out: FloatArray = ordinal - _shift(ordinal[:, np.newaxis], mpor)[:, 0]
    return out


def filtered_moves(
    unfiltered: HorizonMoves,
    levels: Sequence[UnderlyingLevels],
    *,
    start_row: int,
    lam: float,
    seed_window: int,
    horizon_method: HorizonMethod = "overlapping",
) -> HorizonMoves:
    """FHS h-step moves: 1-step moves EWMA-filtered per factor from ``start_row`` on.

    Rows before ``start_row + h`` are invalid (NaN spot). The filter of each factor runs over
    its valid 1-step moves only; the target vol is its EWMA vol at the last row.
    """
    h = unfiltered.mpor
    n = len(unfiltered.dates)
    cols_spot, cols_vol = [], []
    for lv in levels:
        spot1 = lv.log_spot - _shift(lv.log_spot, 1)
        vol1, _ = _vol_moves(lv.vol_index, lv.vol_fallback, 1)
        vol1 = np.where(np.isfinite(spot1), vol1, np.nan)
        cols_spot.append(_filter(spot1, start_row, lam, seed_window))
        cols_vol.append(_filter(vol1, start_row, lam, seed_window))
    daily = np.column_stack([*cols_spot, *cols_vol])
    if horizon_method == "sqrt":
        moves = np.sqrt(h) * daily
    else:
        csum = np.cumsum(np.nan_to_num(daily), axis=0)
        ok = np.cumsum(~np.isfinite(daily), axis=0)
        moves = csum - _shift(csum, h)
        bad = ok - _shift(ok.astype(float), h)
        moves = np.where(bad == 0, moves, np.nan)
    u = len(levels)
    spot = moves[:, :u]
    vol = np.where(np.isfinite(moves[:, u:]), moves[:, u:], 0.0)
    if n:
        spot[: min(n, start_row + (1 if horizon_method == "sqrt" else h))] = np.nan
    return HorizonMoves(
        calendar=unfiltered.calendar,
        dates=unfiltered.dates,
        underlyings=unfiltered.underlyings,
        spot=np.ascontiguousarray(spot),
        vol=np.ascontiguousarray(vol),
        vol_source=unfiltered.vol_source,
        capped=unfiltered.capped,
        span_days=unfiltered.span_days,
        mpor=h,
        label=f"fhs λ={lam} h={h} {horizon_method}",
    )


def _filter(moves: FloatArray, start_row: int, lam: float, seed_window: int) -> FloatArray:
    """``rₜ·σ_T/σₜ`` for the finite moves at or after ``start_row`` (NaN elsewhere)."""
    out = np.full_like(moves, np.nan)
    rows = np.flatnonzero(np.isfinite(moves))
    rows = rows[rows >= start_row]
    if rows.size == 0:
        return out
    r = moves[rows]
    first = np.mean(r[:seed_window] ** 2)
    whole = np.mean(r**2)
    seed = first if first > 0 else (whole if whole > 0 else 1.0)
    out[rows] = fhs_scenarios(r, lam=lam, seed_variance=seed).scenarios_by_day
    return out


@dataclass(frozen=True, slots=True, kw_only=True)
class DailyMoves:
    """1-step joint moves of a factor set on its calendar, rows where every price moves.

    ``daily`` is (days, 2U): the U log price moves then the U ATM-vol moves, in
    ``underlyings`` order; ``span_days`` the calendar days each move spans.
    """

    underlyings: tuple[str, ...]
    daily: FloatArray
    dates: tuple[str, ...]
    span_days: FloatArray
    calendar: Calendar

    @property
    def labels(self) -> tuple[str, ...]:
        """Column names: ``u`` for price, ``vol:u`` for vol."""
        return (*self.underlyings, *(VOL_PREFIX + u for u in self.underlyings))


def one_step_moves(
    levels: Sequence[UnderlyingLevels], days: pd.DatetimeIndex, calendar: Calendar
) -> DailyMoves:
    """Day-to-day moves of ``levels`` on ``days``; only rows on which every price moves."""
    moves = horizon_moves(levels, days, calendar, mpor=1)
    ok = np.all(np.isfinite(moves.spot), axis=1) & np.isfinite(moves.span_days)
    return DailyMoves(
        underlyings=moves.underlyings,
        daily=np.ascontiguousarray(np.hstack([moves.spot[ok], moves.vol[ok]])),
        dates=day_names(moves.dates[ok]),
        span_days=moves.span_days[ok],
        calendar=calendar,
    )


def daily_factor_moves(
    history: MarketHistory,
    underlyings: Sequence[str],
    start: DateLike,
    end: DateLike,
    *,
    max_fill_days: int = 3,
) -> DailyMoves:
    """The day-to-day moves of ``underlyings`` (one factor set) ending on days in [start, end].

    The set lives on its joint calendar; the first move runs from the calendar day before
    ``start``. Raises MarketDataError when no day in the range has a move of every price.
    """
    from crossmargin.market.calendars import joint_calendar

    unds = tuple(dict.fromkeys(underlyings))
    lo, hi = to_timestamp(start), to_timestamp(end)
    calendar = joint_calendar(history.spec(u).calendar for u in unds)
    days = calendar_days(calendar, lo - pd.Timedelta(days=10), hi)
    first = max(0, int(days.searchsorted(lo)) - 1)
    days = days[first:]
    levels = [underlying_levels(history, u, days, max_fill_days=max_fill_days) for u in unds]
    moves = one_step_moves(levels, days, calendar)
    if not moves.dates:
        raise MarketDataError(
            f"no day in {lo:%Y-%m-%d}..{hi:%Y-%m-%d} on which {', '.join(unds)} all move; "
            "choose dates inside their common history"
        )
    return moves


def vol_move(
    history: MarketHistory,
    underlying: str,
    start: DateLike,
    end: DateLike,
    *,
    max_fill_days: int = 3,
) -> float:
    """The ATM-vol factor's move from ``start`` to ``end`` (same source at both ends, 0 if
    none has both), as a scenario of the historical models defines it; for realised moves."""
    at = _nanoseconds(pd.DatetimeIndex([to_timestamp(start), to_timestamp(end)]))
    vol = _vol_arrays(history, underlying, int(at.max()))
    moves, _ = _vol_moves(
        _sample_at(vol.index_at, vol.index, at, max_fill_days),
        _sample_at(vol.fallback_at, vol.fallback, at, max_fill_days),
        1,
    )
    return float(moves[1])


def calendar_grid(
    history: MarketHistory, underlyings: Sequence[str], calendar: Calendar, end: DateLike
) -> pd.DatetimeIndex:
    """Days of ``calendar`` from the first observation of any of ``underlyings`` to ``end``."""
    end_ts = to_timestamp(end)
    first = min(history.coverage(u)[0] for u in underlyings)
    if first > end_ts:
        raise MarketDataError(
            f"{', '.join(underlyings)}: no history before {end_ts:%Y-%m-%d} (first "
            f"observation {first:%Y-%m-%d})"
        )
    return calendar_days(calendar, first, end_ts)


__all__ = [
    "VOL_FROM_FALLBACK",
    "VOL_FROM_INDEX",
    "VOL_NONE",
    "VOL_PREFIX",
    "DailyMoves",
    "HorizonMethod",
    "HorizonMoves",
    "ScenarioMethod",
    "UnderlyingLevels",
    "calendar_grid",
    "daily_factor_moves",
    "day_names",
    "filtered_moves",
    "horizon_moves",
    "one_step_moves",
    "underlying_levels",
    "vol_move",
]
