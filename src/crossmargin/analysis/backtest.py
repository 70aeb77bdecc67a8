"""Rolling margin backtests on real history: netted vs grouped vs standalone margin.

Each group of accounts holding the same underlyings (a netting set's factor set) is backtested
on its own: its calendar (NYSE sessions as soon as one of its underlyings trades on NYSE, every
day for crypto-only groups), its own history window and its own MPOR in steps of that
calendar; other accounts never change its days, margins or P&L. For each day ``t`` of the
group's test window:

1. the history is cut at ``t`` (:meth:`MarketHistory.until`), so nothing after ``t`` can
   reach the margin: the snapshot, and any model that reads history, see only that view;
2. the book is materialised on ``t`` (a rolling strategy book is re-struck every day; a
   static book is held as given);
3. the model margins it: per account the fully netted, grouped and standalone figures
   (totals only: informational figures that enter no total are not computed);
4. the realised P&L of the same static book from ``t`` to ``t + h`` (``h`` = the margin
   period of risk, in steps of the group's calendar), twice (:mod:`crossmargin.analysis.realised`):
   **hypothetical**, every contract fully revalued on the market of ``t + h`` (spot, the
   vol at its strike, rates and carry, decay), and **clean**, the model's own factors only
   (spot log returns, the ATM-vol factor's move, decay);
5. an exception is a hypothetical loss above the margin held: ``−pnl > margin`` (the clean
   P&L's exceptions are reported beside it);
6. for a historical VaR/ES model, the forecast each account's ``core`` was taken on (its
   lookback scenarios' P&L: VaR, ES and the tail; :mod:`crossmargin.analysis.backtest_forecast`),
   for the ES tests.

A day whose market cannot be built from the history within the staleness limits (e.g. a
BTC_DVOL gap longer than 3 days, at ``t`` or at ``t + h``) is skipped and listed in
``skipped`` with the reason; nothing is filled beyond the stated limits.

The groups' days are merged on the union of their dates: an account has no value (NaN) on
a day that is not on its calendar. The P&L of an account does not depend on how it is
margined, so netting that removes too much margin shows up as extra exceptions of the netted
series against the standalone one.
Statistics are in :mod:`crossmargin.analysis.backtest_stats`.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from crossmargin.analysis.backtest_forecast import (
    CoreForecast,
    DayForecast,
    account_margins,
    margin_and_forecast,
    merge_forecasts,
)
from crossmargin.analysis.realised import clean_pnl, hypothetical_pnl
from crossmargin.analysis.strategies import Strategy, materialise
from crossmargin.errors import InputError, MarketDataError
from crossmargin.market.builder import snapshot_from_history
from crossmargin.market.history import MarketHistory, to_timestamp
from crossmargin.market.risk_factors import build_panel
from crossmargin.market.snapshot import MarketSnapshot
from crossmargin.models.base import MarginModel, model_factory
from crossmargin.portfolio import Portfolio

FloatArray = NDArray[np.float64]
MODES = ("netted", "grouped", "standalone")
ModelFactory = Callable[[MarketHistory], MarginModel]
PARALLEL_MIN_DAYS = 120  # below this, worker start-up costs more than it saves
Progress = Callable[[int, int], None]
#: Runs a group's days elsewhere (e.g. on a Dask cluster, :mod:`crossmargin.distributed`):
#: called with the group's day runner (picklable; ``runner.run(history, i)`` is day ``i``'s
#: outcome), the history, the day indices and a progress callback; returns ``{i: outcome}``.
DayMapper = Callable[[Any, MarketHistory, list[int], Progress], dict[int, Any]]


@dataclass(frozen=True, slots=True, kw_only=True)
class BacktestPaths:
    """Daily margin and realised P&L per account: arrays are (days, accounts).

    ``dates`` is the union of every account's backtest days; ``margin[mode]`` for mode in
    ``netted``, ``grouped``, ``standalone`` and ``pnl`` (the hypothetical P&L over
    ``[t, t + h]``, reporting currency, gain > 0; ``pnl_clean`` the clean one) are NaN on days
    that are not an account's own; ``horizon_end`` (datetime64[D], NaT there) is each
    account's ``t + h``; ``forecast`` the VaR/ES model's own forecasts (None for others).
    """

    dates: tuple[date, ...]
    horizon_end: NDArray[np.datetime64]
    accounts: tuple[str, ...]
    margin: dict[str, FloatArray]
    pnl: FloatArray
    skipped: tuple[tuple[date, str], ...] = ()
    pnl_clean: FloatArray | None = None
    forecast: CoreForecast | None = None

    def observed(self, account: int | None = None) -> NDArray[np.bool_]:
        """Days on which an account (or, with None, every account) has a value."""
        ok = np.isfinite(self.pnl)
        out: NDArray[np.bool_] = np.asarray(
            ok[:, account] if account is not None else ok.all(axis=1), dtype=bool
        )
        return out

    def exceptions(self, mode: str) -> NDArray[np.bool_]:
        """(days, accounts): loss above the ``mode`` margin (False where no value)."""
        with np.errstate(invalid="ignore"):
            out: NDArray[np.bool_] = -self.pnl > self.margin[mode]
        return out


def trading_days(
    history: MarketHistory, underlyings: Sequence[str], start: date, end: date
) -> pd.DatetimeIndex:
    """Panel days of ``underlyings`` in [start, end] (see risk_factors' calendar rules)."""
    return build_panel(history, list(underlyings), start, end).dates


def _check_window(start: date, end: date, mpor: int) -> None:
    if start > end:
        raise InputError(f"backtest start {start} is after its end {end}")
    if mpor < 1:
        raise InputError(f"the margin period of risk must be at least 1 day, got {mpor}")


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """A model by registry name and constructor arguments: picklable, so backtest days can
    run in worker processes. Models that read history get each day's cut-off view."""

    name: str
    params: tuple[tuple[str, Any], ...] = ()

    def build(self, history: MarketHistory) -> MarginModel:
        """The model for a day whose history view is ``history``."""
        made = model_factory(self.name, **dict(self.params))
        return made if isinstance(made, MarginModel) else made(history)


@dataclass(frozen=True, slots=True, kw_only=True)
class _Day:
    """Everything one backtest day needs (shared by the serial and the parallel paths)."""

    book: Portfolio | tuple[Strategy, ...]
    model: MarginModel | ModelFactory | ModelSpec
    days: pd.DatetimeIndex
    underlyings: tuple[str, ...]
    accounts: tuple[str, ...]
    mpor: int
    by: str
    rebuild_daily: bool = False

    def run(self, history: MarketHistory, i: int) -> _DayResult | str:
        """Margins (netted + grouped + standalone per account), hypothetical and clean P&L
        and the model's forecasts, or the reason the day is skipped."""
        # what is known at the end of day t; the views share the whole-history factor levels
        # and vols, cut at t (MarketHistory.causal), unless every day rebuilds its own
        shared = not self.rebuild_daily
        view = history.until(self.days[i].date(), causal=shared)
        later_view = history.until(self.days[i + self.mpor].date(), causal=shared)
        try:
            now = self._snapshot(view, shared)
            later = self._snapshot(later_view, shared)
        except MarketDataError as err:
            return str(err)
        book = self.book if isinstance(self.book, Portfolio) else materialise(self.book, now)
        if isinstance(self.model, MarginModel):
            model = self.model
        elif isinstance(self.model, ModelSpec):
            model = self.model.build(view)
        else:
            model = self.model(view)
        if shared:  # the totals only (no stressed window where it enters no total)
            modes, forecast = account_margins(model, book, now, by=self.by, accounts=self.accounts)
            margins = [float(x) for mode in MODES for x in modes[mode]]
        else:  # the path before issue 19: the whole margin result, every figure
            result, forecast = margin_and_forecast(
                model, book, now, by=self.by, accounts=self.accounts
            )
            by_account = {a.account: a for a in result.accounts}
            margins = [float(getattr(by_account[a], mode)) for mode in MODES for a in self.accounts]
        hyp = dict(zip(book.accounts, hypothetical_pnl(book, now, later), strict=True))
        clean = dict(zip(book.accounts, clean_pnl(book, now, later, later_view), strict=True))
        return _DayResult(
            index=i,
            margins=margins,
            pnl=[float(hyp[a]) for a in self.accounts],
            pnl_clean=[float(clean[a]) for a in self.accounts],
            forecast=forecast,
            confidence=float(getattr(model, "confidence", 0.0)),
        )

    def _snapshot(self, view: MarketHistory, shared: bool) -> MarketSnapshot:
        """The market at the end of ``view``'s cut-off day. With ``shared``, kept on the
        view (made from it alone): day ``i + h``'s market is day ``i``'s horizon end too."""
        assert view.cutoff is not None
        when = view.cutoff.date()
        if not shared:
            return snapshot_from_history(when, self.underlyings, history=view)
        key = ("backtest_snapshot", f"{when}|{'|'.join(self.underlyings)}")
        return view.derived(
            key, lambda: snapshot_from_history(when, self.underlyings, history=view)
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class _DayResult:
    index: int
    margins: list[float]
    pnl: list[float]
    pnl_clean: list[float]
    forecast: list[DayForecast] | None
    confidence: float


_WORKER: dict[str, Any] = {}


def _fork_safe() -> bool:
    """Whether numba's threading layer survives ``fork`` (workqueue and tbb do, omp not)."""
    import numba

    layer = str(numba.config.THREADING_LAYER)  # type: ignore[attr-defined]
    return layer in ("workqueue", "tbb")


def _init_worker(day: _Day, history: MarketHistory) -> None:
    import numba

    numba.set_num_threads(1)  # one process per core already
    _WORKER["day"] = day
    _WORKER["history"] = history


def _run_chunk(indices: list[int]) -> list[tuple[int, Any]]:
    day, history = _WORKER["day"], _WORKER["history"]
    return [(i, day.run(history, i)) for i in indices]


def _parallel(
    day: _Day, history: MarketHistory, inside: list[int], workers: int, progress: Progress | None
) -> dict[int, Any]:
    chunks = [inside[k : k + 25] for k in range(0, len(inside), 25)]
    out: dict[int, Any] = {}
    # fork: workers inherit the loaded history and compiled kernels; spawn would re-import
    # the caller's __main__ (breaking scripts without a main guard) and reload everything.
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(
        max_workers=workers,
        mp_context=context,
        initializer=_init_worker,
        initargs=(day, history),
    ) as pool:
        futures = [pool.submit(_run_chunk, c) for c in chunks]
        for future in as_completed(futures):
            out.update(dict(future.result()))
            if progress is not None:
                progress(len(out), len(inside))
    return out


def run_paths(
    book: Portfolio | Sequence[Strategy],
    model: MarginModel | ModelFactory | ModelSpec,
    start: str | date,
    end: str | date,
    *,
    mpor: int = 2,
    by: str = "underlying",
    history: MarketHistory | None = None,
    data_dir: str | None = None,
    progress: Progress | None = None,
    workers: int | None = None,
    map_days: DayMapper | None = None,
    rebuild_daily: bool = False,
) -> BacktestPaths:
    """Margin and realised P&L per day and account (see the module docstring).

    ``book`` is a static portfolio or a sequence of strategies (re-struck daily). ``model``
    is a model, a factory called with each day's cut-off history, or a :class:`ModelSpec`.
    Each group of accounts with the same underlyings runs on its own calendar and window.
    With a ``ModelSpec`` and more than ``PARALLEL_MIN_DAYS`` days in a group, its days run in
    ``workers`` processes (default: the machine's cores, at most 2 here); the result is the
    same. ``map_days`` runs every group's days instead (a :data:`DayMapper`, e.g. on a Dask
    cluster); the result is the same again. The factor levels and vols each day reads are
    built once on the whole history and cut at the day (exactly what the day's own view
    computes, :meth:`MarketHistory.causal`), each day's snapshot is made once, and only the
    margins' totals are computed (no figure that enters no total, such as ES's stressed
    window; :func:`crossmargin.analysis.backtest_forecast.account_margins`);
    ``rebuild_daily`` rebuilds everything from each day's view and margins the whole result
    instead (the path before issue 19, the slower reference; the result is the same).
    """
    start_d, end_d = to_timestamp(start).date(), to_timestamp(end).date()
    _check_window(start_d, end_d, mpor)
    hist = history if history is not None else MarketHistory.load(data_dir)
    groups = _groups(book)
    accounts = tuple(a for _, members in groups for a in members)
    total = sum(_count(hist, unds, start_d, end_d) for unds, _ in groups)
    done = 0
    found = []
    for unds, members in groups:
        sub = _subset(book, members)

        def step(k: int, _n: int, offset: int = done) -> None:
            if progress is not None:
                progress(offset + k, total)

        one = _run_group(
            sub, model, unds, members, start_d, end_d, mpor, by, hist, step, workers, map_days,
            rebuild_daily,
        )  # fmt: skip
        done += len(one.dates) + len(one.skipped)
        found.append(one)
    return _merge(found, accounts)


def _groups(book: Portfolio | Sequence[Strategy]) -> list[tuple[tuple[str, ...], tuple[str, ...]]]:
    """``(underlyings, accounts)`` per group of accounts holding the same underlyings."""
    by_set: dict[tuple[str, ...], list[str]] = {}
    if isinstance(book, Portfolio):
        held: dict[str, dict[str, None]] = {a: {} for a in book.accounts}
        for p in book.positions:
            held[p.account][p.instrument.underlying] = None
        pairs = [(a, tuple(u)) for a, u in held.items()]
    else:
        pairs = [(s.name, tuple(dict.fromkeys(s.underlyings))) for s in book]
    for account, unds in pairs:
        by_set.setdefault(tuple(sorted(unds)), []).append(account)
    return [(unds, tuple(members)) for unds, members in by_set.items()]


def _subset(
    book: Portfolio | Sequence[Strategy], accounts: tuple[str, ...]
) -> Portfolio | tuple[Strategy, ...]:
    if isinstance(book, Portfolio):
        return book.subset(accounts)
    keep = set(accounts)
    return tuple(s for s in book if s.name in keep)


def _window_days(
    hist: MarketHistory, unds: tuple[str, ...], start_d: date, end_d: date
) -> tuple[pd.DatetimeIndex, date]:
    first_available = max(hist.coverage(u)[0] for u in unds).date()
    last_available = min(hist.coverage(u)[1] for u in unds).date()
    if start_d >= last_available or end_d <= first_available:
        raise MarketDataError(
            f"backtest window {start_d}..{end_d} is outside the common history of "
            f"{', '.join(unds)} ({first_available}..{last_available}); choose dates inside it"
        )
    days = trading_days(hist, unds, start_d, min(end_d + pd.Timedelta(days=40), last_available))
    return days, last_available


def _count(hist: MarketHistory, unds: tuple[str, ...], start_d: date, end_d: date) -> int:
    days, _ = _window_days(hist, unds, start_d, end_d)
    return int(sum(d.date() <= end_d for d in days))


def _run_group(
    book: Portfolio | tuple[Strategy, ...],
    model: MarginModel | ModelFactory | ModelSpec,
    unds: tuple[str, ...],
    accounts: tuple[str, ...],
    start_d: date,
    end_d: date,
    mpor: int,
    by: str,
    hist: MarketHistory,
    progress: Progress,
    workers: int | None,
    map_days: DayMapper | None = None,
    rebuild_daily: bool = False,
) -> BacktestPaths:
    """One group of accounts on its own calendar (see :func:`run_paths`)."""
    days, last_available = _window_days(hist, unds, start_d, end_d)
    inside = [i for i, d in enumerate(days) if d.date() <= end_d and i + mpor < len(days)]
    if not inside:
        raise MarketDataError(
            f"no backtest day in {start_d}..{end_d} with {mpor} trading days of history after "
            f"it (the history of {', '.join(unds)} ends {last_available}); choose an earlier "
            "window or a shorter margin period of risk"
        )
    if len(inside) <= mpor:
        raise InputError(
            f"the margin period of risk ({mpor} days) is not shorter than the window "
            f"({len(inside)} trading days): lengthen the window"
        )
    day = _Day(book=book, model=model, days=days, underlyings=unds, accounts=accounts,
               mpor=mpor, by=by, rebuild_daily=rebuild_daily)  # fmt: skip
    n_workers = workers if workers is not None else min(2, os.cpu_count() or 1)
    if not _fork_safe():
        n_workers = 1  # a user-chosen OpenMP layer aborts forked workers: stay serial
    if map_days is not None:
        outcome = map_days(day, hist, inside, progress)
    elif isinstance(model, ModelSpec) and n_workers > 1 and len(inside) >= PARALLEL_MIN_DAYS:
        outcome = _parallel(day, hist, inside, n_workers, progress)
    else:
        outcome = {}
        for done, i in enumerate(inside, start=1):
            outcome[i] = day.run(hist, i)
            progress(done, len(inside))
    rows: list[_DayResult] = [outcome[i] for i in inside if not isinstance(outcome[i], str)]
    skipped = [(days[i].date(), outcome[i]) for i in inside if isinstance(outcome[i], str)]
    if len(rows) <= mpor:
        raise MarketDataError(
            f"only {len(rows)} backtest days of {', '.join(unds)} could be built in "
            f"{start_d}..{end_d} ({len(skipped)} skipped, first: "
            f"{skipped[0][1] if skipped else 'none'})"
        )
    kept = [r.index for r in rows]
    n = len(accounts)
    stacked = np.array([r.margins for r in rows])
    ends = np.array([days[i + mpor].date() for i in kept], dtype="datetime64[D]")
    forecasts = [r.forecast for r in rows]
    return BacktestPaths(
        dates=tuple(days[i].date() for i in kept),
        horizon_end=np.repeat(ends[:, np.newaxis], n, axis=1),
        accounts=accounts,
        margin={m: stacked[:, k * n : (k + 1) * n] for k, m in enumerate(MODES)},
        pnl=np.array([r.pnl for r in rows]),
        skipped=tuple(skipped),
        pnl_clean=np.array([r.pnl_clean for r in rows]),
        forecast=(
            CoreForecast.stack(rows[0].confidence, [f for f in forecasts if f is not None])
            if all(f is not None for f in forecasts)
            else None
        ),
    )


def _merge(groups: Sequence[BacktestPaths], accounts: tuple[str, ...]) -> BacktestPaths:
    """The groups' paths on the union of their dates (NaN / NaT where an account has none)."""
    if len(groups) == 1:
        return groups[0]
    dates = sorted({d for g in groups for d in g.dates})
    where = {d: i for i, d in enumerate(dates)}
    col = {a: j for j, a in enumerate(accounts)}
    n_days, n_acc = len(dates), len(accounts)
    margin = {m: np.full((n_days, n_acc), np.nan) for m in MODES}
    pnl = np.full((n_days, n_acc), np.nan)
    clean = np.full((n_days, n_acc), np.nan)
    parts = []
    ends = np.full((n_days, n_acc), np.datetime64("NaT"), dtype="datetime64[D]")
    skipped: list[tuple[date, str]] = []
    for g in groups:
        rows = np.array([where[d] for d in g.dates])
        cols = np.array([col[a] for a in g.accounts])
        for m in MODES:
            margin[m][np.ix_(rows, cols)] = g.margin[m]
        pnl[np.ix_(rows, cols)] = g.pnl
        if g.pnl_clean is not None:
            clean[np.ix_(rows, cols)] = g.pnl_clean
        parts.append((g.forecast, rows, cols))
        ends[np.ix_(rows, cols)] = g.horizon_end
        skipped += [(d, f"{', '.join(g.accounts)}: {why}") for d, why in g.skipped]
    return BacktestPaths(
        dates=tuple(dates),
        horizon_end=ends,
        accounts=accounts,
        margin=margin,
        pnl=pnl,
        skipped=tuple(sorted(skipped)),
        pnl_clean=clean,
        forecast=(
            merge_forecasts(parts, (n_days, n_acc))
            if all(g.forecast is not None for g in groups)
            else None
        ),
    )
