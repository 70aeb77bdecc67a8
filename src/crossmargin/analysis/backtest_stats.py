"""Backtest statistics per series (account x margin mode), and the backtest result.

For each series of daily margins ``m_t`` and realised h-day P&L ``p_t`` (exception
``−p_t > m_t``) at confidence ``q`` (exception probability ``1 − q``):

- count and rate; Kupiec POF (LR, p-value); Christoffersen independence and conditional
  coverage (LR_ind, LR_cc, p-value of LR_cc); the Basel traffic-light zone for the sample
  size and probability (binomial 95% / 99.99% boundaries) — all from
  :mod:`crossmargin.stats`;
- **overlap** (``h > 1``): consecutive h-day windows share days, so exceptions cluster and
  the full-sample tests over-reject. The full-sample figures are reported *and* the tests
  per non-overlapping sub-sample (every h-th day), with the Bonferroni p-value across the h
  sub-samples and the zone of the worst sub-sample: read those for the verdict;
- coverage ratio, average and maximum shortfall on exception days;
- procyclicality: the largest peak-to-trough fall and rise of the margin within 30 days, and
  the measures of :func:`crossmargin.analysis.backtest_es.procyclicality` (peak-to-trough
  ratio, 1/5/30-step increases, ICE's ES of increases, the Art 28(1)(a) buffer run down);
- an ES margin backtested as an ES (:func:`crossmargin.analysis.backtest_es.es_backtest`):
  exceptions against the VaR-equivalent level of the ES and the Acerbi–Szekely Z2 test of
  the model's own forecasts; the clean P&L's exceptions beside the hypothetical ones.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
from numpy.typing import NDArray

from crossmargin.analysis.backtest import MODES, BacktestPaths
from crossmargin.analysis.backtest_es import es_backtest, procyclicality
from crossmargin.stats import (
    christoffersen,
    coverage,
    kupiec_pof,
    peak_to_trough,
    subsample_backtest,
    traffic_light,
)
from crossmargin.stats.es_backtest import Predictive

FloatArray = NDArray[np.float64]
_ZONE_ORDER = {"green": 0, "yellow": 1, "red": 2}


@dataclass(frozen=True, slots=True, kw_only=True)
class SeriesStats:
    """Statistics of one margin series (see the module docstring)."""

    observations: int
    exceptions: int
    kupiec_lr: float
    kupiec_p_value: float
    lr_ind: float
    lr_cc: float
    cc_p_value: float
    traffic_light: str
    yellow_from: int
    red_from: int
    coverage_ratio: float
    average_shortfall: float
    max_shortfall: float
    max_fall_pct: float
    max_rise_pct: float
    subsample: dict[str, Any] | None = None
    es: dict[str, Any] | None = None
    cyclicality: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape of the CLI (``kupiec``, ``christoffersen``, ``traffic_light`` ...)."""
        return {
            "observations": self.observations,
            "exceptions": self.exceptions,
            "exception_rate": self.exceptions / self.observations,
            "kupiec": {"lr": self.kupiec_lr, "p_value": self.kupiec_p_value},
            "christoffersen": {
                "lr_ind": self.lr_ind,
                "lr_cc": self.lr_cc,
                "p_value": self.cc_p_value,
            },
            "traffic_light": self.traffic_light,
            "zone_bounds": {"yellow_from": self.yellow_from, "red_from": self.red_from},
            "coverage_ratio": self.coverage_ratio,
            "average_shortfall": self.average_shortfall,
            "max_shortfall": self.max_shortfall,
            "procyclicality": {
                "max_fall_pct_30d": self.max_fall_pct,
                "max_rise_pct_30d": self.max_rise_pct,
                **self.cyclicality,
            },
            "non_overlapping": self.subsample,
            "es_backtest": self.es,
        }


