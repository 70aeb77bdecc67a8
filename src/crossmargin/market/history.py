"""Daily market history: a catalogue of named series read lazily from the shared data folder.

The catalogue (``crossmargin/data/market_series.json``, shipped with the package) maps a
logical name (``BTC``, ``SPY``, ``VIX``, ``DGS10`` ...) to a CSV file relative to the
market-data folder, the column to read, a calendar and a kind:

* calendar ``crypto``: UTC calendar days, 7 days a week (close = 23:59:59 UTC);
  ``nyse``: NYSE trading days (US close). FRED rates are filed under ``nyse`` although
  FRED follows the US government-securities calendar (see ``risk_factors``).
* kind ``price`` (level as stored), ``vol_index`` (stored in percent points, returned as a
  decimal: VIX 82.69 -> 0.8269) or ``rate`` (stored in percent, returned as a decimal).

Values are the stored observations only: nothing is forward-filled here. Look-ups on a date
take the last observation on or before it and refuse (:class:`MarketDataError`) when the date
lies outside the series' history or the observation is staler than a limit. Default limits,
in calendar days between the asked date and the observation used: ``crypto`` 1, ``nyse`` 5
(a long weekend plus a holiday), ``BTC_DVOL`` 3 (its gaps reach 4 days). Pass
``max_stale_days`` to override.

Realised volatility is annualised with sqrt(365) on the crypto calendar and sqrt(252) on NYSE.

Each entry also carries the **asset class** of its series: that of the contract-table products
on it (``None`` for a series no product trades). :func:`load_catalogue` is the shipped
catalogue against the shipped contract table; :func:`catalogue_for` builds the catalogue of a
run with its own contracts (more products, more series: :mod:`crossmargin.contracts`), which
is passed to :meth:`MarketHistory.load` explicitly.

Files are read on first use, only the columns needed, and cached per (file, column,
modification time); a :class:`MarketHistory` also keeps the series it has built, and values
derived from them (:meth:`MarketHistory.derived`, e.g. the implied-vol levels), per view.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date as _date
from importlib import resources
from pathlib import Path
from typing import Any, Literal, TypeAlias, TypeVar, cast

import numpy as np
import pandas as pd

from crossmargin.config import data_dir as _resolve_data_dir
from crossmargin.errors import MarketDataError
from crossmargin.instruments.specs import ContractTable, contract_table

Calendar: TypeAlias = Literal["crypto", "nyse"]
Kind: TypeAlias = Literal["price", "vol_index", "rate"]
DateLike: TypeAlias = str | _date | pd.Timestamp

CALENDARS: tuple[Calendar, ...] = ("crypto", "nyse")
KINDS: tuple[Kind, ...] = ("price", "vol_index", "rate")
#: Trading days per year used to annualise daily volatility on each calendar.
ANNUALISATION_DAYS: Mapping[Calendar, int] = {"crypto": 365, "nyse": 252}
_CATALOGUE_RESOURCE = "data/market_series.json"
#: Views of a history kept by :meth:`MarketHistory.until` for reuse (most recent cut-offs).
VIEWS_KEPT = 8
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True, kw_only=True)
class SeriesSpec:
    """One catalogue entry.

    Attributes
    ----------
    name : str
        Logical name (``BTC``).
    file, column : str
        CSV path relative to the market-data folder and the column holding the value.
    calendar : {"crypto", "nyse"}
        Observation calendar.
    kind : {"price", "vol_index", "rate"}
        Price level, implied-vol index (decimal) or interest rate (decimal).
    note : str
        Source and caveats, for people.
    max_stale_days : int
        Default staleness limit of :meth:`MarketHistory.close_on`, in calendar days.
    backfill_file, backfill_column : str or None
        Another file whose values are used before the primary file's first date.
    asset_class : str or None
        Asset class of the products on this series (from the contract table); ``None`` if no
        product trades it.
    """

    name: str
    file: str
    column: str
    calendar: Calendar
    kind: Kind
    note: str
    max_stale_days: int
    backfill_file: str | None = None
    backfill_column: str | None = None
    asset_class: str | None = None

    def __post_init__(self) -> None:
        if self.calendar not in CALENDARS:
            raise MarketDataError(f"series {self.name}: unknown calendar {self.calendar!r}")
        if self.kind not in KINDS:
            raise MarketDataError(f"series {self.name}: unknown kind {self.kind!r}")
        if self.max_stale_days < 0:
            raise MarketDataError(f"series {self.name}: max_stale_days must be >= 0")
        if (self.backfill_file is None) != (self.backfill_column is None):
            raise MarketDataError(f"series {self.name}: backfill needs both file and column")

    @property
    def divisor(self) -> float:
        """Stored units per crossmargin unit: 100 for vols and rates (percent), else 1."""
        return 1.0 if self.kind == "price" else 100.0


def _spec_from_json(name: str, raw: Mapping[str, Any], defaults: Mapping[str, int]) -> SeriesSpec:
    try:
        calendar = cast(Calendar, raw["calendar"])
        backfill = raw.get("backfill")
        return SeriesSpec(
            name=name,
            file=str(raw["file"]),
            column=str(raw["column"]),
            calendar=calendar,
            kind=cast(Kind, raw["kind"]),
            note=str(raw.get("note", "")),
            max_stale_days=int(raw.get("max_stale_days", defaults[calendar])),
            backfill_file=None if backfill is None else str(backfill["file"]),
            backfill_column=None if backfill is None else str(backfill["column"]),
        )
    except KeyError as exc:
        raise MarketDataError(f"market catalogue entry {name!r} lacks {exc}") from exc


@functools.cache
def _shipped_entries() -> tuple[Mapping[str, Any], Mapping[str, int]]:
    text = resources.files("crossmargin").joinpath(_CATALOGUE_RESOURCE).read_text("utf-8")
    doc = json.loads(text)
    defaults = {str(k): int(v) for k, v in doc["default_max_stale_days"].items()}
    return doc["series"], defaults


def default_max_stale_days(calendar: Calendar) -> int:
    """The shipped catalogue's staleness limit of a calendar (crypto 1, NYSE 5)."""
    return _shipped_entries()[1][calendar]


