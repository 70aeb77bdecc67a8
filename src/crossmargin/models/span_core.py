"""SPAN from risk arrays: scan risk, intra/inter-commodity spreads, SOM and NOV, per row.

This is the one risk-array → margin path of the ``span`` model (METHODS §2.10: risk arrays
from a ``.spn`` file or from our own revaluation feed the same code). It knows nothing of
instruments or markets: :class:`SpanArrays` holds per-contract risk arrays, composite
deltas, tiers and option data, and per-combined-commodity (CC) parameters;
:func:`span_margins` margins every row of a sparse ``rows x contracts`` holdings matrix.

Sign convention (stated once): risk arrays here are CME's, **per one long contract, loss
positive, gain negative** (CME "Components of SPAN"); the engine's scenario P&L (gain
positive) is negated when the arrays are built, never later.

Per row and CC ``c`` (``q`` the row's quantities, ``RA_i[j]`` the loss of one long contract
``i`` in scenario ``j``, ``w_c[j]`` the scenario weight: 1, or the extreme-move cover
fraction for the extreme scenarios)::

    L_c[j]      = w_c[j] · Σ_{i ∈ c} q_i · RA_i[j]
    ScanRisk_c  = max(max_j L_c[j], 0)                         worst scenario j_w
    Time_c      = mean of L_c over the unchanged-price scenarios
    Price_c     = (L_c[j_w] + L_c[pair(j_w)])/2 − Time_c       (pair(j) = j if unpaired)
    δ_c,t       = Σ_{i ∈ tier t} q_i · δ_i                     composite delta per tier
    Intra_c     = Σ_spreads n · rate        (legs of opposite sign, priority order,
                                             n = min(|δ_A|/r_A, |δ_B|/r_B), legs reduced)
    WPR_c       = max(Price_c, 0) / |Σ_t δ_c,t|                weighted price risk (NORMAL)
    Credit_c    = Σ_inter-spreads n · r_c · WPR_c · rate       (same spreading, CC deltas)
    SOM_c       = Σ_short calls s_i·|q_i| + Σ_short puts s_i·|q_i|    (GROSS)
                  max(Σ_short calls, Σ_short puts)                    (MAX)
    Req_c       = max(ScanRisk_c + Intra_c − Credit_c, SOM_c, 0)
    Maintenance = Σ_c Req_c,   Initial = Σ_c ratio_c · Req_c,   NOV = Σ_i q_i · value_i

(CME SPAN wiki: Risk Arrays, Intra Spreads, Inter Spreads, Short Option Minimum; the
scan-risk decomposition as summarised in METHODS §2.4; the spreading loop as in
``marketcalls/marginism``.) Rows are processed with sparse x dense products; the only
Python loops are over CCs and over spreads in priority order (each step vectorised over
all rows), which is inherently sequential.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from crossmargin.errors import InputError

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]


@dataclass(frozen=True, slots=True, kw_only=True)
class Spread:
    """One spread between leg ``a`` and leg ``b`` (tier ids or CC ids), in priority order.

    ``ratio_a``/``ratio_b`` are the deltas per spread of each leg; ``rate`` is the flat
    charge per spread (intra-commodity) or the credit rate (inter-commodity, a fraction of
    each leg's weighted price risk).
    """

    a: int
    b: int
    ratio_a: float = 1.0
    ratio_b: float = 1.0
    rate: float = 0.0

    def __post_init__(self) -> None:
        if self.a == self.b:
            raise InputError(f"a spread needs two different legs, got {self.a} twice")
        if not (self.ratio_a > 0 and self.ratio_b > 0):
            raise InputError("spread delta ratios must be > 0")
        if not (np.isfinite(self.rate) and self.rate >= 0):
            raise InputError(f"spread rate must be finite and >= 0, got {self.rate}")


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
    inter_spreads : CC spreads in priority order.
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
        for name in ("som_gross", "im_ratio"):
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

    @property
    def n_scenarios(self) -> int:
        """Scenarios per CC."""
        return int(self.loss.shape[0])


@dataclass(frozen=True, slots=True, kw_only=True)
class SpanRows:
    """Per-row results of :func:`span_margins`; ``(rows, m)`` arrays are per CC.

    ``worst`` is the worst scenario per CC (-1 where the CC has no scan risk); ``nov`` the
    net value of the row's positions (long > 0); ``maintenance = Σ_c requirement``;
    ``initial = Σ_c im_ratio_c · requirement_c``.
    """

    scan: FloatArray
    intra: FloatArray
    credit: FloatArray
    som: FloatArray
    requirement: FloatArray
    worst: IntArray
    nov: FloatArray
    maintenance: FloatArray
    initial: FloatArray


def _spread(deltas: FloatArray, spreads: tuple[Spread, ...]) -> list[tuple[Spread, FloatArray]]:
    """Form ``spreads`` in priority order on ``deltas`` (rows, legs), in place.

    Returns the number of spreads formed per row for each spread. Legs must offset
    (opposite signs); each formed spread moves both legs toward zero by ``n·ratio``.
    """
    formed = []
    for spread in spreads:
        da, db = deltas[:, spread.a], deltas[:, spread.b]
        offset = np.sign(da) * np.sign(db) < 0
        n = np.where(
            offset, np.minimum(np.abs(da) / spread.ratio_a, np.abs(db) / spread.ratio_b), 0.0
        )
        deltas[:, spread.a] = da - np.sign(da) * n * spread.ratio_a
        deltas[:, spread.b] = db - np.sign(db) * n * spread.ratio_b
        formed.append((spread, n))
    return formed


def span_margins(arrays: SpanArrays, holdings: sp.spmatrix | FloatArray) -> SpanRows:
    """Margin every row of ``holdings`` (rows x contracts, quantities) from ``arrays``."""
    h = sp.csr_matrix(holdings, dtype=np.float64)
    rows, n = h.shape
    if n != arrays.loss.shape[1]:
        raise InputError(f"holdings have {n} columns for {arrays.loss.shape[1]} contracts")
    m, s = len(arrays.cc_names), arrays.n_scenarios
    by_col = h.tocsc()
    scan, price = np.zeros((rows, m)), np.zeros((rows, m))
    worst = np.full((rows, m), -1, dtype=np.int64)
    for c in range(m):
        cols = np.flatnonzero(arrays.cc_of == c)
        if cols.size == 0:
            continue
        weighted = arrays.loss[:, cols] * arrays.weights[c][:, None]  # (s, n_c)
        loss = np.asarray(by_col[:, cols].tocsr() @ weighted.T).reshape(rows, s)
        j_w = np.argmax(loss, axis=1)
        l_w = loss[np.arange(rows), j_w]
        l_p = loss[np.arange(rows), arrays.pair[j_w]]
        time_risk = loss[:, arrays.time_scenarios].mean(axis=1)
        scan[:, c] = np.maximum(l_w, 0.0)
        price[:, c] = (l_w + l_p) / 2.0 - time_risk
        worst[:, c] = np.where(l_w > 0.0, j_w, -1)
    k = arrays.tier_cc.shape[0]
    to_tier = sp.csr_matrix((arrays.composite_delta, (np.arange(n), arrays.tier_of)), shape=(n, k))
    tier_delta = np.asarray((h @ to_tier).toarray()).reshape(rows, k)
    tier_to_cc = np.zeros((k, m))
    tier_to_cc[np.arange(k), arrays.tier_cc] = 1.0
    cc_delta = tier_delta @ tier_to_cc
    intra = np.zeros((rows, m))
    for spread, formed in _spread(tier_delta, arrays.intra_spreads):
        intra[:, arrays.tier_cc[spread.a]] += formed * spread.rate
    abs_delta = np.abs(cc_delta)
    wpr = np.divide(
        np.maximum(price, 0.0), abs_delta, out=np.zeros_like(price), where=abs_delta > 0
    )
    credit = np.zeros((rows, m))
    for spread, formed in _spread(cc_delta.copy(), arrays.inter_spreads):
        credit[:, spread.a] += formed * spread.ratio_a * wpr[:, spread.a] * spread.rate
        credit[:, spread.b] += formed * spread.ratio_b * wpr[:, spread.b] * spread.rate
    som = _short_option_minimum(arrays, h, rows, m)
    requirement = np.maximum(np.maximum(scan + intra - credit, som), 0.0)
    ratio = np.ones(m) if arrays.im_ratio is None else arrays.im_ratio
    value = np.zeros(n) if arrays.value is None else arrays.value
    return SpanRows(
        scan=scan,
        intra=intra,
        credit=credit,
        som=som,
        requirement=requirement,
        worst=worst,
        nov=np.asarray(h @ value).reshape(rows),
        maintenance=requirement.sum(axis=1),
        initial=requirement @ ratio,
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
