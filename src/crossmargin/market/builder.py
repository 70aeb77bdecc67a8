"""Build a :class:`MarketSnapshot` for any date from the real daily history.

For an as-of date ``D`` and the underlyings of a book:

- **spot**: the close on ``D`` (or the last one before it within the series' staleness
  limit; see :mod:`crossmargin.market.history`); ES and SPX options price off ``SPX``;
- **ATM implied vol**: the proxy of :func:`crossmargin.market.risk_factors.implied_vol_on`
  (BTC from BTC_DVOL; SPX/ES/SPY from VIX; ETH and QQQ scaled by realised-vol ratios;
  others from 30-day realised vol), flat in expiry. Before the vol index exists (BTC_DVOL
  starts 2021-03-24) the underlying's own 30-day realised vol stands in, and the snapshot's
  ``source`` says so; a gap *inside* the index's history beyond its staleness limit is an
  error, never silently replaced;
- **smile**: ``σ(T, k) = atm + (skew_1y·k + smile_1y·k²)/√T`` per asset class, from
  ``crossmargin/data/market_defaults.json`` (floored, and capped at a multiple of ATM);
- **rates**: USD from SOFR (EFFR before SOFR exists), continuously compounded from the
  published simple rate; coins and stable coins other than USD at 0;
- **carry**: ``b = r_USD − q`` with the default dividend yield ``q`` of the asset class
  (crypto: no dividend, so futures trade at the USD rate; no basis data is in the history);
- **valuation time**: ``D`` at the default UTC time (the US close).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, time
from functools import cache
from importlib import resources
from typing import Any

import numpy as np
import pandas as pd

from crossmargin.errors import MarketDataError
from crossmargin.instruments import contract_table
from crossmargin.market.history import MarketHistory, to_timestamp
from crossmargin.market.snapshot import Carry, MarketSnapshot
from crossmargin.market.vol_proxies import implied_vol_on, vol_proxy_rule
from crossmargin.market.volsurface import DEFAULT_EXPIRIES, VolSurface


@cache
def market_defaults() -> Mapping[str, Any]:
    """The shipped defaults file (see the module docstring)."""
    text = resources.files("crossmargin").joinpath("data/market_defaults.json").read_text("utf-8")
    data: Mapping[str, Any] = json.loads(text)
    return data


def _asset_class(underlying: str) -> str:
    for spec in contract_table().specs:
        if spec.underlying == underlying:
            return spec.asset_class
    raise MarketDataError(f"underlying {underlying!r} is not in the contract table")


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
    """The default smile around ``atm`` for ``asset_class`` (see module docstring)."""
    defaults = market_defaults()
    params = defaults["asset_classes"][asset_class]
    scale = 1.0 / np.sqrt(np.asarray(DEFAULT_EXPIRIES))
    return VolSurface.from_parameters(
        atm_vol=atm,
        skew=params["skew_1y"] * scale,
        smile=params["smile_1y"] * scale,
        min_vol=defaults["min_vol"],
        max_vol=defaults["max_vol_multiple"] * atm,
    )


REALISED_FALLBACK_WINDOW = 30


def _atm_vol(hist: MarketHistory, und: str, when: pd.Timestamp, notes: list[str]) -> float:
    """The implied-vol proxy, or realised vol where the proxy's index has not started yet."""
    rule = vol_proxy_rule(hist, und)
    started = True
    if rule.index is not None:
        try:
            started = when >= hist.coverage(rule.index)[0]
        except MarketDataError:  # a history cut before the index's first observation
            started = False
    if not started:
        notes.append(f"{und}: RV{REALISED_FALLBACK_WINDOW}")
        return hist.realised_vol(und, when, REALISED_FALLBACK_WINDOW)
    atm, _ = implied_vol_on(hist, und, when)
    return atm


def _fallback_note(fallbacks: list[str]) -> str:
    if not fallbacks:
        return ""
    return f"; ATM vol from realised vol before the vol index exists ({', '.join(fallbacks)})"


def snapshot_from_history(
    asof: str | date,
    underlyings: Iterable[str],
    *,
    history: MarketHistory | None = None,
    data_dir: str | None = None,
) -> MarketSnapshot:
    """Market snapshot on ``asof`` for ``underlyings`` from the daily history.

    Raises
    ------
    MarketDataError
        The date is outside an underlying's history (the message names the series and its
        coverage), or a value is staler than its limit.
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
        spots[und], _ = hist.close_on(und, when)
        atm = _atm_vol(hist, und, when, fallbacks)
        cls = _asset_class(und)
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
        source=f"history {hist.data_dir} as of {when.date()} (USD rate from {rate_name})"
        + _fallback_note(fallbacks),
    )


def latest_common_date(
    underlyings: Iterable[str], *, history: MarketHistory | None = None, data_dir: str | None = None
) -> date:
    """The last date on which every underlying, its vol-proxy inputs and the USD rate exist."""
    hist = history if history is not None else MarketHistory.load(data_dir)
    needed: set[str] = {market_defaults()["rate_series"][0]}
    for und in underlyings:
        rule = vol_proxy_rule(hist, und)
        needed.update(n for n in (und, rule.index, rule.ratio_base) if n is not None)
    last = min(hist.coverage(name)[1] for name in needed)
    return pd.Timestamp(last).date()