def catalogue_for(
    table: ContractTable, extra: Iterable[SeriesSpec] = ()
) -> Mapping[str, SeriesSpec]:
    """The shipped series plus ``extra``, each with the asset class ``table`` gives it.

    Raises
    ------
    MarketDataError
        An ``extra`` series reuses a shipped name.
    """
    entries, defaults = _shipped_entries()
    out = {name: _spec_from_json(name, raw, defaults) for name, raw in entries.items()}
    for spec in extra:
        if spec.name in out:
            raise MarketDataError(
                f"market series {spec.name!r} is already in the shipped catalogue; "
                "a contracts file may only add series"
            )
        out[spec.name] = spec
    return {
        name: dataclasses.replace(spec, asset_class=table.asset_class(name))
        for name, spec in out.items()
    }


@functools.cache
def load_catalogue() -> Mapping[str, SeriesSpec]:
    """Return the shipped series catalogue, name -> :class:`SeriesSpec` (read once)."""
    return catalogue_for(contract_table())


@functools.lru_cache(maxsize=256)
def _read_column(path: Path, column: str, mtime_ns: int, size: int) -> pd.Series:
    """Read one column of one CSV as a float Series on a DatetimeIndex (blank rows dropped)."""
    del mtime_ns, size  # part of the cache key only: a changed file is read again
    try:
        frame = pd.read_csv(path, usecols=["date", column])
    except (ValueError, OSError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise MarketDataError(f"{path}: cannot read columns 'date' and {column!r}: {exc}") from exc
    dates = pd.to_datetime(frame["date"], format="%Y-%m-%d", errors="coerce")
    if dates.isna().any():
        bad = frame["date"][dates.isna()].iloc[0]
        raise MarketDataError(f"{path}: unparseable date {bad!r}; dates must be YYYY-MM-DD")
    values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float)
    series = pd.Series(values, index=pd.DatetimeIndex(dates, name="date"), name=column)
    if not series.index.is_monotonic_increasing or series.index.has_duplicates:
        raise MarketDataError(f"{path}: dates must be sorted ascending with no duplicates")
    return series.dropna()


def read_series_file(path: Path, column: str) -> pd.Series:
    """Read ``column`` of the CSV at ``path`` (cached by path, column and file version).

    Raises
    ------
    MarketDataError
        If the file is missing, lacks the column or has bad dates.
    """
    try:
        stat = path.stat()
    except OSError as exc:
        raise MarketDataError(
            f"market-data file {path} not found; check the data folder (--data DIR or "
            "CROSSMARGIN_DATA) holds the shared market history"
        ) from exc
    return _read_column(path, column, stat.st_mtime_ns, stat.st_size)


def to_timestamp(when: DateLike) -> pd.Timestamp:
    """Normalise a date-like value to a naive midnight :class:`pandas.Timestamp` (UTC day).

    Text must be ISO (``2026-02-11``, :func:`crossmargin.dates.parse_when`): anything else is
    an InputError, never a guess.
    """
    if isinstance(when, str):
        from crossmargin.dates import parse_when

        when = parse_when(when)
    ts = pd.Timestamp(when)
    if ts.tzinfo is not None:
        ts = ts.tz_convert("UTC").tz_localize(None)
    return ts.normalize()


