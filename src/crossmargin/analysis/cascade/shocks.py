"""Shock paths: the exogenous moves a cascade replays, in intraday steps.

A :class:`ShockPath` holds, for ``T`` steps, the cumulative log move of each underlying from
the start (``log_path``, (T + 1, K), row 0 = 0), each step's share of a trading day, its
depth collapse, and stablecoin prices (multipliers of par) at each step's end. The cascade
adds the price impact of its own liquidations on top (:mod:`crossmargin.analysis.cascade.
engine`).

Builders
--------
* :func:`replay_path` — a named replay (``cascade.json`` ``replays``) or dates: each day's
  real daily bars from the shared history. Within a day the log price runs through the
  points ``open`` (t = 0, the gap from the previous close), the first extreme (t = 1/3),
  the second extreme (t = 2/3) and the ``close`` (t = 1), linearly in between, sampled at
  ``steps_per_day`` equal steps; on a down day (close < open) the high comes first, else the
  low (the usual OHLC bar-path convention). An underlying whose file has closes only (SPX)
  takes the intraday *bridge* of its proxy (SPY): ``x(t) = t·x(1) + (p(t) − t·p(1))`` with
  ``p`` the proxy's path, so its own close-to-close move is kept. A day with no session of an
  underlying (a weekend for NYSE) leaves it flat (noted); a day outside its history is a
  :class:`~crossmargin.errors.MarketDataError`. The replay's real move is taken as the
  market's exogenous move; the cascade adds the impact of the simulated population's own
  liquidations.
* :func:`hypothetical_path` — relative moves per underlying (a ``--scenario`` file entry of
  :mod:`crossmargin.analysis.stress.hypothetical`), linear in log over the steps of one day.
* :func:`spread_break_path` — a correlation break: the spread ``x_a − x_b`` of two
  underlyings moves by ``multiple`` times its normal daily move ``σ_spread`` (the standard
  deviation of daily ``r_a − r_b`` over a year), half on each leg: Nasdaq Clearing 2018, where
  the Nordic-German power spread moved 17 times its normal daily move.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from crossmargin.analysis.cascade.params import CascadeParams, Replay
from crossmargin.errors import InputError, MarketDataError
from crossmargin.market.factor_grid import daily_factor_moves
from crossmargin.market.history import MarketHistory, read_series_file, to_timestamp

FloatArray = NDArray[np.float64]
#: Times within the day of open, first extreme, second extreme and close.
BAR_TIMES = np.array([0.0, 1.0 / 3.0, 2.0 / 3.0, 1.0])


@dataclass(frozen=True, slots=True, kw_only=True)
class ShockPath:
    """Exogenous moves of a cascade (see the module docstring)."""

    name: str
    kind: str
    underlyings: tuple[str, ...]
    log_path: FloatArray
    step_fraction: FloatArray
    depth_collapse: FloatArray
    labels: tuple[str, ...]
    stable: Mapping[str, FloatArray] = field(default_factory=dict)
    description: str = ""
    notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        t = self.step_fraction.shape[0]
        if t == 0:
            raise InputError(f"shock {self.name}: needs at least one step")
        if self.log_path.shape != (t + 1, len(self.underlyings)):
            raise InputError(f"shock {self.name}: log_path must be ({t + 1}, underlyings)")
        if not np.all(np.isfinite(self.log_path)) or np.any(self.log_path[0] != 0.0):
            raise InputError(f"shock {self.name}: log moves must be finite and start at 0")
        if np.any(self.step_fraction <= 0) or np.any(self.step_fraction > 1):
            raise InputError(f"shock {self.name}: each step is a fraction of a day in (0, 1]")
        if self.depth_collapse.shape != (t,) or np.any(
            (self.depth_collapse < 0) | (self.depth_collapse >= 1)
        ):
            raise InputError(f"shock {self.name}: depth collapse per step must lie in [0, 1)")
        if len(self.labels) != t:
            raise InputError(f"shock {self.name}: one label per step")
        for asset, prices in self.stable.items():
            if prices.shape != (t + 1,) or np.any(prices <= 0):
                raise InputError(f"shock {self.name}: {asset} prices must be {t + 1} positives")

    @property
    def steps(self) -> int:
        """Number of steps ``T``."""
        return int(self.step_fraction.shape[0])

    def scaled(self, factor: float) -> ShockPath:
        """The path with every log move (and every depeg's distance from par) × ``factor``."""
        if not (math.isfinite(factor) and factor >= 0):
            raise InputError(f"a shock scale must be finite and >= 0, got {factor}")
        stable = {a: np.maximum(1.0 - factor * (1.0 - p), 1e-6) for a, p in self.stable.items()}
        return replace(
            self, log_path=self.log_path * factor, stable=stable, name=f"{self.name} x{factor:g}"
        )

    def on(self, underlyings: Sequence[str]) -> ShockPath:
        """The path for ``underlyings`` (in that order): one the shock does not move stays flat
        (noted)."""
        cols, notes = [], list(self.notes)
        for u in underlyings:
            if u in self.underlyings:
                cols.append(self.log_path[:, self.underlyings.index(u)])
            else:
                cols.append(np.zeros(self.steps + 1))
                notes.append(f"{u}: not moved by {self.name} (flat)")
        return replace(
            self,
            underlyings=tuple(underlyings),
            log_path=np.column_stack(cols),
            notes=tuple(dict.fromkeys(notes)),
        )


def _even_steps(n: int) -> FloatArray:
    return np.linspace(0.0, 1.0, n + 1)


def hypothetical_path(
    moves: Mapping[str, float],
    *,
    name: str,
    steps: int,
    depth_collapse: float = 0.0,
    description: str = "",
) -> ShockPath:
    """Relative moves (``S₁ = S₀·(1 + m)``, m > −1) reached linearly in log over ``steps``."""
    if steps < 1:
        raise InputError(f"a hypothetical shock needs at least one step, got {steps}")
    bad = {u: m for u, m in moves.items() if not (math.isfinite(m) and m > -1.0)}
    if bad:
        raise InputError(f"shock {name}: relative moves must be finite and > -1, got {bad}")
    unds = tuple(moves)
    total = np.array([math.log1p(moves[u]) for u in unds])
    path = _even_steps(steps)[:, np.newaxis] * total[np.newaxis, :]
    return ShockPath(
        name=name,
        kind="hypothetical",
        underlyings=unds,
        log_path=path,
        step_fraction=np.full(steps, 1.0 / steps),
        depth_collapse=np.full(steps, depth_collapse),
        labels=tuple(f"{name} {j + 1}/{steps}" for j in range(steps)),
        description=description or name,
    )


def spread_volatility(history: MarketHistory, a: str, b: str, asof: object) -> float:
    """Standard deviation of daily ``ln(Sa) − ln(Sb)`` moves over the year to ``asof``."""
    end = to_timestamp(asof)  # type: ignore[arg-type]
    moves = daily_factor_moves(history, (a, b), end - pd.Timedelta(days=365), end)
    spread = moves.daily[:, 0] - moves.daily[:, 1]
    return float(np.std(spread, ddof=1))


def spread_break_path(
    long_leg: str,
    short_leg: str,
    *,
    multiple: float,
    sigma_spread: float,
    steps: int,
    depth_collapse: float = 0.0,
) -> ShockPath:
    """``x_long − x_short = multiple·σ_spread``, split evenly: ``±multiple·σ_spread/2``."""
    if not (math.isfinite(multiple) and math.isfinite(sigma_spread) and sigma_spread > 0):
        raise InputError("a spread break needs a finite multiple and a positive spread vol")
    half = 0.5 * multiple * sigma_spread
    total = np.array([half, -half])
    path = _even_steps(steps)[:, np.newaxis] * total[np.newaxis, :]
    name = f"{long_leg}-{short_leg} spread {multiple:+g} sigma"
    return ShockPath(
        name=name,
        kind="correlation-break",
        underlyings=(long_leg, short_leg),
        log_path=path,
        step_fraction=np.full(steps, 1.0 / steps),
        depth_collapse=np.full(steps, depth_collapse),
        labels=tuple(f"{name} {j + 1}/{steps}" for j in range(steps)),
        description=f"the spread {long_leg} - {short_leg} moves {multiple:g} x its normal daily "
        f"move ({sigma_spread:.4%} a day)",
    )


def _bar(history: MarketHistory, name: str, day: pd.Timestamp) -> FloatArray | None:
    """Log points (open, extreme 1, extreme 2, close) of ``name`` on ``day`` from its previous
    close, or None without intraday columns; MarketDataError outside its history."""
    closes = history.series(name)
    first, last = closes.index[0], closes.index[-1]
    if day <= first or day > last:
        raise MarketDataError(
            f"{name} has no history on {day:%Y-%m-%d} (covers {first:%Y-%m-%d}.."
            f"{last:%Y-%m-%d}); choose another crisis"
        )
    if day not in closes.index:
        return np.zeros(4)  # no session: flat
    prev = float(closes[closes.index < day].iloc[-1])
    close = float(closes[day])
    path = history.data_dir / history.spec(name).file
    try:
        o, h, lo = (
            float(read_series_file(path, c).get(day, np.nan)) for c in ("open", "high", "low")
        )
    except MarketDataError:
        return None
    divisor = history.spec(name).divisor
    if not all(math.isfinite(x) and x > 0 for x in (o, h, lo)):
        return None
    o, h, lo = o / divisor, h / divisor, lo / divisor
    first_x, second_x = (h, lo) if close < o else (lo, h)
    return np.log(np.array([o, first_x, second_x, close]) / prev)


def _day_path(
    history: MarketHistory, name: str, day: pd.Timestamp, proxy: str | None, notes: list[str]
) -> FloatArray:
    """The four bar points of ``name`` on ``day`` (own bar, proxy bridge, or close only)."""
    own = _bar(history, name, day)
    if own is not None:
        return own
    closes = history.series(name)
    total = float(np.log(closes[day] / closes[closes.index < day].iloc[-1]))
    if proxy is not None:
        shape = _bar(history, proxy, day)
        if shape is not None:
            notes.append(f"{name}: intraday shape of {proxy} (bridge), own close-to-close move")
            bridged: FloatArray = BAR_TIMES * total + (shape - BAR_TIMES * shape[-1])
            return bridged
    notes.append(f"{name}: closes only, linear within the day")
    return BAR_TIMES * total


def replay_path(
    history: MarketHistory,
    replay: Replay,
    name: str,
    underlyings: Sequence[str],
    *,
    steps_per_day: int,
    proxies: Mapping[str, str] | None = None,
) -> ShockPath:
    """The replay's real days on ``underlyings`` (module docstring)."""
    unds = tuple(underlyings)
    notes: list[str] = []
    times = np.arange(1, steps_per_day + 1) / steps_per_day
    rows = [np.zeros(len(unds))]
    labels = []
    level = np.zeros(len(unds))
    stable: dict[str, list[float]] = {a: [1.0] for a in replay.depegs}
    for d, text in enumerate(replay.days):
        day = to_timestamp(text)
        points = np.column_stack(
            [_day_path(history, u, day, (proxies or {}).get(u), notes) for u in unds]
        )  # (4, K)
        for u, col in zip(unds, points.T, strict=True):
            if not np.any(col):
                notes.append(f"{u}: no session on {day:%Y-%m-%d} (flat)")
        for t in times:
            rows.append(
                level + np.array([np.interp(t, BAR_TIMES, points[:, k]) for k in range(len(unds))])
            )
            labels.append(f"{day:%Y-%m-%d} {round(t * steps_per_day):02d}/{steps_per_day}")
            for asset, pts in replay.depegs.items():
                xs = np.array([p[0] for p in pts])
                ys = np.array([p[1] for p in pts])
                stable[asset].append(float(np.interp(t, xs, ys)) if d == 0 else float(ys[-1]))
        level = rows[-1]
    steps = len(labels)
    return ShockPath(
        name=name,
        kind="replay",
        underlyings=unds,
        log_path=np.array(rows),
        step_fraction=np.full(steps, 1.0 / steps_per_day),
        depth_collapse=np.full(steps, replay.depth_collapse),
        labels=tuple(labels),
        stable={a: np.array(p) for a, p in stable.items()},
        description=f"{replay.title}: {', '.join(replay.days)}",
        notes=tuple(dict.fromkeys(notes)),
    )


def resolve_replay(params: CascadeParams, spec: str) -> tuple[str, Replay]:
    """A named replay of the parameters, or dates ``DAY`` / ``START:END`` (every calendar day,
    no depth collapse, no depeg)."""
    if spec in params.replays:
        return spec, params.replays[spec]
    text = spec.strip()
    parts = text.split("..") if ".." in text else text.split(":")
    try:
        if len(parts) not in (1, 2) or not all(len(p.strip()) == 10 for p in parts):
            raise ValueError
        lo, hi = to_timestamp(parts[0].strip()), to_timestamp(parts[-1].strip())
    except (ValueError, TypeError):
        raise InputError(
            f"unknown crisis {spec!r}: use one of {', '.join(params.replays)} or dates "
            "DAY or START:END (YYYY-MM-DD)"
        ) from None
    if lo > hi:
        raise InputError(f"crisis dates {spec}: start is after end")
    days = [f"{d:%Y-%m-%d}" for d in pd.date_range(lo, hi, freq="D")]
    if len(days) > 31:
        raise InputError(f"crisis dates {spec}: at most 31 days a replay, got {len(days)}")
    return text, Replay(title=f"days {text}", days=days)


__all__ = [
    "ShockPath",
    "hypothetical_path",
    "replay_path",
    "resolve_replay",
    "spread_break_path",
    "spread_volatility",
]
