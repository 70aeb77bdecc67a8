"""Is an offset between two underlyings eligible for credit? (EMIR RTS 153/2013 Art 27(1))

A pair ``(u, v)`` passes a tier's rule as of date ``D`` when the correlation of their
day-to-day log moves on the pair's joint calendar (every day for two crypto underlyings, NYSE
sessions otherwise; :func:`crossmargin.market.factor_grid.daily_factor_moves`) is

* **significant** over the lookback ``(D − L, D]`` and over the stressed window: the one-sided
  Fisher-z lower confidence bound of ``|ρ|`` at confidence ``q``,
  ``tanh(atanh|ρ| − z_q/√(n − 3))``, is at least ``min_correlation``;
* **stable**: ``ρ`` has the same sign in both windows.

When the rule's stressed window has not happened by ``D`` (it starts after ``D``) or the pair
has no common history in it, the stressed check uses the pair's **most turbulent window** up
to ``D`` instead: the ``STRESS_DAYS`` consecutive joint days with the largest mean of
``x²/σx² + y²/σy²`` (each move squared and scaled by its own variance over the pair's history
to ``D``), and says so (``stressed_source``). Only data up to ``D`` is read. A pair with no
common history in a window fails, saying so.
Results are kept on the history object (one test per pair, date and rule).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

import numpy as np

from crossmargin.errors import MarketDataError
from crossmargin.market.calendars import period_start
from crossmargin.market.factor_grid import daily_factor_moves
from crossmargin.market.history import MarketHistory, to_timestamp
from crossmargin.netting.tiers import Eligibility


@dataclass(frozen=True, slots=True, kw_only=True)
class WindowCorrelation:
    """The correlation of a pair's daily moves over one window, and its lower bound."""

    first: str
    last: str
    days: int
    rho: float
    lower_bound: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "first": self.first,
            "last": self.last,
            "days": self.days,
            "rho": self.rho if math.isfinite(self.rho) else None,  # JSON has no NaN
            "lower_bound": self.lower_bound,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class PairTest:
    """The eligibility test of one pair of underlyings (see the module docstring)."""

    pair: tuple[str, str]
    eligible: bool
    reason: str
    lookback: WindowCorrelation | None = None
    stressed: WindowCorrelation | None = None
    stressed_source: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "pair": list(self.pair),
            "eligible": self.eligible,
            "reason": self.reason,
            "lookback": None if self.lookback is None else self.lookback.to_dict(),
            "stressed": None if self.stressed is None else self.stressed.to_dict(),
            "stressed_source": self.stressed_source,
        }


#: Length of the fallback stressed window, in joint days (about three months of sessions).
STRESS_DAYS = 63
#: Where the fallback looks for the most turbulent window: this far back from the as-of date.
STRESS_SEARCH_START = "1990-01-01"


def lower_bound(rho: float, n: int, confidence: float) -> float:
    """One-sided Fisher-z lower confidence bound of ``|rho|`` from ``n`` observations."""
    if n <= 3 or not math.isfinite(rho):
        return 0.0
    z = NormalDist().inv_cdf(confidence)
    r = min(abs(rho), 1.0 - 1e-12)
    return max(0.0, math.tanh(math.atanh(r) - z / math.sqrt(n - 3)))


def _window(
    history: MarketHistory, pair: tuple[str, str], start: object, end: object, confidence: float
) -> WindowCorrelation:
    """The pair's correlation over ``[start, end]``. It reads data up to ``end`` only, so a
    window ending before a backtest view's cut-off (a stressed window in the past) is
    computed once on the history the views were cut from and shared
    (:meth:`MarketHistory.causal`)."""
    hi = to_timestamp(end)  # type: ignore[arg-type]
    if history.cutoff is not None and hi < history.cutoff:
        key = ("offset_window", f"{'|'.join(pair)}|{start}|{hi:%Y-%m-%d}|{confidence}")
        shared = history.causal(key, lambda root: _correlation(root, pair, start, hi, confidence))
        if shared is not None:
            return shared
    return _correlation(history, pair, start, end, confidence)


def _correlation(
    history: MarketHistory, pair: tuple[str, str], start: object, end: object, confidence: float
) -> WindowCorrelation:
    moves = daily_factor_moves(history, pair, start, end)  # type: ignore[arg-type]
    x, y = moves.daily[:, 0], moves.daily[:, 1]
    n = x.size
    rho = float("nan")
    if n > 2 and np.std(x) > 0 and np.std(y) > 0:
        rho = float(np.corrcoef(x, y)[0, 1])
    return WindowCorrelation(
        first=moves.dates[0],
        last=moves.dates[-1],
        days=n,
        rho=rho,
        lower_bound=lower_bound(rho, n, confidence),
    )


