"""Implied-volatility surfaces on an expiry x log-moneyness grid.

The grid holds implied vols ``σ[i, j]`` at expiries ``T_i`` (years, increasing) and
log-moneyness ``k_j = ln(K / F(T))`` (increasing). Lookup interpolates **total variance**
``w = σ²·T`` linearly in ``T`` at each grid moneyness (so forward variance stays
non-negative between calendar-arbitrage-free slices), then linearly in ``k``; outside the
grid the surface is flat in vol: before the first expiry the first slice's vol is used,
after the last the last slice's vol, and beyond the moneyness range the edge vol.

:meth:`VolSurface.from_parameters` builds a surface from an ATM vol (or ATM term
structure) plus a quadratic smile in log-moneyness, ``σ(k) = atm + skew·k + smile·k²``,
floored at ``min_vol``. The defaults used by the history builder are in
``docs/market-data.md``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from crossmargin.errors import MarketDataError

FloatArray = NDArray[np.float64]

DEFAULT_EXPIRIES: tuple[float, ...] = (7 / 365, 30 / 365, 91 / 365, 182 / 365, 1.0, 2.0)
DEFAULT_MONEYNESS: tuple[float, ...] = (-1.0, -0.5, -0.25, -0.1, 0.0, 0.1, 0.25, 0.5, 1.0)


@dataclass(frozen=True, slots=True, kw_only=True)
class VolSurface:
    """Implied vols (decimals) on an expiry (years) x log-moneyness grid."""

    expiries: tuple[float, ...]
    moneyness: tuple[float, ...]
    vols: tuple[tuple[float, ...], ...]
    _grid: FloatArray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        t = np.asarray(self.expiries, dtype=np.float64)
        k = np.asarray(self.moneyness, dtype=np.float64)
        v = np.asarray(self.vols, dtype=np.float64)
        if t.ndim != 1 or t.size == 0 or np.any(t <= 0) or np.any(np.diff(t) <= 0):
            raise MarketDataError("vol surface expiries must be positive and increasing")
        if k.ndim != 1 or k.size == 0 or np.any(np.diff(k) <= 0):
            raise MarketDataError("vol surface moneyness grid must be increasing")
        if v.shape != (t.size, k.size):
            raise MarketDataError(
                f"vol surface grid has shape {v.shape}, expected ({t.size}, {k.size})"
            )
        if not np.all(np.isfinite(v)) or np.any(v <= 0):
            raise MarketDataError("vol surface vols must be finite and > 0 (decimals, 0.55 = 55%)")
        object.__setattr__(self, "_grid", v)

    @classmethod
    def flat(cls, vol: float) -> VolSurface:
        """A surface with the same vol everywhere."""
        return cls(expiries=(1.0,), moneyness=(0.0,), vols=((float(vol),),))

    @classmethod
    def from_parameters(
        cls,
        *,
        atm_vol: float | Sequence[float],
        skew: float | Sequence[float] = 0.0,
        smile: float | Sequence[float] = 0.0,
        expiries: Sequence[float] = DEFAULT_EXPIRIES,
        moneyness: Sequence[float] = DEFAULT_MONEYNESS,
        min_vol: float = 0.01,
        max_vol: float = np.inf,
    ) -> VolSurface:
        """``σ(T, k) = min(max(atm(T) + skew(T)·k + smile(T)·k², min_vol), max_vol)``.

        ``atm_vol``, ``skew`` and ``smile`` are one number each (same for every expiry) or
        one per expiry. ``skew`` is the vol change per unit of log-moneyness (negative for
        equity-style put skew) and ``smile`` the curvature.
        """
        t = tuple(float(x) for x in expiries)
        atm, sk, sm = (
            np.broadcast_to(np.asarray(x, dtype=np.float64), (len(t),))[:, None]
            for x in (atm_vol, skew, smile)
        )
        k = np.asarray(moneyness, dtype=np.float64)[None, :]
        grid = np.clip(atm + sk * k + sm * k**2, min_vol, max_vol)
        return cls(
            expiries=t,
            moneyness=tuple(float(x) for x in k.ravel()),
            vols=tuple(tuple(float(x) for x in row) for row in grid),
        )

    def vol(self, t: ArrayLike, k: ArrayLike) -> FloatArray:
        """Implied vol at expiry ``t`` (years) and log-moneyness ``k``, broadcasting."""
        t_arr, k_arr = np.broadcast_arrays(
            np.asarray(t, dtype=np.float64), np.asarray(k, dtype=np.float64)
        )
        ts = np.asarray(self.expiries)
        ks = np.asarray(self.moneyness)
        grid = self._grid
        # Moneyness: linear in vol-grid column space (flat beyond the edges).
        if ks.size == 1:
            by_k = np.repeat(grid, t_arr.size, axis=1).T  # (n, n_t)
        else:
            kc = np.clip(k_arr.ravel(), ks[0], ks[-1])
            j = np.clip(np.searchsorted(ks, kc, side="right") - 1, 0, ks.size - 2)
            wk = (kc - ks[j]) / (ks[j + 1] - ks[j])
            # Interpolate total variance in k at each expiry row.
            var = grid**2 * ts[:, None]  # (n_t, n_k) total variance
            by_k = ((1.0 - wk)[:, None] * var[:, j].T + wk[:, None] * var[:, j + 1].T) / ts
            by_k = np.sqrt(by_k)
        # Expiry: linear in total variance, flat vol outside [T_0, T_last].
        tc = t_arr.ravel()
        if ts.size == 1:
            return by_k[:, 0].reshape(t_arr.shape)
        tcl = np.clip(tc, ts[0], ts[-1])
        i = np.clip(np.searchsorted(ts, tcl, side="right") - 1, 0, ts.size - 2)
        rows = np.arange(tc.size)
        w0 = by_k[rows, i] ** 2 * ts[i]
        w1 = by_k[rows, i + 1] ** 2 * ts[i + 1]
        wt = (tcl - ts[i]) / (ts[i + 1] - ts[i])
        var_t = ((1.0 - wt) * w0 + wt * w1) / tcl
        out: FloatArray = np.sqrt(var_t).reshape(t_arr.shape)
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready representation."""
        return {
            "expiries": list(self.expiries),
            "moneyness": list(self.moneyness),
            "vols": [list(r) for r in self.vols],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> VolSurface:
        """Inverse of :meth:`to_dict`."""
        return cls(
            expiries=tuple(float(x) for x in data["expiries"]),
            moneyness=tuple(float(x) for x in data["moneyness"]),
            vols=tuple(tuple(float(x) for x in row) for row in data["vols"]),
        )
