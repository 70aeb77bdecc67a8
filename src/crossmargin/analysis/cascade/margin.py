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
every iteration is too slow, so the cascade uses a closed form, stated here and tested
against the models by full revaluation (``tests/analysis/cascade/test_margin.py``). With
``Dᵢ`` the dollar delta of instrument ``i`` at the state (USD per 1.00 log move), ``m_r`` the
maintenance rate of row ``r``'s venue and underlying (``cascade.json`` ``venues``) and
``ρ`` the underlyings' correlation::

    w_uk  = Σ_{r ∈ u, k(r) = k} m_r · q_r · D_i(r)        rate-weighted exposure to k
    G_u   = √(w_uᵀ ρ w_u)                                  (= m·|q·D| for one row)
    MM_u  = κ_u · G_u + φ_u · g_u / g_u⁰

* For a generated population ``κ_u = 1``, ``φ_u = 0``: ``G_u`` *is* the margin rule — the
  venue's rate times the delta notional for an isolated position (Deribit: 1% of a linear
  perpetual), the net exposure of an underlying for a group (long and short of BTC offset),
  and the correlation-offset portfolio figure for a cross-margined account (long BTC against
  short ETH at ρ = 0.8 needs ``m·|e|·√(2(1 − ρ))`` = 63% of one leg's margin).
* For a book calibrated to a margin model (``api.margin`` once, at the start),
  ``κ_u = MM_model_u / G_u⁰`` so the unit's maintenance margin equals the model's at the
  start and moves with ``G_u`` between iterations (linear in the quantity left, the price and
  the delta). A unit with ``G_u⁰ = 0`` but a model margin (a delta-neutral option book)
  keeps ``φ_u = MM_model_u`` scaled by its gross contracts left ``g_u / g_u⁰``.
* The initial margin (collateral split, Cover-2 contributions) is the model's, or ``G_u`` with
  the venue's initial rates.

``G_u`` is a seminorm of the exposures for a positive-semidefinite ``ρ``, so it is
subadditive: cross ≤ grouped ≤ isolated for the same positions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

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
    row_unit: IntArray
    unit_account: IntArray
    unit_venue: IntArray
    unit_label: tuple[str, ...]
    mm_rate: FloatArray
    im_rate: FloatArray
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
    rate: FloatArray,
    exposure: FloatArray,
    row_underlying: IntArray,
    correlation: FloatArray,
) -> FloatArray:
    """``G_u = √(w_uᵀ ρ w_u)`` with ``w_uk = Σ rate_r·exposure_r`` over rows of ``u`` on ``k``."""
    k = correlation.shape[0]
    w = np.bincount(
        row_unit * k + row_underlying, weights=rate * exposure, minlength=units * k
    ).reshape(units, k)
    if k == 1:
        out: FloatArray = np.abs(w[:, 0])
        return out
    quad = np.einsum("uk,kl,ul->u", w, correlation, w)
    root: FloatArray = np.sqrt(np.maximum(quad, 0.0))
    return root


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


def margin_units(
    pop: Population,
    mode: str,
    params: CascadeParams,
    *,
    dollar_delta0: FloatArray,
    row_underlying: IntArray,
    correlation: FloatArray,
    row_mtm0: FloatArray | None = None,
    result: MarginResult | None = None,
) -> MarginUnits:
    """Cut ``pop`` into units of ``mode`` and set their margins (module docstring).

    ``dollar_delta0`` is each instrument's dollar delta at the start, ``row_mtm0`` each
    position's mark-to-market (USD; 0 if None); ``result`` a margin model's result on the
    population's book (calibration), or None for the venue rules.
    """
    keys, row_unit = _keys(pop, mode)
    n = len(keys)
    mm_rate, im_rate = rates(pop, params)
    exposure = pop.row_quantity * dollar_delta0[pop.row_instrument]
    g_mm = requirement(row_unit, n, mm_rate, exposure, row_underlying, correlation)
    g_im = requirement(row_unit, n, im_rate, exposure, row_underlying, correlation)
    if result is None:
        im, mm = g_im, g_mm
        kappa, floor = np.ones(n), np.zeros(n)
    else:
        if len(result.positions) != pop.row_account.size:
            raise InputError("the margin result does not match the population's positions")
        im, mm = _model_margins(pop, keys, result)
        has = g_mm > 1e-12 * np.maximum(mm, 1.0)
        kappa = np.where(has, mm / np.where(has, g_mm, 1.0), 0.0)
        floor = np.where(has, 0.0, mm)
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
        row_unit=row_unit,
        unit_account=unit_account,
        unit_venue=unit_venue,
        unit_label=tuple(_label(pop, k) for k in keys),
        mm_rate=mm_rate,
        im_rate=im_rate,
        collateral=collateral,
        kappa=kappa,
        floor=floor,
        initial_margin=np.asarray(im, dtype=np.float64),
        maintenance0=np.asarray(mm, dtype=np.float64),
        transfer=np.asarray(transfer, dtype=np.float64),
    )


def maintenance(
    units: MarginUnits,
    quantity: FloatArray,
    quantity0: FloatArray,
    dollar_delta: FloatArray,
    row_instrument: IntArray,
    row_underlying: IntArray,
    correlation: FloatArray,
) -> FloatArray:
    """``MM_u = κ_u·G_u + φ_u·g_u/g_u⁰`` at the state (module docstring)."""
    n = units.size
    g = requirement(
        units.row_unit,
        n,
        units.mm_rate,
        quantity * dollar_delta[row_instrument],
        row_underlying,
        correlation,
    )
    out: FloatArray = units.kappa * g
    if np.any(units.floor):
        gross = np.bincount(units.row_unit, weights=np.abs(quantity), minlength=n)
        gross0 = np.bincount(units.row_unit, weights=np.abs(quantity0), minlength=n)
        out = out + units.floor * np.where(gross0 > 0, gross / np.where(gross0 > 0, gross0, 1), 0)
    return out


__all__ = ["MODES", "MarginUnits", "maintenance", "margin_units", "rates", "requirement"]
