"""Margin units and the vectorised maintenance margin of the cascade.

**Units.** A margin unit is what one equity and one requirement belong to; the same
population is cut into units in four modes:

==============  ===========================================================================
mode            one unit per ...
==============  ===========================================================================
isolated        position row (an account's position in one instrument at one venue)
grouped         account, venue, underlying and settlement currency (the ``underlying``
                offset tier of :mod:`crossmargin.netting.tiers`)
cross           account (the whole netting set)
population      account if the account is cross-margined, else position row
==============  ===========================================================================

An account's equity at the start (collateral plus mark-to-market) is split between its units
in proportion to their initial margin, so every unit of an account starts at the same margin
utilisation: each collateral holding is split in that proportion, each position's
mark-to-market stays with its unit, and a cash transfer between the account's units
(``transfer``, summing to zero over the account) evens out the mark-to-market.

**Maintenance margin between iterations.** Calling a margin model for 100,000 accounts in
every iteration is too slow, so the cascade uses a scan-based closed form, stated here and
tested against the models by full revaluation (``tests/analysis/cascade/test_margin.py``).
Each position row ``r`` is revalued (its unique instrument, in full) under a relative move
``−s_r`` and ``+s_r`` of its underlying from the current state, ``s_r`` the maintenance rate of
its venue and underlying (``cascade.json`` ``venues``); with ``ρ`` the underlyings'
correlation::

    L±_uk = −Σ_{r ∈ u, k(r) = k} q_r · ΔV_i(r)(±s_r)       loss of u's k-legs per scan
    w_uk  = L−_uk if L−_uk ≥ L+_uk, else −L+_uk              worst side, signed
    G_u   = √(w_uᵀ ρ w_u)
    MM_u  = κ_u · G_u + φ_u · g_u / g_u⁰

For a linear contract ``ΔV(±s) = ±s·D`` exactly (``D`` its dollar delta), so ``w_uk`` is
``s`` times the net delta notional and:

* for a generated population ``κ_u = 1``, ``φ_u = 0``: ``G_u`` *is* the margin rule — the
  venue's rate times the delta notional for an isolated position (Deribit: 1% of a linear
  perpetual), the net exposure of an underlying for a group (long and short BTC offset), and
  the correlation-offset portfolio figure for a cross-margined account (long BTC against
  short ETH at ρ = 0.8 needs ``s·|e|·√(2(1 − ρ))``, 63% of one leg's margin);
* options keep their convexity: a short option loses on both scans and its worst side grows
  as the price nears the strike, as a scan-based (SPAN, exchange PM-grid) requirement does;
* for a book calibrated to a margin model, the model runs on the book (its quantities left
  and the step's exogenous prices) at the start of **every step**, and
  ``κ_u = MM_model_u / G_u`` there: the unit's maintenance margin is the model's at each
  step's start and moves with ``G_u`` over the step's iterations (linear in the quantity
  left, scanned at the prices impact makes). A unit with ``G_u = 0`` but a model margin keeps
  ``φ_u = MM_model_u`` scaled by its gross contracts left ``g_u / g_u⁰``. Measured against the
  models recomputed in full: exact for partial liquidation (every model is positively
  homogeneous); within the move for delta-one positions; for options of the sample book, errors
  up to a fifth of the margin after a 2% move (``tests/analysis/cascade/test_margin.py``),
  which is why the model is re-run every step. (A coin posted against positions in the same
  coin enters the models' requirement; its share does not shrink with a partial
  liquidation until the next step's re-run.)
* the initial margin (collateral split, Cover-2 contributions) is the model's, or ``G_u``
  scanned at the venue's initial rates.

For linear rows ``G_u`` is a seminorm of the exposures (``ρ`` positive semidefinite), so it is
subadditive: cross ≤ grouped ≤ isolated for the same positions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from crossmargin.analysis.cascade.market import Valuation
from crossmargin.analysis.cascade.params import CascadeParams
from crossmargin.analysis.cascade.population import Population
from crossmargin.errors import InputError
from crossmargin.models.result import MarginResult

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
MODES = ("isolated", "grouped", "cross", "population")


@dataclass(frozen=True, slots=True, kw_only=True)
class MarginUnits:
    """A population cut into margin units (module docstring); arrays over units ``u`` or
    position rows ``r``."""

    mode: str
    keys: tuple[tuple[object, ...], ...]
    row_unit: IntArray
    unit_account: IntArray
    unit_venue: IntArray
    unit_label: tuple[str, ...]
    mm_rate: FloatArray
    im_rate: FloatArray
    mm_scan: IntArray
    collateral: FloatArray
    kappa: FloatArray
    floor: FloatArray
    initial_margin: FloatArray
    maintenance0: FloatArray
    transfer: FloatArray

    @property
    def size(self) -> int:
        """Number of units."""
        return int(self.unit_account.shape[0])


def rates(pop: Population, params: CascadeParams) -> tuple[FloatArray, FloatArray]:
    """``(maintenance, initial)`` rate of each position row (its venue and underlying)."""
    cache: dict[tuple[int, int], tuple[float, float]] = {}
    mm = np.empty(pop.row_account.size)
    im = np.empty(pop.row_account.size)
    for key in set(zip(pop.row_venue.tolist(), pop.row_instrument.tolist(), strict=True)):
        inst = pop.instruments[key[1]]
        cache[key] = params.venue_rates(pop.venues[key[0]], inst.underlying, inst.spec.asset_class)
    for r, key in enumerate(zip(pop.row_venue.tolist(), pop.row_instrument.tolist(), strict=True)):
        mm[r], im[r] = cache[key]
    return mm, im


def requirement(
    row_unit: IntArray,
    units: int,
    loss_down: FloatArray,
    loss_up: FloatArray,
    row_underlying: IntArray,
    correlation: FloatArray,
) -> FloatArray:
    """``G_u = √(w_uᵀ ρ w_u)`` from each row's scan losses (module docstring)."""
    k = correlation.shape[0]
    key = row_unit * k + row_underlying
    down = np.bincount(key, weights=loss_down, minlength=units * k).reshape(units, k)
    up = np.bincount(key, weights=loss_up, minlength=units * k).reshape(units, k)
    w = np.where(down >= up, down, -up)
    if k == 1:
        out: FloatArray = np.maximum(np.abs(w[:, 0]), 0.0)
        return out
    quad = np.einsum("uk,kl,ul->u", w, correlation, w)
    root: FloatArray = np.sqrt(np.maximum(quad, 0.0))
    return root


