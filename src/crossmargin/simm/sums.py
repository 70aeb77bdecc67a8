"""Risk-factor sums of CRIF amounts, bit for bit as :meth:`pandas.core.groupby.GroupBy.sum`.

``factor_sums(codes, amounts, n)`` adds ``amounts[i]`` into group ``codes[i]`` (0..n-1) in
line order with Kahan's compensated summation, the algorithm of pandas' ``group_sum``
(``pandas/_libs/groupby.pyx``): per group ``y = x − c; t = s + y; c = (t − s) − y; s = t``,
``c`` reset to 0 when it is not finite (an infinite term), NaN terms skipped. The SIMM
engine nets lines into risk factors this way, so its figures are those of the pandas
groupby it replaced to the last bit, and the netting error is bounded by ``2u·Σ|x|``
(Higham, *Accuracy and Stability of Numerical Algorithms*, 2nd ed., §4.3) instead of a
plain sum's ``(k − 1)u·Σ|x|``.

Below :data:`COMPILED_FROM` lines pandas does the sum (no compiler to load in a short
process); from there a compiled loop (numba, loaded on first use) does the same steps.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
#: From this many lines the compiled loop sums (numba's import costs ~0.3 s once).
COMPILED_FROM = 200_000

_kernel: Any = None


def _compiled() -> Any:
    global _kernel
    if _kernel is None:
        import numba

        @numba.njit(cache=True, nogil=True)  # no fastmath: the steps must stay as written
        def kahan(codes: IntArray, values: FloatArray, n: int) -> FloatArray:
            sums = np.zeros(n)
            comp = np.zeros(n)
            for i in range(codes.size):
                lab = codes[i]
                val = values[i]
                if lab < 0 or val != val:
                    continue
                y = val - comp[lab]
                t = sums[lab] + y
                c = t - sums[lab] - y
                comp[lab] = c if np.isfinite(c) else 0.0
                sums[lab] = t
            return sums

        _kernel = kahan
    return _kernel


def factor_sums(codes: npt.ArrayLike, amounts: npt.ArrayLike, n: int) -> FloatArray:
    """``amounts`` summed per code in ``0..n-1`` (module docstring); codes < 0 are skipped."""
    c = np.ascontiguousarray(codes, dtype=np.int64)
    x = np.ascontiguousarray(amounts, dtype=np.float64)
    if c.size != x.size:
        raise ValueError(f"{c.size} codes for {x.size} amounts")
    if c.size >= COMPILED_FROM:
        return np.asarray(_compiled()(c, x, n), dtype=np.float64)
    out = np.zeros(n)
    if c.size:
        summed = pd.Series(x).groupby(c).sum()
        keep = summed.index.to_numpy() >= 0
        out[summed.index.to_numpy()[keep]] = summed.to_numpy()[keep]
    return out


__all__ = ["COMPILED_FROM", "factor_sums"]
