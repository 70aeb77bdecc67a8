"""Recompute the ``vol_proxy`` calibration of crossmargin/data/market_defaults.json from the data.

Usage: ``python scripts/vol_proxy_calibration.py [--data DIR]`` (default: the shared market data).
Prints, from the shared daily history:

1. ``implied_over_realised``: the median over the overlap of DVOL / EWMA vol of BTC (crypto)
   and VIX / EWMA vol of SPX (equity_index, etf, equity), with λ and the seed window of the file;
2. ``max_daily_ratio``: the largest one-day rise and fall (as factors) of DVOL (pairs one
   calendar day apart: DVOL is gappy) and VIX (consecutive rows), their 99.9% quantiles, and
   how often each index moved by more than the file's cap;
3. the ATM / index ratio of the variance-swap to ATM map for BTC and SPX on the last common
   date, and the variance-swap level of the snapshot's grid surface at that ATM;
4. the days on which the ATM of BTC, ETH, SPX, SPY and QQQ comes from the fallback (the index
   has no value within its staleness limit), and BTC's fallback around 2020-03-12 / 2020-04-11
   next to the old 30-day realised vol (RV30).

Paste the numbers into the JSON (rounded as stated there) and into docs/market-data.md.
"""

from __future__ import annotations

import argparse
import itertools

import numpy as np
import pandas as pd
from scipy.integrate import quad

from crossmargin.market.builder import smile_surface
from crossmargin.market.defaults import vol_proxy_params
from crossmargin.market.history import MarketHistory, rolling_realised_vol
from crossmargin.market.varswap import atm_from_variance_swap
from crossmargin.market.vol_fallback import ewma_vol
from crossmargin.market.vol_proxies import implied_vol_levels
from crossmargin.market.volsurface import VolSurface
from crossmargin.pricing.black import gbs_price


def _ewma(history: MarketHistory, name: str) -> pd.Series:
    params = vol_proxy_params()
    spec = history.spec(name)
    return ewma_vol(history.series(name), spec.calendar, lam=params.ewma_lambda,
                    seed_window=params.seed_window)  # fmt: skip


def _ratio(history: MarketHistory, index: str, underlying: str) -> None:
    ratio = (history.series(index) / _ewma(history, underlying)).dropna()
    q = ratio.quantile([0.1, 0.25, 0.75, 0.9]).to_numpy()
    print(f"  {index} / EWMA({underlying}): {ratio.index[0]:%Y-%m-%d}..{ratio.index[-1]:%Y-%m-%d}, "
          f"{len(ratio)} days: median {ratio.median():.4f} "
          f"(10/25/75/90%: {q[0]:.3f} {q[1]:.3f} {q[2]:.3f} {q[3]:.3f})")  # fmt: skip


def _moves(history: MarketHistory, index: str, one_calendar_day: bool) -> None:
    level = history.series(index)
    factor = level / level.shift(1)
    if one_calendar_day:
        factor = factor[level.index.to_series().diff().dt.days == 1]
    factor = factor.dropna()
    cap = vol_proxy_params().max_daily_ratio
    rise, fall = factor, 1.0 / factor
    print(f"  {index} ({len(factor)} one-day moves): largest rise ×{rise.max():.4f} on "
          f"{rise.idxmax():%Y-%m-%d}, largest fall ÷{fall.max():.4f} on "
          f"{fall.idxmax():%Y-%m-%d}; 99.9% quantile rise ×{rise.quantile(0.999):.4f}, "
          f"fall ÷{fall.quantile(0.999):.4f}")  # fmt: skip
    points = 100 * (level - level.shift(1)).loc[factor.index]
    print(f"    in vol points: largest rise {points.max():+.2f} on {points.idxmax():%Y-%m-%d}, "
          f"largest fall {points.min():+.2f} on {points.idxmin():%Y-%m-%d}")  # fmt: skip
    over = factor[(rise > cap) | (fall > cap)]
    moves = ", ".join(f"{d:%Y-%m-%d} {'×' if v > 1 else '÷'}{max(v, 1 / v):.3f}"
                      for d, v in over.items())  # fmt: skip
    print(f"    moves beyond the cap ×{cap:g}: {len(over)} ({moves})")


def _grid_varswap(surface: VolSurface, t: float) -> float:
    """Variance-swap vol of the snapshot's grid surface (linear variance in k, flat outside)."""

    def integrand(k: float) -> float:
        vol = float(surface.vol(t, k))
        return float(gbs_price(1.0, np.exp(k), t, vol, 0.0, 0.0, k >= 0)) * float(np.exp(-k))

    edges = [-6.0, -1.0, -0.5, -0.25, -0.1, 0.0, 0.1, 0.25, 0.5, 1.0, 6.0]
    total = sum(quad(integrand, a, b, limit=200)[0] for a, b in itertools.pairwise(edges))
    return float(np.sqrt(2.0 / t * total))


