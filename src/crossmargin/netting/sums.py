"""Sums per group of integer-coded values, as accurate as ``math.fsum`` where it matters.

``group_sum(codes, values, n)`` adds ``values`` into ``n`` groups in one pass
(:func:`numpy.bincount`, input order). The rounding error of such a sum of ``k`` terms is at
most ``(k − 1)·u·Σ|x|`` (``u = 2⁻⁵³``; Higham, *Accuracy and Stability of Numerical
Algorithms*, 2nd ed., §4.2), so a group whose bound is within ``rtol·|S|`` is kept and every
other group is summed again with :func:`math.fsum` (the correctly rounded sum). Groups of one
or two terms are exact either way (``0 + a`` and ``a + b`` are rounded once, as ``fsum``
rounds). ``rtol = 0`` gives ``fsum``'s result for every group, bit for bit.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
#: Unit roundoff of float64.
UNIT_ROUNDOFF = 2.0**-53


def group_sum(codes: IntArray, values: FloatArray, n: int, *, rtol: float = 1e-14) -> FloatArray:
    """``values`` summed per code in ``0..n-1`` (module docstring; codes must be >= 0)."""
    codes = np.asarray(codes, dtype=np.int64)
    values = np.asarray(values, dtype=np.float64)
    out = np.asarray(np.bincount(codes, weights=values, minlength=n), dtype=np.float64)
    count = np.bincount(codes, minlength=n)
    many = count > 2
    if not many.any():
        return out
    bound = (count - 1) * UNIT_ROUNDOFF * np.bincount(codes, weights=np.abs(values), minlength=n)
    redo = np.flatnonzero(many & ~(bound <= rtol * np.abs(out)))
    if redo.size:
        wanted = np.zeros(n, dtype=bool)
        wanted[redo] = True
        rows = np.flatnonzero(wanted[codes])
        rows = rows[np.argsort(codes[rows], kind="stable")]
        bounds = np.flatnonzero(np.diff(codes[rows])) + 1
        for chunk in np.split(rows, bounds):
            out[codes[chunk[0]]] = math.fsum(values[chunk].tolist())
    return out


__all__ = ["group_sum"]
