"""Historical (HS) and filtered-historical (FHS) scenario sets from the daily market history.

Risk factors of a book (METHODS §4.2)
-------------------------------------
For every underlying ``u`` of a book, two factors:

* ``u``: the daily **log return** of its price series (the catalogue series named ``u``), from
  :func:`crossmargin.market.risk_factors.build_panel` (calendar alignment, gap report);
* ``vol:u``: the daily **absolute change** of its implied-vol proxy (decimal), the rule of
  :func:`crossmargin.market.risk_factors.vol_proxy_rule`:

  ===========  ================================================================
  underlying   vol factor that moves its implied vol
  ===========  ================================================================
  BTC          Deribit DVOL (``BTC_DVOL``); before 2021-03-24 (DVOL launch) and
               on DVOL gaps longer than ``max_fill_days``: 30-day realised vol
  SPX, ES, SPY CBOE ``VIX``
  ETH          ``BTC_DVOL × RV90(ETH)/RV90(BTC)``; realised fallback as BTC
  QQQ          ``VIX × RV90(QQQ)/RV90(SPY)``
  other        its own 30-day realised vol ``RV30(u)`` (no implied index)
  ===========  ================================================================

  A change uses the same source at both ends: the proxy's change where the proxy has a value
  (at most ``max_fill_days`` stale) on both days, else the realised fallback's change, else 0
  (first ``realised_window`` days of a series); :class:`VolFactorSource` counts each case.

Scenarios
---------
From the last ``lookback`` daily moves ending on the as-of date (only data up to the as-of date
is read: no look-ahead):

* ``hs``: the moves as observed; ``fhs``: EWMA-filtered, ``rₜ·σ_T/σₜ`` per factor
  (:func:`crossmargin.stats.ewma.fhs_scenarios`; the EWMA runs over up to ``burn_in`` earlier
  days too, seed = mean r² of its first ``seed_window`` days);
* MPOR of ``h`` days: ``overlapping`` h-day sums (``lookback − h + 1`` scenarios, named by the
  last day of each window) or ``sqrt``: ``√h`` times the daily moves (``lookback`` scenarios);
* spot shocks are ``log``, vol shocks ``absolute``; the time step is
  ``h / ANNUALISATION_DAYS[calendar]`` years: h/365 on the crypto calendar (h calendar days),
  h/252 on NYSE days (h trading days), so options decay over the MPOR.

A stressed window is the ``window`` consecutive scenarios whose ES (or VaR) of a book P&L is
largest (:func:`worst_window`), or the scenarios between two given dates (:func:`window_by_dates`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy.ndimage import rank_filter

from crossmargin.errors import InputError, MarketDataError
from crossmargin.market.history import (
    ANNUALISATION_DAYS,
    DateLike,
    Kind,
    MarketHistory,
    rolling_realised_vol,
    to_timestamp,
)
from crossmargin.market.risk_factors import DEFAULT_MAX_FILL_DAYS, RiskFactorPanel, build_panel
from crossmargin.market.scenarios import ScenarioSet
from crossmargin.market.vol_proxies import implied_vol_proxy, vol_proxy_rule
from crossmargin.stats.ewma import fhs_scenarios
from crossmargin.stats.horizon import overlapping_sums, sqrt_time_scale
from crossmargin.stats.tail import tail_count, var_es

FloatArray = npt.NDArray[np.float64]
VOL_PREFIX = "vol:"
VOL_KIND: Kind = "vol_index"
ScenarioMethod = Literal["hs", "fhs"]
HorizonMethod = Literal["overlapping", "sqrt"]
Measure = Literal["var", "es"]


@dataclass(frozen=True, slots=True, kw_only=True)
class VolFactorSource:
    """Where the ``vol:u`` moves of one underlying came from (day counts over the panel).

    ``first_proxy_day`` is the first panel day whose move comes from the implied proxy
    (None if none does).
    """

    underlying: str
    rule: str
    fallback: str
    proxy_days: int
    fallback_days: int
    missing_days: int
    first_proxy_day: pd.Timestamp | None = None

    def describe(self) -> str:
        """One line, e.g. ``BTC: BTC_DVOL (1,200 days); RV30(BTC) before/in gaps (1,500)``."""
        return (
            f"{self.rule} ({self.proxy_days:,} days); {self.fallback} where the proxy is "
            f"missing ({self.fallback_days:,} days); no vol data ({self.missing_days:,} days)"
        )


def _levels_on(series: pd.Series, days: pd.DatetimeIndex, max_stale: int) -> FloatArray:
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


def _move_days(history: MarketHistory, panel: RiskFactorPanel) -> pd.DatetimeIndex:
    """Every day a panel move starts or ends on (kept and dropped rows and the day before)."""
    days = pd.DatetimeIndex(panel.dates).union(pd.DatetimeIndex(list(panel.gaps.dropped_dates)))
    if panel.calendar == "crypto":
        return days.union(pd.DatetimeIndex([days[0] - pd.Timedelta(days=1)]))
    before = pd.DatetimeIndex([])
    for name in panel.names:
        spec = history.spec(name)
        if spec.calendar == "nyse" and spec.kind == "price":
            idx = pd.DatetimeIndex(history.series(name).index)
            before = before.union(idx[idx < days[0]][-1:])
    return days.union(before[-1:])


def _has_observations(history: MarketHistory, name: str) -> bool:
    try:
        history.series(name)
    except MarketDataError:
        return False
    return True


def vol_factor_changes(
    history: MarketHistory,
    panel: RiskFactorPanel,
    underlying: str,
    *,
    max_fill_days: int = DEFAULT_MAX_FILL_DAYS,
    realised_window: int = 30,
) -> tuple[FloatArray, VolFactorSource]:
    """Absolute daily changes of ``underlying``'s implied-vol proxy on ``panel``'s rows."""
    rule = vol_proxy_rule(history, underlying)
    spec = history.spec(underlying)
    days = _move_days(history, panel)
    try:
        proxy = implied_vol_proxy(history, underlying)
    except MarketDataError:
        if rule.index is None or _has_observations(history, rule.index):
            raise
        proxy = pd.Series(dtype=float)  # index not started in this view: realised vol throughout
    realised = rolling_realised_vol(history.series(underlying), spec.calendar, realised_window)
    rows = days[1:].get_indexer(panel.dates)
    d_proxy = np.diff(_levels_on(proxy, days, max_fill_days))[rows]
    d_real = np.diff(_levels_on(realised, days, max_fill_days))[rows]
    use_proxy = np.isfinite(d_proxy)
    use_real = ~use_proxy & np.isfinite(d_real)
    changes: FloatArray = np.where(use_proxy, d_proxy, np.where(use_real, d_real, 0.0))
    source = VolFactorSource(
        underlying=underlying,
        rule=rule.describe(),
        fallback=f"RV{realised_window}({underlying})",
        proxy_days=int(use_proxy.sum()),
        fallback_days=int(use_real.sum()),
        missing_days=int((~use_proxy & ~use_real).sum()),
        first_proxy_day=pd.Timestamp(panel.dates[use_proxy][0]) if use_proxy.any() else None,
    )
    return changes, source


def book_factor_panel(
    history: MarketHistory,
    underlyings: Sequence[str],
    end: DateLike,
    *,
    start: DateLike | None = None,
    max_fill_days: int = DEFAULT_MAX_FILL_DAYS,
    realised_window: int = 30,
) -> tuple[RiskFactorPanel, tuple[VolFactorSource, ...]]:
    """Daily moves of a book's factors: ``u`` (log return) then ``vol:u`` for each underlying.

    Parameters
    ----------
    history : MarketHistory
        Source of the series; each underlying must be a catalogue ``price`` series.
    underlyings : sequence of str
        The book's underlyings (duplicates ignored).
    end : date-like
        The as-of date: the last move ends on the last panel day on or before it.
    start : date-like, optional
        First panel day; default one week after the latest first observation of the series.
    max_fill_days, realised_window : int
        Gap forward-fill limit (see :mod:`crossmargin.market.risk_factors`) and the window of
        the realised-vol fallback.

    Raises
    ------
    MarketDataError
        An underlying with no price series, or ``end`` outside the history.
    """
    unds = list(dict.fromkeys(underlyings))
    for u in unds:
        if u not in history.catalogue or history.spec(u).kind != "price":
            raise MarketDataError(
                f"underlying {u!r} has no daily price history in the market catalogue "
                f"(crossmargin/data/market_series.json); historical VaR/ES needs one per "
                "underlying: add the series to the catalogue or margin it with another model"
            )
    end_ts = to_timestamp(end)
    if start is None:
        first = max(history.coverage(u)[0] for u in unds)
        start = first + pd.Timedelta(days=7)
    prices = build_panel(history, unds, start, end_ts, max_fill_days=max_fill_days)
    vols, sources = [], []
    for u in unds:
        changes, source = vol_factor_changes(
            history, prices, u, max_fill_days=max_fill_days, realised_window=realised_window
        )
        vols.append(changes)
        sources.append(source)
    panel = RiskFactorPanel(
        dates=prices.dates,
        names=(*prices.names, *(VOL_PREFIX + u for u in unds)),
        kinds=(*prices.kinds, *(VOL_KIND for _ in unds)),
        returns=np.ascontiguousarray(np.column_stack([prices.returns, *vols])),
        calendar=prices.calendar,
        gaps=prices.gaps,
    )
    return panel, tuple(sources)


def _seed_variance(daily: FloatArray, seed_window: int) -> FloatArray:
    """Mean r² of the first ``seed_window`` days; all days where that is 0; else 1."""
    first = np.mean(daily[:seed_window] ** 2, axis=0)
    whole = np.mean(daily**2, axis=0)
    out: FloatArray = np.where(first > 0, first, np.where(whole > 0, whole, 1.0))
    return out


def factor_moves(
    panel: RiskFactorPanel, underlyings: Sequence[str]
) -> tuple[FloatArray, FloatArray]:
    """Daily (spot log return, vol change) matrices (days, underlyings) in ``underlyings`` order.

    A missing ``vol:u`` column means vol moves of 0 for ``u``.
    """
    spot = np.column_stack([panel.column(u) for u in underlyings])
    vol = np.column_stack(
        [
            panel.column(VOL_PREFIX + u)
            if VOL_PREFIX + u in panel.names
            else np.zeros(len(panel.dates))
            for u in underlyings
        ]
    )
    return spot, vol


def historical_scenarios(
    panel: RiskFactorPanel,
    underlyings: Sequence[str],
    *,
    lookback: int,
    mpor: int,
    method: ScenarioMethod = "hs",
    horizon_method: HorizonMethod = "overlapping",
    lam: float = 0.97,
    seed_window: int = 30,
    burn_in: int | None = None,
    label: str = "",
) -> ScenarioSet:
    """HS or FHS scenarios over the last ``lookback`` panel days (see the module docstring).

    Parameters
    ----------
    panel : RiskFactorPanel
        Daily moves ending on the as-of date, with columns ``u`` and (optionally) ``vol:u``.
    underlyings : sequence of str
        Order of the scenario set's columns.
    lookback : int
        Number of daily moves in the window (the last ``lookback`` rows of ``panel``).
    mpor : int
        Margin period of risk h in panel days (h ≥ 1).
    method : {"hs", "fhs"}
        Plain or EWMA-filtered historical simulation.
    horizon_method : {"overlapping", "sqrt"}
        Overlapping h-day sums or √h scaling of daily moves.
    lam, seed_window, burn_in : float, int, int or None
        EWMA decay, seed window and how many days before the window the filter starts
        (None: from the first panel row). FHS only.
    label : str
        Label of the scenario set.

    Raises
    ------
    MarketDataError
        ``lookback`` exceeds the panel's days.
    InputError
        Bad ``lookback``, ``mpor``, ``method`` or ``horizon_method``.
    """
    n_days = len(panel.dates)
    if lookback < 1 or mpor < 1:
        raise InputError(f"lookback and mpor must be >= 1 day, got {lookback} and {mpor}")
    if method not in ("hs", "fhs"):
        raise InputError(f"unknown scenario method {method!r}: use 'hs' or 'fhs'")
    if horizon_method not in ("overlapping", "sqrt"):
        raise InputError(f"unknown horizon method {horizon_method!r}: use 'overlapping' or 'sqrt'")
    if lookback > n_days:
        raise MarketDataError(
            f"lookback of {lookback} days is longer than the {n_days} daily moves of "
            f"{', '.join(underlyings)} available up to {panel.dates[-1]:%Y-%m-%d} (from "
            f"{panel.dates[0]:%Y-%m-%d}); choose a lookback <= {n_days} or a later as-of date"
        )
    if horizon_method == "overlapping" and mpor > lookback:
        raise InputError(f"an MPOR of {mpor} days needs a lookback of at least {mpor} days")
    spot, vol = factor_moves(panel, underlyings)
    u = spot.shape[1]
    daily = np.hstack([spot, vol])
    if method == "fhs":
        first = 0 if burn_in is None else max(0, n_days - lookback - burn_in)
        sub = daily[first:]
        fhs = fhs_scenarios(sub, lam=lam, seed_variance=_seed_variance(sub, seed_window))
        window = fhs.scenarios_by_day[-lookback:]
    else:
        window = daily[-lookback:]
    dates = panel.dates[-lookback:]
    if horizon_method == "overlapping":
        moves = overlapping_sums(window, mpor).returns_by_window
        dates = dates[mpor - 1 :]
    else:
        moves = sqrt_time_scale(window, mpor)
    step = mpor / ANNUALISATION_DAYS[panel.calendar]
    return ScenarioSet(
        underlyings=tuple(underlyings),
        spot_shocks=moves[:, :u],
        vol_shocks=moves[:, u:],
        time_steps=np.full(moves.shape[0], step),
        names=tuple(pd.DatetimeIndex(dates).strftime("%Y-%m-%d")),
        spot_shock_type="log",
        vol_shock_type="absolute",
        label=label or f"{method} {lookback}d h={mpor} ({horizon_method})",
    )


_RANK_FILTER_MAX_K = 32  # above this, partitioning each window is cheaper than k rank filters


def worst_window(
    book_pnl: npt.ArrayLike, window: int, confidence: float, *, measure: Measure = "es"
) -> tuple[int, int]:
    """``(start, stop)`` of the ``window`` consecutive scenarios with the largest VaR/ES.

    ``book_pnl`` is the P&L of one book per scenario in date order; each candidate window's
    measure uses the exact ``k = ⌈(1 − α)·window⌉`` convention of
    :func:`crossmargin.stats.tail.var_es`, vectorised over all windows. Ties go to the
    earliest window. A history shorter than ``window`` gives the whole history.
    """
    pnl = np.asarray(book_pnl, dtype=np.float64)
    if pnl.ndim != 1 or pnl.size == 0:
        raise InputError("book_pnl must be a non-empty 1-D P&L vector")
    if window < 1:
        raise InputError(f"the stressed window must be >= 1 scenario, got {window}")
    if pnl.size <= window:
        return 0, int(pnl.size)
    k = tail_count(confidence, window)
    if k <= _RANK_FILTER_MAX_K:
        # The r-th smallest P&L of every window [i, i + window) at once (SciPy's sliding
        # rank filter): the same k smallest values as sorting each window, ~25x faster.
        n = pnl.size - window + 1
        ranks = [
            rank_filter(pnl, r, size=window, origin=-(window // 2), mode="nearest")[:n]
            for r in range(k)
        ]
        score = -(np.mean(ranks, axis=0) if measure == "es" else ranks[-1])
    else:
        windows = np.lib.stride_tricks.sliding_window_view(pnl, window)
        tail = var_es(windows.T, confidence)
        score = tail.es if measure == "es" else tail.var
    start = int(np.argmax(score))
    return start, start + window


def window_by_dates(names: Sequence[str], start: DateLike, end: DateLike) -> tuple[int, int]:
    """``(start, stop)`` positions of the scenarios named by dates in ``[start, end]``."""
    when = pd.DatetimeIndex(pd.to_datetime(list(names)))
    lo, hi = to_timestamp(start), to_timestamp(end)
    if lo > hi:
        raise InputError(f"stress window start {lo:%Y-%m-%d} is after its end {hi:%Y-%m-%d}")
    inside = np.flatnonzero((when >= lo) & (when <= hi))
    if inside.size == 0:
        raise MarketDataError(
            f"no scenario dated in the stress window {lo:%Y-%m-%d}..{hi:%Y-%m-%d} (history "
            f"{names[0]}..{names[-1]}); give dates inside the history up to the as-of date"
        )
    return int(inside[0]), int(inside[-1]) + 1


def take_scenarios(scenarios: ScenarioSet, start: int, stop: int, *, label: str) -> ScenarioSet:
    """Scenarios ``start:stop`` of a set, as a new set."""
    sl = slice(start, stop)
    return ScenarioSet(
        underlyings=scenarios.underlyings,
        spot_shocks=scenarios.spot_shocks[sl],
        vol_shocks=scenarios.vol_shocks[sl],
        time_steps=scenarios.time_steps[sl],
        weights=scenarios.weights[sl],
        names=scenarios.names[sl],
        spot_shock_type=scenarios.spot_shock_type,
        vol_shock_type=scenarios.vol_shock_type,
        vol_term_shape=scenarios.vol_term_shape,
        min_vol=scenarios.min_vol,
        label=label,
    )


__all__ = [
    "VOL_PREFIX",
    "HorizonMethod",
    "Measure",
    "ScenarioMethod",
    "VolFactorSource",
    "book_factor_panel",
    "factor_moves",
    "historical_scenarios",
    "take_scenarios",
    "vol_factor_changes",
    "window_by_dates",
    "worst_window",
]