def scan_losses(
    quantity: FloatArray, row_instrument: IntArray, row_scan: IntArray, value: Valuation
) -> tuple[FloatArray, FloatArray]:
    """Each row's loss under its down and up scans at the valuation's state."""
    down = -quantity * value.scan_down[row_scan, row_instrument]
    up = -quantity * value.scan_up[row_scan, row_instrument]
    return down, up


def _keys(pop: Population, mode: str) -> tuple[list[tuple[object, ...]], IntArray]:
    """Unit key of each row and the unit index of each row."""
    if mode not in MODES:
        raise InputError(f"unknown margin mode {mode!r}: use one of {', '.join(MODES)}")
    rows = range(pop.row_account.size)
    acc, ins, ven = pop.row_account, pop.row_instrument, pop.row_venue
    if mode == "cross":
        keys: list[tuple[object, ...]] = [(int(a),) for a in acc.tolist()]
    elif mode == "isolated":
        keys = [(int(acc[r]), int(r)) for r in rows]
    elif mode == "grouped":
        keys = [
            (
                int(acc[r]),
                pop.venues[ven[r]],
                pop.instruments[ins[r]].underlying,
                pop.instruments[ins[r]].settlement_currency,
            )
            for r in rows
        ]
    else:
        keys = [(int(acc[r]),) if pop.cross[acc[r]] else (int(acc[r]), int(r)) for r in rows]
    index: dict[tuple[object, ...], int] = {}
    row_unit = np.array([index.setdefault(key, len(index)) for key in keys], dtype=np.int64)
    return list(index), row_unit