def _day(ts: pd.Timestamp) -> str:
    return ts.strftime("%Y-%m-%d")


def as_of(
    series: pd.Series, when: DateLike, *, label: str, max_stale_days: int
) -> tuple[float, pd.Timestamp]:
    """Return the last observation of ``series`` on or before ``when`` and its date.

    Parameters
    ----------
    series : pandas.Series
        Observations on a sorted DatetimeIndex (no NaN).
    when : date-like
        The date asked for.
    label : str
        Series name used in error messages.
    max_stale_days : int
        Largest accepted gap, in calendar days, between ``when`` and the observation used
        (also past the last observation: a date at most this many days after the end of the
        series takes its last value, as a history cut off at ``when`` needs).

    Raises
    ------
    MarketDataError
        If ``when`` lies outside the history or the last observation is too stale.
    """
    ts = to_timestamp(when)
    if series.empty:
        raise MarketDataError(f"series {label} has no observations")
    start, end = series.index[0], series.index[-1]
    if ts < start or ts > end + pd.Timedelta(days=max_stale_days):
        raise MarketDataError(
            f"snapshot date {_day(ts)} is outside the history of {label} "
            f"({_day(start)}..{_day(end)}); choose a date inside it or extend the data"
        )
    pos = int(series.index.searchsorted(ts, side="right")) - 1
    found = cast(pd.Timestamp, series.index[pos])
    stale = (ts - found).days
    if stale > max_stale_days:
        raise MarketDataError(
            f"{label} has no observation on {_day(ts)}: the last one is {_day(found)}, "
            f"{stale} days earlier, beyond the {max_stale_days}-day staleness limit; "
            "choose another date or pass a larger max_stale_days"
        )
    return float(series.iloc[pos]), found


def log_returns(levels: pd.Series) -> pd.Series:
    """Log returns between consecutive observations (first observation dropped)."""
    values = levels.to_numpy(dtype=float)
    out = np.log(values[1:] / values[:-1])
    return pd.Series(out, index=levels.index[1:], name=levels.name)


def rolling_realised_vol(levels: pd.Series, calendar: Calendar, window: int) -> pd.Series:
    """Annualised realised vol of a price series over ``window`` trailing log returns.

    The vol on date t is the sample standard deviation (ddof=1) of the ``window`` log returns
    ending at t (consecutive observations, so one NYSE return may span a weekend), times
    sqrt(365) on the crypto calendar or sqrt(252) on NYSE. Dates with fewer returns are dropped.
    """
    if window < 2:
        raise ValueError("window must be at least 2 returns")
    rets = log_returns(levels)
    vol = rets.rolling(window).std(ddof=1) * math.sqrt(ANNUALISATION_DAYS[calendar])
    return vol.dropna()


