"""The model's own predictive distribution on each backtest day, kept for the ES tests.

For a historical VaR/ES model (``es``, ``hvar``) each backtest day margins every account's
netting set on its lookback scenarios; the P&L of those scenarios (the distribution the
``core`` component is taken on: :meth:`crossmargin.models.var.HistoricalVaRModel.lookback_pnl`)
is the model's forecast of the h-day P&L. Of it the backtest keeps what the ES tests need
(:class:`crossmargin.stats.Predictive`): the loss-positive VaR and ES at the model's
confidence, the number of scenarios and the scenario P&Ls strictly below ``−VaR``.

Other models (rules, SPAN, exchange grids) have no such distribution; their backtests report
exception counts only.

:func:`account_margins` is what a backtest day runs: the three margins of each account and
the forecast, totals only. :func:`margin_and_forecast` margins the whole result (every
figure, as ``model.compute``), the path before issue 19 kept as the backtests' reference.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from crossmargin.errors import InputError
from crossmargin.market.snapshot import MarketSnapshot
from crossmargin.models.base import MarginModel
from crossmargin.models.cache import CachedModel, ContextCache
from crossmargin.models.result import MarginResult
from crossmargin.models.var import HistoricalVaRModel
from crossmargin.netting.core import (
    account_holdings,
    netting_set_holdings,
    run_tiers,
    tier_layout,
)
from crossmargin.netting.tiers import load_policy
from crossmargin.portfolio import Portfolio
from crossmargin.stats.es_backtest import Predictive

FloatArray = NDArray[np.float64]
#: One account's forecast on one day: VaR, ES, scenario count and the P&Ls below −VaR.
DayForecast = tuple[float, float, int, tuple[float, ...]]


def margin_and_forecast(
    model: MarginModel, book: Portfolio, market: MarketSnapshot, *, by: str, accounts: Sequence[str]
) -> tuple[MarginResult, list[DayForecast] | None]:
    """``model.compute(book, market, by=by)`` and, for a historical VaR/ES model, each of
    ``accounts``' forecast from the same prepared context (priced once)."""
    if not isinstance(model, HistoricalVaRModel):
        return model.compute(book, market, by=by), None
    cache = ContextCache(maxsize=1)
    key = market.valuation_time.isoformat()
    cached = CachedModel(model, cache, model_key=model.name, market_key=key)
    result = cached.compute(book, market, by=by)
    instruments, holdings = netting_set_holdings(book, model)
    mapped = cache.context(model, model.name, instruments, market, key)
    holdings = _onto(holdings, mapped.columns, mapped.width)
    return result, _forecasts(model, mapped.context, holdings, book.accounts, accounts)


def account_margins(
    model: MarginModel, book: Portfolio, market: MarketSnapshot, *, by: str, accounts: Sequence[str]
) -> tuple[dict[str, FloatArray], list[DayForecast] | None]:
    """Each of ``accounts``' ``netted``, ``grouped`` and ``standalone`` margin (the figures of
    ``model.compute(book, market, by=by)``, default offsets) and, for a historical VaR/ES
    model, its forecast from the same prepared context (priced once).

    Totals only: no row is margined in detail (:func:`crossmargin.netting.core.run_tiers`),
    so a model skips the informational figures that enter no total (ES's stressed window
    unless its APC is ``stress-weight``) and the result objects are never assembled.
    """
    if not book.positions:
        raise InputError("the book is empty: nothing to margin")
    layout = tier_layout(book, nets_collateral=model.nets_collateral)
    run = run_tiers(model, layout, market, by=by, policy=load_policy(None), detail=False)
    where = {a: i for i, a in enumerate(layout.accounts)}
    at = np.array([where[a] for a in accounts], dtype=np.int64)
    modes = {mode: np.asarray(v)[at] for mode, v in run.account_modes().items()}
    if not isinstance(model, HistoricalVaRModel):
        return modes, None
    holdings = account_holdings(layout)
    return modes, _forecasts(model, run.context, holdings, layout.accounts, accounts)


