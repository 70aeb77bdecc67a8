"""CRIF lines netted into risk factors before the SIMM aggregation.

Every SIMM formula starts from the net sensitivity of a risk factor: the sum of the
amounts (in USD) of the lines that share its labels.  A million-line CRIF usually holds a
few thousand risk factors, so :func:`crossmargin.simm.simm_margin` nets the lines first
and runs delta, vega and curvature on the factors.

A risk factor is one combination of :data:`FACTOR_COLUMNS` (the six CRIF labels and both
regulation cells, so that the per-regulation subsets of the calculation select whole
factors).  Parameter and add-on lines (``Param_*``, ``Notional``, ``PV``) are kept line by
line: the calculation reports conflicting parameter lines by row.

Summation order (documented because the last bit depends on it): a factor's amount is
``((0 + a_1) + a_2) + …`` over its lines in line order, one IEEE double addition per line
(``numpy.bincount``, which accumulates its weights sequentially); each factor keeps the
labels and ``row`` of its first line, and the factors come in the order of their first
lines.  :func:`net_factors_rowwise`, a plain dictionary loop over the lines, is the slow
twin that computes exactly the same table.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from crossmargin.simm.crif import RISK_TYPE_CLASS
from crossmargin.simm.distinct import combined_codes, first_lines

#: The columns whose combination is one risk factor.
FACTOR_COLUMNS: tuple[str, ...] = (
    "ProductClass",
    "RiskType",
    "Qualifier",
    "Bucket",
    "Label1",
    "Label2",
    "collect_regulations",
    "post_regulations",
)


def _is_sensitivity(risk_type: pd.Series) -> np.ndarray:
    """Lines of a sensitivity risk type, decided once per distinct ``RiskType``."""
    if isinstance(risk_type.dtype, pd.CategoricalDtype):
        codes, names = risk_type.cat.codes.to_numpy(), risk_type.cat.categories
    else:
        codes, names = pd.factorize(risk_type)
    decided = pd.Series(names, dtype=object).isin(list(RISK_TYPE_CLASS)).to_numpy(dtype=bool)
    return np.append(decided, False)[codes]


def net_factors(frame: pd.DataFrame, usd: np.ndarray) -> tuple[pd.DataFrame, np.ndarray]:
    """(one line per risk factor or parameter line, its USD amount) of CRIF ``frame``.

    ``frame`` is a :class:`~crossmargin.simm.crif.Crif` frame (any column dtypes) and
    ``usd`` each line's amount in USD.  The returned frame holds the first line of each
    factor, in the order of the module docstring; the amounts are the netted sums.
    """
    n = len(frame)
    if n == 0:
        return frame, np.asarray(usd, dtype=np.float64)
    sensitivity = _is_sensitivity(frame["RiskType"])
    key = combined_codes(frame, FACTOR_COLUMNS).astype(np.int64)
    parameter = np.flatnonzero(~sensitivity)
    key[parameter] = -1 - parameter  # every parameter line its own group
    codes, uniques = pd.factorize(key)
    first = first_lines(codes, len(uniques))
    sums = np.bincount(codes, weights=np.asarray(usd, dtype=np.float64), minlength=len(uniques))
    return frame.iloc[first].reset_index(drop=True), np.asarray(sums, dtype=np.float64)


def net_factors_rowwise(frame: pd.DataFrame, usd: np.ndarray) -> tuple[pd.DataFrame, np.ndarray]:
    """:func:`net_factors` by a plain loop over the lines (the slow twin)."""
    columns = [frame[c].astype(str).tolist() for c in FACTOR_COLUMNS]
    risk_types = frame["RiskType"].astype(str).tolist()
    net: dict[tuple[str, ...] | int, float] = {}
    first: dict[tuple[str, ...] | int, int] = {}
    for i, amount in enumerate(np.asarray(usd, dtype=np.float64).tolist()):
        key: tuple[str, ...] | int = (
            tuple(c[i] for c in columns) if risk_types[i] in RISK_TYPE_CLASS else i
        )
        if key not in net:
            net[key] = 0.0
            first[key] = i
        net[key] = net[key] + amount
    rows = list(first.values())
    return frame.iloc[rows].reset_index(drop=True), np.array(list(net.values()), dtype=np.float64)


__all__ = ["FACTOR_COLUMNS", "net_factors", "net_factors_rowwise"]