@dataclass(frozen=True, slots=True, kw_only=True)
class MarketHistory:
    """Named daily series read from one market-data folder.

    Build with :meth:`load`. Series are read on first use and kept; the object is otherwise
    immutable. All values are floats on a DatetimeIndex named ``date``; vols and rates are
    decimals.

    Attributes
    ----------
    data_dir : pathlib.Path
        The market-data folder.
    catalogue : Mapping[str, SeriesSpec]
        The series this history can serve.
    cutoff : pandas.Timestamp or None
        When set (by :meth:`until`), every series ends at this date: a view of the history
        as it was known then, which is how backtests rule out look-ahead structurally.
    """

    data_dir: Path
    catalogue: Mapping[str, SeriesSpec]
    cutoff: pd.Timestamp | None = None
    _full: dict[str, pd.Series] = field(default_factory=dict, init=False, repr=False, compare=False)
    _loaded: dict[str, pd.Series] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    _derived: dict[tuple[str, str], Any] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    _views: dict[tuple[pd.Timestamp, bool], MarketHistory] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    _causal: dict[tuple[str, str], Any] | None = field(
        default=None, init=False, repr=False, compare=False
    )

    @classmethod
    def load(
        cls,
        data_dir: str | os.PathLike[str] | None = None,
        names: Iterable[str] | None = None,
        *,
        catalogue: Mapping[str, SeriesSpec] | None = None,
    ) -> MarketHistory:
        """Open the market history.

        Parameters
        ----------
        data_dir : path-like, optional
            The market-data folder; default per :func:`crossmargin.config.data_dir`.
        names : iterable of str, optional
            Restrict the history to these series and read them now (so a missing file fails
            here). Default: every catalogue series, each read on first use.
        catalogue : mapping, optional
            The series this history serves (:func:`catalogue_for`, or
            :attr:`crossmargin.contracts.Contracts.catalogue`); default the shipped one.

        Raises
        ------
        MarketDataError
            No data folder, an unknown name, or a missing/bad file among ``names``.
        """
        folder = _resolve_data_dir(data_dir)
        full = load_catalogue() if catalogue is None else catalogue
        if names is None:
            return cls(data_dir=folder, catalogue=full)
        wanted = list(dict.fromkeys(names))
        unknown = [n for n in wanted if n not in full]
        if unknown:
            raise MarketDataError(
                f"unknown market series {', '.join(unknown)}; known: {', '.join(sorted(full))}"
            )
        history = cls(data_dir=folder, catalogue={n: full[n] for n in wanted})
        for name in wanted:
            history.series(name)
        return history

    @property
    def names(self) -> tuple[str, ...]:
        """The series names this history serves, sorted."""
        return tuple(sorted(self.catalogue))

    def spec(self, name: str) -> SeriesSpec:
        """Catalogue entry of ``name``; unknown names raise :class:`MarketDataError`."""
        try:
            return self.catalogue[name]
        except KeyError:
            raise MarketDataError(
                f"unknown market series {name!r}; known: {', '.join(self.names)}; map it to a "
                "file in a contracts file's market_series (--contracts FILE)"
            ) from None

    def _full_series(self, name: str) -> pd.Series:
        full = self._full.get(name)
        if full is None:
            full = self._build(self.spec(name))
            self._full[name] = full
        return full

    def has_observations(self, name: str) -> bool:
        """Whether ``name`` has an observation on or before this view's cut-off.

        Unknown names and unreadable files raise :class:`MarketDataError` as in :meth:`series`.
        """
        if name in self._loaded:
            return True
        full = self._full_series(name)
        return self.cutoff is None or bool(full.index[0] <= self.cutoff)

    def derived(self, key: tuple[str, str], build: Callable[[], _T]) -> _T:
        """A value computed from this view's series, built on first use and kept.

        The cache belongs to this object: a view made by :meth:`until` starts empty (it never
        shares derived values with the history it was cut from), so nothing computed from
        data after a cut-off can reach it.
        """
        if key not in self._derived:
            self._derived[key] = build()
        return cast(_T, self._derived[key])

    def series(self, name: str) -> pd.Series:
        """The observations of ``name`` (decimals for vols and rates), oldest first."""
        cached = self._loaded.get(name)
        if cached is None:
            full = self._full_series(name)
            cached = full if self.cutoff is None else full[full.index <= self.cutoff]
            if cached.empty:
                raise MarketDataError(
                    f"{name}: no observation on or before {_day(self.cutoff)}"  # type: ignore[arg-type]
                )
            self._loaded[name] = cached
        return cached.copy(deep=False)

    def until(self, when: DateLike, *, causal: bool = True) -> MarketHistory:
        """This history as known at the end of ``when``: every series cut after it.

        Shares the file cache with ``self`` (nothing is read twice). The last
        :data:`VIEWS_KEPT` views are kept and handed out again for the same cut-off, with the
        values derived in them (a rolling backtest asks for each day's view twice: as "today"
        and as the end of an earlier day's horizon). With ``causal`` (the default) the view
        also shares the values of :meth:`causal` with ``self`` and every other such view (a
        backtest builds its factor levels once and slices them per day); without, it
        recomputes everything from its own cut series.
        """
        cutoff = to_timestamp(when)
        view = self._views.pop((cutoff, causal), None)
        if view is None:
            view = MarketHistory(data_dir=self.data_dir, catalogue=self.catalogue, cutoff=cutoff)
            object.__setattr__(view, "_full", self._full)
            if causal:
                object.__setattr__(view, "_causal", self._causal_store())
        self._views[(cutoff, causal)] = view  # most recent last
        while len(self._views) > VIEWS_KEPT:
            del self._views[next(iter(self._views))]
        return view

    def __getstate__(self) -> dict[str, Any]:
        """Pickled without the store of :meth:`causal` (a copy rebuilds it on use): what a
        distributed run ships stays the series it read."""
        state = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        state["_causal"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        for name, value in state.items():
            object.__setattr__(self, name, value)

    def _causal_store(self) -> dict[tuple[str, str], Any]:
        """The store of :meth:`causal` values shared by the views cut from this history."""
        if self._causal is None:
            # built on a copy with its own derived cache: nothing of it is kept (or pickled)
            # on ``self``
            root = MarketHistory(data_dir=self.data_dir, catalogue=self.catalogue,
                                 cutoff=self.cutoff)  # fmt: skip
            object.__setattr__(root, "_full", self._full)
            object.__setattr__(self, "_causal", {("root", ""): root})
        assert self._causal is not None
        return self._causal

    def causal(self, key: tuple[str, str], build: Callable[[MarketHistory], _T]) -> _T | None:
        """A value ``build`` computes once on the history this view was cut from, or None.

        For values whose entries up to any date depend only on data up to that date (EWMA
        vols, factor levels): the caller slices the shared value at this view's cut-off and
        checks the slice is what the view alone would compute. None when this view shares no
        store (made with ``until(..., causal=False)``, or not a view), when it is cut after
        the history it came from, or when ``build`` raises :class:`MarketDataError` (the
        caller then computes on the view itself, which reports its own errors).
        """
        store = self._causal
        if store is None or self.cutoff is None:
            return None
        root: MarketHistory = store[("root", "")]
        if root is self or (root.cutoff is not None and root.cutoff < self.cutoff):
            return None
        if key not in store:
            try:
                store[key] = build(root)
            except MarketDataError:
                store[key] = None
        return cast("_T | None", store[key])

    def _build(self, spec: SeriesSpec) -> pd.Series:
        main = read_series_file(self.data_dir / spec.file, spec.column)
        if spec.backfill_file is not None and spec.backfill_column is not None and len(main):
            early = read_series_file(self.data_dir / spec.backfill_file, spec.backfill_column)
            main = pd.concat([early[early.index < main.index[0]], main])
        if main.empty:
            raise MarketDataError(f"{self.data_dir / spec.file}: no values in {spec.column!r}")
        if spec.kind == "price" and bool((main <= 0).any()):
            bad = main[main <= 0].index[0]
            raise MarketDataError(
                f"{spec.name}: non-positive price on {_day(bad)} in {spec.file}; fix the file"
            )
        out = main / spec.divisor
        out.name = spec.name
        return out

    def coverage(self, name: str) -> tuple[pd.Timestamp, pd.Timestamp]:
        """First and last observation dates of ``name``."""
        idx = self.series(name).index
        return cast(pd.Timestamp, idx[0]), cast(pd.Timestamp, idx[-1])

    def close_on(
        self, name: str, when: DateLike, max_stale_days: int | None = None
    ) -> tuple[float, pd.Timestamp]:
        """Last observation of ``name`` on or before ``when``, with its date.

        Parameters
        ----------
        name : str
            Series name.
        when : date-like
            The snapshot date (a UTC calendar day).
        max_stale_days : int, optional
            Largest accepted distance in calendar days between ``when`` and the observation;
            default the series' catalogue limit (crypto 1, NYSE 5, BTC_DVOL 3).

        Raises
        ------
        MarketDataError
            Unknown name; ``when`` before the first or after the last observation; or the
            last observation is staler than the limit.
        """
        limit = self.spec(name).max_stale_days if max_stale_days is None else max_stale_days
        return as_of(self.series(name), when, label=name, max_stale_days=limit)

    def realised_vol(self, name: str, when: DateLike, window: int = 30) -> float:
        """Annualised realised vol of price series ``name`` on ``when``.

        The sample standard deviation (ddof=1) of the last ``window`` daily log returns ending
        at the observation :meth:`close_on` picks for ``when``, times sqrt(365) for crypto or
        sqrt(252) for NYSE series. ``window`` counts returns on the series' own calendar.

        Raises
        ------
        MarketDataError
            Not a price series, ``when`` outside the history or fewer than ``window`` returns.
        """
        spec = self.spec(name)
        if spec.kind != "price":
            raise MarketDataError(f"realised vol needs a price series; {name} is a {spec.kind}")
        _, found = self.close_on(name, when)
        levels = self.series(name).loc[:found]
        if len(levels) < window + 1:
            raise MarketDataError(
                f"{name} has {len(levels) - 1} returns up to {_day(found)}, fewer than the "
                f"{window}-return window; choose a later date or a shorter window"
            )
        vol = rolling_realised_vol(levels.iloc[-(window + 1) :], spec.calendar, window)
        return float(vol.iloc[-1])


__all__ = [
    "ANNUALISATION_DAYS",
    "CALENDARS",
    "KINDS",
    "Calendar",
    "DateLike",
    "Kind",
    "MarketHistory",
    "SeriesSpec",
    "as_of",
    "catalogue_for",
    "default_max_stale_days",
    "load_catalogue",
    "log_returns",
    "read_series_file",
    "rolling_realised_vol",
    "to_timestamp",
]
