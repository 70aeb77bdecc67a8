"""Plain, obviously-correct twins of the implied-vol level pipeline (for the tests only).

Nothing here imports crossmargin's EWMA, cap, Black or variance-swap code: the EWMA and the cap
are Python loops over floats, Black-76 uses ``math.erfc``, the variance swap is
``scipy.integrate.quad`` and its inverse ``scipy.optimize.brentq``.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

from scipy.integrate import quad
from scipy.optimize import brentq


def ewma_vol_loop(
    closes: Sequence[float], lam: float, seed_window: int, days_per_year: int
) -> list[float]:
    """σ_t for returns t = seed_window .. n−1 (annualised), today's return included."""
    r = [math.log(closes[i] / closes[i - 1]) for i in range(1, len(closes))]
    var = sum(x * x for x in r[:seed_window]) / seed_window
    out = []
    for t, x in enumerate(r):
        var = lam * var + (1.0 - lam) * x * x
        if t >= seed_window:
            out.append(math.sqrt(var * days_per_year))
    return out


def cap_loop(values: Sequence[float], ratio: float) -> tuple[list[float], list[int]]:
    """Each value kept within [previous capped / ratio, previous capped × ratio]."""
    out: list[float] = []
    bound: list[int] = []
    for i, x in enumerate(values):
        if not out:
            out.append(x)
            continue
        prev = out[-1]
        c = min(max(x, prev / ratio), prev * ratio)
        if c != x:
            bound.append(i)
        out.append(c)
    return out, bound


def _ncdf(x: float) -> float:
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


def black76_otm(k: float, vol: float, t: float) -> float:
    """Undiscounted Black-76 OTM price per unit forward: put for k < 0, call for k ≥ 0."""
    s = vol * math.sqrt(t)
    strike = math.exp(k)
    d1 = (-k + 0.5 * s * s) / s
    d2 = d1 - s
    if k >= 0:
        return _ncdf(d1) - strike * _ncdf(d2)
    return strike * _ncdf(-d2) - _ncdf(-d1)


def smile_vol(atm: float, k: float, t: float, smile: tuple[float, float, float, float]) -> float:
    skew, curve, floor, cap = smile
    raw = atm + (skew * k + curve * k * k) / math.sqrt(t)
    return min(max(raw, floor), cap * atm)


def varswap_quad(atm: float, t: float, smile: tuple[float, float, float, float]) -> float:
    """√((2/T) ∫ OTM(K)/K² dK) by adaptive quadrature in k = ln(K/F) (F = 1)."""
    skew, curve, floor, cap = smile
    # Split at k = 0 and where the raw smile crosses the floor or the cap (quadratic roots).
    points = {0.0}
    for level in (floor, cap * atm):
        c = (level - atm) * math.sqrt(t)
        if curve > 0:
            disc = skew * skew + 4 * curve * c
            if disc >= 0:
                points |= {(-skew + s * math.sqrt(disc)) / (2 * curve) for s in (-1.0, 1.0)}
        elif skew != 0:
            points.add(c / skew)
    width = cap * atm * math.sqrt(t)
    lo, hi = -(14 * width + width * width), 14 * width + width * width
    edges = sorted({lo, hi, *(p for p in points if lo < p < hi)})

    def integrand(k: float) -> float:
        return black76_otm(k, smile_vol(atm, k, t, smile), t) * math.exp(-k)

    total = sum(
        quad(integrand, a, b, limit=400, epsabs=1e-16, epsrel=1e-12)[0]
        for a, b in itertools.pairwise(edges)
    )
    return math.sqrt(2.0 / t * total)


def atm_reference(level: float, t: float, smile: tuple[float, float, float, float]) -> float:
    """The ATM whose smile's variance-swap vol is ``level`` (root-find, ATM ≥ the floor)."""
    return float(
        brentq(lambda a: varswap_quad(a, t, smile) - level, smile[2], 10.0, xtol=1e-15, rtol=1e-14)
    )
