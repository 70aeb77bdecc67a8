"""A ``pm_grid`` risk unit's add-ons and margins for every row, in one compiled pass.

For row ``r`` of a risk unit (spot ``S``, the unit currency's USD rate ``fx``, the grid's
parameters by their :class:`~crossmargin.models.pm_grid_params.GridParameters` names), from
its scan loss, worst scenario, net delta ``N = Σ q·δ``, gross delta ``G = Σ |q|·|δ|``, roll
shock and correlation contingency (USD) [formulas: :mod:`.pm_grid_addons`,
:func:`.pm_grid_params.min_delta_floor`]::

    E         = max(|N| − delta_shock_threshold / S, 0)          (0 when the threshold is ∞)
    shock     = max_delta_shock · E · S
    increment = im_increment_rate · E · E · S
    floor     = (min_delta_net_rate · |N| + min_delta_hedged_rate · max((G − |N|)/2, 0)) · S
    charge    = tiered(min_charge_rate · G · S)                   (min_charge_tiers, if any)
    risk      = scan + roll + shock + contingency
    base      = max(max(risk, floor), charge)
    IM        = im_factor · base + increment;   IM / fx in the unit's currency
    MM        = mm_factor · base
    worst     = the unit's first scenario index + the row's worst where scan > 0, else −1
    uplifts   = max(floor − risk, 0),  max(charge − max(risk, floor), 0),  (im_factor − 1) · base

(the uplifts are what the floor, the minimum charge and the IM factor add to the risk: the
components of a row's IM).

Before, these were a dozen NumPy calls per unit (three dozen with the margins and uplifts),
each on a what-if's few rows: most of the time went on the calls. :func:`unit_figures` writes
every unit's figures into one ``(figures, units, rows)`` buffer, so the book's totals are one
reduction of a block laid out as ``np.sum`` of the units' tuple lays it out. It does each
operation in the order of its NumPy twin (:func:`unit_figures_plain`, the formulation it
replaced), so the figures are the same bit for bit (``tests/models/test_pm_grid_figures.py``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numba
import numpy as np
import numpy.typing as npt

from crossmargin.models.pm_grid_addons import (
    delta_shock,
    excess_delta,
    im_increment,
    tiered_charge,
)
from crossmargin.models.pm_grid_params import min_delta_floor

if TYPE_CHECKING:
    from crossmargin.models.pm_grid_params import GridParameters

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

#: The rows of :func:`unit_figures`' buffer, in order (USD unless ``_in_currency``).
FIGURES = (
    "scan_loss",
    "roll_shock",
    "correlation_contingency",
    "delta_shock",
    "floor",
    "min_charge",
    "im_increment",
    "risk",
    "base",
    "initial",
    "initial_in_currency",
    "maintenance",
    "floor_uplift",
    "charge_uplift",
    "factor_uplift",
)


@dataclass(frozen=True, slots=True)
class FigureTerms:
    """A unit's terms as the kernel reads them: ``terms`` = (S, fx, threshold,
    max_delta_shock, im_increment_rate, min_delta_net_rate, min_delta_hedged_rate,
    min_charge_rate, im_factor, mm_factor); the charge's tiers as bounds and multipliers
    (empty: no tiers); ``offset``, the unit's first scenario index."""

    terms: FloatArray
    tier_hi: FloatArray
    tier_mult: FloatArray
    offset: int

    @classmethod
    def of(cls, grid: GridParameters, spot: float, fx: float, offset: int) -> FigureTerms:
        terms = np.array(
            [
                spot,
                fx,
                grid.delta_shock_threshold,
                grid.max_delta_shock,
                grid.im_increment_rate,
                grid.min_delta_net_rate,
                grid.min_delta_hedged_rate,
                grid.min_charge_rate,
                grid.im_factor,
                grid.mm_factor,
            ],
            dtype=np.float64,
        )
        tiers = grid.min_charge_tiers
        hi = np.array([float(t[0]) for t in tiers], dtype=np.float64)
        mult = np.array([float(t[1]) for t in tiers], dtype=np.float64)
        for a in (terms, hi, mult):
            a.flags.writeable = False
        return cls(terms, hi, mult, int(offset))


@numba.njit(inline="always")
def _maximum(a: float, b: float) -> float:
    """``np.maximum`` of two floats: ``a`` where ``a >= b`` or ``a`` is NaN, else ``b``."""
    return a if (a >= b or a != a) else b


