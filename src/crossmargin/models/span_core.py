"""SPAN from risk arrays: scan risk, spreads, spot-month charge, SOM and NOV, per row.

This is the one risk-array → margin path of the ``span`` model (METHODS §2.10: risk arrays
from a ``.spn``/``.pa2`` file or from our own revaluation feed the same code). It knows
nothing of instruments or markets: :class:`SpanArrays` holds per-contract risk arrays,
composite deltas, tiers and option data, and per-combined-commodity (CC) parameters;
:func:`span_margins` margins every row of a sparse ``rows x contracts`` holdings matrix.

Sign convention (stated once): risk arrays here are CME's, **per one long contract, loss
positive, gain negative** (CME "Components of SPAN"); the engine's scenario P&L (gain
positive) is negated when the arrays are built, never later.

Per row and CC ``c`` (``q`` the row's quantities, ``RA_i[j]`` the loss of one long contract
``i`` in scenario ``j``, ``w_c[j]`` the scenario weight: 1, or the extreme-move cover
fraction for the extreme scenarios), in this order (spreading steps:
:mod:`crossmargin.models.span_spreads`)::

    L_c[j]      = w_c[j] · Σ_{i ∈ c} q_i · RA_i[j]
    Scan_c      = max(max_j L_c[j], 0)                         (outright scan risk)
    δ_c,t       = Σ_{i ∈ tier t} q_i · δ_i                     composite delta per tier
    1. scanning-based spreads (super first): the spread's share f_l of each leg CC is
       scanned together (gains at the credit rate) and charged on the target CC; the legs
       keep (1 − f_l) of their losses and tier deltas
    Eff_c       = max(max_j L'_c[j], 0) + spread scans charged on c      (effective scan)
    Price_c     = (L'_c[j_w] + L'_c[pair(j_w)])/2 − Time_c    (Time: mean of L' over the
                                                               unchanged-price scenarios)
    WPR_c       = max(Price_c, 0) / |Σ_t δ_c,t|                weighted price risk (NORMAL)
    2. super delta spreads:   Credit_c += n · r_c · WPR_c · rate      (tiers scaled)
    3. intra spreads:         Intra_c  = Σ charge(n)  (flat | wpr | pmps)
    4. spot month:            Spot_c   = outright_rate · Σ_{spot tiers} |δ_t|
                                         + spread_rate · (spot-tier delta spread by step 3)
    5. delta inter spreads:   Credit_c += n · r_c · WPR_c · rate   on Σ_{non-spot tiers} δ
                              (tier deltas as they were before step 3)
    SOM_c       = Σ_short calls s_i·|q_i| + Σ_short puts s_i·|q_i|    (GROSS)
                  max(Σ_short calls, Σ_short puts)                    (MAX)
    Req_c       = max(Eff_c + Intra_c + Spot_c − Credit_c, SOM_c, 0)
    Maintenance = Σ_c Req_c,   Initial = Σ_c ratio_c · Req_c,   NOV = Σ_i q_i · value_i

(CME SPAN wiki: Risk Arrays, Intra Spreads, Inter Spreads, Short Option Minimum; CME
"Spread Calculations"; "Spread Rules": no inter-commodity spread with a leg in its delivery
month; the scan-risk decomposition as summarised in METHODS §2.4.) Rows are processed with
sparse x dense products; the Python loops run over CCs and over spreads in priority order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from crossmargin.errors import InputError
from crossmargin.models.span_spreads import (
    ScanSpread,
    Spread,
    intra_charge,
    scale_cc_tiers,
    scan_spread_step,
    spread_delta,
)
from crossmargin.netting.sums import ordered_row_sums

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]

__all__ = ["ScanSpread", "SpanArrays", "SpanRows", "Spread", "span_margins"]


@dataclass(frozen=True, slots=True, kw_only=True)
class SpanArrays:
    """Inputs of :func:`span_margins` (``n`` contracts, ``m`` CCs, ``s`` scenarios, ``k`` tiers).

    Attributes
    ----------
    cc_names : (m,) names of the combined commodities.
    scenario_labels : (s,) scenario labels shared by every CC (e.g. ``"+2/3 vol up"``).
    loss : (s, n) loss per one long contract, loss positive, *unweighted*.
    weights : (m, s) scenario weights per CC (1; the cover fraction for extremes).
    pair : (s,) index of each scenario's pair (same price, opposite vol); itself if none.
    time_scenarios : indices of the unchanged-price scenarios (time risk).
    cc_of : (n,) CC of each contract.
    composite_delta : (n,) composite delta per one long contract.
    tier_of : (n,) tier of each contract (global tier id); ``tier_cc`` (k,) its CC.
    intra_spreads : tier spreads in priority order (both legs in one CC).
    inter_spreads : delta-based CC spreads in priority order (``is_super`` ones first).
    scan_spreads : scanning-based CC spreads in priority order (``is_super`` ones first).
    spot_tier : (k,) True for the tiers holding a CC's spot (delivery) month.
    spot_outright_rate, spot_spread_rate : (m,) spot-month charge per unit of delta left
        outright, and per unit of spot-month delta in intra spreads.
    som_per_short : (n,) short option minimum per short option contract (0 if not an option).
    is_call, is_put : (n,) option flags (SOM counts short calls and short puts).
    som_gross : (m,) True for GROSS (calls + puts), False for MAX(calls, puts).
    value : (n,) value per contract in the reporting currency (for NOV).
    im_ratio : (m,) initial / maintenance ratio per CC.
    """

    cc_names: tuple[str, ...]
    scenario_labels: tuple[str, ...]
    loss: FloatArray
    weights: FloatArray
    pair: IntArray
    time_scenarios: IntArray
    cc_of: IntArray
    composite_delta: FloatArray
    tier_of: IntArray
    tier_cc: IntArray
    intra_spreads: tuple[Spread, ...] = ()
    inter_spreads: tuple[Spread, ...] = ()
    scan_spreads: tuple[ScanSpread, ...] = ()
    spot_tier: BoolArray | None = None
    spot_outright_rate: FloatArray | None = None
    spot_spread_rate: FloatArray | None = None
    som_per_short: FloatArray | None = None
    is_call: BoolArray | None = None
    is_put: BoolArray | None = None
    som_gross: BoolArray | None = None
    value: FloatArray | None = None
    im_ratio: FloatArray | None = None

    def __post_init__(self) -> None:
        s, n = self.loss.shape
        m = len(self.cc_names)
        k = self.tier_cc.shape[0]

        def check(name: str, arr: Any, shape: tuple[int, ...]) -> None:
            got = np.asarray(arr).shape
            if got != shape:
                raise InputError(f"SPAN arrays: {name} has shape {got}, expected {shape}")

        check("scenario_labels", self.scenario_labels, (s,))
        check("weights", self.weights, (m, s))
        check("pair", self.pair, (s,))
        for name in ("cc_of", "composite_delta", "tier_of"):
            check(name, getattr(self, name), (n,))
        for name in ("som_per_short", "is_call", "is_put", "value"):
            if getattr(self, name) is not None:
                check(name, getattr(self, name), (n,))
        if self.spot_tier is not None:
            check("spot_tier", self.spot_tier, (k,))
        for name in ("som_gross", "im_ratio", "spot_outright_rate", "spot_spread_rate"):
            if getattr(self, name) is not None:
                check(name, getattr(self, name), (m,))
        if not np.all(np.isfinite(self.loss)) or not np.all(np.isfinite(self.composite_delta)):
            raise InputError("SPAN arrays: risk arrays and composite deltas must be finite")
        if n and (self.cc_of.min() < 0 or self.cc_of.max() >= m):
            raise InputError("SPAN arrays: cc_of points outside cc_names")
        if n and (self.tier_of.min() < 0 or self.tier_of.max() >= k):
            raise InputError("SPAN arrays: tier_of points outside tier_cc")
        if n and np.any(self.tier_cc[self.tier_of] != self.cc_of):
            raise InputError("SPAN arrays: a contract's tier belongs to another CC")
        if self.time_scenarios.size == 0:
            raise InputError("SPAN arrays: no unchanged-price (time risk) scenario")
        for sp_ in self.intra_spreads:
            if max(sp_.a, sp_.b) >= k or self.tier_cc[sp_.a] != self.tier_cc[sp_.b]:
                raise InputError(f"SPAN arrays: intra spread {sp_} needs two tiers of one CC")
        for sp_ in self.inter_spreads:
            if max(sp_.a, sp_.b) >= m:
                raise InputError(f"SPAN arrays: inter spread {sp_} points outside cc_names")
        for ss in self.scan_spreads:
            if max(ss.legs) >= m:
                raise InputError(f"SPAN arrays: scanning spread {ss} points outside cc_names")

    @property
    def n_scenarios(self) -> int:
        """Scenarios per CC."""
        return int(self.loss.shape[0])


@dataclass(frozen=True, slots=True, kw_only=True)
class SpanRows:
    """Per-row results of :func:`span_margins`; ``(rows, m)`` arrays are per CC.

    ``scan`` is the outright scan risk and ``scan_credit`` what scanning-based spreads save
    on each CC (``scan − scan_credit`` is the effective scan; negative on a spread's target,
    which carries the spread's scan). ``credit`` is the delta-based inter credit, ``spot`` the
    spot-month charge. ``worst`` is the worst outright scenario per CC (-1 where the CC has
    no scan risk); ``nov`` the net value of the row's positions (long > 0);
    ``maintenance = Σ_c requirement``; ``initial = Σ_c im_ratio_c · requirement_c``.
    """

    scan: FloatArray
    scan_credit: FloatArray
    intra: FloatArray
    spot: FloatArray
    credit: FloatArray
    som: FloatArray
    requirement: FloatArray
    worst: IntArray
    nov: FloatArray
    maintenance: FloatArray
    initial: FloatArray


def _scenario_losses(arrays: SpanArrays, h: sp.csr_matrix) -> FloatArray:
    """(m, rows, s) weighted scenario losses per CC (loss positive)."""
    rows = h.shape[0]
    m, s = len(arrays.cc_names), arrays.n_scenarios
    by_col = h.tocsc()
    out = np.zeros((m, rows, s))
    for c in range(m):
        cols = np.flatnonzero(arrays.cc_of == c)
        if cols.size:
            weighted = arrays.loss[:, cols] * arrays.weights[c][:, None]  # (s, n_c)
            out[c] = np.asarray(by_col[:, cols].tocsr() @ weighted.T).reshape(rows, s)
    return out


def _cc_sum(tier_delta: FloatArray, tier_cc: IntArray, m: int, mask: BoolArray) -> FloatArray:
    """Σ over the tiers of each CC where ``mask`` (k,) holds: (rows, m)."""
    out = np.zeros((tier_delta.shape[0], m))
    for t in np.flatnonzero(mask).tolist():  # tier by tier: the order of a row's own tiers
        out[:, tier_cc[t]] += tier_delta[:, t]
    return out


def _delta_credits(
    spreads: list[Spread],
    tier_delta: FloatArray,
    arrays: SpanArrays,
    wpr: FloatArray,
    credit: FloatArray,
    mask: BoolArray,
    *,
    consume: bool,
) -> None:
    """Delta-based inter spreads on the CC deltas over ``mask`` tiers; credits in place.

    With ``consume`` (super spreads, formed before intra spreading) each leg's tiers are
    scaled by ``1 − spread delta / CC delta``.
    """
    if not spreads:
        return
    m = len(arrays.cc_names)
    cc_delta = _cc_sum(tier_delta, arrays.tier_cc, m, mask)
    before = cc_delta.copy()
    for spread, formed in spread_delta(cc_delta, spreads):
        credit[:, spread.a] += formed * spread.ratio_a * wpr[:, spread.a] * spread.rate
        credit[:, spread.b] += formed * spread.ratio_b * wpr[:, spread.b] * spread.rate
    if consume:
        keep = np.divide(cc_delta, before, out=np.ones_like(before), where=before != 0)
        for c in range(m):
            scale_cc_tiers(tier_delta, arrays.tier_cc, c, keep[:, c])


def span_margins(arrays: SpanArrays, holdings: sp.spmatrix | FloatArray) -> SpanRows:
    """Margin every row of ``holdings`` (rows x contracts, quantities) from ``arrays``."""
    h = sp.csr_matrix(holdings, dtype=np.float64)
    rows, n = h.shape
    if n != arrays.loss.shape[1]:
        raise InputError(f"holdings have {n} columns for {arrays.loss.shape[1]} contracts")
    m, k = len(arrays.cc_names), arrays.tier_cc.shape[0]
    idx = np.arange(rows)
    loss = _scenario_losses(arrays, h)
    full_worst = np.argmax(loss, axis=2).T if m else np.zeros((rows, 0), dtype=np.int64)
    scan = np.maximum(np.max(loss, axis=2), 0.0).T if m else np.zeros((rows, 0))
    worst = np.where(scan > 0.0, full_worst, -1).astype(np.int64)
    to_tier = sp.csr_matrix((arrays.composite_delta, (np.arange(n), arrays.tier_of)), shape=(n, k))
    tier_delta = np.asarray((h @ to_tier).toarray()).reshape(rows, k)
    every = np.ones(k, dtype=bool)
    # 1. scanning-based spreads (super first), on the full CC deltas
    spread_scan = np.zeros((rows, m))
    ordered = [s for s in arrays.scan_spreads if s.is_super]
    ordered += [s for s in arrays.scan_spreads if not s.is_super]
    for sspread in ordered:
        cc_delta = _cc_sum(tier_delta, arrays.tier_cc, m, every)
        frac, sscan, _ = scan_spread_step(loss, cc_delta, sspread)
        spread_scan[:, sspread.target] += sscan
        for j, leg in enumerate(sspread.legs):
            keep = 1.0 - frac[:, j]
            loss[leg] *= keep[:, None]
            scale_cc_tiers(tier_delta, arrays.tier_cc, leg, keep)
    # effective scan and weighted price risk of what stays outright
    price = np.zeros((rows, m))
    effective = spread_scan.copy()
    for c in range(m):
        j_w = np.argmax(loss[c], axis=1)
        l_w = loss[c][idx, j_w]
        l_p = loss[c][idx, arrays.pair[j_w]]
        time_risk = loss[c][:, arrays.time_scenarios].mean(axis=1)
        effective[:, c] += np.maximum(l_w, 0.0)
        price[:, c] = (l_w + l_p) / 2.0 - time_risk
    abs_delta = np.abs(_cc_sum(tier_delta, arrays.tier_cc, m, every))
    wpr = np.divide(
        np.maximum(price, 0.0), abs_delta, out=np.zeros_like(price), where=abs_delta > 0
    )
    # 2. super delta spreads, before intra spreading
    credit = np.zeros((rows, m))
    supers = [s for s in arrays.inter_spreads if s.is_super]
    _delta_credits(supers, tier_delta, arrays, wpr, credit, every, consume=True)
    # 3. intra spreads on the tier deltas
    intra = np.zeros((rows, m))
    before_intra = tier_delta.copy()
    for spread, formed in spread_delta(tier_delta, arrays.intra_spreads):
        intra[:, arrays.tier_cc[spread.a]] += intra_charge(
            spread, formed, wpr[:, arrays.tier_cc[spread.a]]
        )
    # 4. spot-month charge
    spot = np.zeros((rows, m))
    spot_tier = np.zeros(k, dtype=bool) if arrays.spot_tier is None else arrays.spot_tier
    if spot_tier.any():
        outright = _cc_sum(np.abs(tier_delta), arrays.tier_cc, m, spot_tier)
        spread_part = _cc_sum(np.abs(before_intra - tier_delta), arrays.tier_cc, m, spot_tier)
        zeros = np.zeros(m)
        rate_o = zeros if arrays.spot_outright_rate is None else arrays.spot_outright_rate
        rate_s = zeros if arrays.spot_spread_rate is None else arrays.spot_spread_rate
        spot = outright * rate_o + spread_part * rate_s
    # 5. the other delta-based inter spreads on the deltas before intra spreading (a
    # calendar spread moves no net delta at equal ratios), spot-month delta excluded
    others = [s for s in arrays.inter_spreads if not s.is_super]
    _delta_credits(others, before_intra, arrays, wpr, credit, ~spot_tier, consume=False)
    som = _short_option_minimum(arrays, h, rows, m)
    requirement = np.maximum(np.maximum(effective + intra + spot - credit, som), 0.0)
    ratio = np.ones(m) if arrays.im_ratio is None else arrays.im_ratio
    value = np.zeros(n) if arrays.value is None else arrays.value
    return SpanRows(
        scan=scan,
        scan_credit=scan - effective,
        intra=intra,
        spot=spot,
        credit=credit,
        som=som,
        requirement=requirement,
        worst=worst,
        nov=np.asarray(h @ value).reshape(rows),
        maintenance=ordered_row_sums(requirement),
        initial=ordered_row_sums(requirement, ratio),
    )


def _short_option_minimum(arrays: SpanArrays, h: sp.csr_matrix, rows: int, m: int) -> FloatArray:
    """SOM per row and CC: GROSS = short calls + short puts, MAX = the larger (each ×s_i)."""
    if arrays.som_per_short is None or arrays.is_call is None or arrays.is_put is None:
        return np.zeros((rows, m))
    n = h.shape[1]
    shorts = -h.minimum(0.0)  # |q| of short positions, zero elsewhere
    per_call = sp.csr_matrix(
        (arrays.som_per_short * arrays.is_call, (np.arange(n), arrays.cc_of)), shape=(n, m)
    )
    per_put = sp.csr_matrix(
        (arrays.som_per_short * arrays.is_put, (np.arange(n), arrays.cc_of)), shape=(n, m)
    )
    calls = np.asarray((shorts @ per_call).toarray()).reshape(rows, m)
    puts = np.asarray((shorts @ per_put).toarray()).reshape(rows, m)
    gross = np.ones(m, dtype=bool) if arrays.som_gross is None else arrays.som_gross
    out: FloatArray = np.where(gross, calls + puts, np.maximum(calls, puts))
    return out
