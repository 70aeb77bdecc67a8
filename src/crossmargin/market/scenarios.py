"""Scenario sets: joint moves of underlyings' spots and implied vols, and a time step.

A :class:`ScenarioSet` holds, for ``n`` scenarios and ``u`` underlyings (scenario axis
first):

- ``spot_shocks`` (n, u): ``relative`` moves ``S₁ = S₀·(1 + x)`` or ``log`` moves
  ``S₁ = S₀·e^x``;
- ``vol_shocks`` (n, u): ``absolute`` shifts ``σ₁ = σ₀ + x`` or ``relative`` shifts
  ``σ₁ = σ₀·(1 + x)``, optionally shaped by expiry with :class:`VolTermShape`
  (``x·(ref_days / max(DTE, min_days))^p``, ``p`` different below and above ``ref_days``,
  as in exchange portfolio-margin grids); vols are floored at ``min_vol``;
- ``time_steps`` (n,): years elapsed in the scenario (e.g. the margin period of risk);
- ``weights`` (n,): a weight per scenario (1 by default) for methods that use one;
- ``asset_moves``: relative price moves (n,) of collateral assets that are not underlyings
  (a stablecoin depeg: ``{"USDe": [-0.35]}``, ``P₁ = P₀·(1 + x)``); an asset not named keeps
  its price (stress tests report it).

Every underlying of a book must appear in the set when it is revalued: a move of 0 is
stated explicitly, never assumed.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from crossmargin.errors import InputError

FloatArray = NDArray[np.float64]
SpotShockType = Literal["relative", "log"]
VolShockType = Literal["absolute", "relative"]


@dataclass(frozen=True, slots=True, kw_only=True)
class VolTermShape:
    """Scale vol shocks by ``(ref_days / max(DTE, min_days))^p`` (p short/long of ``ref_days``)."""

    ref_days: float = 30.0
    power_short: float = 0.0
    power_long: float = 0.0
    min_days: float = 1.0

    def factor(self, t_years: ArrayLike) -> FloatArray:
        """Multiplier for expiries ``t_years``."""
        days = np.maximum(np.asarray(t_years, dtype=np.float64) * 365.0, self.min_days)
        power = np.where(days < self.ref_days, self.power_short, self.power_long)
        out: FloatArray = (self.ref_days / days) ** power
        return out


def _matrix(x: ArrayLike | None, n: int, u: int, name: str) -> FloatArray:
    if x is None:
        return np.zeros((n, u))
    arr = np.asarray(x, dtype=np.float64)
    if arr.shape != (n, u):
        raise InputError(f"{name} has shape {arr.shape}, expected ({n}, {u})")
    if not np.all(np.isfinite(arr)):
        raise InputError(f"{name} contains NaN or infinite values")
    return arr


@dataclass(frozen=True, slots=True, kw_only=True)
class ScenarioSet:
    """Joint market moves (see the module docstring)."""

    underlyings: tuple[str, ...]
    spot_shocks: FloatArray
    vol_shocks: FloatArray = field(default_factory=lambda: np.zeros((0, 0)))
    time_steps: FloatArray = field(default_factory=lambda: np.zeros(0))
    weights: FloatArray = field(default_factory=lambda: np.zeros(0))
    names: tuple[str, ...] = ()
    spot_shock_type: SpotShockType = "relative"
    vol_shock_type: VolShockType = "absolute"
    vol_term_shape: VolTermShape | None = None
    min_vol: float = 0.0001
    label: str = ""
    asset_moves: Mapping[str, FloatArray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        spot = np.asarray(self.spot_shocks, dtype=np.float64)
        if spot.ndim != 2 or spot.shape[1] != len(self.underlyings):
            raise InputError(
                f"spot_shocks must be (scenarios, {len(self.underlyings)}), got {spot.shape}"
            )
        n, u = spot.shape
        if n == 0:
            raise InputError("a scenario set needs at least one scenario")
        if len(set(self.underlyings)) != u:
            raise InputError("duplicate underlyings in scenario set")
        if self.spot_shock_type not in ("relative", "log"):
            raise InputError(
                f"spot_shock_type must be 'relative' or 'log', not {self.spot_shock_type!r}"
            )
        if self.vol_shock_type not in ("absolute", "relative"):
            raise InputError(
                f"vol_shock_type must be 'absolute' or 'relative', not {self.vol_shock_type!r}"
            )
        spot = _matrix(spot, n, u, "spot_shocks")
        if self.spot_shock_type == "relative" and np.any(spot <= -1.0):
            raise InputError("relative spot shocks must be > -1 (a price cannot fall 100% or more)")
        vol = None if np.size(self.vol_shocks) == 0 else self.vol_shocks
        steps = np.zeros(n) if np.size(self.time_steps) == 0 else np.asarray(self.time_steps, float)
        weights = np.ones(n) if np.size(self.weights) == 0 else np.asarray(self.weights, float)
        if steps.shape != (n,) or np.any(steps < 0) or not np.all(np.isfinite(steps)):
            raise InputError(f"time_steps must be {n} non-negative years")
        if weights.shape != (n,) or np.any(weights < 0) or not np.all(np.isfinite(weights)):
            raise InputError(f"weights must be {n} non-negative numbers")
        names = self.names or tuple(f"s{i + 1}" for i in range(n))
        if len(names) != n:
            raise InputError(f"{len(names)} scenario names for {n} scenarios")
        object.__setattr__(self, "spot_shocks", spot)
        object.__setattr__(self, "vol_shocks", _matrix(vol, n, u, "vol_shocks"))
        object.__setattr__(self, "time_steps", steps)
        object.__setattr__(self, "weights", weights)
        object.__setattr__(self, "names", tuple(names))
        assets = {}
        for asset, raw in self.asset_moves.items():
            moves = np.asarray(raw, dtype=np.float64).reshape(-1)
            if moves.shape != (n,) or not np.all(np.isfinite(moves)) or np.any(moves <= -1.0):
                raise InputError(
                    f"asset_moves[{asset!r}] must be {n} finite relative moves > -1, got {raw!r}"
                )
            moves.setflags(write=False)
            assets[asset] = moves
        object.__setattr__(self, "asset_moves", assets)
        for arr in (self.spot_shocks, self.vol_shocks, self.time_steps, self.weights):
            arr.setflags(write=False)

    @property
    def size(self) -> int:
        """Number of scenarios."""
        return int(self.spot_shocks.shape[0])

    def index(self, underlying: str) -> int:
        """Column of ``underlying``; InputError if the set does not shock it."""
        try:
            return self.underlyings.index(underlying)
        except ValueError:
            raise InputError(
                f"scenario set {self.label or ''} has no moves for {underlying!r} "
                f"(it covers {', '.join(self.underlyings)})"
            ) from None

    def spot_factor(self) -> FloatArray:
        """``S₁/S₀`` per scenario and underlying."""
        if self.spot_shock_type == "log":
            return np.exp(self.spot_shocks)
        return 1.0 + self.spot_shocks

    @classmethod
    def grid(
        cls,
        underlyings: Sequence[str],
        spot_moves: Sequence[float],
        vol_moves: Sequence[float] = (0.0,),
        *,
        joint: bool = True,
        **kwargs: object,
    ) -> ScenarioSet:
        """Cartesian grid of spot x vol moves.

        ``joint=True`` moves every underlying together (one scenario per grid point);
        ``joint=False`` moves one underlying at a time, the others fixed.
        """
        und = tuple(underlyings)
        points = list(itertools.product(spot_moves, vol_moves))
        names = [f"spot{m:+.2%} vol{v:+.4g}" for m, v in points]
        if joint:
            spot = np.array([[m] * len(und) for m, _ in points], dtype=float).reshape(-1, len(und))
            vol = np.array([[v] * len(und) for _, v in points], dtype=float).reshape(-1, len(und))
        else:
            rows_s, rows_v, tagged = [], [], []
            for j, u in enumerate(und):
                for (m, v), nm in zip(points, names, strict=True):
                    rs, rv = np.zeros(len(und)), np.zeros(len(und))
                    rs[j], rv[j] = m, v
                    rows_s.append(rs)
                    rows_v.append(rv)
                    tagged.append(f"{u} {nm}")
            spot, vol, names = np.array(rows_s), np.array(rows_v), tagged
        return cls(
            underlyings=und,
            spot_shocks=spot,
            vol_shocks=vol,
            names=tuple(names),
            **kwargs,  # type: ignore[arg-type]
        )
