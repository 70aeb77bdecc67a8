"""Euler contributions of every row of a holdings matrix, for every margin model.

For a margin ``M(q)`` of holdings ``q`` (contracts per instrument) the **Euler contribution**
of instrument ``i`` is ``cᵢ = qᵢ·∂M/∂qᵢ`` and its **marginal margin** ``∂M/∂qᵢ`` (reporting
currency per contract). Where ``M`` is positively homogeneous of degree 1
(``M(t·q) = t·M(q)``, t > 0), Euler's theorem gives ``Σᵢ cᵢ = M`` exactly (Tasche, *Capital
allocation to business units and sub-portfolios: the Euler principle*, 2008). Each model's
convention (the module that implements it):

=============  ===============================================================================
``rules``      separable, ``M = Σ |qᵢ|·charge``: ``cᵢ = |qᵢ|·charge`` (degree 1, exact)
``span``       per CC ``max(scan + intra − credit, SOM, 0)``, every piece degree 1: exact
               gradient through the binding scenario, the spreads formed and the weighted
               price risk (:mod:`.euler_scan`)
``pm_grid``    per risk unit ``im_factor·max(scan + roll + shock, floor, charge) + increment``:
               exact gradient of every piece; where the venue's add-ons are not homogeneous
               (extended dampener, gain cap, delta-shock threshold, IM increment, tiered
               charge) the residual is allocated pro rata to ``|cᵢ|``; rows in an active
               correlation set by central differences (:mod:`.euler_scan`)
``es``/        core ES: P&L in the tail scenarios with the fractional tail weights (VaR: in the
``hvar``       k-th scenario); liquidity, basis, funding degree 1; the concentration add-on is
               not homogeneous and is allocated by **Aumann–Shapley** (:mod:`.euler_var`)
``conservative``  the binding model's contributions, row by row
``simm``       gradient of the aggregation (:mod:`.simm_euler`; concentration by Aumann–Shapley)
other models   central finite differences, the residual allocated pro rata to ``|cᵢ|``
=============  ===============================================================================

**Aumann–Shapley** (Aumann & Shapley, *Values of Non-Atomic Games*, 1974; Denault, *Coherent
allocation of risk capital*, 2001): ``cᵢ = qᵢ·∫₀¹ ∂M/∂qᵢ(t·q) dt``. It sums to ``M(q) − M(0)``
for any differentiable ``M`` and equals the Euler allocation where ``M`` is homogeneous of
degree 1, so it is the residual rule where a piece is not (floors, the concentration
multiplier): the sum stays exact and nothing is allocated by a free choice.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from crossmargin.errors import ModelError
from crossmargin.models.base import MarginModel
from crossmargin.netting.sums import entry_sums, row_of_data

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


@dataclass(frozen=True, slots=True, kw_only=True)
class EulerRows:
    """Contributions of each row's instruments (aligned with ``holdings.data``).

    ``holdings`` is canonical (CSR, sorted indices, no duplicates or explicit zeros);
    ``contribution`` and ``marginal`` have one entry per stored element: ``qᵢ·∂M/∂qᵢ`` and
    ``∂M/∂qᵢ`` (reporting currency, and reporting currency per contract); per row they sum
    to ``total``. ``residual`` is ``total − Σ qᵢ·∂M/∂qᵢ`` before any allocation rule (0 up
    to rounding where the model is homogeneous of degree 1); ``method`` names the rule.
    """

    holdings: sp.csr_matrix
    total: FloatArray
    contribution: FloatArray
    marginal: FloatArray
    residual: FloatArray
    method: str

    def row_sums(self) -> FloatArray:
        """Σ contributions per row."""
        return row_sums(self.holdings, self.contribution)

    def matrix(self, values: FloatArray | None = None) -> sp.csr_matrix:
        """Contributions (or ``values``) as a CSR matrix with the holdings' pattern."""
        h = self.holdings
        data = self.contribution if values is None else values
        return sp.csr_matrix((data, h.indices, h.indptr), shape=h.shape)


def canonical_copy(holdings: sp.spmatrix | FloatArray) -> sp.csr_matrix:
    """A CSR copy with summed duplicates, no stored zeros and sorted indices."""
    h = sp.csr_matrix(holdings, dtype=np.float64, copy=True)
    h.sum_duplicates()
    h.eliminate_zeros()
    h.sort_indices()
    return h


def row_sums(h: sp.csr_matrix, values: FloatArray) -> FloatArray:
    """Per row, the sum of ``values`` (one per stored element of ``h``)."""
    return entry_sums(row_of_data(h), values, h.shape[0])


def finish(
    h: sp.csr_matrix,
    total: FloatArray,
    marginal: FloatArray,
    method: str,
    extra: FloatArray | None = None,
) -> EulerRows:
    """Rows from the exact gradient: ``c = q·g`` (plus ``extra`` contributions allocated by a
    documented rule, e.g. Aumann–Shapley); ``residual = total − Σ c``."""
    contribution = h.data * marginal
    if extra is not None:
        contribution = contribution + extra
    return EulerRows(
        holdings=h,
        total=total,
        contribution=contribution,
        marginal=marginal,
        residual=total - row_sums(h, contribution),
        method=method,
    )


Euler = Callable[[Any, Any, sp.csr_matrix], EulerRows]
_REGISTRY: list[tuple[type, Euler]] = []


