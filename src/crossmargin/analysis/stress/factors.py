"""The joint daily factor moves behind a netting set's ES margin, and h-step scenarios from them.

For a netting set with underlyings ``u₁..u_U`` as of the market date ``D`` the ES model
(:class:`crossmargin.models.var.HistoricalVaRModel`) reads two factors per underlying on the
set's own calendar (:mod:`crossmargin.market.factor_grid`): the **log price** and the 30-day
**ATM implied vol** (DVOL / VIX where they exist, the fallback level before or in long gaps).
:class:`FactorWindow` holds the day-to-day moves of the set's lookback (the ``h − 1`` days
before its first scenario included, so that its overlapping h-step sums are the model's
scenarios), filtered to today's vol when the model is FHS, with the model's MPOR ``h``,
horizon method and confidence: the joint distribution the correlation-breakdown and reverse
stress tests start from.

:meth:`FactorWindow.scenarios` turns any (re-correlated) daily moves into the model's h-step
scenarios: overlapping h-step sums (``T − h + 1`` scenarios) or ``√h`` times the daily moves,
spot shocks ``log``, vol shocks ``absolute``, each time step the calendar time the h steps span.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from crossmargin.errors import InputError
from crossmargin.market.factor_grid import (
    VOL_PREFIX,
    daily_factor_moves,
    filtered_moves,
    horizon_moves,
    one_step_moves,
)
from crossmargin.market.history import DateLike, MarketHistory
from crossmargin.market.scenarios import ScenarioSet
from crossmargin.market.snapshot import MarketSnapshot
from crossmargin.models.base import MarginModel
from crossmargin.models.var import ExpectedShortfallModel, HistoricalVaRModel
from crossmargin.models.var_context import VarContext
from crossmargin.netting.core import netting_set_holdings
from crossmargin.portfolio import Portfolio
from crossmargin.stats.horizon import overlapping_sums, sqrt_time_scale

FloatArray = NDArray[np.float64]


@dataclass(frozen=True, slots=True, kw_only=True)
class FactorWindow:
    """Daily joint moves of a netting set's factors (see the module docstring).

    ``daily`` is (days, 2U): the U spot log moves then the U vol moves, columns named by
    :attr:`labels` (``u`` and ``vol:u``); ``span_days`` the calendar days each daily move spans
    (default one calendar day each).
    """

    underlyings: tuple[str, ...]
    daily: FloatArray
    dates: tuple[str, ...]
    calendar: str
    mpor: int
    horizon_method: str = "overlapping"
    confidence: float = 0.99
    span_days: FloatArray | None = None

    def __post_init__(self) -> None:
        u = len(self.underlyings)
        if self.daily.ndim != 2 or self.daily.shape[1] != 2 * u:
            raise InputError(f"daily moves must be (days, {2 * u}), got {self.daily.shape}")
        if len(self.dates) != self.daily.shape[0]:
            raise InputError(f"{len(self.dates)} dates for {self.daily.shape[0]} daily moves")
        if self.mpor < 1:
            raise InputError(f"the MPOR must be >= 1 day, got {self.mpor}")
        if self.horizon_method not in ("overlapping", "sqrt"):
            raise InputError(f"unknown horizon method {self.horizon_method!r}")
        if self.span_days is None:
            object.__setattr__(self, "span_days", np.ones(self.daily.shape[0]))
        elif np.shape(self.span_days) != (self.daily.shape[0],):
            raise InputError("span_days needs one entry per daily move")

    @property
    def labels(self) -> tuple[str, ...]:
        """Column names: ``u`` for spot, ``vol:u`` for vol."""
        return (*self.underlyings, *(VOL_PREFIX + u for u in self.underlyings))

    @property
    def step_years(self) -> float:
        """The MPOR in years: the mean calendar time of the window's h-step scenarios."""
        return float(np.mean(self._steps()))

    def _steps(self) -> FloatArray:
        spans = np.asarray(self.span_days, dtype=np.float64)
        if self.horizon_method == "overlapping":
            windows: FloatArray = overlapping_sums(
                spans[:, np.newaxis], self.mpor
            ).returns_by_window
            return windows[:, 0] / 365.0
        # √h scaling of a daily move: the h steps of calendar time it stands for
        step: FloatArray = self.mpor * spans / 365.0
        return step

    def horizon_moves(self, daily: FloatArray | None = None) -> tuple[FloatArray, tuple[str, ...]]:
        """h-step moves of ``daily`` (default: this window's) and the scenario names."""
        d = self.daily if daily is None else daily
        if self.horizon_method == "overlapping":
            moves = overlapping_sums(d, self.mpor).returns_by_window
            return moves, self.dates[self.mpor - 1 :]
        return sqrt_time_scale(d, self.mpor), self.dates

    def scenarios(self, daily: FloatArray | None = None, *, label: str = "") -> ScenarioSet:
        """The h-step scenario set of ``daily`` (see the module docstring)."""
        moves, names = self.horizon_moves(daily)
        u = len(self.underlyings)
        return ScenarioSet(
            underlyings=self.underlyings,
            spot_shocks=moves[:, :u],
            vol_shocks=moves[:, u:],
            time_steps=self._steps(),
            names=names,
            spot_shock_type="log",
            vol_shock_type="absolute",
            label=label,
        )