def _forecasts(
    model: HistoricalVaRModel,
    context: Any,
    holdings: sp.csr_matrix,
    rows_of: Sequence[str],
    accounts: Sequence[str],
) -> list[DayForecast]:
    """Each of ``accounts``' forecast: ``holdings`` has one row per account of ``rows_of``
    over ``context``'s instruments."""
    rows = model.lookback_pnl(context, holdings)
    by_account = dict(zip(rows_of, rows, strict=True))
    out: list[DayForecast] = []
    for account in accounts:
        _, _, pnl = by_account[account]
        if pnl.size == 0:  # an account with nothing to margin forecasts nothing
            out.append((float("nan"), float("nan"), 0, ()))
            continue
        pred = Predictive.from_scenarios([pnl], model.confidence)
        tail = pred.tail[0, : pred.tail_count[0]]
        out.append((float(pred.var[0]), float(pred.es[0]), int(pred.n[0]), tuple(tail.tolist())))
    return out


def _onto(holdings: sp.csr_matrix, columns: NDArray[np.int64], width: int) -> sp.csr_matrix:
    h = sp.csr_matrix(holdings)
    if width == h.shape[1] and np.array_equal(columns, np.arange(width)):
        return h
    return sp.csr_matrix((h.data, columns[h.indices], h.indptr), shape=(h.shape[0], width))


@dataclass(frozen=True, slots=True, kw_only=True)
class CoreForecast:
    """Per day and account (arrays (days, accounts), NaN / 0 where none): the forecast's
    VaR and ES (loss-positive, reporting currency), scenario count, and the scenario P&Ls
    below −VaR (``tail`` (days, accounts, k), NaN-padded; ``tail_count``)."""

    confidence: float
    var: FloatArray
    es: FloatArray
    n: NDArray[np.intp]
    tail: FloatArray
    tail_count: NDArray[np.intp]

    @classmethod
    def stack(cls, confidence: float, days: Sequence[Sequence[DayForecast]]) -> CoreForecast:
        """From one list of per-account forecasts per day."""
        width = max([1, *(len(f[3]) for day in days for f in day)])
        n_days, n_acc = len(days), len(days[0]) if days else 0
        tail = np.full((n_days, n_acc, width), np.nan)
        count = np.zeros((n_days, n_acc), dtype=np.intp)
        for i, day in enumerate(days):
            for j, (_, _, _, t) in enumerate(day):
                tail[i, j, : len(t)] = t
                count[i, j] = len(t)
        return cls(
            confidence=confidence,
            var=np.array([[f[0] for f in d] for d in days], dtype=np.float64).reshape(
                n_days, n_acc
            ),
            es=np.array([[f[1] for f in d] for d in days], dtype=np.float64).reshape(n_days, n_acc),
            n=np.array([[f[2] for f in d] for d in days], dtype=np.intp).reshape(n_days, n_acc),
            tail=tail,
            tail_count=count,
        )

    def predictive(self, account: int, keep: NDArray[np.bool_]) -> Predictive:
        """One account's forecasts on the days ``keep``."""
        tail = self.tail[keep, account]
        width = max(1, int(self.tail_count[keep, account].max(initial=0)))
        return Predictive(
            confidence=self.confidence,
            var=self.var[keep, account],
            es=self.es[keep, account],
            n=self.n[keep, account],
            tail=tail[:, :width],
            tail_count=self.tail_count[keep, account],
        )


def merge_forecasts(
    parts: Sequence[tuple[CoreForecast | None, NDArray[np.intp], NDArray[np.intp]]],
    shape: tuple[int, int],
) -> CoreForecast | None:
    """Groups' forecasts on the union of dates: ``(forecast, rows, cols)`` per group."""
    have = [p for p in parts if p[0] is not None]
    if not have:
        return None
    width = max(p[0].tail.shape[2] for p in have if p[0] is not None)
    var = np.full(shape, np.nan)
    es = np.full(shape, np.nan)
    n = np.zeros(shape, dtype=np.intp)
    tail = np.full((*shape, width), np.nan)
    count = np.zeros(shape, dtype=np.intp)
    confidence = 0.0
    for f, rows, cols in have:
        assert f is not None
        confidence = f.confidence
        grid = np.ix_(rows, cols)
        var[grid], es[grid], n[grid], count[grid] = f.var, f.es, f.n, f.tail_count
        tail[np.ix_(rows, cols, np.arange(f.tail.shape[2]))] = f.tail
    return CoreForecast(confidence=confidence, var=var, es=es, n=n, tail=tail, tail_count=count)


__all__ = [
    "CoreForecast",
    "DayForecast",
    "account_margins",
    "margin_and_forecast",
    "merge_forecasts",
]
