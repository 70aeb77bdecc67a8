"""SIMM delta margin for each risk class, and the CreditQ base-correlation margin.

ISDA SIMM Methodology v2.5+, section B ("Delta margin"):

* Interest rate (bucket = currency)::

      WS_{k,i} = RW_k · s_{k,i} · CR_b,   CR_b = max(1, √(|Σ_{k,i} s_{k,i}| / T_b))
      K_b = √( Σ_{k,i} Σ_{l,j} ρ_kl · φ_ij · WS_{k,i} · WS_{l,j} )

  ρ_kl is the tenor correlation, φ_ij the sub-curve correlation (1 on the same sub-curve);
  inflation correlates with every tenor at ρ_inf, cross-currency basis with everything at
  ρ_xccy.  Concentration covers curve and inflation sensitivities; cross-currency basis
  is neither in the sum nor scaled by CR_b.
  Across currencies: γ_bc = γ_outer · g_bc, g_bc = min(CR_b,CR_c)/max(CR_b,CR_c).
* Credit, equity, commodity: ``WS_k = RW_b · s_k · CR_k`` with ``CR_k`` per qualifier,
  constant ρ within a bucket (credit: "same"/"different" issuer) times f_kl, inter-bucket γ;
  the residual bucket is added linearly.
* FX: one bucket of currencies; RW and ρ depend on the volatility group of the currency
  and of the calculation currency; sensitivities to the calculation currency are excluded.
* Base correlation: ``WS_k = RW · s_k``, ρ between index families, no concentration.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from crossmargin.simm.distinct import first_lines
from crossmargin.simm.kernels import (
    across_buckets,
    bucket_constant_corr,
    bucket_dense,
    clamp,
    concentration_factor,
    ratio_matrix,
)
from crossmargin.simm.parameters import (
    CREDIT_NONQ,
    CREDIT_Q,
    FX,
    IR,
    RESIDUAL,
    SimmParameters,
)
from crossmargin.simm.report import MarginComponent

AMOUNT = "amount"
#: A netted table: each key column (Python strings) and ``AMOUNT`` as numpy arrays.
Table = dict[str, np.ndarray]


def _sorted_codes(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(code of each value, the distinct values as strings), codes in string order."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        categories = values.cat.categories
        if categories.is_monotonic_increasing:
            shown = categories if categories.dtype == object else categories.astype(str)
            return values.cat.codes.to_numpy(), np.asarray(shown, dtype=object)
    codes, uniques = pd.factorize(values, sort=True)
    return codes, np.asarray(uniques, dtype=object)


def net_table(frame: pd.DataFrame, keys: list[str]) -> Table:
    """``frame``'s amounts summed per combination of ``keys``, sorted by the keys (string
    order), as arrays: the one netting step of delta, vega and curvature.

    Each combination's sum is ``((0 + a_1) + a_2) + …`` over its rows in row order
    (``numpy.bincount``): the rows are risk factors already netted with compensation
    (:mod:`crossmargin.simm.factors`), a few per combination.
    """
    n = len(frame)
    key = np.zeros(n, dtype=np.int64)
    width = 1
    columns: list[tuple[np.ndarray, np.ndarray]] = []
    for name in keys:
        codes, names = _sorted_codes(frame[name])
        size = len(names) + 1
        if width * size >= 1 << 62:
            _, inverse = np.unique(key, return_inverse=True)
            key, width = inverse.astype(np.int64), int(inverse.max()) + 1
        key = key * size + (codes.astype(np.int64) + 1)  # digits ≥ 0: key order = string order
        width *= size
        columns.append((codes, names))
    unique, inverse = np.unique(key, return_inverse=True)
    inverse = inverse.reshape(-1)
    first = first_lines(inverse, len(unique))
    table: Table = {
        name: names[codes[first]] for name, (codes, names) in zip(keys, columns, strict=True)
    }
    amounts = frame[AMOUNT].to_numpy(dtype=np.float64)
    table[AMOUNT] = np.bincount(inverse, weights=amounts, minlength=len(unique)).astype(np.float64)
    return table


def runs(values: np.ndarray) -> list[tuple[str, slice]]:
    """(value, rows) of each run of equal ``values`` (a sorted key column of a
    :func:`net_table`): the groups of a groupby on it, in the same order."""
    n = len(values)
    if n == 0:
        return []
    change = (np.flatnonzero(values[1:] != values[:-1]) + 1).tolist()
    starts, stops = [0, *change], [*change, n]
    return [(str(values[a]), slice(a, b)) for a, b in zip(starts, stops, strict=True)]


def intra_corr(params: SimmParameters, risk_class: str, bucket: str) -> tuple[float, float]:
    """(ρ within one qualifier, ρ across qualifiers) inside ``bucket``."""
    table = params.corr(risk_class)["intra_bucket"]
    if risk_class in (CREDIT_Q, CREDIT_NONQ):
        kind = "residual" if bucket == RESIDUAL else "aggregate"
        return float(table[kind]["same"]), float(table[kind]["different"])
    return 1.0, float(table[bucket])


def inter_matrix(params: SimmParameters, risk_class: str, buckets: list[str]) -> np.ndarray:
    """γ_bc between the non-residual ``buckets`` of a credit, equity or commodity class."""
    table = params.corr(risk_class)["inter_bucket"]
    n = len(buckets)
    out = np.eye(n)
    for i, b in enumerate(buckets):
        for j, c in enumerate(buckets):
            if i != j:
                out[i, j] = float(table[b][c])
    return out


def aggregate_buckets(
    params: SimmParameters,
    risk_class: str,
    k_by_bucket: dict[str, float],
    sum_by_bucket: dict[str, float],
    *,
    squared: bool = False,
) -> float:
    """Combine bucket K_b across buckets with γ (γ² for curvature); residual added linearly."""
    regular = [b for b in k_by_bucket if b != RESIDUAL]
    k = np.array([k_by_bucket[b] for b in regular])
    s = np.array([clamp(sum_by_bucket[b], k_by_bucket[b]) for b in regular])
    gamma = inter_matrix(params, risk_class, regular)
    if squared:
        gamma = gamma * gamma
    return across_buckets(k, s, gamma) + k_by_bucket.get(RESIDUAL, 0.0)


def bucket_k(
    params: SimmParameters,
    risk_class: str,
    bucket: str,
    label2: np.ndarray | None,
    ws: np.ndarray,
    cr_by_qualifier: np.ndarray,
    qualifier_codes: np.ndarray,
    *,
    squared: bool = False,
) -> float:
    """``K_b`` of one credit, equity or commodity bucket (ρ² when ``squared``).

    Credit correlations are "same" within one issuer (CreditQ) or one Label2 group name
    (CreditNonQ, e.g. CMBX; ISDA SIMM v2.2+; ``label2`` of each factor) and "different"
    otherwise.
    """
    rho_same, rho_diff = intra_corr(params, risk_class, bucket)
    if squared:
        rho_same, rho_diff = rho_same**2, rho_diff**2
    if risk_class == CREDIT_NONQ and label2 is not None:
        corr_codes, _ = pd.factorize(label2)
    else:
        corr_codes = qualifier_codes
    n_groups = int(corr_codes.max()) + 1 if corr_codes.size else 1
    key = qualifier_codes.astype(np.int64) * n_groups + corr_codes
    unique_keys, cell = np.unique(key, return_inverse=True)
    cr_cell = cr_by_qualifier[unique_keys // n_groups]
    group_of_cell = (unique_keys % n_groups).astype(np.intp)
    return bucket_constant_corr(ws, cell, cr_cell, rho_same, rho_diff, group_of_cell)


def bucketed_delta(params: SimmParameters, risk_class: str, frame: pd.DataFrame) -> MarginComponent:
    """Delta margin of CreditQ, CreditNonQ, Equity or Commodity."""
    if frame.empty:
        return MarginComponent()
    credit = risk_class in (CREDIT_Q, CREDIT_NONQ)
    keys = ["Bucket", "Qualifier", "Label1", "Label2"] if credit else ["Bucket", "Qualifier"]
    net = net_table(frame, keys)
    weights = params.weights(risk_class)["delta"]
    k_by: dict[str, float] = {}
    sum_by: dict[str, float] = {}
    for b, rows in runs(net["Bucket"]):
        codes, _ = pd.factorize(net["Qualifier"][rows])
        s = net[AMOUNT][rows]
        per_qualifier = np.asarray(np.bincount(codes, weights=s), dtype=np.float64)
        cr = concentration_factor(per_qualifier, params.threshold(risk_class, "delta", b))
        ws = float(weights[b]) * s * cr[codes]
        label2 = net["Label2"][rows] if credit else None
        k_by[b] = bucket_k(params, risk_class, b, label2, ws, cr, codes)
        sum_by[b] = float(ws.sum())
    margin = aggregate_buckets(params, risk_class, k_by, sum_by)
    return MarginComponent(margin=margin, buckets=k_by)


def ir_factor_corr(
    params: SimmParameters, risk_types: np.ndarray, tenors: np.ndarray, curves: np.ndarray
) -> np.ndarray:
    """Correlation matrix of one currency's IR delta factors (curve tenors, inflation, basis)."""
    corr = params.corr(IR)
    tenor_index = {t: i for i, t in enumerate(params.tenors)}
    idx = np.array([tenor_index.get(t, 0) for t in tenors])
    rho = params.ir_tenor_corr[np.ix_(idx, idx)].copy()
    same_curve = curves[:, None] == curves[None, :]
    rho = np.where(same_curve, rho, rho * float(corr["sub_curves"]))
    inflation = risk_types == "Risk_Inflation"
    basis = risk_types == "Risk_XCcyBasis"
    either_infl = inflation[:, None] | inflation[None, :]
    rho = np.where(either_infl, float(corr["inflation"]), rho)
    either_basis = basis[:, None] | basis[None, :]
    rho = np.where(either_basis, float(corr["xccy_basis"]), rho)
    np.fill_diagonal(rho, 1.0)
    return rho


