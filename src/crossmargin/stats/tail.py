"""Value-at-Risk and Expected Shortfall on a scenario P&L matrix.

Conventions (METHODS §4.3–4.4; ORE ``historicalSimulationVar``):

* ``pnl_by_scenario`` holds P&L (gain > 0, loss < 0) with the **scenario axis first**:
  shape ``(n_scenarios,)`` for one portfolio or ``(n_scenarios, n_portfolios)`` for many.
* Tail count at confidence α: ``k = ⌈(1 − α)·n⌉``, computed **exactly** with
  :class:`fractions.Fraction` on the decimal value of α (``n = 1000`` at ``0.99`` gives
  ``k = 10``; naive floating point gives 11).
* ``VaR = −pnl₍ₖ₎`` (minus the k-th smallest P&L, ORE's convention).
* ``ES`` by level has a **fractional tail weight** so that its confidence is exactly α
  (Acerbi & Tasche 2002, "On the coherence of expected shortfall", eq. (3.3)): with
  ``m = (1 − α)·n`` (exact) and ``k = ⌈m⌉``::

      ES = −(1/m)·(Σᵢ₌₁ᵏ⁻¹ pnl₍ᵢ₎ + (m − (k − 1))·pnl₍ₖ₎)

  (n = 250 at 99%: m = 2.5, the two worst P&Ls in full and half of the third; averaging
  the three worst would be ES at 98.8%). Where ``m`` is whole (n = 1000 at 99%) this is the
  mean of exactly the k smallest P&Ls (ties counted by position, never by value).
  Results are loss-positive; a margin is ``max(VaR, 0)`` (see :attr:`TailResult.var_margin`).

Three tail definitions are offered, each with an explicit name:

* :func:`var_es` — by level (``k`` and the fractional weight from the confidence),
  optionally with scenario weights;
* :func:`var_es_by_count` — by count (the worst ``k`` given, each with weight ``1/k``), as
  CCPs publish "average of the worst k";
* :func:`var_interpolated` — an interpolated empirical quantile (NumPy ``method``), for
  comparison with libraries that interpolate; not the engine's default.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Literal

import numpy as np
import numpy.typing as npt

from crossmargin.errors import InputError
from crossmargin.stats._checks import (
    FloatArray,
    IntArray,
    as_scenario_array,
    check_open_unit,
    check_positive_int,
)

InterpolationMethod = Literal[
    "linear", "lower", "higher", "midpoint", "nearest", "hazen", "weibull", "median_unbiased"
]

#: Relative tolerance on cumulative weights when locating a weighted quantile, so that
#: equal weights ``1/n`` reproduce the exact unweighted count despite rounding in cumsum.
WEIGHT_TOLERANCE = 1e-12


@dataclass(frozen=True, slots=True, kw_only=True)
class TailResult:
    """VaR and ES of one or many portfolios.

    Attributes
    ----------
    var, es:
        Loss-positive VaR and ES, shape ``()`` for a 1-D input or ``(n_portfolios,)``.
        Negative when even the tail scenarios are gains.
    k:
        Number of tail scenarios, same shape as ``var`` (constant unless weighted).
    worst_index:
        Index (along the scenario axis) of the single worst scenario, same shape as ``var``.
    tail_indices:
        Indices of the tail scenarios ordered worst first, shape ``(k_max, *var.shape)``;
        entries beyond a portfolio's own ``k`` (weighted case only) are ``-1``. ``None``
        where only the measures were kept (the fused kernel's
        :func:`crossmargin.models.fused_tail.fused_var_es`: memory ``rows``, not
        ``k x rows``).
    confidence:
        The confidence used, or ``None`` for :func:`var_es_by_count`.
    """

    var: FloatArray
    es: FloatArray
    k: IntArray
    worst_index: IntArray
    tail_indices: IntArray | None
    confidence: float | None

    @property
    def var_margin(self) -> FloatArray:
        """``max(VaR, 0)``: VaR as a non-negative margin."""
        return np.maximum(self.var, 0.0)

    @property
    def es_margin(self) -> FloatArray:
        """``max(ES, 0)``: ES as a non-negative margin."""
        return np.maximum(self.es, 0.0)


# exact arithmetic on Fractions: once per (α, n); typed: a float α is read as its decimal
# (0.975 is 39/40) and a Fraction as itself, and the two compare equal when the Fraction is
# the float's binary value, so they must not share an entry
@functools.lru_cache(maxsize=256, typed=True)
def tail_count(confidence: float | Fraction | Decimal, n_scenarios: int) -> int:
    """Exact tail count ``k = ⌈(1 − α)·n⌉``.

    Parameters
    ----------
    confidence:
        α in (0, 1). A float is read as its shortest decimal representation
        (``0.99`` → ``99/100``); pass a :class:`~fractions.Fraction` for other values.
    n_scenarios:
        n ≥ 1.

    Returns
    -------
    int
        ``k`` in ``[1, n]``. Example: ``tail_count(0.99, 1000) == 10``.
    """
    alpha = check_open_unit(confidence, name="confidence")
    n = check_positive_int(n_scenarios, name="n_scenarios")
    return max(1, math.ceil((1 - alpha) * n))


@functools.lru_cache(maxsize=256, typed=True)  # typed: as tail_count
def tail_mass(confidence: float | Fraction | Decimal, n_scenarios: int) -> Fraction:
    """Exact tail mass ``m = (1 − α)·n`` in scenarios (a fraction, e.g. 5/2 at 99% of 250)."""
    alpha = check_open_unit(confidence, name="confidence")
    n = check_positive_int(n_scenarios, name="n_scenarios")
    return (1 - alpha) * n


def tail_weights(confidence: float | Fraction | Decimal, n_scenarios: int) -> FloatArray:
    """Weights of the ``k = ⌈m⌉`` worst scenarios (worst first) in the ES by level.

    ``1/m`` for the first ``k − 1`` and ``(m − (k − 1))/m`` for the k-th; they sum to 1.
    A new array each call (the caller may change it); the exact arithmetic is kept.
    """
    return _tail_weights(confidence, n_scenarios).copy()


@functools.lru_cache(maxsize=256, typed=True)  # typed: as tail_count
def _tail_weights(confidence: float | Fraction | Decimal, n_scenarios: int) -> FloatArray:
    """:func:`tail_weights`, once per ``(α, n)`` (read-only: shared by every caller)."""
    m = tail_mass(confidence, n_scenarios)
    k = max(1, math.ceil(m))
    weights = np.full(k, float(1 / m))
    weights[-1] = float((m - (k - 1)) / m)
    weights.flags.writeable = False
    return weights


def var_es(
    pnl_by_scenario: npt.ArrayLike,
    confidence: float | Fraction | Decimal,
    *,
    weights: npt.ArrayLike | None = None,
) -> TailResult:
    """VaR and ES by level: ``k = ⌈(1 − α)·n⌉``, ES with a fractional k-th weight.

    Parameters
    ----------
    pnl_by_scenario:
        P&L, shape ``(n_scenarios,)`` or ``(n_scenarios, n_portfolios)``; gain > 0.
    confidence:
        α in (0, 1), e.g. 0.99.
    weights:
        Optional non-negative scenario weights, shape ``(n_scenarios,)`` (normalised here),
        e.g. 25% total weight on stressed observations (EMIR RTS 153/2013 Art 28(1)(b)).
        The weighted quantile is the generalised inverse ``Q(q) = min{x₍ⱼ₎ : Wⱼ ≥ q}`` with
        ``Wⱼ`` the cumulative weight of the j smallest P&Ls and ``q = 1 − α``; the weighted ES
        is ``−(1/q)·(Σⱼ<ⱼ* wⱼx₍ⱼ₎ + (q − W_{j*−1})·x₍ⱼ*₎)``. With equal weights both reduce
        exactly to the unweighted convention. Weighted results need a full
        (stable) sort per portfolio. The weighted ES takes the tail mass ``q`` exactly: the
        boundary scenario ``x₍ⱼ*₎`` enters with weight ``q − W_{j*−1}``.

    Returns
    -------
    TailResult
    """
    pnl = as_scenario_array(pnl_by_scenario, name="pnl_by_scenario")
    alpha = check_open_unit(confidence, name="confidence")
    if weights is None:
        n = pnl.shape[0]
        k = tail_count(alpha, n)
        whole = tail_mass(alpha, n) == k  # then the plain mean of the k worst (exact)
        weights = None if whole else tail_weights(alpha, n)
        return _by_count(pnl, k, confidence=float(alpha), weights=weights)
    return _weighted(pnl, _check_weights(weights, pnl.shape[0]), 1 - alpha, float(alpha))


def var_es_by_count(pnl_by_scenario: npt.ArrayLike, k: int) -> TailResult:
    """VaR and ES by count: the worst ``k`` scenarios.

    ``VaR = −pnl₍ₖ₎`` and ``ES = −mean(pnl₍₁₎, …, pnl₍ₖ₎)``, as CCPs publish "average of the
    worst k" (e.g. LCH's worst 6 of ~2,500, METHODS §4.1).

    Parameters
    ----------
    pnl_by_scenario:
        P&L, shape ``(n_scenarios,)`` or ``(n_scenarios, n_portfolios)``.
    k:
        Number of worst scenarios, ``1 ≤ k ≤ n_scenarios``.
    """
    pnl = as_scenario_array(pnl_by_scenario, name="pnl_by_scenario")
    k = check_positive_int(k, name="k")
    if k > pnl.shape[0]:
        raise InputError(f"k = {k} exceeds the number of scenarios {pnl.shape[0]}; pass k ≤ n")
    return _by_count(pnl, k, confidence=None)


def var_interpolated(
    pnl_by_scenario: npt.ArrayLike,
    confidence: float | Fraction | Decimal,
    *,
    method: InterpolationMethod = "linear",
) -> FloatArray:
    """Loss-positive VaR from an **interpolated** empirical quantile.

    ``VaR = −Q(1 − α)`` with ``Q`` from :func:`numpy.quantile` and the given ``method``
    (Hyndman & Fan 1996; ``"linear"`` is their type 7: position ``(n − 1)·q`` between order
    statistics). Not the engine default (:func:`var_es`); offered to match libraries that
    interpolate.

    Returns
    -------
    numpy.ndarray
        Shape ``()`` for a 1-D input or ``(n_portfolios,)``.
    """
    pnl = as_scenario_array(pnl_by_scenario, name="pnl_by_scenario")
    alpha = check_open_unit(confidence, name="confidence")
    q = float(1 - alpha)
    return np.asarray(-np.quantile(pnl, q, axis=0, method=method), dtype=np.float64)


#: Portfolios per block in :func:`_smallest_k`: each block is transposed so every
#: portfolio's scenarios are contiguous, which makes ``argpartition`` ~2-3x faster on
#: large (n_scenarios, n_portfolios) matrices than partitioning along a strided axis 0.
_BLOCK = 256


def _smallest_k(pnl2d: FloatArray, k: int) -> IntArray:
    """Indices (unordered) of the k smallest values of each column, shape ``(k, m)``."""
    n, m = pnl2d.shape
    if k == n:
        return np.broadcast_to(np.arange(n, dtype=np.intp)[:, np.newaxis], (n, m)).copy()
    out = np.empty((k, m), dtype=np.intp)
    for start in range(0, m, _BLOCK):
        block = np.ascontiguousarray(pnl2d[:, start : start + _BLOCK].T)
        out[:, start : start + _BLOCK] = np.argpartition(block, k - 1, axis=1)[:, :k].T
    return out


def _by_count(
    pnl: FloatArray, k: int, *, confidence: float | None, weights: FloatArray | None = None
) -> TailResult:
    """Tail statistics of the k smallest values along axis 0 (partition, then sort k).

    ``weights`` (worst first, summing to 1) give the ES; default ``1/k`` each.

    Tied values keep scenario order, and the worst scenario of a column is its earliest
    scenario of the smallest value: the rule of the compiled kernels
    (:mod:`crossmargin.models.fused_tail`, :mod:`crossmargin.models.row_tails`), so a row
    reports the same worst scenario on every path. ``argpartition`` picks among values tied
    at the k-th place as it goes; that changes no figure (the values are equal), only which
    of the tied scenarios are listed, except when all k picked tie with the smallest value:
    such a column lists the earliest k scenarios of that value.
    """
    pnl2d = pnl.reshape(pnl.shape[0], -1)
    part = _smallest_k(pnl2d, k)
    part.sort(axis=0)  # scenario order: the stable sort below keeps ties in it
    column = np.arange(pnl2d.shape[1])  # (k, m) picks along axis 0, column by column
    tail_values = pnl2d[part, column]
    order = np.argsort(tail_values, axis=0, kind="stable")
    tail_indices = part[order, column]
    tail_sorted = tail_values[order, column]
    if k == 1:  # the smallest value's earliest scenario (argmin's rule)
        tail_indices[0] = np.argmin(pnl2d, axis=0)
    elif k < pnl2d.shape[0]:  # every pick tied with the smallest: the earliest k of it
        tied = np.flatnonzero(tail_sorted[k - 1] == tail_sorted[0])
        for start in range(0, tied.size, _BLOCK):  # a block of columns at a time
            cols = tied[start : start + _BLOCK]
            other = pnl2d[:, cols] != tail_sorted[0, cols]  # False (sorted first) where tied
            tail_indices[:, cols] = np.argsort(other, axis=0, kind="stable")[:k]
    return _from_sorted(tail_sorted, tail_indices, k, pnl.shape[1:], confidence, weights)


def _from_sorted(
    tail_sorted: FloatArray,
    tail_indices: IntArray,
    k: int,
    shape: tuple[int, ...],
    confidence: float | None,
    weights: FloatArray | None,
) -> TailResult:
    """VaR and ES from the ascending k smallest values of each column, ``(k, m)``.

    The ES sums run worst first, one tail scenario after another (``Σ y_t`` then ``/ k``;
    or ``Σ w_t·y_t``), the order the fused kernel sums in, so the two agree bit for bit."""
    if weights is None:  # y_0 + y_1 + ... one after another: a running sum's last entry
        es = np.cumsum(tail_sorted[:k], axis=0)[k - 1] / k
    else:
        es = np.zeros(tail_sorted.shape[1:])
        for t in range(k):
            es = es + weights[t] * tail_sorted[t]
    return TailResult(
        var=np.asarray(-tail_sorted[k - 1], dtype=np.float64).reshape(shape),
        es=np.asarray(-es, dtype=np.float64).reshape(shape),
        k=np.full(shape, k, dtype=np.intp),
        worst_index=np.asarray(tail_indices[0], dtype=np.intp).reshape(shape),
        tail_indices=tail_indices.reshape((k, *shape)),
        confidence=confidence,
    )


def _check_weights(weights: npt.ArrayLike, n: int) -> FloatArray:
    w = as_scenario_array(weights, name="weights")
    if w.shape != (n,):
        raise InputError(f"weights must have shape ({n},) (one per scenario), got {w.shape}")
    if (w < 0).any():
        i = int(np.argmax(w < 0))
        raise InputError(f"weights must be non-negative; weights[{i}] = {float(w[i])!r}")
    total = w.sum()
    if not total > 0:
        raise InputError("weights sum to zero; give at least one scenario a positive weight")
    return np.asarray(w / total, dtype=np.float64)


def _column_sums(values: FloatArray) -> FloatArray:
    """Sums along axis 0, each column summed alone (NumPy's pairwise sum of a contiguous
    row): a column's sum is the same whether it comes alone or beside others (summing along
    a strided axis 0 adds the columns row by row instead, another order)."""
    flat = values.reshape(values.shape[0], -1)
    out: FloatArray = np.ascontiguousarray(flat.T).sum(axis=1)
    return out.reshape(values.shape[1:])


def _weighted(pnl: FloatArray, w: FloatArray, q: Fraction, confidence: float) -> TailResult:
    order = np.argsort(pnl, axis=0, kind="stable")
    sorted_pnl = np.take_along_axis(pnl, order, axis=0)
    w_sorted = w[order]
    cum = np.cumsum(w_sorted, axis=0)
    # j* = first position whose cumulative weight reaches q (within rounding).
    j_star = np.argmax(cum >= float(q) * (1 - WEIGHT_TOLERANCE), axis=0)
    pos = np.arange(pnl.shape[0]).reshape((-1,) + (1,) * (pnl.ndim - 1))
    # Zero-weight scenarios carry no probability: they are never counted in the tail.
    in_tail = (pos <= j_star) & (w_sorted > 0)
    k = np.asarray(in_tail.sum(axis=0), dtype=np.intp)
    tail_w = np.where(in_tail, w_sorted, 0.0)
    # The boundary scenario j* takes only the weight that completes the tail mass q.
    before = (
        np.take_along_axis(cum, j_star[np.newaxis, ...], axis=0)[0]
        - np.take_along_axis(w_sorted, j_star[np.newaxis, ...], axis=0)[0]
    )
    mass = np.maximum(float(q) - before, 0.0)
    np.put_along_axis(tail_w, j_star[np.newaxis, ...], mass[np.newaxis, ...], axis=0)
    es = -_column_sums(tail_w * sorted_pnl) / _column_sums(tail_w)
    var = -np.take_along_axis(sorted_pnl, j_star[np.newaxis, ...], axis=0)[0]
    k_max = int(k.max())
    compact = np.argsort(~in_tail, axis=0, kind="stable")[:k_max]
    tail_indices = np.where(
        np.take_along_axis(in_tail, compact, axis=0),
        np.take_along_axis(order, compact, axis=0),
        -1,
    ).astype(np.intp)
    return TailResult(
        var=np.asarray(var, dtype=np.float64),
        es=np.asarray(es, dtype=np.float64),
        k=k,
        worst_index=np.asarray(tail_indices[0], dtype=np.intp),
        tail_indices=tail_indices,
        confidence=confidence,
    )


__all__ = [
    "InterpolationMethod",
    "TailResult",
    "tail_count",
    "tail_mass",
    "tail_weights",
    "var_es",
    "var_es_by_count",
    "var_interpolated",
]
