"""Implied-vol proxies: a daily decimal implied-vol series for any price series.

:func:`implied_vol_proxy` gives a daily decimal implied-vol series for any price series:
BTC -> BTC_DVOL; ETH -> BTC_DVOL × (90-day realised vol of ETH / of BTC); SPX, ES, SPY -> VIX;
QQQ -> VIX × (90-day realised vol of QQQ / of SPY); any other price series -> its own 30-day
realised vol (a crude stand-in: implied vol usually trades above realised). Proxies use only
dates where every input is observed; nothing is filled.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import pandas as pd

from crossmargin.errors import MarketDataError
from crossmargin.market.history import (
    DateLike,
    MarketHistory,
    as_of,
    rolling_realised_vol,
)


@dataclass(frozen=True, slots=True, kw_only=True)
class VolProxyRule:
    """How the implied vol of one underlying is approximated.

    Attributes
    ----------
    underlying : str
        The price series.
    method : {"index", "scaled_index", "realised"}
        The vol index as is; the index times a realised-vol ratio; or realised vol.
    index : str or None
        The vol index used (``BTC_DVOL``, ``VIX``).
    ratio_base : str or None
        Denominator of the realised-vol ratio (``BTC``, ``SPY``).
    window : int or None
        Realised-vol window in returns on the series' calendar.
    """

    underlying: str
    method: Literal["index", "scaled_index", "realised"]
    index: str | None = None
    ratio_base: str | None = None
    window: int | None = None

    def describe(self) -> str:
        """One line, e.g. ``ETH: BTC_DVOL × RV90(ETH)/RV90(BTC)``."""
        if self.method == "index":
            return f"{self.underlying}: {self.index}"
        if self.method == "scaled_index":
            w, u, b = self.window, self.underlying, self.ratio_base
            return f"{u}: {self.index} × RV{w}({u})/RV{w}({b})"
        return f"{self.underlying}: RV{self.window}({self.underlying}) (realised, no implied index)"


_INDEX_PROXIES = {
    "BTC": "BTC_DVOL",
    "BTC_LONG": "BTC_DVOL",
    "SPX": "VIX",
    "ES": "VIX",
    "SPY": "VIX",
}
_SCALED_PROXIES = {"ETH": ("BTC_DVOL", "BTC"), "QQQ": ("VIX", "SPY")}


def vol_proxy_rule(
    history: MarketHistory, name: str, *, ratio_window: int = 90, realised_window: int = 30
) -> VolProxyRule:
    """The implied-vol proxy rule for price series ``name`` (see the module docstring)."""
    spec = history.spec(name)
    if spec.kind != "price":
        raise MarketDataError(f"no implied-vol proxy for {name}: it is a {spec.kind}, not a price")
    if name in _INDEX_PROXIES:
        return VolProxyRule(underlying=name, method="index", index=_INDEX_PROXIES[name])
    if name in _SCALED_PROXIES:
        index, base = _SCALED_PROXIES[name]
        return VolProxyRule(
            underlying=name,
            method="scaled_index",
            index=index,
            ratio_base=base,
            window=ratio_window,
        )
    return VolProxyRule(underlying=name, method="realised", window=realised_window)


def implied_vol_proxy(
    history: MarketHistory, name: str, *, ratio_window: int = 90, realised_window: int = 30
) -> pd.Series:
    """Daily decimal implied-vol proxy of price series ``name`` (observed dates only)."""
    rule = vol_proxy_rule(history, name, ratio_window=ratio_window, realised_window=realised_window)
    spec = history.spec(name)
    if rule.method == "realised":
        out = rolling_realised_vol(history.series(name), spec.calendar, realised_window)
    else:
        assert rule.index is not None
        out = history.series(rule.index)
        if rule.method == "scaled_index":
            assert rule.ratio_base is not None
            base = history.spec(rule.ratio_base)
            mine = rolling_realised_vol(history.series(name), spec.calendar, ratio_window)
            theirs = rolling_realised_vol(history.series(base.name), base.calendar, ratio_window)
            ratio = (mine / theirs).dropna()
            common = out.index.intersection(ratio.index)
            out = out.loc[common] * ratio.loc[common]
    out.name = name
    return out


def implied_vol_on(
    history: MarketHistory, name: str, when: DateLike, *, max_stale_days: int | None = None
) -> tuple[float, pd.Timestamp]:
    """The implied-vol proxy of ``name`` on ``when`` and the date of the value used.

    The staleness limit defaults to that of the vol index (BTC_DVOL 3, VIX 5 calendar days),
    or of the underlying for a realised proxy.

    Raises
    ------
    MarketDataError
        ``when`` outside the proxy's history or the value staler than the limit.
    """
    rule = vol_proxy_rule(history, name)
    source = rule.index if rule.index is not None else name
    limit = history.spec(source).max_stale_days if max_stale_days is None else max_stale_days
    series = implied_vol_proxy(history, name)
    return as_of(series, when, label=f"implied-vol proxy {rule.describe()}", max_stale_days=limit)


__all__ = ["VolProxyRule", "implied_vol_on", "implied_vol_proxy", "vol_proxy_rule"]