def ir_delta(params: SimmParameters, frame: pd.DataFrame) -> MarginComponent:
    """Interest-rate delta margin (curves, inflation and cross-currency basis)."""
    if frame.empty:
        return MarginComponent()
    net = net_table(frame, ["Qualifier", "RiskType", "Label1", "Label2"])
    weights = params.weights(IR)
    k_by: dict[str, float] = {}
    sum_by: dict[str, float] = {}
    cr_by: dict[str, float] = {}
    for ccy, rows in runs(net["Qualifier"]):
        rtype = net["RiskType"][rows]
        tenor = net["Label1"][rows]
        curve = net["Label2"][rows]
        s = net[AMOUNT][rows]
        curve_rw = weights["delta"][params.ir_weight_group(ccy)]
        rw = np.array(
            [
                float(weights["inflation"])
                if rt == "Risk_Inflation"
                else float(weights["xccy_basis"])
                if rt == "Risk_XCcyBasis"
                else float(curve_rw[t])
                for rt, t in zip(rtype, tenor, strict=True)
            ]
        )
        in_cr = rtype != "Risk_XCcyBasis"
        threshold = params.threshold(IR, "delta", params.threshold_group(IR, ccy))
        cr = float(concentration_factor(np.array([s[in_cr].sum()]), threshold)[0])
        ws = rw * s * np.where(in_cr, cr, 1.0)
        k_by[ccy] = bucket_dense(ws, ir_factor_corr(params, rtype, tenor, curve))
        sum_by[ccy] = float(ws.sum())
        cr_by[ccy] = cr
    return MarginComponent(margin=ir_across(params, k_by, sum_by, cr_by), buckets=k_by)


