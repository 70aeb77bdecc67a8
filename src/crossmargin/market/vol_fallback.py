"""The fallback implied-vol level: a capped, mapped EWMA vol of the underlying's own returns.

Where no implied-vol index exists (before Deribit DVOL starts on 2021-03-24, in its gaps, or
for an underlying without an index), the 30-day implied level is approximated in three steps,
each on the underlying's own observation dates (parameters in the ``"vol_proxy"`` block of
``crossmargin/data/market_defaults.json``, calibrated by ``scripts/vol_proxy_calibration.py``):

1. **EWMA vol** of the daily log returns ``r_t`` (:func:`ewma_vol`)::

       σ²_t = λ·σ²_{t−1} + (1 − λ)·r_t²          (today's estimate: includes r_t)

   seeded with the mean ``r²`` of the first ``seed_window`` returns, whose dates are not
   reported; annualised with √365 on the crypto calendar and √252 on NYSE. Unlike a
   rolling-window vol, a shock decays geometrically and never drops out on a fixed day (the
   30-day realised vol of BTC fell 91 vol points on 2020-04-11, when 2020-03-12 left it).
   The recursion is :func:`crossmargin.stats.ewma.ewma_variance`.
2. **Mapped** to an implied (variance-swap) level: times ``implied_over_realised`` of the
   underlying's asset class (the median index/EWMA ratio: DVOL/EWMA(BTC), VIX/EWMA(SPX)).
3. **Capped** (:func:`cap_daily_ratio`): the level moves at most by ``max_daily_ratio`` per
   observation, ``prev/R ≤ level_t ≤ prev·R`` with ``prev`` the previous *capped* value, so
   after a crash it ramps up over a few days as implied vol does; the days the cap bound are
   recorded.

The ATM vol is then :func:`crossmargin.market.varswap.atm_from_variance_swap` of the level
(see :mod:`crossmargin.market.vol_proxies`).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from crossmargin.errors import InputError, MarketDataError
from crossmargin.market.history import ANNUALISATION_DAYS, Calendar, log_returns
from crossmargin.stats.ewma import ewma_variance


def ewma_vol(levels: pd.Series, calendar: Calendar, *, lam: float, seed_window: int) -> pd.Series:
    """Annualised EWMA vol of the daily log returns of ``levels`` (see the module docstring).

    Parameters
    ----------
    levels : pandas.Series
        Positive prices on a sorted DatetimeIndex (the series' own observation dates).
    calendar : {"crypto", "nyse"}
        Annualisation: √365 or √252.
    lam : float
        Decay λ in (0, 1).
    seed_window : int
        m ≥ 1: the seed is the mean r² of the first m returns; those m dates are not reported.

    Returns
    -------
    pandas.Series
        σ_t (decimal, annualised) on the return dates after the first ``seed_window``; empty if
        there are no more returns than that.

    Raises
    ------
    MarketDataError
        The seed returns are all zero (a flat price series).
    """
    if isinstance(seed_window, bool) or not isinstance(seed_window, int) or seed_window < 1:
        raise InputError(f"seed_window must be an integer >= 1, got {seed_window!r}")
    rets = log_returns(levels)
    if len(rets) <= seed_window:
        return pd.Series(dtype=float, index=pd.DatetimeIndex([], name=levels.index.name),
                         name=levels.name)  # fmt: skip
    try:
        ewma = ewma_variance(rets.to_numpy(), lam=lam, seed_window=seed_window)
    except InputError as err:
        raise MarketDataError(f"EWMA vol of {levels.name}: {err}") from err
    # variance_by_day[t] is the forecast made before r_t; today's estimate includes r_t.
    today = np.concatenate([ewma.variance_by_day[1:], np.atleast_1d(ewma.current_variance)])
    vol = np.sqrt(today * ANNUALISATION_DAYS[calendar])
    return pd.Series(vol[seed_window:], index=rets.index[seed_window:], name=levels.name)


def cap_daily_ratio(level: pd.Series, max_ratio: float) -> tuple[pd.Series, pd.DatetimeIndex]:
    """``c_0 = x_0``, ``c_t = min(max(x_t, c_{t−1}/R), c_{t−1}·R)``, and the dates it bound.

    Parameters
    ----------
    level : pandas.Series
        Positive levels in date order.
    max_ratio : float
        R > 1, the largest factor per observation up or down.

    Returns
    -------
    (pandas.Series, pandas.DatetimeIndex)
        The capped series (same index) and the dates where ``c_t ≠ x_t``.
    """
    if not (math.isfinite(max_ratio) and max_ratio > 1.0):
        raise InputError(f"max_ratio must be a finite factor > 1, got {max_ratio!r}")
    raw = level.to_numpy(dtype=float)
    if raw.size and not (np.isfinite(raw).all() and (raw > 0).all()):
        raise MarketDataError(f"{level.name}: the level to cap must be positive and finite")
    out = raw.copy()
    bound = np.zeros(raw.size, dtype=bool)
    # While the capped path equals the raw one, c_t = x_t unless the raw step breaks the cap;
    # so the recursion only runs from each such break until it rejoins the raw path.
    breaks = np.flatnonzero((raw[1:] > raw[:-1] * max_ratio) | (raw[1:] < raw[:-1] / max_ratio))
    t = 1
    for start in (breaks + 1).tolist():
        if start < t:  # inside an excursion already handled
            continue
        prev = float(out[start - 1])
        for i in range(start, raw.size):
            x = float(raw[i])
            lo, hi = prev / max_ratio, prev * max_ratio
            c = hi if x > hi else lo if x < lo else x
            out[i] = prev = c
            bound[i] = c != x
            t = i + 1
            if c == x:  # back on the raw path
                break
    capped = pd.Series(out, index=level.index, name=level.name)
    return capped, pd.DatetimeIndex(level.index[bound])


__all__ = ["cap_daily_ratio", "ewma_vol"]