def series_stats(
    margin: FloatArray,
    pnl: FloatArray,
    confidence: float,
    mpor: int,
    *,
    es_based: bool = False,
    pnl_clean: FloatArray | None = None,
    predictive: Predictive | None = None,
) -> SeriesStats:
    """Statistics of one series (1-D arrays in date order); ``es_based`` adds the ES checks
    (with the Z2 test when the model's ``predictive`` forecasts are given)."""
    p = 1.0 - confidence
    exc = -pnl > margin
    n, x = int(exc.size), int(exc.sum())
    kup = kupiec_pof(n, x, p)
    chr_ = christoffersen(exc, p)
    tl = traffic_light(x, n, p)
    cov = coverage(pnl, margin)
    ptt = peak_to_trough(np.maximum(margin, 1e-12), window=30) if n >= 2 else None
    sub = None
    if mpor > 1 and n >= mpor:
        sb = subsample_backtest(exc, p, mpor)
        worst = max(sb.subsamples, key=lambda s: _ZONE_ORDER[str(s.zone)])
        sub = {
            "h": sb.h,
            "subsamples": [
                {"offset": s.offset, "observations": s.n_obs, "exceptions": s.n_exceptions,
                 "kupiec_p_value": s.kupiec.p_value, "traffic_light": str(s.zone)}
                for s in sb.subsamples
            ],
            "bonferroni_p_value_pof": sb.bonferroni_p_value_pof,
            "bonferroni_p_value_cc": sb.bonferroni_p_value_cc,
            "worst_zone": str(worst.zone),
            "note": sb.note,
        }  # fmt: skip
    return SeriesStats(
        observations=n,
        exceptions=x,
        kupiec_lr=kup.lr,
        kupiec_p_value=kup.p_value,
        lr_ind=chr_.lr_ind,
        lr_cc=chr_.lr_cc,
        cc_p_value=chr_.p_value_cc,
        traffic_light=str(tl.zone),
        yellow_from=tl.zones.yellow_from,
        red_from=tl.zones.red_from,
        coverage_ratio=float(cov.coverage_ratio),
        average_shortfall=float(cov.average_shortfall),
        max_shortfall=float(cov.max_shortfall),
        max_fall_pct=float(ptt.max_fall_pct) if ptt is not None else 0.0,
        max_rise_pct=float(ptt.max_rise_pct) if ptt is not None else 0.0,
        subsample=sub,
        es=(
            es_backtest(margin, pnl, confidence, mpor, pnl_clean=pnl_clean, predictive=predictive)
            if es_based and n
            else None
        ),
        cyclicality=procyclicality(margin, pnl),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class BacktestResult:
    """A backtest's paths and statistics per account and for the whole book."""

    model: str
    confidence: float
    mpor: int
    book: str
    rolling: bool
    paths: BacktestPaths
    stats: dict[tuple[str, str], SeriesStats] = field(default_factory=dict)
    offsets: tuple[dict[str, Any], ...] = ()
    #: the grouping of the ``grouped`` margin
    by: str = "underlying"

    @property
    def start(self) -> date:
        """First backtest day."""
        return self.paths.dates[0]

    @property
    def end(self) -> date:
        """Last backtest day."""
        return self.paths.dates[-1]

    def series(self, account: str = "book") -> list[dict[str, Any]]:
        """Plot-ready rows: date, margin per mode, realised P&L (hypothetical ``pnl`` and
        ``pnl_clean``), exception flags.

        An account's rows are its own days; the book's are the days on which every account
        has a value (sums across accounts, the horizon end the latest of theirs).
        """
        paths = self.paths
        if account == "book":
            keep = paths.observed()
            margins = {m: paths.margin[m][keep].sum(axis=1) for m in MODES}
            pnl = paths.pnl[keep].sum(axis=1)
            clean = None if paths.pnl_clean is None else paths.pnl_clean[keep].sum(axis=1)
            ends = paths.horizon_end[keep].max(axis=1)
        else:
            j = paths.accounts.index(account)
            keep = paths.observed(j)
            margins = {m: paths.margin[m][keep, j] for m in MODES}
            pnl = paths.pnl[keep, j]
            clean = None if paths.pnl_clean is None else paths.pnl_clean[keep, j]
            ends = paths.horizon_end[keep, j]
        dates = [d for d, k in zip(paths.dates, keep, strict=True) if k]
        return [
            {
                "date": d.isoformat(),
                "horizon_end": str(e),
                "margin": float(margins["netted"][i]),
                "grouped_margin": float(margins["grouped"][i]),
                "standalone_margin": float(margins["standalone"][i]),
                "pnl": float(pnl[i]),
                "pnl_clean": None if clean is None else float(clean[i]),
                "exception": bool(-pnl[i] > margins["netted"][i]),
                "standalone_exception": bool(-pnl[i] > margins["standalone"][i]),
            }
            for i, (d, e) in enumerate(zip(dates, ends, strict=True))
        ]

    def to_dict(self, *, with_series: bool = True) -> dict[str, Any]:
        """JSON: the book's netted statistics at the top, then per mode and per account."""
        book = {m: self.stats[("book", m)].to_dict() for m in MODES}
        out: dict[str, Any] = {
            "model": self.model,
            "book": self.book,
            "rolling": self.rolling,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "confidence": self.confidence,
            "mpor": self.mpor,
            "by": self.by,
            **book["netted"],
            **book,
            "accounts": [
                {"account": a, **{m: self.stats[(a, m)].to_dict() for m in MODES}}
                for a in self.paths.accounts
            ],
            "offsets": list(self.offsets),
            "skipped": [{"date": d.isoformat(), "reason": r} for d, r in self.paths.skipped],
        }
        if with_series:
            out["series"] = self.series()
        out["units"] = backtest_units()
        return out


def backtest_units(currency: str = "USD") -> dict[str, str]:
    """The units of a backtest's JSON fields (money: the snapshots built from the history
    report in USD, :func:`crossmargin.market.builder.snapshot_from_history`)."""
    return {
        "money": f"{currency}: margins, P&L (hypothetical and clean), shortfalls, VaR/ES "
        "forecasts, mean credits",
        "observations": "backtest days (steps of each account's calendar)",
        "exceptions": "count of days with realised loss > margin held",
        "mpor": "steps of the account's calendar (days)",
        "probability": "decimal (0.00385 = 0.385%): exception probabilities, p-values, "
        "confidence, ES-equivalent levels, coverage_ratio, exception_rate",
        "expected": "expected count of exceptions over the observations",
        "z2": "dimensionless Acerbi-Szekely statistic (0 under a correct ES; < 0: ES too small)",
        "pct": "percent (12.5 = 12.5%): every *_pct field of procyclicality",
        "peak_to_trough_ratio": "dimensionless: highest / lowest margin of the series",
        "steps": "steps of the account's calendar: exhausted_steps, rebuild_steps, indices",
        "buffer": "decimal fraction of the calculated margin (0.25 = 25%)",
        "correlation": "dimensionless, -1 to 1",
    }


def summarise(
    paths: BacktestPaths,
    *,
    model: str,
    confidence: float,
    mpor: int,
    book: str,
    rolling: bool,
    offsets: tuple[dict[str, Any], ...] = (),
    by: str = "underlying",
) -> BacktestResult:
    """Statistics of every account and mode on its own days, and of the whole book (sums
    across accounts on the days on which every account has a value)."""
    stats: dict[tuple[str, str], SeriesStats] = {}
    every = paths.observed()
    es_based = model == "es"
    for mode in MODES:
        for j, acc in enumerate(paths.accounts):
            own = paths.observed(j)  # the account's own days only
            forecast = (
                paths.forecast.predictive(j, own)
                if paths.forecast is not None and mode == "netted" and es_based
                else None
            )
            stats[(acc, mode)] = series_stats(
                paths.margin[mode][own, j],
                paths.pnl[own, j],
                confidence,
                mpor,
                es_based=es_based,
                pnl_clean=None if paths.pnl_clean is None else paths.pnl_clean[own, j],
                predictive=forecast,
            )
        stats[("book", mode)] = series_stats(
            paths.margin[mode][every].sum(axis=1),
            paths.pnl[every].sum(axis=1),
            confidence,
            mpor,
            es_based=es_based,
            pnl_clean=None if paths.pnl_clean is None else paths.pnl_clean[every].sum(axis=1),
        )
    return BacktestResult(
        model=model,
        confidence=confidence,
        mpor=mpor,
        book=book,
        rolling=rolling,
        paths=paths,
        stats=stats,
        offsets=offsets,
        by=by,
    )


def pearson(x: FloatArray, y: FloatArray) -> float | None:
    """Sample correlation, or ``None`` with fewer than 3 points or no variation."""
    if x.size < 3 or float(np.std(x)) == 0.0 or float(np.std(y)) == 0.0:
        return None
    value = float(np.corrcoef(x, y)[0, 1])
    return value if math.isfinite(value) else None
