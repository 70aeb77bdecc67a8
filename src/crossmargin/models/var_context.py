"""Netting-set scenarios of the historical VaR/ES models: one factor set per netting set, the
work shared per calendar.

A netting set (a row of holdings: an account, a group, a position) is margined on its own
**factor set**, the underlyings it holds, and nothing else: their joint calendar
(:func:`crossmargin.market.calendars.joint_calendar`), the days on which all of them have a
move, a lookback of calendar time ending on the as-of date, its own history start and its own
stressed window. Two netting sets with the same factor set get the same scenarios; two with
different ones share the per-calendar work below, never a panel:

1. per calendar, the h-step moves of every underlying of the book on every day of that
   calendar (:mod:`crossmargin.market.factor_grid`);
2. per calendar, the scenario P&L of every instrument under those moves (one full
   revaluation per instrument and calendar, :class:`CalendarPnL`); a day on which an
   underlying has no move gets P&L 0 for its instruments and is never selected for a factor
   set holding it. The rows of the lookback (and floor) period are priced first; the older
   rows, which only the stressed-window search reads, when it first asks for them
   (``calendar_pnl(calendar, history=True)``): a caller that needs no stressed window (a
   backtest keeping totals only) never revalues the whole history;
3. per factor set, the rows of (2) it uses (:class:`FactorSet`): lookback = the days of the
   set's calendar in the lookback period on which every underlying of the set has a move;
   history = all such days (stressed-window search); floor = those in the floor period.

Everything is computed on first use and kept: a context serves any holdings on its
instruments, whatever accounts they come from (the service caches contexts across requests).
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from crossmargin.errors import MarketDataError, ModelError
from crossmargin.instruments import Instrument
from crossmargin.market.calendars import joint_calendar, period_start
from crossmargin.market.factor_grid import (
    VOL_FROM_FALLBACK,
    VOL_FROM_INDEX,
    VOL_NONE,
    HorizonMethod,
    HorizonMoves,
    ScenarioMethod,
    UnderlyingLevels,
    calendar_grid,
    day_names,
    filtered_moves,
    horizon_moves,
    underlying_levels,
)
from crossmargin.market.history import Calendar, MarketHistory, to_timestamp
from crossmargin.market.scenarios import ScenarioSet
from crossmargin.market.snapshot import MarketSnapshot
from crossmargin.models.var_addons import AddOnTerms
from crossmargin.pricing.revalue import revalue_instruments

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

#: Largest distance, in calendar days, between the start of the lookback period and the first
#: scenario of a factor set before its history is judged too short for the lookback.
LOOKBACK_START_SLACK_DAYS = 7


@dataclass(frozen=True, slots=True, kw_only=True)
class VarSettings:
    """What the scenarios depend on (the model's parameters, in their final form)."""

    lookback: str
    mpor: int
    method: ScenarioMethod
    horizon_method: HorizonMethod
    lam: float
    seed_window: int
    burn_in: int
    max_fill_days: int
    stress_length: str | None  # length of the stressed window, None: no stressed window
    floor_period: str | None  # the Art 28(1)(c) floor lookback, None: no floor


@dataclass(frozen=True, slots=True, kw_only=True)
class CalendarGrid:
    """The days of one calendar up to the as-of date and the book's factor levels on them."""

    calendar: Calendar
    days: pd.DatetimeIndex
    levels: tuple[UnderlyingLevels, ...]

    @property
    def underlyings(self) -> tuple[str, ...]:
        """The underlyings with levels here."""
        return tuple(lv.underlying for lv in self.levels)

    def levels_of(self, underlyings: Sequence[str]) -> tuple[UnderlyingLevels, ...]:
        """The levels of some underlyings, in the order given."""
        by_name = {lv.underlying: lv for lv in self.levels}
        return tuple(by_name[u] for u in underlyings)


#: Above this size a calendar's P&L matrix is not kept a second time instrument by
#: instrument (:meth:`CalendarPnL.by_instrument`).
BY_INSTRUMENT_MAX_BYTES = 256 * 2**20


@dataclass(frozen=True, slots=True, kw_only=True)
class CalendarPnL:
    """Scenario P&L of the instruments priced on one calendar (see the module docstring).

    ``hs`` is (rows, instruments) unfiltered P&L per long contract in the reporting currency,
    ``fhs`` the filtered one (lookback rows only; 0 elsewhere) or None. ``columns`` maps a
    context instrument index to its column here (-1: not priced on this calendar). Rows of
    ``hs`` before ``priced_from`` (older than the lookback and floor periods) are not priced
    yet (0): :meth:`VarContext.calendar_pnl` with ``history=True`` gives them priced.
    """

    calendar: Calendar
    moves: HorizonMoves
    fhs_moves: HorizonMoves | None
    levels: tuple[UnderlyingLevels, ...]
    columns: IntArray
    hs: FloatArray
    fhs: FloatArray | None
    in_lookback: BoolArray
    in_floor: BoolArray | None
    names: tuple[str, ...]
    priced_from: int = 0
    _by_instrument: dict[str, FloatArray] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def by_instrument(self, name: str) -> FloatArray | None:
        """``hs`` or ``fhs`` (``name``) transposed in C order, one instrument's scenarios
        side by side (what :func:`~crossmargin.pricing.revalue.row_pnl` reads fastest),
        made on first use and kept with this object (a calendar priced further is a new
        object); ``None`` where the matrix is absent or above :data:`BY_INSTRUMENT_MAX_BYTES`
        (then ``row_pnl`` copies the block each call asks for)."""
        found = self._by_instrument.get(name)
        if found is None:
            matrix = self.hs if name == "hs" else self.fhs
            if matrix is None or matrix.nbytes > BY_INSTRUMENT_MAX_BYTES:
                return None
            found = self._by_instrument.setdefault(name, np.ascontiguousarray(matrix.T))
        return found


@dataclass(frozen=True, slots=True, kw_only=True)
class FactorSet:
    """The scenario rows of one factor set on its calendar's :class:`CalendarPnL`."""

    underlyings: tuple[str, ...]
    calendar: Calendar
    lookback: IntArray
    history: IntArray
    floor: IntArray | None
    stress_length: int
    facts: dict[str, Any] = field(default_factory=dict)
    extras: dict[str, Any] = field(default_factory=dict)  # figures memoised on first use

    @property
    def key(self) -> str:
        """A readable name, e.g. ``BTC+SPX``."""
        return "+".join(self.underlyings)


class VarContext:
    """What :meth:`HistoricalVaRModel.prepare` returns: lazy, shared, thread-safe.

    Parameters
    ----------
    instruments : tuple of Instrument
        Columns of the holdings it margins.
    market : MarketSnapshot
        Today's market (instruments are revalued from it).
    history : MarketHistory
        Where the factor moves come from (only data up to the market date is read).
    settings : VarSettings
        The model's scenario parameters.
    addons, basis : optional
        Per-instrument add-on terms (liquidity, concentration) and basis/funding terms.
    stress_dates : (start, end) or None
        A fixed stressed window by dates instead of the search.
    """

    def __init__(
        self,
        *,
        instruments: tuple[Instrument, ...],
        market: MarketSnapshot,
        history: MarketHistory,
        settings: VarSettings,
        addons: AddOnTerms | None = None,
        basis: Any = None,
        stress_dates: tuple[str, str] | None = None,
    ) -> None:
        self.instruments = instruments
        self.market = market
        self.history = history
        self.settings = settings
        self.addons = addons
        self.basis = basis
        self.stress_dates = stress_dates
        self.asof = to_timestamp(market.valuation_time)
        self.underlyings = tuple(dict.fromkeys(i.underlying for i in instruments))
        self.und_index = np.array(
            [self.underlyings.index(i.underlying) for i in instruments], dtype=np.int64
        )
        self.und_calendar: dict[str, Calendar] = {
            u: series_calendar(history, u) for u in self.underlyings
        }
        self._grids: dict[Calendar, CalendarGrid] = {}
        self._calendars: dict[Calendar, CalendarPnL] = {}
        self._sets: dict[tuple[str, ...], FactorSet] = {}
        #: what follows from the calendars priced so far, kept by its callers (e.g. the
        #: scenario names of every calendar, :func:`crossmargin.models.var._scenario_names`)
        self.derived: dict[Hashable, Any] = {}
        self._lock = threading.RLock()

    def __getstate__(self) -> dict[str, Any]:
        """Picklable (a distributed run ships one priced context to its workers): the lock
        and the calendars' instrument-major copies (:meth:`CalendarPnL.by_instrument`) stay
        behind; each copy of the context gets its own lock and makes its own copies on use."""
        with self._lock:
            state = dict(self.__dict__)
            state["_calendars"] = {k: dataclasses.replace(c) for k, c in self._calendars.items()}
            state["derived"] = {}
        del state["_lock"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.RLock()

    def price_calendars(self) -> tuple[CalendarPnL, ...]:
        """Price now every calendar the instruments' underlyings live on (what any holdings
        on them need: the joint calendar of a mixed factor set is one of these), so that a
        copy of the context carries the instrument P&L instead of recomputing it."""
        for calendar in dict.fromkeys(self.und_calendar.values()):
            self.calendar_pnl(calendar, history=True)
        return self.computed_calendars()

    # ------------------------------------------------------------------ factor sets
    def factor_set_of(self, und_mask: BoolArray) -> tuple[str, ...]:
        """The underlyings of a row, in the context's order, from a mask over underlyings."""
        return tuple(u for u, held in zip(self.underlyings, und_mask, strict=True) if held)

    def calendar_of(self, underlyings: Sequence[str]) -> Calendar:
        """The joint calendar of a factor set."""
        return joint_calendar(self.und_calendar[u] for u in underlyings)

    def factor_set(self, underlyings: tuple[str, ...]) -> FactorSet:
        """The (memoised) scenario rows of a factor set."""
        with self._lock:
            found = self._sets.get(underlyings)
            if found is None:
                found = self._build_set(underlyings)
                self._sets[underlyings] = found
            return found

    def calendar_grid(self, calendar: Calendar) -> CalendarGrid:
        """The (memoised) days and factor levels of the book's underlyings on ``calendar``."""
        with self._lock:
            found = self._grids.get(calendar)
            if found is None:
                unds = self._calendar_underlyings(calendar)
                days = calendar_grid(self.history, unds, calendar, self.asof)
                fill = self.settings.max_fill_days
                found = CalendarGrid(
                    calendar=calendar,
                    days=days,
                    levels=tuple(
                        underlying_levels(self.history, u, days, max_fill_days=fill) for u in unds
                    ),
                )
                self._grids[calendar] = found
            return found

    def calendar_pnl(self, calendar: Calendar, *, history: bool = True) -> CalendarPnL:
        """The (memoised) instrument P&L on ``calendar``: every row priced, or with
        ``history=False`` at least the rows of the lookback and floor periods (what the
        ``core`` and floor measures read; the rest, for the stressed-window search, are priced
        when a call asks for them, each row once)."""
        with self._lock:
            found = self._calendars.get(calendar)
            if found is None:
                found = self._build_calendar(calendar)
            if history and found.priced_from > 0:
                found = self._price_history(found)
            self._calendars[calendar] = found
            return found

    def computed_calendars(self) -> tuple[CalendarPnL, ...]:
        """The calendars priced so far."""
        with self._lock:
            return tuple(self._calendars.values())

    def computed_sets(self) -> tuple[FactorSet, ...]:
        """The factor sets met so far."""
        with self._lock:
            return tuple(self._sets.values())

    def computed(self) -> int:
        """How many grids, calendars (and calendars priced over their whole history, and
        their matrices kept instrument by instrument) and factor sets are built so far: a
        cache measures the context's memory again only when this changes
        (:mod:`crossmargin.models.cache`)."""
        with self._lock:
            whole = sum(c.priced_from == 0 for c in self._calendars.values())
            transposed = sum(len(c._by_instrument) for c in self._calendars.values())
            return (len(self._grids) + len(self._calendars) + whole + len(self._sets)
                    + transposed)  # fmt: skip

    def extended(
        self, new: tuple[Instrument, ...], *, addons: AddOnTerms | None, basis: Any
    ) -> VarContext:
        """A context for ``instruments + new`` that keeps the work already done.

        Calendars already priced whose underlyings cover the new instruments get only the new
        columns priced (on the same scenarios) and keep their factor sets; the others are
        rebuilt on use. Figures are identical to a fresh context (tested).
        """
        out = VarContext(
            instruments=self.instruments + new,
            market=self.market,
            history=self.history,
            settings=self.settings,
            addons=addons,
            basis=basis,
            stress_dates=self.stress_dates,
        )
        with self._lock:
            for calendar, cal in self._calendars.items():
                grid = self._grids[calendar]
                unds = set(out._calendar_underlyings(calendar))
                if not unds <= set(grid.underlyings):
                    continue  # a new underlying on this calendar: rebuilt on use
                mine = tuple(i for i in new if i.underlying in unds)
                priced = np.arange(len(cal.moves.dates)) >= cal.priced_from
                add = self._price(mine, cal.moves, priced)
                hs = np.hstack([cal.hs, add])
                fhs = None
                if cal.fhs is not None and cal.fhs_moves is not None:
                    fhs = np.hstack([cal.fhs, self._price(mine, cal.fhs_moves, cal.in_lookback)])
                columns = np.concatenate([cal.columns, np.full(len(new), -1, dtype=np.int64)])
                shift = len(self.instruments)
                at = [shift + k for k, i in enumerate(new) if i.underlying in unds]
                columns[at] = cal.hs.shape[1] + np.arange(len(mine))
                out._grids[calendar] = grid
                out._calendars[calendar] = dataclasses.replace(cal, hs=hs, fhs=fhs, columns=columns)
                for key, fs in self._sets.items():
                    if fs.calendar == calendar:
                        out._sets[key] = fs
        return out

    def reordered(self, order: IntArray) -> VarContext:
        """The same context with its columns taken in ``order`` (a permutation of them): what
        is priced is kept, only the map from columns to priced P&L and the per-instrument
        terms follow the new order (a cache keeps its contexts in canonical column order)."""
        order = np.asarray(order, dtype=np.int64)
        if sorted(order.tolist()) != list(range(len(self.instruments))):
            raise ModelError(f"reordered: {order.tolist()} is not a permutation of the columns")
        out = VarContext(
            instruments=tuple(self.instruments[k] for k in order.tolist()),
            market=self.market,
            history=self.history,
            settings=self.settings,
            addons=None if self.addons is None else self.addons.take(order),
            basis=None if self.basis is None else self.basis.take(order),
            stress_dates=self.stress_dates,
        )
        with self._lock:
            out._grids = dict(self._grids)
            out._sets = dict(self._sets)
            out._calendars = {
                calendar: dataclasses.replace(cal, columns=cal.columns[order])
                for calendar, cal in self._calendars.items()
            }
        return out

    # ------------------------------------------------------------------ building
    def _calendar_underlyings(self, calendar: Calendar) -> tuple[str, ...]:
        if calendar == "crypto":
            return tuple(u for u in self.underlyings if self.und_calendar[u] == "crypto")
        return self.underlyings

    def _build_calendar(self, calendar: Calendar) -> CalendarPnL:
        s = self.settings
        grid = self.calendar_grid(calendar)
        unds, days, levels = grid.underlyings, grid.days, grid.levels
        moves = horizon_moves(levels, days, calendar, mpor=s.mpor, horizon_method=s.horizon_method)
        lb_start = period_start(self.asof, s.lookback)
        first_row = 0
        if s.stress_length is None and s.floor_period is None:
            first_row = int(days.searchsorted(lb_start))
        elif s.stress_length is None and s.floor_period is not None:
            first_row = int(days.searchsorted(period_start(self.asof, s.floor_period)))
        rows = slice(first_row, len(days))
        fhs_moves = None
        if s.method == "fhs":
            start = max(0, int(days.searchsorted(lb_start)) - s.burn_in)
            fhs_moves = _slice(
                filtered_moves(
                    moves,
                    levels,
                    start_row=start,
                    lam=s.lam,
                    seed_window=s.seed_window,
                    horizon_method=s.horizon_method,
                ),
                rows,
            )
        moves = _slice(moves, rows)
        dates = moves.dates
        in_lookback = np.asarray(dates >= lb_start, dtype=bool)
        in_floor = None
        if s.floor_period is not None:
            in_floor = np.asarray(dates >= period_start(self.asof, s.floor_period), dtype=bool)
        cols = np.flatnonzero(np.isin(self.und_index, [self.underlyings.index(u) for u in unds]))
        columns = np.full(len(self.instruments), -1, dtype=np.int64)
        columns[cols] = np.arange(cols.size)
        instruments = tuple(self.instruments[j] for j in cols)
        # the lookback (and floor) rows now; older ones when the stressed window needs them
        eager = in_lookback if in_floor is None else in_lookback | in_floor
        priced_from = int(np.argmax(eager)) if eager.any() else len(dates)
        hs = self._price(instruments, moves, np.arange(len(dates)) >= priced_from)
        fhs = None
        if fhs_moves is not None:
            fhs = self._price(instruments, fhs_moves, in_lookback)
        return CalendarPnL(
            calendar=calendar,
            moves=moves,
            fhs_moves=fhs_moves,
            levels=levels,
            columns=columns,
            hs=hs,
            fhs=fhs,
            in_lookback=in_lookback,
            in_floor=in_floor,
            names=day_names(dates),
            priced_from=priced_from,
        )

    def _price_history(self, cal: CalendarPnL) -> CalendarPnL:
        """``cal`` with its rows before ``priced_from`` priced too (the same figures as
        pricing every row at once: the revaluation is per scenario and instrument)."""
        order = np.flatnonzero(cal.columns >= 0)
        order = order[np.argsort(cal.columns[order])]
        instruments = tuple(self.instruments[j] for j in order)
        older = np.arange(len(cal.moves.dates)) < cal.priced_from
        hs = self._price(instruments, cal.moves, older)
        hs[cal.priced_from :] = cal.hs[cal.priced_from :]
        return dataclasses.replace(cal, hs=hs, priced_from=0)

    def _price(
        self, instruments: tuple[Instrument, ...], moves: HorizonMoves, rows: BoolArray
    ) -> FloatArray:
        """P&L (rows of ``moves``, instruments) of each instrument under its underlying's move."""
        n = len(moves.dates)
        out = np.zeros((n, len(instruments)))
        spot = np.where(np.isfinite(moves.spot), moves.spot, 0.0)
        take = np.flatnonzero(rows & np.isfinite(moves.span_days))
        if not instruments or take.size == 0:
            return out
        scenarios = ScenarioSet(
            underlyings=moves.underlyings,
            spot_shocks=spot[take],
            vol_shocks=moves.vol[take],
            time_steps=moves.span_days[take] / 365.0,
            names=day_names(moves.dates[take]),
            spot_shock_type="log",
            vol_shock_type="absolute",
            label=moves.label,
        )
        out[take] = revalue_instruments(instruments, self.market, scenarios).pnl_by_scenario
        return out

    def _build_set(self, underlyings: tuple[str, ...]) -> FactorSet:
        s = self.settings
        calendar = self.calendar_of(underlyings)
        cal = self.calendar_pnl(calendar, history=False)  # the moves only
        valid = cal.moves.valid_rows(underlyings) & np.isfinite(cal.moves.span_days)
        lb_valid = valid
        if cal.fhs_moves is not None:
            lb_valid = valid & cal.fhs_moves.valid_rows(underlyings)
        lookback = np.flatnonzero(lb_valid & cal.in_lookback)
        lb_start = period_start(self.asof, s.lookback)
        if (
            lookback.size == 0
            or (pd.Timestamp(cal.moves.dates[lookback[0]]) - lb_start).days
            > LOOKBACK_START_SLACK_DAYS
        ):
            first = pd.Timestamp(cal.moves.dates[np.flatnonzero(valid)[0]]) if valid.any() else None
            raise MarketDataError(
                f"the {s.lookback} lookback from {lb_start:%Y-%m-%d} to {self.asof:%Y-%m-%d} "
                f"needs moves of {', '.join(underlyings)} from its start, but their joint "
                f"history starts {'nowhere' if first is None else f'{first:%Y-%m-%d}'}; "
                "choose a later as-of date or a shorter lookback"
            )
        history = np.flatnonzero(valid)
        floor = None
        if cal.in_floor is not None:
            floor = np.flatnonzero(valid & cal.in_floor)
        stress_length = lookback.size
        facts = _set_facts(self, underlyings, cal, lookback, history, floor)
        return FactorSet(
            underlyings=underlyings,
            calendar=calendar,
            lookback=lookback,
            history=history,
            floor=floor,
            stress_length=stress_length,
            facts=facts,
        )


def _slice(moves: HorizonMoves, rows: slice) -> HorizonMoves:
    return HorizonMoves(
        calendar=moves.calendar,
        dates=moves.dates[rows],
        underlyings=moves.underlyings,
        spot=moves.spot[rows],
        vol=moves.vol[rows],
        vol_source=moves.vol_source[rows],
        capped=moves.capped[rows],
        span_days=moves.span_days[rows],
        mpor=moves.mpor,
        label=moves.label,
    )


def series_calendar(history: MarketHistory, underlying: str) -> Calendar:
    """The calendar of ``underlying``'s price series; MarketDataError naming it if it has none."""
    if underlying not in history.catalogue or history.spec(underlying).kind != "price":
        raise MarketDataError(
            f"underlying {underlying!r} has no daily price history in the market catalogue "
            f"(crossmargin/data/market_series.json); historical VaR/ES needs one per "
            "underlying: add the series to the catalogue or margin it with another model"
        )
    return history.spec(underlying).calendar


def _day(ts: Any) -> str:
    return f"{pd.Timestamp(ts):%Y-%m-%d}"


def _set_facts(
    ctx: VarContext,
    underlyings: tuple[str, ...],
    cal: CalendarPnL,
    lookback: IntArray,
    history: IntArray,
    floor: IntArray | None,
) -> dict[str, Any]:
    """JSON-ready facts about a factor set: calendar, MPOR, windows, vol sources."""
    s = ctx.settings
    dates = cal.moves.dates
    spans = cal.moves.span_days[lookback]
    cols = [cal.moves.column(u) for u in underlyings]
    source = cal.moves.vol_source[lookback][:, cols]
    capped = cal.moves.capped[lookback][:, cols]
    levels = {lv.underlying: lv for lv in cal.levels}
    vol = {
        u: {
            "rule": levels[u].vol_rule,
            "index_days": int((source[:, j] == VOL_FROM_INDEX).sum()),
            "fallback_days": int((source[:, j] == VOL_FROM_FALLBACK).sum()),
            "no_vol_days": int((source[:, j] == VOL_NONE).sum()),
            "capped_days": int(capped[:, j].sum()),
        }
        for j, u in enumerate(underlyings)
    }
    facts: dict[str, Any] = {
        "netting_set": "+".join(underlyings),
        "calendar": cal.calendar,
        "mpor_steps": s.mpor,
        "mpor_calendar_days": {
            "min": float(spans.min()),
            "mean": round(float(spans.mean()), 4),
            "max": float(spans.max()),
        },
        "lookback": {
            "period": s.lookback,
            "first": _day(dates[lookback[0]]),
            "last": _day(dates[lookback[-1]]),
            "scenarios": int(lookback.size),
            "calendar_days": int((dates[lookback[-1]] - dates[lookback[0]]).days) + 1,
        },
        "history": {"first": _day(dates[history[0]]), "scenarios": int(history.size)},
        "vol_factors": vol,
    }
    if floor is not None and floor.size:
        facts["floor"] = {
            "period": s.floor_period,
            "first": _day(dates[floor[0]]),
            "scenarios": int(floor.size),
        }
    return facts


__all__ = [
    "LOOKBACK_START_SLACK_DAYS",
    "CalendarGrid",
    "CalendarPnL",
    "FactorSet",
    "VarContext",
    "VarSettings",
    "series_calendar",
]
