"""SIMM curvature margin for each risk class.

ISDA SIMM Methodology v2.5+, section C ("Curvature margin")::

    CVR_k = Σ_j SF(t_kj) · σ_k · s_kj,    SF(t) = 0.5 · min(1, D / t_days)
    K_b   = √( Σ_k CVR_k² + Σ_{k≠l} ρ_kl² · CVR_k · CVR_l )
    θ     = min( Σ CVR / Σ |CVR|, 0 ),     λ = (Φ⁻¹(0.995)² − 1)(1 + θ) − θ
    Curv  = max( Σ CVR + λ · √( Σ_b K_b² + Σ_{b≠c} γ_bc² · S_b · S_c ), 0 ),
    S_b   = max(min(Σ_k CVR_k, K_b), −K_b)

``s`` is the CRIF vega amount, ``σ_k`` as for vega (1 for IR and credit), ``D`` = 14 days
at 10-day MPOR and 1.4 days at 1-day MPOR, ``t`` the volatility tenor in calendar days
(365 per year).  Correlations are the delta/vega ones squared; there is no concentration
factor; equity bucket 12 (volatility indices) has no curvature (v2.2+, as ORE and the
ISDA unit tests).  Residual buckets get their own θ and λ
and are added.  The IR curvature margin is multiplied by HVR_IR⁻².  Equity, commodity and
FX sum a qualifier's tenors into one ``CVR_k``; IR and credit keep tenors as risk factors.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from crossmargin.simm.delta import AMOUNT, aggregate_buckets, bucket_k, ir_across, net_table, runs
from crossmargin.simm.kernels import bucket_constant_corr, bucket_dense
from crossmargin.simm.parameters import (
    CREDIT_NONQ,
    CREDIT_Q,
    FX,
    IR,
    RESIDUAL,
    SimmParameters,
    norm_ppf,
)
from crossmargin.simm.report import MarginComponent
from crossmargin.simm.vega import canonical_pair, ir_vol_corr, ir_vol_factors, vega_keys


def lambda_factor(cvr_sum: float, cvr_abs_sum: float, quantile: float) -> float:
    """``λ = (Φ⁻¹(q)² − 1)(1 + θ) − θ`` with ``θ = min(ΣCVR / Σ|CVR|, 0)`` (0 if Σ|CVR| = 0)."""
    theta = min(cvr_sum / cvr_abs_sum, 0.0) if cvr_abs_sum > 0.0 else 0.0
    z = norm_ppf(quantile)
    return (z * z - 1.0) * (1.0 + theta) - theta


def _weighted(params: SimmParameters, frame: pd.DataFrame) -> pd.DataFrame:
    sf = frame["Label1"].map(params.curvature_weights).astype(np.float64)
    return frame.assign(**{AMOUNT: frame[AMOUNT].to_numpy() * sf.to_numpy()})


def _finish(params: SimmParameters, total: float, total_abs: float, aggregate: float) -> float:
    lam = lambda_factor(total, total_abs, params.curvature_quantile)
    return max(total + lam * aggregate, 0.0)


def ir_curvature(params: SimmParameters, frame: pd.DataFrame) -> MarginComponent:
    """IR curvature margin, including the HVR_IR⁻² scale."""
    if frame.empty:
        return MarginComponent()
    net = ir_vol_factors(_weighted(params, frame))
    k_by: dict[str, float] = {}
    sum_by: dict[str, float] = {}
    for currency, rows in runs(net["Qualifier"]):
        rtype = net["RiskType"][rows]
        tenor = net["Label1"][rows]
        cvr = net[AMOUNT][rows]
        rho = ir_vol_corr(params, rtype, tenor)
        k_by[currency] = bucket_dense(cvr, rho * rho)
        sum_by[currency] = float(cvr.sum())
    cvr_all = net[AMOUNT]
    aggregate = ir_across(params, k_by, sum_by, None, squared=True)
    margin = _finish(params, float(cvr_all.sum()), float(np.abs(cvr_all).sum()), aggregate)
    return MarginComponent(margin=margin * params.ir_curvature_scale, buckets=k_by)


def bucketed_curvature(
    params: SimmParameters, risk_class: str, frame: pd.DataFrame
) -> MarginComponent:
    """Curvature margin of CreditQ, CreditNonQ, Equity or Commodity."""
    if frame.empty:
        return MarginComponent()
    credit = risk_class in (CREDIT_Q, CREDIT_NONQ)
    zero = params.data["methodology"].get("curvature_zero_buckets", {}).get(risk_class, [])
    frame = frame[~frame["Bucket"].isin(zero)]
    if frame.empty:
        return MarginComponent()
    net = net_table(_weighted(params, frame), vega_keys(risk_class))
    k_by: dict[str, float] = {}
    sum_by: dict[str, float] = {}
    cvr_parts: dict[str, np.ndarray] = {}
    for b, rows in runs(net["Bucket"]):
        codes, _ = pd.factorize(net["Qualifier"][rows])
        sigma = 1.0 if credit else params.vega_sigma(risk_class, b)
        cvr = sigma * net[AMOUNT][rows]
        ones = np.ones(int(codes.max()) + 1)
        label2 = net["Label2"][rows] if credit else None
        k_by[b] = bucket_k(params, risk_class, b, label2, cvr, ones, codes, squared=True)
        sum_by[b] = float(cvr.sum())
        cvr_parts[b] = cvr
    regular = [b for b in k_by if b != RESIDUAL]
    margin = 0.0
    if regular:
        cvr = np.concatenate([cvr_parts[b] for b in regular])
        k_regular = {b: k_by[b] for b in regular}
        aggregate = aggregate_buckets(params, risk_class, k_regular, sum_by, squared=True)
        margin += _finish(params, float(cvr.sum()), float(np.abs(cvr).sum()), aggregate)
    if RESIDUAL in k_by:
        cvr = cvr_parts[RESIDUAL]
        margin += _finish(params, float(cvr.sum()), float(np.abs(cvr).sum()), k_by[RESIDUAL])
    return MarginComponent(margin=margin, buckets=k_by)


def fx_curvature(params: SimmParameters, frame: pd.DataFrame) -> MarginComponent:
    """FX curvature margin over currency pairs (ρ = FX volatility correlation, squared)."""
    if frame.empty:
        return MarginComponent()
    weighted = _weighted(params, frame)
    pairs = weighted["Qualifier"].map(canonical_pair).astype(str)
    net = net_table(weighted.assign(Qualifier=pairs), ["Qualifier"])
    sigma = np.array([params.vega_sigma(FX, p) for p in net["Qualifier"]])
    cvr = sigma * net[AMOUNT]
    rho = float(params.corr(FX)["volatility"])
    k = bucket_constant_corr(cvr, np.arange(cvr.size), np.ones(cvr.size), 1.0, rho**2)
    margin = _finish(params, float(cvr.sum()), float(np.abs(cvr).sum()), k)
    return MarginComponent(margin=margin, buckets={"1": k})


def curvature_margin(
    params: SimmParameters, risk_class: str, frame: pd.DataFrame
) -> MarginComponent:
    """Curvature margin of any risk class from its vega lines."""
    if risk_class == IR:
        return ir_curvature(params, frame)
    if risk_class == FX:
        return fx_curvature(params, frame)
    return bucketed_curvature(params, risk_class, frame)


__all__ = [
    "bucketed_curvature",
    "curvature_margin",
    "fx_curvature",
    "ir_curvature",
    "lambda_factor",
]
