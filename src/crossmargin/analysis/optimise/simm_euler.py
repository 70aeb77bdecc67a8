"""ISDA SIMM attribution of a position book: the gradient of the aggregation.

:func:`crossmargin.simm.sensitivities.book_crif` turns each position into Equity/Commodity
delta and vega lines, linear in its quantity. Per qualifier ``k`` (an underlying) three
numbers carry everything SIMM reads from them (ISDA SIMM Methodology v2.5+, B–C)::

    D_k = Σ delta lines                 (delta margin)
    V_k = Σ_j vega lines                (vega risk VR_k = HVR·σ_b·V_k)
    C_k = Σ_j SF(t_j)·vega line_j       (curvature CVR_k = σ_b·C_k)

:func:`simm_value` evaluates SIMM from ``x = (D, V, C)`` exactly as
:func:`crossmargin.simm.simm_margin` does for such lines (delta and vega with concentration
factors, ``K_b`` with ρ·f, γ across buckets and the residual bucket added, curvature with
ρ², γ², θ and λ, ``IM_r = Delta + Vega + Curvature``, ψ across risk classes within a product
class, product classes summed) carrying forward-mode derivatives (dual numbers), so it returns
``∂SIMM/∂x`` exactly; ``∂SIMM/∂qᵢ = Σ_f ∂SIMM/∂x_f·∂x_f/∂qᵢ``.

Without concentration (``CR = 1``) SIMM is homogeneous of degree 1 in the sensitivities
(θ and λ are degree 0), so the Euler contributions ``qᵢ·∂SIMM/∂qᵢ`` sum to SIMM. Where a
concentration factor exceeds 1 SIMM is not homogeneous and the contributions are
Aumann–Shapley, ``qᵢ·∫₀¹ ∂SIMM/∂qᵢ(t·q) dt``, by Gauss–Legendre quadrature on the pieces of
``[0, 1]`` between the kinks ``t = T/|s|`` where a factor reaches its threshold (smooth in
between); the quadrature residual (reported) is allocated pro rata to ``|cᵢ|``.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.stats import norm

from crossmargin.errors import ModelError
from crossmargin.market.snapshot import MarketSnapshot
from crossmargin.portfolio import Portfolio, Position
from crossmargin.simm.delta import inter_matrix, intra_corr
from crossmargin.simm.parameters import RESIDUAL, SimmParameters, load_parameters

FloatArray = NDArray[np.float64]
_DELTA = ("Risk_Equity", "Risk_Commodity")
_VEGA = ("Risk_EquityVol", "Risk_CommodityVol")
_NODES, _WEIGHTS = np.polynomial.legendre.leggauss(12)


class Dual:
    """A number and its gradient (forward-mode automatic differentiation)."""

    __slots__ = ("g", "v")

    def __init__(self, v: float, g: FloatArray) -> None:
        self.v = float(v)
        self.g = g

    def __add__(self, o: Dual | float) -> Dual:
        if isinstance(o, Dual):
            return Dual(self.v + o.v, self.g + o.g)
        return Dual(self.v + o, self.g)

    __radd__ = __add__

    def __sub__(self, o: Dual | float) -> Dual:
        return self + (-o)

    def __rsub__(self, o: float) -> Dual:
        return (-self) + o

    def __neg__(self) -> Dual:
        return Dual(-self.v, -self.g)

    def __mul__(self, o: Dual | float) -> Dual:
        if isinstance(o, Dual):
            return Dual(self.v * o.v, self.g * o.v + o.g * self.v)
        return Dual(self.v * o, self.g * o)

    __rmul__ = __mul__

    def __truediv__(self, o: Dual | float) -> Dual:
        if isinstance(o, Dual):
            return Dual(self.v / o.v, (self.g * o.v - o.g * self.v) / (o.v * o.v))
        return Dual(self.v / o, self.g / o)


def _zero(n: int) -> Dual:
    return Dual(0.0, np.zeros(n))


def _sqrt(a: Dual) -> Dual:
    if a.v <= 0.0:
        return Dual(0.0, np.zeros_like(a.g))
    r = math.sqrt(a.v)
    return Dual(r, a.g / (2.0 * r))


def _abs(a: Dual) -> Dual:
    return a if a.v >= 0 else -a


def _max(a: Dual, b: Dual) -> Dual:
    return a if a.v >= b.v else b


def _min(a: Dual, b: Dual) -> Dual:
    return a if a.v <= b.v else b


def _const(c: float, n: int) -> Dual:
    return Dual(c, np.zeros(n))


@dataclass(frozen=True, slots=True, kw_only=True)
class Qualifier:
    """One SIMM risk factor of the book: where it sits in the aggregation."""

    product_class: str
    risk_class: str
    bucket: str
    qualifier: str


@dataclass(frozen=True, slots=True, kw_only=True)
class SimmFactors:
    """The factors of one account and each position's loading on them.

    ``loading`` is (3·Q, positions): rows ``D`` then ``V`` then ``C`` per qualifier (USD per
    the position's whole quantity); ``x = loading.sum(axis=1)``.
    """

    qualifiers: tuple[Qualifier, ...]
    loading: FloatArray
    positions: tuple[Position, ...]

    @property
    def x(self) -> FloatArray:
        """Factor values of the account."""
        out: FloatArray = self.loading.sum(axis=1)
        return out


def account_factors(
    portfolio: Portfolio,
    account: str,
    market: MarketSnapshot,
    params: SimmParameters,
    mapping: Any = None,
) -> SimmFactors:
    """Factors and loadings of ``account``'s positions (via :func:`book_crif`)."""
    from crossmargin.simm.sensitivities import book_crif

    positions = portfolio.account(account).positions
    tagged = Portfolio.from_positions(
        Position(
            account=account,
            instrument=p.instrument,
            quantity=p.quantity,
            position_id=f"p{i}",
            venue=p.venue,
        )
        for i, p in enumerate(positions)
    )
    frame = book_crif(tagged, market, mapping).crif.frame
    keys: dict[tuple[str, str, str, str], int] = {}
    entries = []
    columns = ("RiskType", "ProductClass", "Bucket", "Qualifier", "TradeID", "Label1")
    text = {c: frame[c].astype(str).tolist() for c in columns}
    amounts = frame["AmountUSD"].to_numpy(dtype=np.float64)
    for j, amount in enumerate(amounts.tolist()):
        rt = text["RiskType"][j]
        if rt not in _DELTA + _VEGA:
            raise ModelError(f"SIMM attribution: unsupported CRIF risk type {rt!r}")
        rc = "Equity" if "Equity" in rt else "Commodity"
        key = (text["ProductClass"][j], rc, text["Bucket"][j], text["Qualifier"][j])
        k = keys.setdefault(key, len(keys))
        pos = int(text["TradeID"][j][1:])
        if rt in _DELTA:
            entries.append((0, k, pos, amount))
        else:
            entries.append((1, k, pos, amount))
            entries.append((2, k, pos, amount * params.curvature_weights[text["Label1"][j]]))
    q = len(keys)
    loading = np.zeros((3 * q, len(positions)))
    for kind, k, pos, amount in entries:
        loading[kind * q + k, pos] += amount
    quals = tuple(
        Qualifier(product_class=p, risk_class=r, bucket=b, qualifier=n) for (p, r, b, n) in keys
    )
    return SimmFactors(qualifiers=quals, loading=loading, positions=positions)


def _bucket_k(ws: Sequence[Dual], cr: Sequence[Dual] | None, rho: float, n: int) -> Dual:
    k2 = _zero(n)
    for i, a in enumerate(ws):
        k2 = k2 + a * a
        for j in range(i + 1, len(ws)):
            f: Dual | float = 1.0
            if cr is not None:
                f = _min(cr[i], cr[j]) / _max(cr[i], cr[j])
            k2 = k2 + 2.0 * rho * (ws[j] * a) * f
    return _sqrt(k2)


def _across(
    params: SimmParameters, rc: str, k: dict[str, Dual], s: dict[str, Dual], squared: bool, n: int
) -> Dual:
    regular = [b for b in k if b != RESIDUAL]
    gamma = inter_matrix(params, rc, regular)
    if squared:
        gamma = gamma * gamma
    clamped = [_max(_min(s[b], k[b]), -k[b]) for b in regular]
    tot = _zero(n)
    for i, b in enumerate(regular):
        tot = tot + k[b] * k[b]
        for j in range(i + 1, len(regular)):
            tot = tot + 2.0 * float(gamma[i, j]) * clamped[i] * clamped[j]
    return _sqrt(tot)


def _weighted_margin(
    params: SimmParameters,
    rc: str,
    idx: list[int],
    quals: tuple[Qualifier, ...],
    amounts: Sequence[Dual],
    kind: str,
    n: int,
) -> Dual:
    """Delta or vega margin of one risk class (per-qualifier net amounts in ``amounts``)."""
    weights = params.weights(rc)
    k_by: dict[str, Dual] = {}
    s_by: dict[str, Dual] = {}
    buckets = sorted({quals[i].bucket for i in idx})
    for b in buckets:
        members = [i for i in idx if quals[i].bucket == b]
        if kind == "delta":
            scale = float(weights["delta"][b])
            risk = [amounts[i] for i in members]
        else:
            table = weights["vega"]
            scale = float(table if isinstance(table, float | int) else table[b])
            factor = float(weights.get("hvr", 1.0)) * params.vega_sigma(rc, b)
            risk = [amounts[i] * factor for i in members]
        t = params.threshold(rc, kind, b)
        cr = [
            _max(_const(1.0, n), _sqrt(_abs(r) / t)) if math.isfinite(t) else _const(1.0, n)
            for r in risk
        ]
        ws = [r * c * scale for r, c in zip(risk, cr, strict=True)]
        k_by[b] = _bucket_k(ws, cr, intra_corr(params, rc, b)[1], n)
        s_by[b] = sum(ws, _zero(n))
    out = _across(params, rc, k_by, s_by, False, n)
    return out + k_by[RESIDUAL] if RESIDUAL in k_by else out


def _curvature(
    params: SimmParameters,
    rc: str,
    idx: list[int],
    quals: tuple[Qualifier, ...],
    amounts: Sequence[Dual],
    n: int,
) -> Dual:
    zero_buckets = params.data["methodology"].get("curvature_zero_buckets", {}).get(rc, [])
    z = float(norm.ppf(params.curvature_quantile))
    k_by: dict[str, Dual] = {}
    s_by: dict[str, Dual] = {}
    cvr_by: dict[str, list[Dual]] = {}
    for b in sorted({quals[i].bucket for i in idx} - set(zero_buckets)):
        sigma = params.vega_sigma(rc, b)
        cvr = [amounts[i] * sigma for i in idx if quals[i].bucket == b]
        rho = intra_corr(params, rc, b)[1] ** 2
        k_by[b], s_by[b], cvr_by[b] = _bucket_k(cvr, None, rho, n), sum(cvr, _zero(n)), cvr

    def finish(cvrs: list[Dual], aggregate: Dual) -> Dual:
        total = sum(cvrs, _zero(n))
        absolute = sum((_abs(c) for c in cvrs), _zero(n))
        theta = _min(total / absolute, _zero(n)) if absolute.v > 0 else _zero(n)
        lam = (z * z - 1.0) * (1.0 + theta) - theta
        return _max(total + lam * aggregate, _zero(n))

    regular = [b for b in k_by if b != RESIDUAL]
    out = _zero(n)
    if regular:
        agg = _across(params, rc, {b: k_by[b] for b in regular}, s_by, True, n)
        out = out + finish([c for b in regular for c in cvr_by[b]], agg)
    if RESIDUAL in k_by:
        out = out + finish(cvr_by[RESIDUAL], k_by[RESIDUAL])
    return out


def simm_value(params: SimmParameters, quals: tuple[Qualifier, ...], x: FloatArray) -> Dual:
    """SIMM (USD) of factor values ``x`` (D, V, C per qualifier) with its gradient."""
    q = len(quals)
    n = x.size
    if n != 3 * q:
        raise ModelError(f"SIMM factors: {n} values for {q} qualifiers")
    eye = np.eye(n)
    d = [Dual(float(x[i]), eye[i]) for i in range(q)]
    v = [Dual(float(x[q + i]), eye[q + i]) for i in range(q)]
    c = [Dual(float(x[2 * q + i]), eye[2 * q + i]) for i in range(q)]
    total = _zero(n)
    for pc in dict.fromkeys(qu.product_class for qu in quals):
        margins: dict[str, Dual] = {}
        for rc in dict.fromkeys(qu.risk_class for qu in quals if qu.product_class == pc):
            idx = [
                i for i, qu in enumerate(quals) if qu.product_class == pc and qu.risk_class == rc
            ]
            margins[rc] = (
                _weighted_margin(params, rc, idx, quals, d, "delta", n)
                + _weighted_margin(params, rc, idx, quals, v, "vega", n)
                + _curvature(params, rc, idx, quals, c, n)
            )
        names = [r for r in margins if margins[r].v != 0.0]
        acc = _zero(n)
        for r in names:
            for s in names:
                acc = acc + params.risk_class_corr(r, s) * margins[r] * margins[s]
        total = total + _sqrt(acc)
    return total


def _kinks(params: SimmParameters, quals: tuple[Qualifier, ...], x: FloatArray) -> list[float]:
    """Points ``t`` in (0, 1) where a concentration factor of ``t·x`` starts to exceed 1."""
    q = len(quals)
    out = []
    weights_hvr = {
        rc: float(params.weights(rc).get("hvr", 1.0)) for rc in {qu.risk_class for qu in quals}
    }
    for i, qu in enumerate(quals):
        for kind, value in (
            ("delta", abs(x[i])),
            (
                "vega",
                abs(x[q + i])
                * weights_hvr[qu.risk_class]
                * params.vega_sigma(qu.risk_class, qu.bucket),
            ),
        ):
            t = params.threshold(qu.risk_class, kind, qu.bucket)
            if math.isfinite(t) and value > 0 and t / value < 1.0:
                out.append(t / value)
    return sorted(set(out))


def simm_contributions(
    params: SimmParameters, factors: SimmFactors
) -> tuple[float, FloatArray, FloatArray, float]:
    """``(SIMM, contribution per position, ∂SIMM/∂q per position, residual)`` (docstring)."""
    x = factors.x
    at = simm_value(params, factors.qualifiers, x)
    grad = at.g @ factors.loading  # ∂SIMM/∂(position scale), USD
    kinks = _kinks(params, factors.qualifiers, x)
    if not kinks:
        contribution = grad.copy()
    else:
        edges = [0.0, *kinks, 1.0]
        avg = np.zeros(x.size)
        for lo, hi in itertools.pairwise(edges):
            for node, w in zip(_NODES, _WEIGHTS, strict=True):
                t = lo + (hi - lo) * (node + 1.0) / 2.0
                avg += w * (hi - lo) / 2.0 * simm_value(params, factors.qualifiers, t * x).g
        contribution = avg @ factors.loading
    residual = at.v - float(contribution.sum())
    if kinks:
        share = np.abs(contribution)
        total_share = share.sum()
        weights = share / total_share if total_share > 0 else np.full(share.size, 1 / share.size)
        contribution = contribution + weights * residual
    qty = np.array([p.quantity for p in factors.positions])
    marginal = np.where(qty != 0, grad / np.where(qty != 0, qty, 1.0), 0.0)
    return at.v, contribution, marginal, residual


def simm_without(params: SimmParameters, factors: SimmFactors, drop: int) -> float:
    """SIMM of the account without position ``drop`` (the loadings are linear in quantity)."""
    x = factors.x - factors.loading[:, drop]
    return simm_value(params, factors.qualifiers, x).v


def simm_parameters(version: str = "2.6", mpor_days: int = 10) -> SimmParameters:
    """:func:`crossmargin.simm.load_parameters` (re-exported for the attribution API)."""
    return load_parameters(version, mpor_days)


Gradient = Callable[[FloatArray], FloatArray]

__all__ = [
    "Dual",
    "Qualifier",
    "SimmFactors",
    "account_factors",
    "simm_contributions",
    "simm_parameters",
    "simm_value",
    "simm_without",
]