def _atm_ratio(history: MarketHistory, underlying: str, index: str, cls: str) -> None:
    level = history.series(index)
    day = min(level.index[-1], history.coverage(underlying)[1])
    value = float(level.loc[:day].iloc[-1])
    atm = float(atm_from_variance_swap(value, cls))
    t = vol_proxy_params().atm_tenor_years
    grid = _grid_varswap(smile_surface(atm, cls), t)
    last_year = level.loc[day - pd.Timedelta(days=365) : day]
    ratios = atm_from_variance_swap(last_year.to_numpy(), cls) / last_year.to_numpy()
    print(f"  {underlying} on {day:%Y-%m-%d}: {index} {value:.4f} -> ATM {atm:.4f} "
          f"(ATM/index {atm / value:.4f}); over the year to then ATM/index "
          f"{ratios.min():.4f}..{ratios.max():.4f}; the snapshot's grid surface at that ATM "
          f"prices the variance swap at {grid:.4f}")  # fmt: skip


def _fallback_days(history: MarketHistory, underlying: str) -> pd.DatetimeIndex:
    """Days of the underlying's fallback series on which the index is not fresh (vectorised)."""
    levels = implied_vol_levels(history, underlying)
    days = pd.DatetimeIndex(levels.fallback.index)
    if levels.rule.index is None or levels.index.empty:
        return days
    limit = history.spec(levels.rule.index).max_stale_days
    idx = pd.DatetimeIndex(levels.index.index)
    pos = idx.searchsorted(days, side="right") - 1
    stale = (days - idx[np.maximum(pos, 0)]).days.to_numpy()
    return days[(pos < 0) | (stale > limit)]


def _proxied_days(history: MarketHistory) -> None:
    for name in ("BTC", "ETH", "SPX", "SPY", "QQQ"):
        levels = implied_vol_levels(history, name)
        days = _fallback_days(history, name)
        start = levels.index.index[0]
        before, after = days[days < start], days[days >= start]
        span = f"{before[0]:%Y-%m-%d}..{before[-1]:%Y-%m-%d}" if len(before) else "none"
        listed = ", ".join(f"{d:%Y-%m-%d}" for d in after[:6]) + (" ..." if len(after) > 6 else "")
        print(f"  {name} ({levels.rule.describe()}): fallback on {len(days)} of "
              f"{len(levels.fallback)} days; before the index ({start:%Y-%m-%d}): {span}; "
              f"after it starts: {len(after)} ({listed}); cap bound on {len(levels.capped)} "
              f"fallback days, ratio cap on {len(levels.index_capped)}")  # fmt: skip
    levels = implied_vol_levels(history, "BTC")
    print(f"  BTC fallback: the cap bound on {', '.join(f'{d:%Y-%m-%d}' for d in levels.capped)}")
    rv30 = rolling_realised_vol(history.series("BTC"), "crypto", 30)
    for a, b in (("2020-03-11", "2020-03-12"), ("2020-04-10", "2020-04-11")):
        old = rv30.loc[b] - rv30.loc[a]
        new = levels.fallback.loc[b] - levels.fallback.loc[a]
        print(f"  BTC {b}: RV30 {rv30.loc[a]:.4f} -> {rv30.loc[b]:.4f} ({100 * old:+.1f} pts); "
              f"fallback ATM {levels.fallback.loc[a]:.4f} -> {levels.fallback.loc[b]:.4f} "
              f"({100 * new:+.1f} pts)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None)
    args = parser.parse_args()
    history = MarketHistory.load(args.data)
    params = vol_proxy_params()
    print(f"data: {history.data_dir}; λ {params.ewma_lambda}, seed window {params.seed_window}, "
          f"cap ×{params.max_daily_ratio}, tenor {params.atm_tenor_days} days")  # fmt: skip
    print("implied_over_realised (median index / EWMA vol over the overlap):")
    _ratio(history, "BTC_DVOL", "BTC")
    _ratio(history, "VIX", "SPX")
    print("max_daily_ratio (one-day moves of the indices, as factors):")
    _moves(history, "BTC_DVOL", one_calendar_day=True)
    _moves(history, "VIX", one_calendar_day=False)
    print("variance-swap level -> 30-day ATM (house smile):")
    _atm_ratio(history, "BTC", "BTC_DVOL", "crypto")
    _atm_ratio(history, "SPX", "VIX", "equity_index")
    print("proxied days and the 2020 ghost:")
    _proxied_days(history)


if __name__ == "__main__":
    main()
