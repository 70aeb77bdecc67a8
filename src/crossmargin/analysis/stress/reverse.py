"""Reverse stress: the smallest plausible joint move that breaks an account's margin.

For an account with netted margin held ``M`` and factor moves ``x`` (spot log returns and
implied-vol changes of the book's underlyings over the MPOR ``h``):

1. **Calibration.** ``Σ₁`` is the sample covariance of the ES model's lookback window of
   daily factor moves (:func:`crossmargin.analysis.stress.factors.es_window`); over the MPOR
   ``Σ = h·Σ₁`` (square-root-of-time). Factors that never move in the window are held at 0.
   With ``Σ = VΛVᵀ`` (eigenvalues floored at ``10⁻¹²·λ_max``) and ``A = VΛ^{1/2}``, a move
   is ``x = A·z`` and its **Mahalanobis distance** is ``d(x) = √(xᵀΣ⁻¹x) = ‖z‖``.
2. **Search.** Directions ``u`` on the unit sphere of ``z``: ``n_directions`` random ones
   (fixed seed), ``±`` every axis, and per account the **gradient direction**
   ``u ∝ −Aᵀ∇ₓP`` (the delta direction: the fastest first-order loss per unit distance; ``∇ₓP``
   by central bumps with full revaluation). Along each ray ``x = r·A·u`` the account's loss
   ``L(r·A·u)`` (full revaluation, ``h`` days of decay) is evaluated on a radius grid
   ``Δr, 2Δr, … r_max``; the first grid radius where ``L > M`` over all directions brackets
   the answer, then **bisection** on the radius (full revaluation at each step) along the
   best bracketing directions gives ``d* = min r`` with ``L(r·A·u) > M``.
3. **Report.** The move per underlying at ``d*`` (spot ``e^x − 1``, vol change in decimal),
   ``d*``, and its **historical plausibility**: the share of all overlapping h-day moves of
   the full history up to the market date (unfiltered) with Mahalanobis distance ``≥ d*``
   under the same ``Σ``, and the last date one occurred. No breach within ``r_max``: the
   account's margin covers every move up to that distance (reported as such).

The grid search is a heuristic for a non-convex problem: ``d*`` is an upper bound of the
true minimum distance (finer grids and more directions tighten it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from crossmargin.analysis.stress.common import FloatArray, HeldMargin, Move, account_losses
from crossmargin.analysis.stress.factors import FactorWindow
from crossmargin.errors import InputError
from crossmargin.market.scenarios import ScenarioSet
from crossmargin.market.snapshot import MarketSnapshot
from crossmargin.portfolio import Portfolio
from crossmargin.stats.horizon import overlapping_sums

_EIG_FLOOR = 1e-12


@dataclass(frozen=True, slots=True, kw_only=True)
class ReverseStress:
    """The smallest breaking move found for one account (``distance`` None: none found)."""

    account: str
    margin: float
    distance: float | None
    loss: float | None
    moves: dict[str, Move]
    direction: str
    plausibility: float | None
    last_seen: str | None
    history: tuple[str, str]
    max_distance: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "account": self.account,
            "margin": self.margin,
            "mahalanobis_distance": self.distance,
            "loss": self.loss,
            "direction": self.direction,
            "moves": {u: m.to_dict() for u, m in self.moves.items()},
            "plausibility": self.plausibility,
            "last_seen": self.last_seen,
            "history": list(self.history),
            "max_distance": self.max_distance,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class _Geometry:
    active: np.ndarray  # bool mask over the window's factors
    a: FloatArray  # (F_active, F_active): x = A z
    inv: FloatArray  # Σ⁺ on the active factors


def _geometry(window: FactorWindow) -> _Geometry:
    active = np.std(window.daily, axis=0) > 0
    if not active.any():
        raise InputError("no factor of the book moves in the window: nothing to reverse-stress")
    cov = np.atleast_2d(np.cov(window.daily[:, active], rowvar=False)) * window.mpor
    lam, vec = np.linalg.eigh(cov)
    lam = np.maximum(lam, _EIG_FLOOR * float(lam.max()))
    return _Geometry(
        active=active,
        a=np.asarray(vec * np.sqrt(lam), dtype=np.float64),
        inv=np.asarray((vec / lam) @ vec.T, dtype=np.float64),
    )


def _moves_set(
    window: FactorWindow, geo: _Geometry, x_active: FloatArray, step: float
) -> ScenarioSet:
    x = np.zeros((x_active.shape[0], window.daily.shape[1]))
    x[:, geo.active] = x_active
    u = len(window.underlyings)
    return ScenarioSet(
        underlyings=window.underlyings,
        spot_shocks=x[:, :u],
        vol_shocks=x[:, u:],
        time_steps=np.full(x.shape[0], step),
        spot_shock_type="log",
        vol_shock_type="absolute",
        label="reverse stress",
    )


def _gradients(
    portfolio: Portfolio, snapshot: MarketSnapshot, window: FactorWindow, geo: _Geometry
) -> FloatArray:
    """(accounts, F_active) loss-increasing directions in z space, unit length (0 if flat)."""
    f = int(geo.active.sum())
    scale = np.sqrt(np.sum(geo.a**2, axis=1))  # per-factor sd over the MPOR
    eps = 1e-3 * scale
    bumps = np.vstack([np.diag(eps), -np.diag(eps)])
    loss = account_losses(portfolio, snapshot, _moves_set(window, geo, bumps, 0.0))
    grad_loss = (loss[:f] - loss[f:]) / (2 * eps[:, None])  # dL/dx, (F, accounts)
    dirs = (geo.a.T @ grad_loss).T  # dL/dz = Aᵀ dL/dx
    norms = np.linalg.norm(dirs, axis=1, keepdims=True)
    out: FloatArray = np.where(norms > 0, dirs / np.where(norms > 0, norms, 1.0), 0.0)
    return out


def reverse_stress(
    portfolio: Portfolio,
    snapshot: MarketSnapshot,
    window: FactorWindow,
    held: HeldMargin,
    history_daily: FloatArray,
    history_dates: tuple[str, ...],
    *,
    accounts: tuple[str, ...] | None = None,
    n_directions: int = 2000,
    max_distance: float = 12.0,
    step: float = 0.25,
    bisections: int = 30,
    seed: int = 20240805,
) -> tuple[ReverseStress, ...]:
    """The smallest breaking move of each account (see the module docstring)."""
    chosen = accounts or portfolio.accounts
    for acc in chosen:
        if acc not in portfolio.accounts:
            raise InputError(f"unknown account {acc!r} (book has {', '.join(portfolio.accounts)})")
    if not (max_distance > 0 and 0 < step <= max_distance):
        raise InputError("need 0 < step <= max_distance for the reverse-stress radius grid")
    geo = _geometry(window)
    f = int(geo.active.sum())
    rng = np.random.default_rng(seed)
    random = rng.standard_normal((n_directions, f))
    random /= np.linalg.norm(random, axis=1, keepdims=True)
    grads = _gradients(portfolio, snapshot, window, geo)
    axes = np.vstack([np.eye(f), -np.eye(f)])
    dirs = np.vstack([grads, axes, random])
    names = (
        [f"gradient {a}" for a in portfolio.accounts]
        + [f"{'+' if i < f else '-'}axis {i % f}" for i in range(2 * f)]
        + [f"random {i}" for i in range(n_directions)]
    )
    radii = np.arange(step, max_distance + 1e-9, step)
    z = (radii[:, None, None] * dirs[None, :, :]).reshape(-1, f)
    loss = account_losses(
        portfolio, snapshot, _moves_set(window, geo, z @ geo.a.T, window.step_years)
    )
    loss = loss.reshape(len(radii), len(dirs), -1)
    hist = _history_distances(window, geo, history_daily, history_dates)
    out = []
    for acc in chosen:
        j = portfolio.accounts.index(acc)
        m = held.required[acc]
        breach = loss[:, :, j] > m
        if not breach.any():
            out.append(_none(acc, m, window, history_dates, max_distance))
            continue
        first = np.where(breach.any(axis=0), breach.argmax(axis=0), len(radii))
        k = int(first.min())
        cands = np.flatnonzero(first == k)
        cands = cands[np.argsort(-loss[k, cands, j])][:8]
        lo = np.full(len(cands), radii[k - 1] if k > 0 else 0.0)
        hi = np.full(len(cands), radii[k])
        for _ in range(bisections):
            mid = (lo + hi) / 2
            x = (mid[:, None] * dirs[cands]) @ geo.a.T
            over = (
                account_losses(portfolio, snapshot, _moves_set(window, geo, x, window.step_years))[
                    :, j
                ]
                > m
            )
            hi = np.where(over, mid, hi)
            lo = np.where(over, lo, mid)
        best = int(np.argmin(hi))
        d = float(hi[best])
        x = (d * dirs[cands[best]]) @ geo.a.T
        scen = _moves_set(window, geo, x[None, :], window.step_years)
        final = float(account_losses(portfolio, snapshot, scen)[0, j])
        frac, last = _plausibility(hist, history_dates, window.mpor, d)
        out.append(
            ReverseStress(
                account=acc,
                margin=m,
                distance=d,
                loss=final,
                moves=_report_moves(window, scen),
                direction=names[int(cands[best])],
                plausibility=frac,
                last_seen=last,
                history=(history_dates[0], history_dates[-1]),
                max_distance=max_distance,
            )
        )
    return tuple(out)


def _report_moves(window: FactorWindow, scen: ScenarioSet) -> dict[str, Move]:
    return {
        u: Move(
            spot=math.expm1(float(scen.spot_shocks[0, k])),
            vol=float(scen.vol_shocks[0, k]),
            source="reverse stress",
        )
        for k, u in enumerate(window.underlyings)
    }


def _history_distances(
    window: FactorWindow, geo: _Geometry, daily: FloatArray, dates: tuple[str, ...]
) -> FloatArray:
    if daily.shape[0] < window.mpor or len(dates) != daily.shape[0]:
        raise InputError("the full history is shorter than one MPOR")
    moves = overlapping_sums(daily[:, geo.active], window.mpor).returns_by_window
    d2 = np.einsum("ij,jk,ik->i", moves, geo.inv, moves)
    out: FloatArray = np.sqrt(np.maximum(d2, 0.0))
    return out


def _plausibility(
    distances: FloatArray, dates: tuple[str, ...], mpor: int, d: float
) -> tuple[float, str | None]:
    hit = distances >= d
    ends = dates[mpor - 1 :]
    last = ends[int(np.flatnonzero(hit)[-1])] if hit.any() else None
    return float(hit.mean()), last


def _none(
    acc: str, m: float, window: FactorWindow, dates: tuple[str, ...], r: float
) -> ReverseStress:
    return ReverseStress(
        account=acc,
        margin=m,
        distance=None,
        loss=None,
        moves={},
        direction=f"no move within Mahalanobis distance {r:g} breaks the margin",
        plausibility=None,
        last_seen=None,
        history=(dates[0], dates[-1]),
        max_distance=r,
    )


__all__ = ["ReverseStress", "reverse_stress"]
