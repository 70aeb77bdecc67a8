"""CRIF lines netted into risk factors before the SIMM aggregation.

Every SIMM formula starts from the net sensitivity of a risk factor: the sum of the
amounts (in USD) of the lines that share its labels.  A million-line CRIF usually holds a
few thousand risk factors, so :func:`crossmargin.simm.simm_margin` nets the lines first
and runs delta, vega and curvature on the factors.

A risk factor is one combination of :data:`FACTOR_COLUMNS` (the six CRIF labels and both
regulation cells, so that the per-regulation subsets of the calculation select whole
factors).  Parameter and add-on lines (``Param_*``, ``Notional``, ``PV``) are kept line by
line, after the factors: the calculation reports conflicting parameter lines by row.

Summation (documented because the last bit depends on it): a factor's amount is the
compensated (Kahan) sum of its lines' amounts in line order,
:func:`crossmargin.simm.sums.factor_sums`, bit for bit the pandas groupby sum the engine
used before; each factor keeps the labels and ``row`` of its first line, the factors come
in the order of their first lines, and the parameter lines follow in line order.
:func:`net_factors_rowwise`, a plain dictionary loop over the lines with Kahan's steps
written out, is the slow twin that computes exactly the same table.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from crossmargin.simm.crif import RISK_TYPE_CLASS
from crossmargin.simm.distinct import FACTOR_LABELS, Distinct, combined_codes, distinct_index
from crossmargin.simm.sums import factor_sums

#: The columns whose combination is one risk factor.
FACTOR_COLUMNS: tuple[str, ...] = (*FACTOR_LABELS, "collect_regulations", "post_regulations")


def net_factors(
    frame: pd.DataFrame, usd: np.ndarray, distinct: Distinct | None = None
) -> tuple[pd.DataFrame, np.ndarray]:
    """(one line per risk factor, then the parameter lines; their USD amounts) of ``frame``.

    ``frame`` is a :class:`~crossmargin.simm.crif.Crif` frame (any column dtypes), ``usd``
    each line's amount in USD and ``distinct`` the distinct combinations of at least
    :data:`FACTOR_COLUMNS` in ``frame`` when known (the :class:`~crossmargin.simm.crif.Crif`
    keeps those its checks found).  Factors are found among the few distinct combinations
    and carried to the lines with one gather; the returned frame holds the first line of
    each factor, in the order of the module docstring, then every parameter line.
    """
    found = distinct if distinct is not None else distinct_index(frame, FACTOR_COLUMNS)
    table = found.table
    sensitivity = table["RiskType"].isin(list(RISK_TYPE_CLASS)).to_numpy(dtype=bool)
    factor_codes = combined_codes(table[sensitivity], FACTOR_COLUMNS)
    count = int(factor_codes.max()) + 1 if factor_codes.size else 0
    factor_of = np.full(len(table), count, dtype=np.intp)  # ``count``: a parameter line
    factor_of[sensitivity] = factor_codes
    if count == len(table) and np.array_equal(factor_codes, np.arange(count)):
        line_factor = found.codes  # every combination is its own factor: no gather
    else:
        line_factor = factor_of[found.codes]
    amounts = np.asarray(usd, dtype=np.float64)
    sums = factor_sums(line_factor, amounts, count + 1)[:count]
    first = np.full(count, len(frame), dtype=np.intp)
    np.minimum.at(first, factor_codes, found.first[sensitivity])
    parameters = (
        np.flatnonzero(line_factor == count) if not sensitivity.all() else np.zeros(0, np.intp)
    )
    rows = np.concatenate([first, parameters])
    netted = np.concatenate([np.asarray(sums, dtype=np.float64), amounts[parameters]])
    return frame.iloc[rows].reset_index(drop=True), netted


def net_factors_rowwise(frame: pd.DataFrame, usd: np.ndarray) -> tuple[pd.DataFrame, np.ndarray]:
    """:func:`net_factors` by a plain loop over the lines (the slow twin)."""
    columns = [frame[c].astype(str).tolist() for c in FACTOR_COLUMNS]
    risk_types = frame["RiskType"].astype(str).tolist()
    net: dict[tuple[str, ...], float] = {}
    compensation: dict[tuple[str, ...], float] = {}
    first: dict[tuple[str, ...], int] = {}
    parameters: list[int] = []
    amounts = np.asarray(usd, dtype=np.float64)
    for i, amount in enumerate(amounts.tolist()):
        if risk_types[i] not in RISK_TYPE_CLASS:
            parameters.append(i)
            continue
        key = tuple(c[i] for c in columns)
        if key not in net:
            net[key], compensation[key], first[key] = 0.0, 0.0, i
        if amount != amount:
            continue  # NaN terms are skipped, as pandas does
        y = amount - compensation[key]  # Kahan's steps, as in pandas' group_sum
        t = net[key] + y
        c = (t - net[key]) - y
        compensation[key] = c if math.isfinite(c) else 0.0
        net[key] = t
    rows = [*first.values(), *parameters]
    netted = [*net.values(), *amounts[parameters].tolist()]
    return frame.iloc[rows].reset_index(drop=True), np.array(netted, dtype=np.float64)


__all__ = ["FACTOR_COLUMNS", "net_factors", "net_factors_rowwise"]