def register_euler(cls: type) -> Callable[[Euler], Euler]:
    """Decorator: the Euler rows function of model class ``cls`` (subclasses included)."""

    def add(fn: Euler) -> Euler:
        _REGISTRY.append((cls, fn))
        return fn

    return add


def euler_rows(model: MarginModel, context: Any, holdings: sp.spmatrix) -> EulerRows:
    """Euler contributions of every row of ``holdings`` under ``model`` (module docstring).

    ``context`` is ``model.prepare(...)``'s for the holdings' columns.
    """
    from crossmargin.models.cache import CachedModel
    from crossmargin.models.conservative import ConservativeModel

    _load()
    h = canonical_copy(holdings)
    if isinstance(model, CachedModel):
        return _cached(model, context, h)
    if isinstance(model, ConservativeModel):
        a = euler_rows(model.first, context[0], h)
        b = euler_rows(model.second, context[1], h)
        first = (a.total >= b.total)[row_of_data(h)]
        return EulerRows(
            holdings=h,
            total=np.maximum(a.total, b.total),
            contribution=np.where(first, a.contribution, b.contribution),
            marginal=np.where(first, a.marginal, b.marginal),
            residual=np.where(a.total >= b.total, a.residual, b.residual),
            method=f"binding model ({a.method} / {b.method})",
        )
    for cls, fn in _REGISTRY:
        if isinstance(model, cls):
            return fn(model, context, h)
    return numerical_rows(model, context, h)


def _cached(model: Any, context: Any, h: sp.csr_matrix) -> EulerRows:
    """Re-index onto the cached context's columns, then back."""
    mapped = context
    cols = np.asarray(mapped.columns, dtype=np.int64)
    wide = sp.csr_matrix((h.data, cols[h.indices], h.indptr), shape=(h.shape[0], mapped.width))
    inner = euler_rows(model.model, mapped.context, wide)
    width = mapped.width
    inner_keys = row_of_data(inner.holdings) * width + inner.holdings.indices
    order = np.searchsorted(inner_keys, row_of_data(h) * width + cols[h.indices])
    return EulerRows(
        holdings=h,
        total=inner.total,
        contribution=inner.contribution[order],
        marginal=inner.marginal[order],
        residual=inner.residual,
        method=inner.method,
    )


def numerical_rows(model: MarginModel, context: Any, h: sp.csr_matrix) -> EulerRows:
    """Central finite differences of ``margin_rows`` for any model; the residual
    ``total − Σ q·g`` allocated pro rata to ``|q·g|`` (equally where all are 0)."""
    base = model.margin_rows(context, h).total
    nnz = h.nnz
    if nnz == 0:
        return finish(h, base, np.zeros(0), "numerical")
    r = row_of_data(h)
    step = 1e-6 * np.maximum(np.abs(h.data), 1.0)
    bumped = sp.vstack([h[r], h[r]]).tolil()
    for k in range(nnz):
        bumped[k, h.indices[k]] = h.data[k] + step[k]
        bumped[nnz + k, h.indices[k]] = h.data[k] - step[k]
    m = model.margin_rows(context, sp.csr_matrix(bumped)).total
    g = (m[:nnz] - m[nnz:]) / (2.0 * step)
    return pro_rata(
        finish(h, base, g, "numerical"), "numerical (central differences; residual pro rata |c|)"
    )


def pro_rata(raw: EulerRows, method: str) -> EulerRows:
    """``raw`` with each row's residual ``total − Σ q·g`` allocated pro rata to ``|qᵢ·gᵢ|``
    (equally where all are 0): the rule for a model, or a piece, that is not homogeneous."""
    h = raw.holdings
    r = row_of_data(h)
    c = raw.contribution.copy()
    weights = np.abs(c)
    sums = row_sums(h, weights)[r]
    counts = np.diff(h.indptr)[r]
    share = np.where(sums > 0, weights / np.where(sums > 0, sums, 1.0), 1.0 / counts)
    c = c + share * raw.residual[r]
    return EulerRows(
        holdings=h,
        total=raw.total,
        contribution=c,
        marginal=raw.marginal,
        residual=raw.residual,
        method=method,
    )


def _load() -> None:
    """Import the modules that register per-model Euler functions."""
    from crossmargin.analysis.optimise import euler_scan, euler_var  # noqa: F401


# ------------------------------------------------------------------------------ rules
def _rules(model: Any, context: Any, h: sp.csr_matrix) -> EulerRows:
    q = h.data
    j = h.indices
    g = np.where(q > 0, context.long_im[j], -context.short_im[j])
    total = np.asarray(
        h.maximum(0) @ context.long_im + (-h).maximum(0) @ context.short_im, dtype=np.float64
    ).reshape(-1)
    return finish(h, total, g, "euler (separable, degree 1)")


def _register_rules() -> None:
    from crossmargin.models.rules import RulesModel

    register_euler(RulesModel)(_rules)


_register_rules()


def check_model(model: MarginModel) -> None:
    """ModelError if ``model`` is not a :class:`MarginModel`."""
    if not isinstance(model, MarginModel):
        raise ModelError(f"not a margin model: {model!r}")


__all__ = [
    "EulerRows",
    "canonical_copy",
    "euler_rows",
    "finish",
    "numerical_rows",
    "pro_rata",
    "register_euler",
    "row_of_data",
    "row_sums",
]