def _label(pop: Population, key: tuple[object, ...]) -> str:
    account = pop.accounts[int(key[0])]  # type: ignore[call-overload]
    if len(key) == 1:
        return account
    if len(key) == 2:
        r = int(key[1])  # type: ignore[call-overload]
        symbol = pop.instruments[pop.row_instrument[r]].symbol
        return f"{account}:{symbol}@{pop.venues[pop.row_venue[r]]}"
    return f"{account}:{key[2]} ({key[1]}, {key[3]})"


def _model_margins(
    pop: Population, keys: Sequence[tuple[object, ...]], result: MarginResult
) -> tuple[FloatArray, FloatArray]:
    """Initial and maintenance margin of each unit from a model's result on the book."""
    acc = {a.account: a for a in result.accounts}
    groups = {(g.account, g.group): g.margin for g in result.groups}
    n = len(keys)
    im, mm = np.zeros(n), np.zeros(n)
    for u, key in enumerate(keys):
        name = pop.accounts[int(key[0])]  # type: ignore[call-overload]
        a = acc[name]
        ratio = (a.maintenance / a.total) if a.maintenance is not None and a.total > 0 else 1.0
        if len(key) == 1:
            im[u], mm[u] = a.total, a.maintenance if a.maintenance is not None else a.total
        elif len(key) == 2:
            p = result.positions[int(key[1])]  # type: ignore[call-overload]
            im[u] = p.standalone
            mm[u] = p.maintenance if p.maintenance is not None else p.standalone * ratio
        else:
            label = f"{key[2]} ({key[1]}, {key[3]})"
            g = groups.get((name, label))
            if g is None:
                raise InputError(
                    f"the {result.model} result has no group {label!r} of {name}: margin the "
                    "book with by='underlying' to calibrate grouped units"
                )
            im[u], mm[u] = g, g * ratio
    return im, mm


def calibrate(model: FloatArray, scanned: FloatArray) -> tuple[FloatArray, FloatArray]:
    """``(κ, φ)`` making ``κ·G + φ`` equal the model's maintenance margin (module docstring)."""
    has = scanned > 1e-12 * np.maximum(model, 1.0)
    kappa: FloatArray = np.where(has, model / np.where(has, scanned, 1.0), 0.0)
    floor: FloatArray = np.where(has, 0.0, model)
    return kappa, floor


def model_margins(
    pop: Population, units: MarginUnits, result: MarginResult
) -> tuple[FloatArray, FloatArray]:
    """Initial and maintenance margin of each unit from a model's result on the book."""
    if len(result.positions) != pop.row_account.size:
        raise InputError("the margin result does not match the population's positions")
    return _model_margins(pop, units.keys, result)


