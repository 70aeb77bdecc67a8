"""The joint daily factor moves behind a book's ES margin, and h-day scenarios built from them.

For a book with underlyings ``u₁..u_U`` as of the market date ``D`` the ES model
(:class:`crossmargin.models.var.HistoricalVaRModel`) reads two factors per underlying from
the history (:func:`crossmargin.market.historical_scenarios.book_factor_panel`): the daily
**log return** of its price and the daily **absolute change** of its implied-vol proxy
(DVOL / VIX where they exist, realised vol before or in long gaps). :class:`FactorWindow`
holds the last ``lookback`` daily moves ending on ``D`` (filtered to today's vol when the
model is FHS), with the model's MPOR ``h``, horizon method and confidence: the joint
distribution the correlation-breakdown and reverse stress tests start from.

:meth:`FactorWindow.scenarios` turns any (re-correlated) daily moves into the model's
h-day scenarios: overlapping h-day sums (``T − h + 1`` scenarios) or ``√h`` times the
daily moves, spot shocks ``log``, vol shocks ``absolute``, time step
``h / ANNUALISATION_DAYS[calendar]`` years.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from crossmargin.errors import InputError
from crossmargin.market.historical_scenarios import (
    VOL_PREFIX,
    book_factor_panel,
    historical_scenarios,
)
from crossmargin.market.history import ANNUALISATION_DAYS, MarketHistory, to_timestamp
from crossmargin.market.scenarios import ScenarioSet
from crossmargin.market.snapshot import MarketSnapshot
from crossmargin.models.base import MarginModel
from crossmargin.models.var import ExpectedShortfallModel, HistoricalVaRModel
from crossmargin.portfolio import Portfolio
from crossmargin.stats.horizon import overlapping_sums, sqrt_time_scale

FloatArray = NDArray[np.float64]


@dataclass(frozen=True, slots=True, kw_only=True)
class FactorWindow:
    """Daily joint moves of a book's factors (see the module docstring).

    ``daily`` is (days, 2U): the U spot log returns then the U vol changes, columns named
    by :attr:`labels` (``u`` and ``vol:u``).
    """

    underlyings: tuple[str, ...]
    daily: FloatArray
    dates: tuple[str, ...]
    calendar: str
    mpor: int
    horizon_method: str = "overlapping"
    confidence: float = 0.99

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

    @property
    def labels(self) -> tuple[str, ...]:
        """Column names: ``u`` for spot, ``vol:u`` for vol."""
        return (*self.underlyings, *(VOL_PREFIX + u for u in self.underlyings))

    @property
    def step_years(self) -> float:
        """The MPOR in years on the window's calendar."""
        days = ANNUALISATION_DAYS["crypto" if self.calendar == "crypto" else "nyse"]
        return self.mpor / days

    def horizon_moves(self, daily: FloatArray | None = None) -> tuple[FloatArray, tuple[str, ...]]:
        """h-day moves of ``daily`` (default: this window's) and the scenario names."""
        d = self.daily if daily is None else daily
        if self.horizon_method == "overlapping":
            moves = overlapping_sums(d, self.mpor).returns_by_window
            return moves, self.dates[self.mpor - 1 :]
        return sqrt_time_scale(d, self.mpor), self.dates

    def scenarios(self, daily: FloatArray | None = None, *, label: str = "") -> ScenarioSet:
        """The h-day scenario set of ``daily`` (see the module docstring)."""
        moves, names = self.horizon_moves(daily)
        u = len(self.underlyings)
        return ScenarioSet(
            underlyings=self.underlyings,
            spot_shocks=moves[:, :u],
            vol_shocks=moves[:, u:],
            time_steps=np.full(moves.shape[0], self.step_years),
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


def es_window(
    model: HistoricalVaRModel, portfolio: Portfolio, market: MarketSnapshot
) -> FactorWindow:
    """The model's lookback window of daily factor moves for ``portfolio`` as of ``market``."""
    instruments = portfolio.instruments
    unds = tuple(dict.fromkeys(i.underlying for i in instruments))
    panel, _ = model.factor_panel(instruments, market)
    params: dict[str, Any] = model.parameters()
    daily_set = historical_scenarios(
        panel,
        unds,
        lookback=model.lookback,
        mpor=1,
        method=model.method,
        horizon_method="sqrt",
        lam=model.lam,
        seed_window=int(params["ewma_seed_window"]),
        burn_in=int(params["ewma_burn_in"]),
    )
    return FactorWindow(
        underlyings=unds,
        daily=np.hstack([daily_set.spot_shocks, daily_set.vol_shocks]),
        dates=daily_set.names,
        calendar=panel.calendar,
        mpor=model.mpor,
        horizon_method=model.horizon_method,
        confidence=model.confidence,
    )


def daily_moves(
    history: MarketHistory, underlyings: tuple[str, ...], start: Any, end: Any
) -> tuple[FloatArray, tuple[str, ...], str]:
    """Unfiltered daily factor moves (days, 2U) of ``underlyings`` on panel days in [start, end].

    Returns the moves, the dates and the panel calendar.
    """
    panel, _ = book_factor_panel(history, underlyings, to_timestamp(end), start=start)
    cols = [panel.names.index(n) for n in (*underlyings, *(VOL_PREFIX + u for u in underlyings))]
    dates = tuple(pd.DatetimeIndex(panel.dates).strftime("%Y-%m-%d"))
    return np.asarray(panel.returns[:, cols], dtype=np.float64), dates, panel.calendar


def full_history(
    model: HistoricalVaRModel, portfolio: Portfolio, market: MarketSnapshot
) -> tuple[FloatArray, tuple[str, ...]]:
    """Unfiltered daily factor moves (days, 2U) of the whole panel up to the market date."""
    instruments = portfolio.instruments
    unds = tuple(dict.fromkeys(i.underlying for i in instruments))
    panel, _ = model.factor_panel(instruments, market)
    cols = [panel.names.index(n) for n in (*unds, *(VOL_PREFIX + u for u in unds))]
    dates = tuple(pd.DatetimeIndex(panel.dates).strftime("%Y-%m-%d"))
    return np.asarray(panel.returns[:, cols], dtype=np.float64), dates


__all__ = ["FactorWindow", "daily_moves", "es_window", "full_history", "var_model"]
