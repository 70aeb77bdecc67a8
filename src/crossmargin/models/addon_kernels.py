"""The VaR/ES add-ons of every row in one compiled pass over its entries.

The ``es``/``hvar`` models add to each row's core measure its liquidity, concentration,
basis and funding charges (:mod:`crossmargin.models.var_addons`,
:mod:`crossmargin.models.basis`; METHODS §4.5-4.6). Their NumPy forms take a dozen array
steps per charge over the whole holdings matrix (each row's entries tagged with its row,
``bincount`` per row and bucket, ...): on the few rows of a what-if that is 0.25 ms of
steps around a few hundred multiplications, a tenth of the request. Here one call per
family walks each row's CSR entries once, per row ``r`` with entries ``(i, q)``:

* liquidity: ``Σ |q|·(s_i·|Δ_i|)`` and ``Σ |q|·(h_i·|ν_i|)``;
* days to liquidate: ``max_b max(|Σ_{i∈b} q·Δ_i| / KΔ_b, |Σ_{i∈b} q·ν_i| / Kν_b)``, a NaN
  (0/0: no exposure, no capacity) read as 0 and an infinity as the largest float, as
  ``numpy.nan_to_num`` reads them;
* concentration: ``core·(√(max(H, D)/H) − 1)`` with ``H`` the row's MPOR in calendar days
  (0 where ``H`` is 0);
* basis: ``Σ_u max(−min(up_u, down_u), 0)·√(H/H_ref)`` with ``up_u = Σ_{i∈u} q·b⁺_i``;
* funding: ``Σ_u |Σ_{i∈u} q·N_i|·f_u · H / 365``.

Every sum runs over the row's entries in storage order from 0, and over buckets and
underlyings in column order from 0, as ``bincount`` and the NumPy forms add them, so the
figures are theirs bit for bit; the NumPy forms stay as the slow twins, and the tests check
the two agree on random books, empty rows, buckets without capacity and without options.
Divisions follow IEEE (``error_model="numpy"``), as NumPy's do.
"""

from __future__ import annotations

import math

import numba
import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

_LARGEST = float(np.finfo(np.float64).max)  # numpy.nan_to_num's stand-in for +inf


@numba.njit(cache=True, nogil=True, error_model="numpy")  # no fastmath: the twins' sums
def addon_rows(
    indptr: IntArray,
    indices: IntArray,
    data: FloatArray,
    bucket_index: IntArray,
    dollar_delta: FloatArray,
    vega: FloatArray,
    half_spread: FloatArray,
    vol_half_spread: FloatArray,
    delta_capacity: FloatArray,
    vega_capacity: FloatArray,
    core: FloatArray,
    horizon: FloatArray,
    liquidity_delta: FloatArray,
    liquidity_vega: FloatArray,
    days: FloatArray,
    concentration: FloatArray,
) -> None:  # pragma: no cover - compiled
    """Liquidity (delta, vega), days to liquidate and concentration per row (module doc)."""
    n_buckets = delta_capacity.shape[0]
    net_delta = np.empty(n_buckets)
    net_vega = np.empty(n_buckets)
    for r in range(indptr.shape[0] - 1):
        liq_d = 0.0
        liq_v = 0.0
        net_delta[:] = 0.0
        net_vega[:] = 0.0
        for p in range(indptr[r], indptr[r + 1]):
            i = indices[p]
            q = data[p]
            liq_d += abs(q) * (half_spread[i] * abs(dollar_delta[i]))
            liq_v += abs(q) * (vol_half_spread[i] * abs(vega[i]))
            b = bucket_index[i]
            net_delta[b] += q * dollar_delta[i]
            net_vega[b] += q * vega[i]
        liquidity_delta[r] = liq_d
        liquidity_vega[r] = liq_v
        d = 0.0
        for b in range(n_buckets):
            by_delta = abs(net_delta[b]) / delta_capacity[b]
            by_vega = abs(net_vega[b]) / vega_capacity[b]
            if math.isnan(by_delta) or math.isnan(by_vega):
                x = 0.0
            else:
                x = max(by_delta, by_vega)
                if x == math.inf:
                    x = _LARGEST
                elif x == -math.inf:
                    x = -_LARGEST
            d = x if b == 0 else max(d, x)
        days[r] = d
        h = horizon[r]
        ratio = max(h, d) / h if h > 0 else 1.0
        concentration[r] = core[r] * (math.sqrt(ratio) - 1.0)


@numba.njit(cache=True, nogil=True, error_model="numpy")  # no fastmath: the twins' sums
def basis_rows(
    indptr: IntArray,
    indices: IntArray,
    data: FloatArray,
    underlying_index: IntArray,
    basis_up: FloatArray,
    basis_down: FloatArray,
    perpetual_notional: FloatArray,
    funding_shock: FloatArray,
    reference_days: float,
    days_per_year: float,
    horizon: FloatArray,
    basis: FloatArray,
    funding: FloatArray,
) -> None:  # pragma: no cover - compiled
    """Basis and funding charges per row (module doc)."""
    n_und = funding_shock.shape[0]
    up = np.empty(n_und)
    down = np.empty(n_und)
    net = np.empty(n_und)
    for r in range(indptr.shape[0] - 1):
        up[:] = 0.0
        down[:] = 0.0
        net[:] = 0.0
        for p in range(indptr[r], indptr[r + 1]):
            i = indices[p]
            q = data[p]
            u = underlying_index[i]
            up[u] += q * basis_up[i]
            down[u] += q * basis_down[i]
            net[u] += q * perpetual_notional[i]
        worst = 0.0
        owed = 0.0
        for u in range(n_und):
            worst += max(-min(up[u], down[u]), 0.0)
            owed += abs(net[u]) * funding_shock[u]
        h = horizon[r]
        basis[r] = worst * math.sqrt(h / reference_days)
        funding[r] = owed * h / days_per_year


__all__ = ["addon_rows", "basis_rows"]