def pair_test(
    history: MarketHistory, pair: tuple[str, str], asof: object, rule: Eligibility
) -> PairTest:
    """Test ``pair`` as of ``asof`` under ``rule`` (memoised on ``history``)."""
    a, b = sorted(pair)
    when = to_timestamp(asof)  # type: ignore[arg-type]
    key = (
        "offset_pair",
        f"{a}|{b}|{when:%Y-%m-%d}|{rule.min_correlation}|{rule.confidence}|{rule.lookback}|"
        f"{rule.stressed_window[0]}|{rule.stressed_window[1]}",
    )
    return history.derived(key, lambda: _test(history, (a, b), when, rule))


def _turbulent(
    history: MarketHistory, pair: tuple[str, str], asof: Any, confidence: float
) -> WindowCorrelation:
    """The pair's most turbulent ``STRESS_DAYS`` joint days up to ``asof`` (module docstring)."""
    moves = daily_factor_moves(history, pair, STRESS_SEARCH_START, asof)
    x, y = moves.daily[:, 0], moves.daily[:, 1]
    n = x.size
    if n < STRESS_DAYS:
        raise MarketDataError(f"{'/'.join(pair)}: {n} joint days, fewer than {STRESS_DAYS}")
    vx, vy = float(np.var(x)), float(np.var(y))
    score = np.zeros(n)
    if vx > 0:
        score += x * x / vx
    if vy > 0:
        score += y * y / vy
    sums = np.convolve(score, np.ones(STRESS_DAYS), mode="valid")
    start = int(np.argmax(sums))
    xs, ys = x[start : start + STRESS_DAYS], y[start : start + STRESS_DAYS]
    rho = float("nan")
    if np.std(xs) > 0 and np.std(ys) > 0:
        rho = float(np.corrcoef(xs, ys)[0, 1])
    return WindowCorrelation(
        first=moves.dates[start],
        last=moves.dates[start + STRESS_DAYS - 1],
        days=STRESS_DAYS,
        rho=rho,
        lower_bound=lower_bound(rho, STRESS_DAYS, confidence),
    )


def _test(history: MarketHistory, pair: tuple[str, str], asof: Any, rule: Eligibility) -> PairTest:
    label = f"{pair[0]}/{pair[1]}"
    try:
        lookback = _window(history, pair, period_start(asof, rule.lookback), asof, rule.confidence)
    except MarketDataError as err:
        return PairTest(pair=pair, eligible=False, reason=f"no lookback history for {label}: {err}")
    lo, hi = rule.stressed_window
    stressed = None
    source = f"stressed window {lo}..{hi}"
    try:
        if to_timestamp(lo) <= asof:
            stressed = _window(history, pair, lo, min(to_timestamp(hi), asof), rule.confidence)
    except MarketDataError:
        stressed = None
    if stressed is None:
        why = "starts after the as-of date" if to_timestamp(lo) > asof else "has no common data"
        try:
            stressed = _turbulent(history, pair, asof, rule.confidence)
        except MarketDataError as err:
            return PairTest(
                pair=pair,
                eligible=False,
                reason=f"{label}: the stressed window {lo}..{hi} {why} and no turbulent window "
                f"can replace it ({err})",
                lookback=lookback,
            )
        source = (
            f"most turbulent {STRESS_DAYS} joint days up to the as-of date "
            f"({stressed.first}..{stressed.last}): the stressed window {lo}..{hi} {why}"
        )
    m = rule.min_correlation
    problems = []
    if lookback.lower_bound < m:
        problems.append(
            f"lookback |rho| {abs(lookback.rho):.2f} (lower bound {lookback.lower_bound:.2f}) "
            f"below {m:g}"
        )
    if stressed.lower_bound < m:
        problems.append(
            f"stressed |rho| {abs(stressed.rho):.2f} (lower bound {stressed.lower_bound:.2f}) "
            f"below {m:g}"
        )
    if problems == [] and np.sign(lookback.rho) != np.sign(stressed.rho):
        problems.append(f"sign flips: {lookback.rho:+.2f} now, {stressed.rho:+.2f} in stress")
    reason = (
        "; ".join(problems)
        if problems
        else (f"|rho| {abs(lookback.rho):.2f} now, {abs(stressed.rho):.2f} in stress, same sign")
    )
    return PairTest(
        pair=pair, eligible=not problems, reason=f"{label}: {reason} ({source})",
        lookback=lookback, stressed=stressed, stressed_source=source,
    )  # fmt: skip


__all__ = ["PairTest", "WindowCorrelation", "lower_bound", "pair_test"]