def margin_units(
    pop: Population,
    mode: str,
    params: CascadeParams,
    *,
    value0: Valuation,
    scans: tuple[float, ...],
    row_underlying: IntArray,
    correlation: FloatArray,
    row_mtm0: FloatArray | None = None,
    result: MarginResult | None = None,
) -> MarginUnits:
    """Cut ``pop`` into units of ``mode`` and set their margins (module docstring).

    ``value0`` is the instruments' valuation at the start, scanned at ``scans`` (every venue
    rate of the population); ``row_mtm0`` each position's mark-to-market (USD; 0 if None);
    ``result`` a margin model's result on the population's book (calibration), or None for
    the venue rules.
    """
    keys, row_unit = _keys(pop, mode)
    n = len(keys)
    mm_rate, im_rate = rates(pop, params)
    index = {s: j for j, s in enumerate(scans)}
    mm_scan = np.array([index[float(r)] for r in mm_rate], dtype=np.int64)
    im_scan = np.array([index[float(r)] for r in im_rate], dtype=np.int64)
    q = pop.row_quantity
    g_mm = requirement(row_unit, n, *scan_losses(q, pop.row_instrument, mm_scan, value0),
                       row_underlying, correlation)  # fmt: skip
    g_im = requirement(row_unit, n, *scan_losses(q, pop.row_instrument, im_scan, value0),
                       row_underlying, correlation)  # fmt: skip
    exposure = q * value0.dollar_delta[pop.row_instrument]
    if result is None:
        im, mm = g_im, g_mm
        kappa, floor = np.ones(n), np.zeros(n)
    else:
        if len(result.positions) != pop.row_account.size:
            raise InputError("the margin result does not match the population's positions")
        im, mm = _model_margins(pop, keys, result)
        kappa, floor = calibrate(mm, g_mm)
    unit_account = np.array([int(k[0]) for k in keys], dtype=np.int64)  # type: ignore[call-overload]
    # collateral split in proportion to initial margin within each account
    a_total = np.bincount(unit_account, weights=im, minlength=len(pop.accounts))
    a_units = np.bincount(unit_account, minlength=len(pop.accounts))
    share = np.where(
        a_total[unit_account] > 0,
        im / np.where(a_total[unit_account] > 0, a_total[unit_account], 1.0),
        1.0 / a_units[unit_account],
    )
    collateral = pop.collateral[unit_account] * share[:, np.newaxis]
    mtm = np.zeros(pop.row_account.size) if row_mtm0 is None else row_mtm0
    unit_mtm = np.bincount(row_unit, weights=mtm, minlength=n)
    account_mtm = np.bincount(unit_account, weights=unit_mtm, minlength=len(pop.accounts))
    transfer = share * account_mtm[unit_account] - unit_mtm
    # a unit's venue: the venue of its largest row by delta notional
    size = np.abs(exposure)
    order = np.lexsort((-size, row_unit))
    first = np.ones(order.size, dtype=bool)
    first[1:] = row_unit[order][1:] != row_unit[order][:-1]
    unit_venue = np.zeros(n, dtype=np.int64)
    unit_venue[row_unit[order][first]] = pop.row_venue[order][first]
    return MarginUnits(
        mode=mode,
        keys=tuple(keys),
        row_unit=row_unit,
        unit_account=unit_account,
        unit_venue=unit_venue,
        unit_label=tuple(_label(pop, k) for k in keys),
        mm_rate=mm_rate,
        im_rate=im_rate,
        mm_scan=mm_scan,
        collateral=collateral,
        kappa=kappa,
        floor=floor,
        initial_margin=np.asarray(im, dtype=np.float64),
        maintenance0=np.asarray(mm, dtype=np.float64),
        transfer=np.asarray(transfer, dtype=np.float64),
    )


def scanned(
    units: MarginUnits,
    quantity: FloatArray,
    value: Valuation,
    row_instrument: IntArray,
    row_underlying: IntArray,
    correlation: FloatArray,
) -> FloatArray:
    """``G_u`` at the valuation's state, scanned at the maintenance rates."""
    down, up = scan_losses(quantity, row_instrument, units.mm_scan, value)
    return requirement(units.row_unit, units.size, down, up, row_underlying, correlation)


def maintenance(
    units: MarginUnits,
    quantity: FloatArray,
    quantity0: FloatArray,
    value: Valuation,
    row_instrument: IntArray,
    row_underlying: IntArray,
    correlation: FloatArray,
    *,
    kappa: FloatArray | None = None,
    floor: FloatArray | None = None,
) -> FloatArray:
    """``MM_u = κ_u·G_u + φ_u·g_u/g_u⁰`` at the valuation's state (module docstring);
    ``kappa`` and ``floor`` override the units' own (a per-step recalibration)."""
    n = units.size
    k = units.kappa if kappa is None else kappa
    f = units.floor if floor is None else floor
    g = scanned(units, quantity, value, row_instrument, row_underlying, correlation)
    out: FloatArray = k * g
    if np.any(f):
        gross = np.bincount(units.row_unit, weights=np.abs(quantity), minlength=n)
        gross0 = np.bincount(units.row_unit, weights=np.abs(quantity0), minlength=n)
        out = out + f * np.where(gross0 > 0, gross / np.where(gross0 > 0, gross0, 1), 0)
    return out


__all__ = [
    "MODES",
    "MarginUnits",
    "calibrate",
    "maintenance",
    "margin_units",
    "model_margins",
    "rates",
    "requirement",
    "scan_losses",
    "scanned",
]