@numba.njit(inline="always")
def _clip(x: float, hi: float) -> float:
    """``np.clip(x, 0.0, hi)``: ``min(max(x, 0), hi)``, NaN kept."""
    m = x if (x != x or x > 0.0) else 0.0
    return m if (m != m or m < hi) else hi


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _figures(
    scan: FloatArray,
    worst: IntArray,
    net: FloatArray,
    gross: FloatArray,
    roll: FloatArray,
    corr: FloatArray,
    terms: FloatArray,
    tier_hi: FloatArray,
    tier_mult: FloatArray,
    offset: int,
    out: FloatArray,
    worst_out: IntArray,
) -> None:  # pragma: no cover - compiled
    spot, fx, threshold = terms[0], terms[1], terms[2]
    shock_rate, m_inc, net_rate, hedged_rate = terms[3], terms[4], terms[5], terms[6]
    charge_rate, im_factor, mm_factor = terms[7], terms[8], terms[9]
    cut = threshold / spot
    no_excess = math.isinf(threshold)
    n_tiers = tier_hi.size
    for r in range(scan.size):
        a = abs(net[r])
        e = 0.0 if no_excess else _maximum(a - cut, 0.0)
        shock = shock_rate * e * spot
        increment = m_inc * e * e * spot
        hedged = _maximum((gross[r] - a) / 2.0, 0.0)
        floor = (net_rate * a + hedged_rate * hedged) * spot
        charge = charge_rate * gross[r] * spot
        if n_tiers > 0:
            acc, lo = 0.0, 0.0
            for t in range(n_tiers):
                width = _clip(charge - lo, max(tier_hi[t] - lo, 0.0))
                acc = acc + tier_mult[t] * width
                lo = tier_hi[t]
            charge = acc + tier_mult[n_tiers - 1] * _maximum(charge - lo, 0.0)
        risk = scan[r] + roll[r] + shock + corr[r]
        higher = _maximum(risk, floor)
        base = _maximum(higher, charge)
        initial = im_factor * base + increment
        out[0, r] = scan[r]
        out[1, r] = roll[r]
        out[2, r] = corr[r]
        out[3, r] = shock
        out[4, r] = floor
        out[5, r] = charge
        out[6, r] = increment
        out[7, r] = risk
        out[8, r] = base
        out[9, r] = initial
        out[10, r] = initial / fx
        out[11, r] = mm_factor * base
        out[12, r] = _maximum(floor - risk, 0.0)
        out[13, r] = _maximum(charge - higher, 0.0)
        out[14, r] = (im_factor - 1.0) * base
        worst_out[r] = worst[r] + offset if scan[r] > 0 else -1


def unit_figures(
    t: FigureTerms,
    scan: FloatArray,
    worst: IntArray,
    net: FloatArray,
    gross: FloatArray,
    roll: FloatArray,
    corr: FloatArray,
    out: FloatArray,
    worst_out: IntArray,
) -> None:
    """Write the :data:`FIGURES` of every row (module docstring) into ``out`` (figures x
    rows: a unit's slice of the book's buffer) and the worst scenario, in the context's
    numbering, into ``worst_out``."""
    n = scan.size
    if out.shape != (len(FIGURES), n) or worst_out.shape != (n,):
        raise ValueError(f"buffers of shape {out.shape} and {worst_out.shape} for {n} rows")
    _figures(scan, worst, net, gross, roll, corr, t.terms, t.tier_hi, t.tier_mult, t.offset,
             out, worst_out)  # fmt: skip


def unit_figures_plain(
    grid: GridParameters,
    t: FigureTerms,
    scan: FloatArray,
    worst: IntArray,
    net: FloatArray,
    gross: FloatArray,
    roll: FloatArray,
    corr: FloatArray,
) -> tuple[dict[str, FloatArray], IntArray]:
    """:func:`unit_figures` in NumPy, from the add-ons' own functions: the twin."""
    spot, fx = float(t.terms[0]), float(t.terms[1])
    excess = excess_delta(net, spot, grid.delta_shock_threshold)
    raw_charge = grid.min_charge_rate * gross * spot
    figures = {
        "delta_shock": delta_shock(excess, spot, grid.max_delta_shock),
        "floor": min_delta_floor(
            net,
            gross,
            spot,
            net_rate=grid.min_delta_net_rate,
            hedged_rate=grid.min_delta_hedged_rate,
        ),
        "min_charge": tiered_charge(raw_charge, grid.min_charge_tiers)
        if grid.min_charge_tiers
        else raw_charge,
        "im_increment": im_increment(excess, spot, grid.im_increment_rate),
    }
    risk = scan + roll + figures["delta_shock"] + corr
    floor, charge = figures["floor"], figures["min_charge"]
    base = np.maximum(np.maximum(risk, floor), charge)
    initial = grid.im_factor * base + figures["im_increment"]
    figures |= {
        "scan_loss": scan,
        "roll_shock": roll,
        "correlation_contingency": corr,
        "risk": risk,
        "base": base,
        "initial": initial,
        "initial_in_currency": initial / fx,
        "maintenance": grid.mm_factor * base,
        "floor_uplift": np.maximum(floor - risk, 0.0),
        "charge_uplift": np.maximum(charge - np.maximum(risk, floor), 0.0),
        "factor_uplift": (grid.im_factor - 1.0) * base,
    }
    worst_out = np.where(scan > 0, worst + t.offset, -1).astype(np.int64)
    return {k: figures[k] for k in FIGURES}, worst_out


__all__ = ["FIGURES", "FigureTerms", "unit_figures", "unit_figures_plain"]
