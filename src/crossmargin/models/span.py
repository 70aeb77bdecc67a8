"""``span``: CME SPAN-style scanning margin with risk arrays from our own revaluation.

A **combined commodity** (CC) is every contract on one underlying (BTC, ETH, SPX, SPY ...).
Per CC, :meth:`SpanModel.prepare` builds the 16 SPAN scenarios (METHODS §2.2: price
``0, ±1/3, ±2/3, ±3/3`` of the price scan range PSR with vol up/down by the vol scan range
VSR, and two extreme moves ``±X·PSR`` with vol unchanged, weighted by the cover fraction
``w``), moving that underlying only, over a look-ahead of one trading day, and revalues
each contract with :func:`crossmargin.pricing.revalue_instruments`. The risk array of a
contract is its loss per one long contract (``RA = −P&L``, CME's sign; the only sign
conversion in the model). The composite delta of a contract is the weighted average of
its delta at the price scan points one look-ahead ahead (CME SPAN advisory 04-06: "
probability-weighted estimates of what each contract's delta will be one day in the
future"), in reporting-currency notional ``Δ·S₀`` (P&L per 100 % move), so spread rates are
fractions of notional whatever the contract size. Contracts are grouped into expiry tiers.

The risk-array → margin code is :mod:`crossmargin.models.span_core` (the same for arrays
from a ``.spn`` file or a textbook; see :func:`row_margins`). Per CC::

    Req_c = max(ScanRisk_c + IntraSpread_c − InterCredit_c, SOM_c, 0)
    maintenance = Σ_c Req_c,    initial = Σ_c im_ratio_c · Req_c

**Convention.** ``RowMargins.total`` is the *initial* margin and ``maintenance`` the
maintenance margin, both equity-inclusive (the equity, cash plus the positions' MTM, to
hold; :mod:`crossmargin.models.base`). SPAN's cash-basis figure is ``total − NOV`` where
``net_option_value`` (NOV) is the net MTM of the row's positions, long > 0 (options at their
premium, spot at market value; futures and perpetuals are variation-margined, worth 0). So
a short option's cash requirement is risk plus its premium and a lone long option's is
about zero. Components (reporting currency)::

    scan_risk + intra_spread + inter_credit (≤ 0) + short_option_minimum (uplift ≥ 0)
        = maintenance
    maintenance + im_uplift = total
    info["net_option_value"]: informational, not part of the sum

Sources: CME "Components of SPAN" and the CME SPAN wiki (risk arrays, spreads, SOM) [P];
McMillan, *Options as a Strategic Investment*, ch. 34 [R]; METHODS §2. Parameters:
``params/span.json`` (:mod:`crossmargin.models.span_params`).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from crossmargin.errors import InputError, ModelError
from crossmargin.instruments import Instrument
from crossmargin.market.scenarios import ScenarioSet
from crossmargin.market.snapshot import MarketSnapshot
from crossmargin.models.base import FloatArray, IntArray, MarginModel, RowMargins, register
from crossmargin.models.params import ParameterSet, load_parameters
from crossmargin.models.span_core import ScanSpread, SpanArrays, Spread, span_margins
from crossmargin.models.span_params import (
    CCParams,
    InterSpreadDef,
    cc_parameters,
    inter_spreads,
)
from crossmargin.netting.sums import ordered_row_sums
from crossmargin.pricing.greeks import reporting_greeks
from crossmargin.pricing.revalue import revalue_instruments
from crossmargin.pricing.terms import OPTION, InstrumentTerms, instrument_terms
from crossmargin.pricing.valuation import base_fx

if TYPE_CHECKING:
    from crossmargin.spanfile.data import SpanFileData

DAYS_PER_YEAR = 365.0  # the engine's ACT/365 year (Instrument.years_to_expiry), not SPAN's
OVERRIDABLE = (
    "price_scan_range",
    "vol_scan_range",
    "vol_scan_type",
    "extreme_move_multiple",
    "extreme_cover_fraction",
    "look_ahead_days",
    "short_option_minimum",
    "som_method",
    "im_ratio",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class SpanContext:
    """What :meth:`SpanModel.prepare` hands to :meth:`SpanModel.margin_rows`."""

    arrays: SpanArrays
    scenario_names: tuple[str, ...]
    scenarios: tuple[ScenarioSet, ...]


def row_margins(
    arrays: SpanArrays, holdings: sp.spmatrix | FloatArray, scenario_names: tuple[str, ...] = ()
) -> RowMargins:
    """:class:`RowMargins` of every row of ``holdings`` from given risk arrays.

    ``scenario_names`` (CC-major: ``m·s`` names) default to ``"{CC} {label}"``. The worst
    scenario of a row is that of its CC with the largest scan risk (-1 if none).
    """
    res = span_margins(arrays, holdings)
    m, s = len(arrays.cc_names), arrays.n_scenarios
    names = scenario_names or tuple(
        f"{cc} {label}" for cc in arrays.cc_names for label in arrays.scenario_labels
    )
    if len(names) != m * s:
        raise InputError(f"{len(names)} scenario names for {m} CCs x {s} scenarios")
    rows = res.scan.shape[0]
    top = np.argmax(res.scan, axis=1) if m else np.zeros(rows, dtype=np.int64)
    top_worst = res.worst[np.arange(rows), top] if m else np.full(rows, -1)
    worst: IntArray = np.where(top_worst >= 0, top * s + top_worst, -1).astype(np.int64)
    effective = res.scan - res.scan_credit
    before_som = effective + res.intra + res.spot - res.credit
    components = {
        "scan_risk": ordered_row_sums(res.scan),
        "intra_spread": ordered_row_sums(res.intra),
    }
    if arrays.spot_tier is not None and arrays.spot_tier.any():
        components["spot_month"] = ordered_row_sums(res.spot)
    components["inter_credit"] = 0.0 - ordered_row_sums(res.credit + res.scan_credit)
    components["short_option_minimum"] = ordered_row_sums(res.requirement - before_som)
    components["im_uplift"] = res.initial - res.maintenance
    return RowMargins(
        total=res.initial,
        maintenance=res.maintenance,
        components=components,
        info={"net_option_value": res.nov},
        worst_scenario=worst,
        scenario_names=names,
    )


@register
class SpanModel(MarginModel):
    """CME SPAN-style scanning margin (see the module docstring for formula and sources).

    Parameters
    ----------
    params :
        A parameter file of the shape of ``crossmargin/models/params/span.json``; ``None``
        for the shipped file; or a CME SPAN risk-parameter file (``.pa2``, ``.spn``): its
        risk arrays, composite deltas and inter spreads replace our revaluation
        (:mod:`crossmargin.spanfile.book`).
    **overrides :
        Per-CC parameters applied to every underlying (e.g. ``extreme_move_multiple=2,
        extreme_cover_fraction=0.35`` for McMillan's convention); keys in ``OVERRIDABLE``.
    """

    name = "span"
    description = "CME SPAN-style scanning: 16 scenarios per underlying, spreads, SOM"
    subadditive = False
    rows_invariant = True  # tests/models/test_row_invariance.py

    def __init__(self, params: str | Path | None = None, **overrides: float | str) -> None:
        unknown = sorted(set(overrides) - set(OVERRIDABLE))
        if unknown:
            raise InputError(
                f"span: unknown parameter override(s) {unknown}; use {', '.join(OVERRIDABLE)}"
            )
        from crossmargin.spanfile.book import span_file  # spanfile imports span_core

        self._file: SpanFileData | None = span_file(params, overrides)  # a .pa2/.spn, or None
        self._params: ParameterSet = load_parameters("span", None if self._file else params)
        self._overrides: dict[str, float | str] = dict(overrides)
        self._cc: dict[str, CCParams] = {
            u: cc_parameters(self._params, u, self._overrides) for u in self._params.underlyings
        }
        self._inter: tuple[InterSpreadDef, ...] = inter_spreads(self._params)

    def cc_parameters(self, underlying: str) -> CCParams:
        """Parameters of one CC; ModelError naming the underlying and the file if absent."""
        if underlying not in self._cc:
            self._params.for_underlying(underlying)  # raises the ModelError
        return self._cc[underlying]

    def parameters(self) -> dict[str, Any]:
        """File metadata, overrides and the file's entries (JSON-ready)."""
        if self._file is not None:
            from crossmargin.spanfile.book import file_parameters

            return file_parameters(self._file)
        raw = self._params.raw
        return {
            **self._params.metadata(),
            "effective": raw.get("effective", ""),
            "overrides": dict(self._overrides),
            "defaults": raw.get("defaults", {}),
            "underlyings": raw["underlyings"],
            "inter_spreads": raw.get("inter_spreads", []),
        }

    def parameters_for(self, underlyings: Collection[str]) -> dict[str, Any]:
        """:meth:`parameters` with the entries of ``underlyings`` alone and the inter spreads
        whose legs are all among them (the spreads that can form in the book); a CME file's
        parameters as :meth:`parameters` gives them."""
        out = self.parameters()
        if self._file is not None:
            return out
        held = set(underlyings)
        out["underlyings"] = {u: v for u, v in out["underlyings"].items() if u in held}
        out["inter_spreads"] = [s for s in out["inter_spreads"] if set(s["legs"]) <= held]
        return out

    def prepare(self, instruments: tuple[Instrument, ...], market: MarketSnapshot) -> SpanContext:
        """Risk arrays, composite deltas, tiers, SOM and values of every contract."""
        if self._file is not None:
            from crossmargin.spanfile.book import file_arrays

            arrays = file_arrays(self._file, instruments, market)
            names = tuple(f"{cc} {lb}" for cc in arrays.cc_names for lb in arrays.scenario_labels)
            return SpanContext(arrays=arrays, scenario_names=names, scenarios=())
        ccs = tuple(dict.fromkeys(i.underlying for i in instruments))
        params = tuple(self.cc_parameters(u) for u in ccs)
        shape = [(p.num, p.den, p.vol, p.extreme) for p in params[0].scan_points] if ccs else []
        for p in params[1:]:
            if [(q.num, q.den, q.vol, q.extreme) for q in p.scan_points] != shape:
                raise ModelError(
                    f"span: underlying {p.underlying} has a scan-point table different from "
                    f"{params[0].underlying}'s in {self._params.path}; SPAN needs one table"
                )
        n, s = len(instruments), len(shape)
        cc_of = np.array([ccs.index(i.underlying) for i in instruments], dtype=np.int64)
        loss, weights = np.zeros((s, n)), np.zeros((len(ccs), s))
        delta, value, som = np.zeros(n), np.zeros(n), np.zeros(n)
        tier_of = np.zeros(n, dtype=np.int64)
        tier_cc: list[int] = []
        spot_tier: list[bool] = []
        intra: list[Spread] = []
        sets = []
        for c, p in enumerate(params):
            cols = np.flatnonzero(cc_of == c)
            sub = tuple(instruments[j] for j in cols)
            scen = scenario_set(p)
            sets.append(scen)
            pnl = revalue_instruments(sub, market, scen)
            loss[:, cols] = -pnl.pnl_by_scenario  # CME risk array: loss positive
            weights[c] = scen.weights
            terms = instrument_terms(sub, market)
            value[cols] = pnl.base_value * base_fx(terms)
            delta[cols] = composite_delta(terms, p)
            if p.delta_unit == "contracts":  # futures equivalents: notional / (F·M·FX)
                fx = np.array([market.fx_rate(i.spec.quote_currency) for i in sub])
                forward = terms.spot * np.exp(terms.carry * terms.t)
                delta[cols] /= forward * terms.multiplier * fx
            som[cols] = _som_per_short(sub, terms, p, market)
            offset = len(tier_cc)
            tier_cc += [c] * len(p.tier_names)
            tier_of[cols] = [offset + p.tier(_days(i, market)) for i in sub]
            intra += [
                Spread(
                    a=offset + p.tier_names.index(d.legs[0]),
                    b=offset + p.tier_names.index(d.legs[1]),
                    ratio_a=d.ratio[0],
                    ratio_b=d.ratio[1],
                    rate=d.rate,
                    method=d.method,
                    per_month_rate=d.per_month_rate,
                    months=d.months,
                )
                for d in p.intra_spreads
            ]
            spot_tier += [t in p.spot_tiers for t in p.tier_names]
        inter, scanning = _inter_spreads(self._inter, ccs)
        labels = tuple(pt.label for pt in params[0].scan_points) if ccs else ()
        points = params[0].scan_points if ccs else ()
        arrays = SpanArrays(
            cc_names=ccs,
            scenario_labels=labels,
            loss=loss,
            weights=weights,
            pair=_pairs(shape),
            time_scenarios=np.array(
                [j for j, pt in enumerate(points) if pt.num == 0 and not pt.extreme],
                dtype=np.int64,
            ),
            cc_of=cc_of,
            composite_delta=delta,
            tier_of=tier_of,
            tier_cc=np.array(tier_cc, dtype=np.int64),
            intra_spreads=tuple(intra),
            inter_spreads=inter,
            scan_spreads=scanning,
            spot_tier=np.array(spot_tier, dtype=bool),
            spot_outright_rate=np.array([p.spot_outright_rate for p in params]),
            spot_spread_rate=np.array([p.spot_spread_rate for p in params]),
            som_per_short=som,
            is_call=np.array([i.kind == "option" and i.is_call for i in instruments], dtype=bool),
            is_put=np.array(
                [i.kind == "option" and not i.is_call for i in instruments], dtype=bool
            ),
            som_gross=np.array([p.som_method == "gross" for p in params], dtype=bool),
            value=value,
            im_ratio=np.array([p.im_ratio for p in params]),
        )
        names = tuple(f"{cc} {label}" for cc in ccs for label in labels)
        return SpanContext(arrays=arrays, scenario_names=names, scenarios=tuple(sets))

    def margin_rows(
        self, context: Any, holdings: sp.csr_matrix, *, detail: NDArray[np.bool_] | None = None
    ) -> RowMargins:
        """Margin each row of ``holdings`` (see :func:`row_margins`)."""
        if not isinstance(context, SpanContext):
            raise ModelError("span: margin_rows needs the context returned by prepare")
        return row_margins(context.arrays, holdings, context.scenario_names)


def _inter_spreads(
    defs: tuple[InterSpreadDef, ...], ccs: tuple[str, ...]
) -> tuple[tuple[Spread, ...], tuple[ScanSpread, ...]]:
    """The file's inter spreads whose legs are all in ``ccs``: delta-based, then scanning.

    Each list keeps the file's priority order with the ``super`` spreads first (they are
    formed before the intra spreads; METHODS §2.7).
    """
    delta: list[Spread] = []
    scanning: list[ScanSpread] = []
    for d in sorted(defs, key=lambda d: not d.is_super):  # stable: file order within each
        if not all(leg in ccs for leg in d.legs):
            continue
        ids = tuple(ccs.index(leg) for leg in d.legs)
        if d.method == "delta":
            delta.append(
                Spread(
                    a=ids[0],
                    b=ids[1],
                    ratio_a=d.ratio[0],
                    ratio_b=d.ratio[1],
                    rate=d.rate,
                    method="delta",
                    is_super=d.is_super,
                )
            )
        else:
            scanning.append(
                ScanSpread(
                    legs=ids,
                    ratios=d.ratio,
                    sides=d.sides,
                    rate=d.rate,
                    target=ccs.index(d.target),
                    is_super=d.is_super,
                )
            )
    return tuple(delta), tuple(scanning)


def scenario_set(p: CCParams) -> ScenarioSet:
    """The SPAN scenarios of one CC as a :class:`ScenarioSet` moving ``p.underlying`` only.

    Scenario ``j``: spot ``S₀·(1 + f_j·PSR)`` (``f_j·X·PSR`` for the extremes), vol
    ``σ ± VSR`` (or ``σ·(1 ± VSR)``), time step ``look_ahead_days / 365``; weight 1, or the
    cover fraction ``w`` for the extremes.
    """
    pts = p.scan_points
    move = [
        pt.fraction * p.price_scan_range * (p.extreme_move_multiple if pt.extreme else 1.0)
        for pt in pts
    ]
    return ScenarioSet(
        underlyings=(p.underlying,),
        spot_shocks=np.array(move, dtype=np.float64)[:, None],
        vol_shocks=np.array([pt.vol * p.vol_scan_range for pt in pts], dtype=np.float64)[:, None],
        time_steps=np.full(len(pts), p.look_ahead_days / DAYS_PER_YEAR),
        weights=np.array([p.extreme_cover_fraction if pt.extreme else 1.0 for pt in pts]),
        names=tuple(f"{p.underlying} {pt.label}" for pt in pts),
        vol_shock_type="absolute" if p.vol_scan_type == "absolute" else "relative",
        label=f"SPAN {p.underlying}",
    )


def composite_delta(terms: InstrumentTerms, p: CCParams) -> FloatArray:
    """Composite delta per contract: ``S₀ · Σ_k ω_k Δ(S₀(1 + f_k·PSR), T − Δt) / Σ_k ω_k``.

    ``Δ`` is the reporting-currency delta of :func:`crossmargin.pricing.greeks.
    reporting_greeks` (vol unchanged); ``(f_k, ω_k)`` are the file's ``delta_points``.
    The result is a notional: the P&L per 100 % move of the underlying, linearised.
    """
    t1 = np.maximum(terms.t - p.look_ahead_days / DAYS_PER_YEAR, 0.0)
    total = np.zeros(terms.size)
    for fraction, weight in p.delta_points:
        moved = replace(terms, spot=terms.spot * (1.0 + fraction * p.price_scan_range), t=t1)
        total += weight * reporting_greeks(moved).delta
    out: FloatArray = total / sum(w for _, w in p.delta_points) * terms.spot
    return out


def _som_per_short(
    sub: tuple[Instrument, ...], terms: InstrumentTerms, p: CCParams, market: MarketSnapshot
) -> FloatArray:
    """SOM per short option: ``rate · PSR · multiplier · S₀ · FX(quote)``; 0 for non-options."""
    fx = np.array([market.fx_rate(i.spec.quote_currency) for i in sub])
    notional = terms.multiplier * terms.spot * fx
    out: FloatArray = np.where(
        terms.kind == OPTION, p.short_option_minimum * p.price_scan_range * notional, 0.0
    )
    return out


def _days(inst: Instrument, market: MarketSnapshot) -> float | None:
    if inst.expiry is None:
        return None
    return inst.years_to_expiry(market.valuation_time) * DAYS_PER_YEAR


def _pairs(shape: list[tuple[int, int, int, bool]]) -> IntArray:
    """Pair of each scenario: same price move, opposite non-zero vol move; else itself."""
    out = np.arange(len(shape), dtype=np.int64)
    for j, (num, den, vol, ext) in enumerate(shape):
        for k, other in enumerate(shape):
            if vol != 0 and other == (num, den, -vol, ext):
                out[j] = k
    return out
