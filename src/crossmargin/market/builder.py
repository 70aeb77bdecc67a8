"""Build a :class:`MarketSnapshot` for any date from the real daily history.

For an as-of date ``D`` and the underlyings of a book:

- **spot**: the close on ``D`` (or the last one before it within the series' staleness
  limit; see :mod:`crossmargin.market.history`); ES and SPX options price off ``SPX``;
- **ATM implied vol**: the 30-day ATM level of
  :func:`crossmargin.market.vol_proxies.implied_vol_on`, the one definition the historical
  vol factor and the backtest's realised vol move also use. BTC from Deribit DVOL; SPX, ES,
  SPY from VIX; ETH and QQQ from the index times a capped EWMA-vol ratio. DVOL and VIX are
  30-day *variance-swap* style levels, not ATM vols, so the index is mapped to the ATM level
  whose house smile (below) reprices it
  (:func:`crossmargin.market.varswap.atm_from_variance_swap`). Where the index has no value
  within its staleness limit (before DVOL starts on 2021-03-24, in a DVOL gap longer than
  3 days, or an underlying without an index) the **fallback** stands in: the underlying's own
  EWMA vol (λ 0.97), times the asset class's implied/realised ratio, its daily change capped,
  through the same ATM map (:mod:`crossmargin.market.vol_fallback`); the snapshot's
  ``source`` names every underlying whose ATM came from the fallback and why;
- **term structure**: flat. The history carries only the 30-day point, so every expiry gets
  the same ATM level (a documented simplification: no term-structure slope, no event kinks);
- **smile**: ``σ(T, k) = atm + (skew_1y·k + smile_1y·k²)/√T`` per asset class, from
  ``crossmargin/data/market_defaults.json`` (floored at ``min_vol``, capped at
  ``max_vol_multiple`` × ATM);
- **rates**: USD from SOFR (EFFR before SOFR exists), continuously compounded from the
  published simple rate; coins and stable coins other than USD at 0;
- **carry**: ``b = r_USD − q`` with the default dividend yield ``q`` of the asset class
  (crypto: no dividend, so futures trade at the USD rate; no basis data is in the history);
- **valuation time**: ``D`` at the default UTC time (the US close).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import UTC, date, datetime, time

import numpy as np
import pandas as pd

from crossmargin.errors import MarketDataError
from crossmargin.market.defaults import market_defaults
from crossmargin.market.history import MarketHistory, to_timestamp
from crossmargin.market.snapshot import Carry, MarketSnapshot
from crossmargin.market.varswap import HouseSmile
from crossmargin.market.vol_proxies import implied_vol_on, vol_proxy_rule
from crossmargin.market.volsurface import DEFAULT_EXPIRIES, VolSurface


def _asset_class(history: MarketHistory, underlying: str) -> str:
    """Asset class of ``underlying`` from its catalogue entry (the run's contract table)."""
    cls = history.spec(underlying).asset_class
    if cls is None:
        raise MarketDataError(f"underlying {underlying!r} is not in the contract table")
    if cls not in market_defaults()["asset_classes"]:
        raise MarketDataError(
            f"{underlying}: asset class {cls!r} has no market defaults (smile, dividend yield) in "
            f"crossmargin/data/market_defaults.json, so no snapshot can be built from history; "
            f"give a snapshot with --market FILE, or use one of "
            f"{', '.join(sorted(market_defaults()['asset_classes']))}"
        )
    return cls


def _usd_rate(history: MarketHistory, when: pd.Timestamp) -> tuple[float, str]:
    errors = []
    for name in market_defaults()["rate_series"]:
        try:
            simple, _ = history.close_on(name, when)
        except MarketDataError as err:
            errors.append(str(err))
            continue
        return math.log1p(simple), name  # ACT/360 vs ACT/365 difference ignored
    raise MarketDataError("no USD rate on this date: " + "; ".join(errors))


def smile_surface(atm: float, asset_class: str) -> VolSurface:
    """The default smile around ``atm`` for ``asset_class``, flat ATM in expiry (docstring)."""
    smile = HouseSmile.for_asset_class(asset_class)
    scale = 1.0 / np.sqrt(np.asarray(DEFAULT_EXPIRIES))
    return VolSurface.from_parameters(
        atm_vol=atm,
        skew=smile.skew_1y * scale,
        smile=smile.smile_1y * scale,
        min_vol=smile.min_vol,
        max_vol=smile.max_vol_multiple * atm,
    )


def _atm_vol(hist: MarketHistory, und: str, when: pd.Timestamp, notes: list[str]) -> float:
    """The 30-day ATM level from the index, or the EWMA fallback (noted in ``notes``)."""
    got = implied_vol_on(hist, und, when)
    if got.source == "fallback":
        notes.append(got.note)
    return got.value


def _fallback_note(fallbacks: list[str]) -> str:
    if not fallbacks:
        return ""
    return f"; ATM vol from the capped EWMA fallback for {', '.join(fallbacks)}"


def snapshot_from_history(
    asof: str | date,
    underlyings: Iterable[str],
    *,
    history: MarketHistory | None = None,
    data_dir: str | None = None,
) -> MarketSnapshot:
    """Market snapshot on ``asof`` for ``underlyings`` from the daily history.

    Each vol surface is the house smile around the 30-day ATM level of
    :func:`crossmargin.market.vol_proxies.implied_vol_on` (index, else the capped EWMA
    fallback, named in ``source``), with the same ATM at every expiry: the history has only
    the 30-day point, so the term structure is flat by construction (a documented
    simplification, see the module docstring and ``docs/market-data.md``).

    Raises
    ------
    MarketDataError
        The date is outside an underlying's history (the message names the series and its
        coverage), or neither the index nor the fallback has a value within its staleness
        limit.
    """
    hist = history if history is not None else MarketHistory.load(data_dir)
    when = to_timestamp(asof)
    defaults = market_defaults()
    rate, rate_name = _usd_rate(hist, when)
    spots: dict[str, float] = {}
    vols: dict[str, VolSurface] = {}
    carries: dict[str, Carry] = {}
    fallbacks: list[str] = []
    for und in dict.fromkeys(underlyings):
        cls = _asset_class(hist, und)
        spots[und], _ = hist.close_on(und, when)
        atm = _atm_vol(hist, und, when, fallbacks)
        vols[und] = smile_surface(atm, cls)
        q = defaults["asset_classes"][cls]["dividend_yield"]
        carries[und] = Carry(carry_rate=rate - q)
    hh, mm = (int(x) for x in defaults["valuation_time_utc"].split(":"))
    valuation = datetime.combine(when.date(), time(hh, mm), tzinfo=UTC)
    return MarketSnapshot(
        valuation_time=valuation,
        spots=spots,
        vols=vols,
        rates={"USD": rate, "USDC": rate, "USDT": rate},
        carries=carries,
        fx={"USDC": 1.0, "USDT": 1.0},
        source=f"history as of {when.date()} (USD rate from {rate_name})"
        + _fallback_note(fallbacks),
    )


def latest_common_date(
    underlyings: Iterable[str], *, history: MarketHistory | None = None, data_dir: str | None = None
) -> date:
    """The last date on which every underlying, its vol-proxy inputs and the USD rate exist."""
    hist = history if history is not None else MarketHistory.load(data_dir)
    needed: set[str] = {market_defaults()["rate_series"][0]}
    for und in underlyings:
        _asset_class(hist, und)  # a clear error for an unknown underlying or asset class
        rule = vol_proxy_rule(hist, und)
        needed.update(n for n in (und, rule.index, rule.ratio_base) if n is not None)
    last = min(hist.coverage(name)[1] for name in needed)
    return pd.Timestamp(last).date()
