"""Offset-level backtest: did each cross-underlying diversification credit hold?

For an account holding two or more underlyings, the model's **credit** on day ``t`` is
``grouped_t − netted_t`` (grouped by underlying: what netting across underlyings removed).
For each pair of underlyings ``(a, b)`` in the account:

- ``netting_exceptions``: days the netted margin was breached but the grouped one was not,
  i.e. the losses that the credit let through;
- ``assumed_correlation``: the correlation of the pair's daily log returns over the
  ``lookback`` panel days before each day, averaged over the test window (what a model
  calibrated on that lookback assumed); ``assumed_correlation_exceptions``: the same,
  averaged over the netted-exception days only (what it assumed when it was wrong);
- ``realised_correlation_exceptions``: the correlation of the pair's daily returns pooled
  over the h-day windows that ended in a netted exception (the days that mattered);
- ``realised_correlation_window``: over the whole test window.

A credit resting on a correlation that flips in the exception windows is the failure mode
cross margining must guard against (EMIR RTS 153/2013 Art. 27(2), 55(3)).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from crossmargin.analysis.backtest import BacktestPaths
from crossmargin.analysis.backtest_stats import pearson
from crossmargin.market.history import MarketHistory
from crossmargin.market.risk_factors import build_panel


def offset_backtest(
    paths: BacktestPaths,
    account_underlyings: Mapping[str, Sequence[str]],
    history: MarketHistory,
    *,
    lookback: int = 250,
) -> tuple[dict[str, Any], ...]:
    """One record per (account, pair of underlyings) (see the module docstring)."""
    out: list[dict[str, Any]] = []
    for j, account in enumerate(paths.accounts):
        unds = list(dict.fromkeys(account_underlyings.get(account, ())))
        if len(unds) < 2:
            continue
        own = paths.observed(j)  # the account's own days (its netting set's calendar)
        dates = [d for d, k in zip(paths.dates, own, strict=True) if k]
        ends = paths.horizon_end[own, j]
        start, end = dates[0], pd.Timestamp(ends[-1]).date()
        netted = paths.margin["netted"][own, j]
        grouped = paths.margin["grouped"][own, j]
        loss = -paths.pnl[own, j]
        exc = loss > netted
        let_through = exc & ~(loss > grouped)
        for a, b in itertools.combinations(unds, 2):
            panel_start = pd.Timestamp(start) - pd.Timedelta(days=int(lookback * 1.6) + 10)
            first = max(history.coverage(a)[0], history.coverage(b)[0]) + pd.Timedelta(days=7)
            panel = build_panel(history, [a, b], max(panel_start, first).date(), end)
            frame = pd.DataFrame(panel.returns, index=panel.dates, columns=[a, b])
            rolling = frame[a].rolling(lookback).corr(frame[b]).shift(1)  # up to t−1 only
            at_day = rolling.reindex(pd.DatetimeIndex(dates)).to_numpy()
            during = frame[(frame.index > pd.Timestamp(start)) & (frame.index <= pd.Timestamp(end))]
            windows = [
                (pd.Timestamp(t), pd.Timestamp(e))
                for t, e, flag in zip(dates, ends, exc, strict=True)
                if flag
            ]
            mask = np.zeros(len(frame), dtype=bool)
            for t, e in windows:
                mask |= (frame.index > t) & (frame.index <= e)
            in_exc = frame[mask]
            out.append(
                {
                    "account": account,
                    "pair": [a, b],
                    "mean_credit": float(np.mean(grouped - netted)),
                    "netted_exceptions": int(exc.sum()),
                    "grouped_exceptions": int((loss > grouped).sum()),
                    "standalone_exceptions": int((loss > paths.margin["standalone"][own, j]).sum()),
                    "netting_exceptions": int(let_through.sum()),
                    "assumed_correlation": _mean(at_day),
                    "assumed_correlation_exceptions": _mean(at_day[exc]),
                    "realised_correlation_window": pearson(
                        during[a].to_numpy(), during[b].to_numpy()
                    ),
                    "realised_correlation_exceptions": pearson(
                        in_exc[a].to_numpy(), in_exc[b].to_numpy()
                    ),
                    "exception_window_days": int(mask.sum()),
                }
            )
    return tuple(out)


def _mean(values: np.ndarray) -> float | None:
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if finite.size else None
