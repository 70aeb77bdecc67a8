"""Rolling margin backtests on real history: netted vs grouped vs standalone margin.

For each day ``t`` of the test window (the panel calendar of the book's underlyings: NYSE
days as soon as one equity series is involved, calendar days for crypto-only books):

1. the history is cut at ``t`` (:meth:`MarketHistory.until`), so nothing after ``t`` can
   reach the margin: the snapshot, and any model that reads history, see only that view;
2. the book is materialised on ``t`` (a rolling strategy book is re-struck every day; a
   static book is held as given);
3. the model margins it: per account the fully netted, grouped and standalone figures;
4. the realised P&L of the same book from ``t`` to ``t + h`` (``h`` = the margin period of
   risk, in panel days) is the full revaluation of the real joint move: spot log returns,
   the change of each underlying's ATM implied-vol proxy, and ``h`` calendar days of decay;
5. an exception is a loss above the margin held: ``−pnl > margin``.

A day whose market cannot be built from the history within the staleness limits (e.g. a
BTC_DVOL gap longer than 3 days, at ``t`` or at ``t + h``) is skipped and listed in
``skipped`` with the reason; nothing is filled beyond the stated limits.

The P&L of an account does not depend on how it is margined, so netting that removes too
much margin shows up as extra exceptions of the netted series against the standalone one.
Statistics are in :mod:`crossmargin.analysis.backtest_stats`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from crossmargin.analysis.strategies import Strategy, materialise
from crossmargin.errors import InputError, MarketDataError
from crossmargin.market.builder import snapshot_from_history
from crossmargin.market.history import MarketHistory, to_timestamp
from crossmargin.market.risk_factors import build_panel
from crossmargin.market.scenarios import ScenarioSet
from crossmargin.market.snapshot import MarketSnapshot
from crossmargin.models.base import MarginModel
from crossmargin.portfolio import Portfolio
from crossmargin.pricing.revalue import revalue

FloatArray = NDArray[np.float64]
MODES = ("netted", "grouped", "standalone")
ATM_TENOR = 30 / 365  # the vol proxies are 30-day ATM vols
ModelFactory = Callable[[MarketHistory], MarginModel]
Progress = Callable[[int, int], None]


@dataclass(frozen=True, slots=True, kw_only=True)
class BacktestPaths:
    """Daily margin and realised P&L per account: arrays are (days, accounts).

    ``margin[mode]`` for mode in ``netted``, ``grouped``, ``standalone``; ``pnl`` is the
    realised P&L over ``[t, t + h]`` (reporting currency, gain > 0).
    """

    dates: tuple[date, ...]
    horizon_end: tuple[date, ...]
    accounts: tuple[str, ...]
    margin: dict[str, FloatArray]
    pnl: FloatArray
    skipped: tuple[tuple[date, str], ...] = ()

    def exceptions(self, mode: str) -> NDArray[np.bool_]:
        """(days, accounts): loss above the ``mode`` margin."""
        out: NDArray[np.bool_] = -self.pnl > self.margin[mode]
        return out


def trading_days(
    history: MarketHistory, underlyings: Sequence[str], start: date, end: date
) -> pd.DatetimeIndex:
    """Panel days of ``underlyings`` in [start, end] (see risk_factors' calendar rules)."""
    return build_panel(history, list(underlyings), start, end).dates


def _realised_move(
    underlyings: tuple[str, ...], now: MarketSnapshot, later: MarketSnapshot
) -> ScenarioSet:
    spot = [np.log(later.spot(u) / now.spot(u)) for u in underlyings]
    vol = [
        float(later.vols[u].vol(ATM_TENOR, 0.0)) - float(now.vols[u].vol(ATM_TENOR, 0.0))
        if u in now.vols and u in later.vols
        else 0.0
        for u in underlyings
    ]
    days = (later.valuation_time - now.valuation_time).total_seconds() / 86400.0
    return ScenarioSet(
        underlyings=underlyings,
        spot_shocks=np.array([spot]),
        vol_shocks=np.array([vol]),
        time_steps=np.array([days / 365.0]),
        spot_shock_type="log",
        names=(f"{now.valuation_time:%Y-%m-%d}→{later.valuation_time:%Y-%m-%d}",),
    )


def _check_window(start: date, end: date, mpor: int) -> None:
    if start > end:
        raise InputError(f"backtest start {start} is after its end {end}")
    if mpor < 1:
        raise InputError(f"the margin period of risk must be at least 1 day, got {mpor}")


def run_paths(
    book: Portfolio | Sequence[Strategy],
    model: MarginModel | ModelFactory,
    start: str | date,
    end: str | date,
    *,
    mpor: int = 2,
    by: str = "underlying",
    history: MarketHistory | None = None,
    data_dir: str | None = None,
    progress: Progress | None = None,
) -> BacktestPaths:
    """Margin and realised P&L per day and account (see the module docstring).

    ``book`` is a static portfolio or a sequence of strategies (re-struck daily). ``model``
    is a model, or a factory called with the cut-off history of each day (for models that
    read history themselves, such as ``es``).
    """
    start_d, end_d = to_timestamp(start).date(), to_timestamp(end).date()
    _check_window(start_d, end_d, mpor)
    hist = history if history is not None else MarketHistory.load(data_dir)
    strategies = None if isinstance(book, Portfolio) else tuple(book)
    if strategies is not None:
        unds = tuple(dict.fromkeys(u for s in strategies for u in s.underlyings))
        accounts = tuple(s.name for s in strategies)
    else:
        assert isinstance(book, Portfolio)
        unds, accounts = book.underlyings, book.accounts
    last_available = min(hist.coverage(u)[1] for u in unds).date()
    days = trading_days(hist, unds, start_d, min(end_d + pd.Timedelta(days=40), last_available))
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
    snapshots: dict[int, MarketSnapshot] = {}

    def snap(i: int) -> MarketSnapshot:
        if i not in snapshots:
            day = days[i].date()
            snapshots[i] = snapshot_from_history(day, unds, history=hist.until(day))
        return snapshots[i]

    rows: list[tuple[int, dict[str, list[float]], list[float]]] = []
    skipped: list[tuple[date, str]] = []
    for done, i in enumerate(inside, start=1):
        try:
            now, later = snap(i), snap(i + mpor)
        except MarketDataError as err:
            skipped.append((days[i].date(), str(err)))
            continue
        held = book if isinstance(book, Portfolio) else materialise(strategies or (), now)
        chosen = model if isinstance(model, MarginModel) else model(hist.until(days[i].date()))
        result = chosen.compute(held, now, by=by)
        by_account = {a.account: a for a in result.accounts}
        realised = revalue(held, now, _realised_move(unds, now, later))
        realised_by = dict(zip(realised.accounts, realised.account_pnl_by_scenario[0], strict=True))
        margins = {
            "netted": [by_account[a].netted for a in accounts],
            "grouped": [by_account[a].grouped for a in accounts],
            "standalone": [by_account[a].standalone for a in accounts],
        }
        rows.append((i, margins, [float(realised_by[a]) for a in accounts]))
        snapshots.pop(i, None)
        if progress is not None:
            progress(done, len(inside))
    if len(rows) <= mpor:
        raise MarketDataError(
            f"only {len(rows)} backtest days could be built in {start_d}..{end_d} "
            f"({len(skipped)} skipped, first: {skipped[0][1] if skipped else 'none'})"
        )
    kept = [r[0] for r in rows]
    margin = {m: np.array([r[1][m] for r in rows]) for m in MODES}
    pnl = np.array([r[2] for r in rows])
    return BacktestPaths(
        dates=tuple(days[i].date() for i in kept),
        horizon_end=tuple(days[i + mpor].date() for i in kept),
        accounts=accounts,
        margin=margin,
        pnl=pnl,
        skipped=tuple(skipped),
    )