def ir_across(
    params: SimmParameters,
    k_by: dict[str, float],
    sum_by: dict[str, float],
    cr_by: dict[str, float] | None,
    *,
    squared: bool = False,
) -> float:
    """Combine IR currencies with γ_outer · g_bc (γ_outer², no g, for curvature)."""
    names = list(k_by)
    k = np.array([k_by[c] for c in names])
    s = np.array([clamp(sum_by[c], k_by[c]) for c in names])
    gamma_value = float(params.corr(IR)["outer"])
    gamma = np.full((len(names), len(names)), gamma_value**2 if squared else gamma_value)
    if cr_by is not None:
        gamma = gamma * ratio_matrix(np.array([cr_by[c] for c in names]))
    return across_buckets(k, s, gamma)


def fx_corr(params: SimmParameters, currencies: list[str], calc_ccy: str) -> np.ndarray:
    """ρ between FX delta factors, by volatility groups and the calculation currency's group."""
    table = params.corr(FX)["intra_bucket"][params.fx_weight_group(calc_ccy)]
    groups = [params.fx_weight_group(c) for c in currencies]
    n = len(currencies)
    out = np.eye(n)
    for i in range(n):
        for j in range(n):
            if i != j:
                out[i, j] = float(table[groups[i]][groups[j]])
    return out


def fx_delta(params: SimmParameters, frame: pd.DataFrame, calc_ccy: str) -> MarginComponent:
    """FX delta margin; sensitivities to the calculation currency carry no FX risk."""
    frame = frame[frame["Qualifier"] != calc_ccy]
    if frame.empty:
        return MarginComponent()
    net = net_table(frame, ["Qualifier"])
    currencies = [str(c) for c in net["Qualifier"]]
    s = net[AMOUNT]
    calc_group = params.fx_weight_group(calc_ccy)
    table = params.weights(FX)["delta"]
    rw = np.array([float(table[calc_group][params.fx_weight_group(c)]) for c in currencies])
    thresholds = [params.threshold(FX, "delta", params.threshold_group(FX, c)) for c in currencies]
    cr = np.array(
        [concentration_factor(np.array([v]), t)[0] for v, t in zip(s, thresholds, strict=True)]
    )
    ws = rw * s * cr
    corr = fx_corr(params, currencies, calc_ccy) * ratio_matrix(cr)
    np.fill_diagonal(corr, 1.0)
    k = bucket_dense(ws, corr)
    return MarginComponent(margin=k, buckets={"1": k})


def base_corr(params: SimmParameters, frame: pd.DataFrame) -> MarginComponent:
    """Credit base-correlation margin: ``√(Σ WS² + Σ_{k≠l} ρ WS_k WS_l)``, ``WS = RW · s``."""
    if frame.empty:
        return MarginComponent()
    net = net_table(frame, ["Qualifier"])
    ws = float(params.weights(CREDIT_Q)["base_correlation"]) * net[AMOUNT]
    rho = float(params.corr(CREDIT_Q)["base_correlation"])
    codes = np.arange(ws.size)
    k = bucket_constant_corr(ws, codes, np.ones(ws.size), 1.0, rho)
    return MarginComponent(margin=k, buckets={"1": k})


__all__ = [
    "AMOUNT",
    "Table",
    "aggregate_buckets",
    "base_corr",
    "bucket_k",
    "bucketed_delta",
    "fx_delta",
    "inter_matrix",
    "intra_corr",
    "ir_across",
    "ir_delta",
    "ir_factor_corr",
    "net_table",
    "runs",
]
