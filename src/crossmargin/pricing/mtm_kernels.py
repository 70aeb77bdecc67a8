"""Compiled MTM of booked rows for :func:`crossmargin.pricing.mtm.row_mtm`.

One pass over the rows gives each netted position's MTM and unrealised P&L: what took some
twenty NumPy operations on arrays of a few dozen rows (a what-if's book), whose fixed costs
were most of the time. Each figure is the same expression evaluated in the same order as
the array formulas (IEEE arithmetic, no fast-math: no reassociation, no fused multiply-add),
and each position's sums add its rows in row order from 0 as :func:`numpy.bincount` does, so
the results are equal bit for bit (``tests/pricing/test_mtm_kernel.py``, against the array
formulas).
"""

from __future__ import annotations

import numba
import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


@numba.njit(cache=True, nogil=True)
def mtm_rows(
    futures: BoolArray,
    inverse: BoolArray,
    expired: BoolArray,
    multiplier: FloatArray,
    fx: FloatArray,
    mark: FloatArray,
    value: FloatArray,
    instrument: IntArray,
    quantity: FloatArray,
    trade_price: FloatArray,
    position: IntArray,
    n_positions: int,
) -> tuple[FloatArray, FloatArray]:  # pragma: no cover - compiled
    """``(mtm, unrealised)`` per position from its booked rows.

    Per instrument: ``futures`` (futures and perpetuals), ``inverse``, ``expired``, the
    ``multiplier`` m, the settlement ``fx`` x, the ``mark`` (futures: the forward) and the
    ``value`` per contract. Row ``r`` holds ``quantity`` q of ``instrument[r]``, traded at
    ``trade_price`` p (NaN: none), in ``position[r]``. Futures and perpetuals: variation
    ``q·m·(1/p − 1/mark)·x`` (inverse) or ``q·m·(mark − p)·x``, 0 without a price or once
    expired, is both MTM and unrealised. Others: MTM ``q·value·x``, unrealised
    ``q·value·x − q·m·p·x`` (0 without a price)."""
    mtm = np.zeros(n_positions)
    unrealised = np.zeros(n_positions)
    for r in range(quantity.shape[0]):
        j, i = instrument[r], position[r]
        q, m, x, p = quantity[r], multiplier[j], fx[j], trade_price[r]
        priced = not np.isnan(p)
        if futures[j]:
            variation = 0.0
            if priced and not expired[j]:
                if inverse[j]:
                    variation = q * m * (1.0 / p - 1.0 / mark[j]) * x
                else:
                    variation = q * m * (mark[j] - p) * x
            mtm[i] += variation
            unrealised[i] += variation
        else:
            row_value = q * value[j] * x
            mtm[i] += row_value
            unrealised[i] += (row_value - q * m * p * x) if priced else 0.0
    return mtm, unrealised


__all__ = ["mtm_rows"]
