"""30-day ATM implied-vol levels of any price series: from a vol index, or a capped EWMA fallback.

One entry point, :func:`implied_vol_levels`, gives two daily series of 30-day **ATM** vols
(decimals) for an underlying ``u``, each on its own observation dates:

* ``index``: from an implied-vol index where one exists. BTC (and BTC_LONG) <- Deribit DVOL
  (``BTC_DVOL``); SPX, ES, SPY <- CBOE ``VIX``; ETH <- ``BTC_DVOL × EWMA(ETH)/EWMA(BTC)``;
  QQQ <- ``VIX × EWMA(QQQ)/EWMA(SPY)`` (EWMA vols of :mod:`crossmargin.market.vol_fallback`,
  the ratio capped per day like the fallback). Empty if ``u`` has no index or the index has not
  started in this history view.
* ``fallback``: the capped, mapped EWMA vol of ``u``'s own returns
  (:mod:`crossmargin.market.vol_fallback`), after its seed window.

DVOL and VIX are 30-day variance-swap style levels, not ATM vols, so both series (the
fallback is calibrated to the index level) go through
:func:`crossmargin.market.varswap.atm_from_variance_swap` with the house smile of ``u``'s asset
class. Nothing is filled: the series hold the dates where their inputs are observed.

:func:`implied_vol_on` picks the value for one date: the index when it has a value within its
staleness limit (BTC_DVOL 3 days, VIX 5), else the fallback (the underlying's limit), and
says which. :func:`implied_vol_proxy` is the index series (the fallback for an underlying
without an index), for the historical vol factor.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, NamedTuple

import numpy as np
import pandas as pd

from crossmargin.errors import InputError, MarketDataError
from crossmargin.market.defaults import vol_proxy_params
from crossmargin.market.history import DateLike, MarketHistory, as_of, to_timestamp
from crossmargin.market.varswap import atm_from_variance_swap
from crossmargin.market.vol_fallback import cap_daily_ratio, ewma_vol

_INDEX_PROXIES = {
    "BTC": "BTC_DVOL",
    "BTC_LONG": "BTC_DVOL",
    "SPX": "VIX",
    "ES": "VIX",
    "SPY": "VIX",
}
_SCALED_PROXIES = {"ETH": ("BTC_DVOL", "BTC"), "QQQ": ("VIX", "SPY")}
# Catalogue series that are not an underlying of the contract table, and the default by calendar.
_SERIES_ASSET_CLASS = {"BTC_LONG": "crypto", "ES": "equity_index"}
_CALENDAR_ASSET_CLASS = {"crypto": "crypto", "nyse": "etf"}


@dataclass(frozen=True, slots=True, kw_only=True)
class VolProxyRule:
    """How the 30-day ATM implied vol of one underlying is derived.

    Attributes
    ----------
    underlying : str
        The price series.
    method : {"index", "scaled_index", "ewma"}
        The vol index; the index times an EWMA-vol ratio; or only the EWMA fallback.
    asset_class : str
        Picks the house smile of the ATM map and the ``implied_over_realised`` ratio.
    index : str or None
        The vol index used (``BTC_DVOL``, ``VIX``).
    ratio_base : str or None
        Denominator of the EWMA-vol ratio (``BTC``, ``SPY``).
    lam, seed_window, implied_over_realised, max_daily_ratio, tenor_days
        The ``vol_proxy`` parameters in force (``market_defaults.json``).
    """

    underlying: str
    method: Literal["index", "scaled_index", "ewma"]
    asset_class: str
    index: str | None = None
    ratio_base: str | None = None
    lam: float
    seed_window: int
    implied_over_realised: float
    max_daily_ratio: float
    tenor_days: int

    def describe(self) -> str:
        """One line, e.g. ``ETH: ATM of BTC_DVOL × EWMA(ETH)/EWMA(BTC) (λ 0.97, ...)``."""
        u, cap = self.underlying, f"×{self.max_daily_ratio:g}/day"
        if self.method == "index":
            return f"{u}: ATM of {self.index} ({self.asset_class} smile)"
        if self.method == "scaled_index":
            return (
                f"{u}: ATM of {self.index} × EWMA({u})/EWMA({self.ratio_base}) "
                f"(λ {self.lam:g}, ratio capped {cap}; {self.asset_class} smile)"
            )
        return f"{u}: ATM of {self.describe_fallback()} (no implied-vol index)"

    def describe_fallback(self) -> str:
        """The fallback, e.g. ``1.13 × EWMA(BTC) (λ 0.97, capped ×1.5/day)``."""
        return (
            f"{self.implied_over_realised:g} × EWMA({self.underlying}) "
            f"(λ {self.lam:g}, capped ×{self.max_daily_ratio:g}/day)"
        )


def vol_asset_class(history: MarketHistory, name: str) -> str:
    """Asset class of a price series: the contract table's (carried by the history's catalogue
    entry, so a run's own products count), else ``crypto``/``etf`` by calendar."""
    if name in _SERIES_ASSET_CLASS:
        return _SERIES_ASSET_CLASS[name]
    spec = history.spec(name)
    return spec.asset_class or _CALENDAR_ASSET_CLASS[spec.calendar]


