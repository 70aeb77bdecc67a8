"""SIMM vega margin for each risk class.

ISDA SIMM Methodology v2.5+, section B ("Vega margin").  The CRIF vega amount is
``σ · ∂V/∂σ`` per volatility tenor.  For equity, commodity and FX the vega risk of a
qualifier is the sum over its tenors, scaled by the historical volatility ratio::

    VR_k = HVR_c · Σ_j s_kj,                   (HVR = 1 for IR and credit)
    WS_k = VRW · VR_k · VCR_k,   VCR_k = max(1, √(|VR_k| / VT_b))

then the same ρ, f, γ aggregation as delta.  IR vega is by currency and tenor, with the
tenor correlations, ρ_inf between inflation and rate volatilities, one VCR per currency,
and γ_outer · g_bc across currencies.  Credit vega is by issuer and tenor with the credit
delta correlations.  FX vega risk factors are currency pairs (``EURUSD`` = ``USDEUR``) with
a threshold set by the categories of the two currencies and ρ = the FX volatility
correlation.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from crossmargin.simm.delta import (
    AMOUNT,
    Table,
    aggregate_buckets,
    bucket_k,
    ir_across,
    net_table,
    runs,
)
from crossmargin.simm.kernels import (
    bucket_constant_corr,
    bucket_dense,
    concentration_factor,
)
from crossmargin.simm.parameters import CREDIT_NONQ, CREDIT_Q, FX, IR, SimmParameters
from crossmargin.simm.report import MarginComponent


def canonical_pair(pair: str) -> str:
    """An FX pair in a direction-free form (the two ISO codes sorted): ``USDEUR`` → ``EURUSD``."""
    a, b = pair[:3], pair[3:]
    return a + b if a <= b else b + a


def ir_vol_factors(frame: pd.DataFrame) -> Table:
    """IR vol lines netted per currency and tenor; inflation vol netted per currency.

    ISDA SIMM: inflation volatility sensitivities of one currency are summed over tenors
    into a single risk factor, correlated with each IR volatility at ρ_inf.
    """
    inflation = frame["RiskType"].eq("Risk_InflationVol")
    tenor = frame["Label1"].where(~inflation, "")
    return net_table(frame.assign(Label1=tenor), ["Qualifier", "RiskType", "Label1"])


def ir_vol_corr(params: SimmParameters, risk_types: np.ndarray, tenors: np.ndarray) -> np.ndarray:
    """ρ between one currency's IR volatility tenors and its inflation volatility factor."""
    index = {t: i for i, t in enumerate(params.tenors)}
    idx = np.array([index.get(t, 0) for t in tenors])
    rho = params.ir_tenor_corr[np.ix_(idx, idx)].copy()
    inflation = risk_types == "Risk_InflationVol"
    mixed = inflation[:, None] != inflation[None, :]
    rho = np.where(mixed, float(params.corr(IR)["inflation"]), rho)
    np.fill_diagonal(rho, 1.0)
    return rho


def ir_vega(params: SimmParameters, frame: pd.DataFrame) -> MarginComponent:
    """Interest-rate (and inflation) vega margin."""
    if frame.empty:
        return MarginComponent()
    net = ir_vol_factors(frame)
    vrw = float(params.weights(IR)["vega"])
    k_by: dict[str, float] = {}
    sum_by: dict[str, float] = {}
    cr_by: dict[str, float] = {}
    for ccy, rows in runs(net["Qualifier"]):
        rtype = net["RiskType"][rows]
        tenor = net["Label1"][rows]
        s = net[AMOUNT][rows]
        threshold = params.threshold(IR, "vega", params.threshold_group(IR, ccy))
        vcr = float(concentration_factor(np.array([s.sum()]), threshold)[0])
        ws = vrw * s * vcr
        k_by[ccy] = bucket_dense(ws, ir_vol_corr(params, rtype, tenor))
        sum_by[ccy] = float(ws.sum())
        cr_by[ccy] = vcr
    return MarginComponent(margin=ir_across(params, k_by, sum_by, cr_by), buckets=k_by)


def vega_keys(risk_class: str) -> list[str]:
    """Netting key of vega/curvature lines: credit keeps tenors; equity, commodity sum them."""
    if risk_class in (CREDIT_Q, CREDIT_NONQ):
        return ["Bucket", "Qualifier", "Label1", "Label2"]
    return ["Bucket", "Qualifier"]


def bucketed_vega(params: SimmParameters, risk_class: str, frame: pd.DataFrame) -> MarginComponent:
    """Vega margin of CreditQ, CreditNonQ, Equity or Commodity."""
    if frame.empty:
        return MarginComponent()
    credit = risk_class in (CREDIT_Q, CREDIT_NONQ)
    net = net_table(frame, vega_keys(risk_class))
    weights = params.weights(risk_class)
    vrw_table = weights["vega"]
    hvr = float(weights.get("hvr", 1.0))
    k_by: dict[str, float] = {}
    sum_by: dict[str, float] = {}
    for b, rows in runs(net["Bucket"]):
        vrw = float(vrw_table if isinstance(vrw_table, float | int) else vrw_table[b])
        sigma = 1.0 if credit else params.vega_sigma(risk_class, b)
        codes, _ = pd.factorize(net["Qualifier"][rows])
        vr = hvr * sigma * net[AMOUNT][rows]
        per_qualifier = np.asarray(np.bincount(codes, weights=vr), dtype=np.float64)
        vt = params.threshold(risk_class, "vega", None if credit else b)
        vcr = concentration_factor(per_qualifier, vt)
        ws = vrw * vr * vcr[codes]
        label2 = net["Label2"][rows] if credit else None
        k_by[b] = bucket_k(params, risk_class, b, label2, ws, vcr, codes)
        sum_by[b] = float(ws.sum())
    margin = aggregate_buckets(params, risk_class, k_by, sum_by)
    return MarginComponent(margin=margin, buckets=k_by)


def fx_vega(params: SimmParameters, frame: pd.DataFrame) -> MarginComponent:
    """FX vega margin over currency pairs."""
    if frame.empty:
        return MarginComponent()
    pairs = frame["Qualifier"].map(canonical_pair).astype(str)
    net = net_table(frame.assign(Qualifier=pairs), ["Qualifier"])
    weights = params.weights(FX)
    sigma = np.array([params.vega_sigma(FX, p) for p in net["Qualifier"]])
    vr = float(weights.get("hvr", 1.0)) * sigma * net[AMOUNT]
    vt = np.array([params.fx_vega_threshold(p[:3], p[3:]) for p in net["Qualifier"]])
    vcr = np.array([concentration_factor(np.array([v]), t)[0] for v, t in zip(vr, vt, strict=True)])
    ws = float(weights["vega"]) * vr * vcr
    rho = float(params.corr(FX)["volatility"])
    k = bucket_constant_corr(ws, np.arange(ws.size), vcr, 1.0, rho)
    return MarginComponent(margin=k, buckets={"1": k})


__all__ = [
    "bucketed_vega",
    "canonical_pair",
    "fx_vega",
    "ir_vega",
    "ir_vol_corr",
    "ir_vol_factors",
    "vega_keys",
]