def var_model(model: MarginModel, history: MarketHistory | None) -> HistoricalVaRModel:
    """``model`` if it is an ES/HVaR model, else the ``es`` model with its file defaults."""
    if isinstance(model, HistoricalVaRModel):
        return model
    return ExpectedShortfallModel(history=history)


def _context(
    model: HistoricalVaRModel, portfolio: Portfolio, market: MarketSnapshot
) -> tuple[VarContext, tuple[str, ...]]:
    """The model's context for the book's netting sets: positions and the coin and security
    collateral that nets with them (so a collateral coin's underlying is a factor)."""
    if not portfolio.instruments:
        raise InputError("the book is empty: no factors to stress")
    instruments, _ = netting_set_holdings(portfolio, model)
    context = model.prepare(instruments, market)
    return context, context.underlyings


def es_window(
    model: HistoricalVaRModel, portfolio: Portfolio, market: MarketSnapshot
) -> FactorWindow:
    """The model's lookback window of daily moves for ``portfolio`` taken as one netting set."""
    context, unds = _context(model, portfolio, market)
    fs = context.factor_set(unds)
    grid = context.calendar_grid(fs.calendar)
    levels = grid.levels_of(unds)
    first_scenario = context.calendar_pnl(fs.calendar).moves.dates[fs.lookback[0]]
    s = context.settings
    start_row = int(grid.days.searchsorted(first_scenario)) - (
        s.mpor - 1 if s.horizon_method == "overlapping" else 0
    )
    one = horizon_moves(levels, grid.days, fs.calendar, mpor=1)
    if s.method == "fhs":
        lb_row = int(grid.days.searchsorted(first_scenario))
        one = filtered_moves(
            one,
            levels,
            start_row=max(0, lb_row - s.burn_in),
            lam=s.lam,
            seed_window=s.seed_window,
            horizon_method="sqrt",
        )
    rows = np.arange(max(start_row, 0), len(grid.days))
    ok = np.all(np.isfinite(one.spot[rows]), axis=1) & np.isfinite(one.span_days[rows])
    rows = rows[ok]
    return FactorWindow(
        underlyings=unds,
        daily=np.ascontiguousarray(np.hstack([one.spot[rows], one.vol[rows]])),
        dates=tuple(grid.days[rows].strftime("%Y-%m-%d")),
        calendar=fs.calendar,
        mpor=model.mpor,
        horizon_method=model.horizon_method,
        confidence=model.confidence,
        span_days=one.span_days[rows],
    )


def daily_moves(
    history: MarketHistory, underlyings: tuple[str, ...], start: DateLike, end: DateLike
) -> tuple[FloatArray, tuple[str, ...], str]:
    """Unfiltered daily factor moves (days, 2U) of ``underlyings`` on days in [start, end].

    The underlyings are taken as one netting set (their joint calendar). Returns the moves,
    the dates and the calendar.
    """
    moves = daily_factor_moves(history, underlyings, start, end)
    return moves.daily, moves.dates, moves.calendar


def full_history(
    model: HistoricalVaRModel, portfolio: Portfolio, market: MarketSnapshot
) -> tuple[FloatArray, tuple[str, ...]]:
    """Unfiltered daily factor moves (days, 2U) of ``portfolio``'s whole history (one set)."""
    context, unds = _context(model, portfolio, market)
    grid = context.calendar_grid(context.calendar_of(unds))
    one = one_step_moves(grid.levels_of(unds), grid.days, grid.calendar)
    return one.daily, one.dates


__all__ = ["FactorWindow", "daily_moves", "es_window", "full_history", "var_model"]