def vol_proxy_rule(history: MarketHistory, name: str) -> VolProxyRule:
    """The implied-vol rule for price series ``name`` (see the module docstring)."""
    spec = history.spec(name)
    if spec.kind != "price":
        raise MarketDataError(f"no implied-vol proxy for {name}: it is a {spec.kind}, not a price")
    params = vol_proxy_params()
    cls = vol_asset_class(history, name)
    method: Literal["index", "scaled_index", "ewma"] = "ewma"
    index = base = None
    if name in _INDEX_PROXIES:
        method, index = "index", _INDEX_PROXIES[name]
    elif name in _SCALED_PROXIES:
        method, (index, base) = "scaled_index", _SCALED_PROXIES[name]
    return VolProxyRule(
        underlying=name,
        method=method,
        asset_class=cls,
        index=index,
        ratio_base=base,
        lam=params.ewma_lambda,
        seed_window=params.seed_window,
        implied_over_realised=params.ratio_for(cls),
        max_daily_ratio=params.max_daily_ratio,
        tenor_days=params.atm_tenor_days,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class ImpliedVolLevels:
    """30-day ATM vols (decimals) of one underlying in one history view.

    Attributes
    ----------
    underlying : str
        The price series.
    rule : VolProxyRule
        How the series are derived (``rule.describe()`` for audit trails).
    index : pandas.Series
        ATM from the implied index (DVOL/VIX, or index × capped EWMA ratio for scaled proxies)
        on the index's observation dates; empty without an index or before it starts.
    fallback : pandas.Series
        ATM from the capped, mapped EWMA vol of the underlying's own returns, on its own
        observation dates after the seed window.
    capped : pandas.DatetimeIndex
        Fallback dates on which the daily cap bound.
    index_capped : pandas.DatetimeIndex
        Dates on which the cap of a scaled proxy's EWMA ratio bound (empty otherwise).
    """

    underlying: str
    rule: VolProxyRule
    index: pd.Series
    fallback: pd.Series
    capped: pd.DatetimeIndex
    index_capped: pd.DatetimeIndex


def _to_atm(level: pd.Series, rule: VolProxyRule, what: str) -> pd.Series:
    if level.empty:
        return pd.Series(dtype=float, index=pd.DatetimeIndex([], name="date"), name=rule.underlying)
    try:
        atm = atm_from_variance_swap(level.to_numpy(), rule.asset_class, tenor_days=rule.tenor_days)
    except InputError as err:
        raise MarketDataError(f"{rule.underlying}: {what} cannot be mapped to ATM: {err}") from err
    return pd.Series(np.asarray(atm), index=level.index, name=rule.underlying)


def _ewma(history: MarketHistory, name: str, rule: VolProxyRule) -> pd.Series:
    spec = history.spec(name)
    return ewma_vol(history.series(name), spec.calendar, lam=rule.lam, seed_window=rule.seed_window)


def _index_level(history: MarketHistory, rule: VolProxyRule) -> tuple[pd.Series, pd.DatetimeIndex]:
    """The index level (variance-swap style, decimal) of the rule, and the ratio-cap dates."""
    none = pd.DatetimeIndex([], name="date")
    if rule.index is None or not history.has_observations(rule.index):
        return pd.Series(dtype=float, index=none), none
    level = history.series(rule.index)
    if rule.ratio_base is None:
        return level, none
    ratio = (_ewma(history, rule.underlying, rule) / _ewma(history, rule.ratio_base, rule)).dropna()
    ratio, bound = cap_daily_ratio(ratio, rule.max_daily_ratio)
    common = level.index.intersection(ratio.index)
    return level.loc[common] * ratio.loc[common], bound


def _index_part(history: MarketHistory, underlying: str) -> tuple[pd.Series, pd.DatetimeIndex]:
    def build() -> tuple[pd.Series, pd.DatetimeIndex]:
        sliced = _sliced(history, underlying, _index_part, with_base=True)
        if sliced is not None:
            return sliced
        rule = vol_proxy_rule(history, underlying)
        level, bound = _index_level(history, rule)
        return _to_atm(level, rule, f"index {rule.index}"), bound

    return history.derived(("implied_vol_index", underlying), build)


def _fallback_part(history: MarketHistory, underlying: str) -> tuple[pd.Series, pd.DatetimeIndex]:
    def build() -> tuple[pd.Series, pd.DatetimeIndex]:
        sliced = _sliced(history, underlying, _fallback_part, with_base=False)
        if sliced is not None:
            return sliced
        rule = vol_proxy_rule(history, underlying)
        mapped = _ewma(history, underlying, rule) * rule.implied_over_realised
        level, bound = cap_daily_ratio(mapped, rule.max_daily_ratio)
        return _to_atm(level, rule, "the EWMA fallback"), bound

    return history.derived(("implied_vol_fallback", underlying), build)


_Part = Callable[[MarketHistory, str], tuple[pd.Series, pd.DatetimeIndex]]


def _sliced(
    view: MarketHistory, underlying: str, part: _Part, *, with_base: bool
) -> tuple[pd.Series, pd.DatetimeIndex] | None:
    """``part`` of the history ``view`` was cut from, cut at the view's cut-off, when that is
    exactly what the view computes alone (:meth:`MarketHistory.causal`), else None.

    Every step is causal: the EWMA variance is a first-order recursion seeded by the first
    ``seed_window`` returns (the same in the view once it holds more than those), the cap
    a recursion from the first value, the ratio, the index intersection and the ATM map are
    per date. A view too short for the seed, or a whole history whose map or cap fails
    (a bad value after the cut-off), is computed on the view itself.
    """
    if not cuts_exactly(view, underlying, with_base=with_base):
        return None
    whole = view.causal((part.__name__, underlying), lambda root: part(root, underlying))
    if whole is None:
        return None
    series, bound = whole
    cut = view.cutoff
    assert cut is not None  # causal() answers views only
    return series[series.index <= cut], bound[bound <= cut]


def cuts_exactly(view: MarketHistory, underlying: str, *, with_base: bool = True) -> bool:
    """Whether ``underlying``'s implied vols of the history ``view`` was cut from, cut at the
    view's cut-off, are what the view computes alone as far as its data go: the view holds
    more returns than the EWMA seed window of the underlying (and of the ratio base of a
    scaled index). The whole history's own failures are checked by
    :meth:`MarketHistory.causal`."""
    rule = vol_proxy_rule(view, underlying)
    names = [underlying, *([rule.ratio_base] if with_base and rule.ratio_base else [])]
    return all(
        view.has_observations(n) and len(view.series(n)) > rule.seed_window + 1 for n in names
    )


def implied_vol_levels(history: MarketHistory, underlying: str) -> ImpliedVolLevels:
    """Index-derived and fallback 30-day ATM vols of ``underlying`` (module docstring).

    Computed from ``history``'s own series (a view made by :meth:`MarketHistory.until` sees
    nothing after its cut-off) and kept on that object, so repeated calls are cheap; the
    series returned are copies (copy-on-write), so a caller's edits never reach the cache.

    Raises
    ------
    MarketDataError
        ``underlying`` is not a price series, a series is missing, or a level is out of the
        ATM map's range.
    """
    rule = vol_proxy_rule(history, underlying)
    index, index_capped = _index_part(history, underlying)
    fallback, capped = _fallback_part(history, underlying)
    return ImpliedVolLevels(
        underlying=underlying,
        rule=rule,
        index=index.copy(deep=False),
        fallback=fallback.copy(deep=False),
        capped=capped,
        index_capped=index_capped,
    )


class ImpliedVolOn(NamedTuple):
    """The ATM vol on a date, the date of the value used and where it came from."""

    value: float
    date: pd.Timestamp
    source: Literal["index", "fallback"]
    note: str


def implied_vol_on(
    history: MarketHistory, name: str, when: DateLike, *, max_stale_days: int | None = None
) -> ImpliedVolOn:
    """The 30-day ATM vol of ``name`` on ``when``: from the index if fresh, else the fallback.

    The index value is used when it is at most its staleness limit old (BTC_DVOL 3, VIX 5
    calendar days); otherwise the fallback's, within the underlying's limit. ``max_stale_days``
    overrides both limits. ``note`` says which source was used and why.

    Raises
    ------
    MarketDataError
        Neither series has a value for ``when`` within its limit (the message gives both).
    """
    rule = vol_proxy_rule(history, name)
    why = "no implied-vol index"
    if rule.index is not None:
        index, _ = _index_part(history, name)
        limit = history.spec(rule.index).max_stale_days
        limit = limit if max_stale_days is None else max_stale_days
        try:
            value, found = as_of(index, when, label=f"implied vol {rule.describe()}",
                                 max_stale_days=limit)  # fmt: skip
        except MarketDataError:
            why = _why_not_index(history, rule, index, when, limit)
        else:
            return ImpliedVolOn(value, found, "index", rule.describe())
    fallback, _ = _fallback_part(history, name)
    limit = history.spec(name).max_stale_days if max_stale_days is None else max_stale_days
    label = f"implied-vol fallback {name}: {rule.describe_fallback()}"
    try:
        value, found = as_of(fallback, when, label=label, max_stale_days=limit)
    except MarketDataError as err:
        raise MarketDataError(f"{name}: {why}, and {err}") from err
    return ImpliedVolOn(value, found, "fallback", f"{name} ({why})")


def _why_not_index(
    history: MarketHistory, rule: VolProxyRule, index: pd.Series, when: DateLike, limit: int
) -> str:
    name, ts = rule.index, to_timestamp(when)
    if index.empty:
        started = name is not None and history.has_observations(name)
        return f"no {name} × EWMA ratio value yet" if started else f"{name} not started"
    if ts < index.index[0]:
        return f"before {name} starts on {index.index[0]:%Y-%m-%d}"
    last = index.index[index.index <= ts][-1]
    return f"no {name} value within {limit} days; last {last:%Y-%m-%d}"


def implied_vol_proxy(history: MarketHistory, name: str) -> pd.Series:
    """Daily 30-day ATM vol of ``name`` from its index (the fallback if it has no index).

    Raises
    ------
    MarketDataError
        ``name`` is not a price series, or its index has no observation in this view.
    """
    rule = vol_proxy_rule(history, name)
    if rule.index is None:
        return _fallback_part(history, name)[0].copy(deep=False)
    if not history.has_observations(rule.index):
        raise MarketDataError(
            f"implied vol {rule.describe()}: {rule.index} has no observation in this history; "
            "use implied_vol_levels(...).fallback"
        )
    return _index_part(history, name)[0].copy(deep=False)


__all__ = [
    "ImpliedVolLevels",
    "ImpliedVolOn",
    "VolProxyRule",
    "implied_vol_levels",
    "implied_vol_on",
    "implied_vol_proxy",
    "vol_asset_class",
    "vol_proxy_rule",
]
