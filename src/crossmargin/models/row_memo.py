"""Rows already margined on a cached context, kept so a later call margins only new rows.

A service margins books that differ a little from books it has just margined: a what-if is
the account plus one trade, a second request the same book under the same model. Their
holdings rows (each position alone, each tier group) are mostly rows it has margined
before on the same prepared context. A model whose rows are **invariant** (a row's figures
do not depend on which other rows share the call, bit for bit:
``tests/models/test_row_invariance.py``) lets :class:`RowMemo` keep each row's figures by
the row's exact holdings and margin only the rows it has not seen. The result is the one a
single call on every row gives, bit for bit (the same test, and the service's what-if and
margin tests against the uncached path).

A row is keyed by its stored entries in canonical form (columns sorted, duplicates summed,
zeros dropped): the column numbers and the quantities' bits, and by whether it is asked for
in ``detail`` (its facts and informational figures, which a model may fill for those rows
only): a row is reused only as it was margined. The memo belongs to one context
object; it is emptied when the model answers with another set of components or scenario
names (a lazy context that grew), and when it holds :data:`MAX_ROWS` rows.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from crossmargin.models.base import MarginModel, RowMargins
from crossmargin.netting.csr import csr_of

BoolArray = npt.NDArray[np.bool_]
FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

#: Rows a memo keeps before it starts again (a row costs its figures, about 100 bytes, and
#: its key, 12 bytes per position it holds; facts are shared by rows of one netting set).
MAX_ROWS = 4_096
#: Calls with more rows than this are margined directly (large books are not re-margined a
#: row at a time; building their keys would cost more than it saves).
MAX_CALL_ROWS = 2_000


def as_canonical(holdings: sp.spmatrix) -> sp.csr_matrix:
    """``holdings`` as a CSR matrix of float64 with sorted columns, summed duplicates and no
    stored zeros: ``holdings`` itself when it is one already (a tier layout's, read-only),
    else a new matrix."""
    if (
        isinstance(holdings, sp.csr_matrix)
        and holdings.dtype == np.float64
        and holdings.has_canonical_format
        and bool((holdings.data != 0.0).all())
    ):
        return holdings
    q = sp.csr_matrix(holdings, dtype=np.float64, copy=True)
    q.sum_duplicates()
    q.eliminate_zeros()
    return q


def take_rows(q: sp.csr_matrix, rows: IntArray) -> sp.csr_matrix:
    """Rows ``rows`` of the CSR matrix ``q`` as a new CSR matrix (each row's entries in
    their order): ``q[rows]`` without SciPy's fancy-indexing machinery, for the few rows a
    memo misses."""
    starts, ends = q.indptr[rows], q.indptr[rows + 1]
    counts = ends - starts
    indptr = np.zeros(rows.size + 1, dtype=q.indptr.dtype)  # q's index type, as SciPy keeps
    np.cumsum(counts, out=indptr[1:])
    # each entry's place in q: its row's start plus its rank within the row
    at = np.repeat(starts.astype(np.int64) - indptr[:-1], counts) + np.arange(indptr[-1])
    return csr_of(q.data[at], q.indices[at], indptr, (rows.size, q.shape[1]))


def row_keys(q: sp.csr_matrix, detail: BoolArray) -> list[bytes]:
    """One key per row of the canonical ``q``: its columns' and quantities' bytes, and
    whether the row is asked for in ``detail`` (``d``, else ``-``)."""
    cols = q.indices.astype(np.int64).tobytes()
    data = q.data.tobytes()
    ptr = q.indptr.tolist()
    marks = [b"d" if w else b"-" for w in detail.tolist()]
    return [
        cols[8 * a : 8 * b] + data[8 * a : 8 * b] + mark
        for (a, b), mark in zip(itertools.pairwise(ptr), marks, strict=True)
    ]


class RowMemo:
    """Figures of rows margined on ``context`` (module docstring); thread-safe."""

    def __init__(self, context: Any) -> None:
        self.context = context
        self._lock = threading.Lock()
        self._reset()

    def _reset(self) -> None:
        self._index: dict[bytes, int] = {}
        self._values = np.empty((0, 0))
        self._worst = np.empty(0, dtype=np.int64)
        self._facts: list[Mapping[str, Any]] = []
        self._used = 0  # rows of the table in use
        self._shape: tuple[Any, ...] | None = None
        self._names: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self._index)

    def margin_rows(
        self, model: MarginModel, holdings: sp.spmatrix, detail: npt.ArrayLike | None
    ) -> RowMargins:
        """``model.margin_rows(self.context, holdings, detail=detail)``, the rows seen before
        taken from the memo."""
        q = as_canonical(holdings)
        n = q.shape[0]
        # as margin_rows takes it: no ``detail`` means every row in detail
        want = np.ones(n, dtype=bool) if detail is None else np.asarray(detail, dtype=bool)
        keys = row_keys(q, want)
        with self._lock:  # one call at a time per context: the table stays consistent
            index = self._index
            slot = np.fromiter((index.get(k, -1) for k in keys), dtype=np.int64, count=n)
            missing = np.flatnonzero(slot < 0)
            if missing.size:
                fresh = model.margin_rows(self.context, take_rows(q, missing), detail=want[missing])
                if not self._fits(fresh) or len(index) + missing.size > MAX_ROWS:
                    self._reset()
                    if missing.size < n:  # the rows kept no longer match: all rows afresh
                        fresh = model.margin_rows(self.context, q, detail=want)
                        missing = np.arange(n)
                    self._start(fresh)
                chosen = [keys[r] for r in missing.tolist()]
                slot[missing] = self._add(chosen, fresh)
            return self._rows(slot)

    # ----------------------------------------------------------------- table
    @staticmethod
    def _shape_of(rows: RowMargins) -> tuple[Any, ...]:
        return (
            rows.maintenance is not None,
            tuple(rows.components),
            tuple(rows.info),
            rows.worst_scenario is not None,
            bool(rows.facts),
        )

    def _fits(self, rows: RowMargins) -> bool:
        names = rows.scenario_names  # the same tuple object while the context stays as it is
        same_names = names is self._names or names == self._names
        return self._shape == self._shape_of(rows) and same_names

    def _start(self, rows: RowMargins) -> None:
        self._shape = self._shape_of(rows)
        self._names = rows.scenario_names
        self._values = np.empty((0, self._width()))
        self._used = 0

    def _width(self) -> int:
        assert self._shape is not None
        has_mm, comps, info, _, _ = self._shape
        return 1 + int(has_mm) + len(comps) + len(info)

    def _add(self, keys: list[bytes], rows: RowMargins) -> IntArray:
        """Append ``rows`` (keyed by ``keys``); their places in the table."""
        columns = [rows.total]
        if rows.maintenance is not None:
            columns.append(rows.maintenance)
        columns += [*rows.components.values(), *rows.info.values()]
        start, stop = self._used, self._used + len(keys)
        if stop > self._values.shape[0]:  # room for twice as many rows (amortised copies)
            size = max(2 * stop, 64)
            grown = np.empty((size, self._width()))
            grown[:start] = self._values[:start]
            self._values = grown
            self._worst = np.resize(self._worst, size)
        self._values[start:stop] = np.column_stack(columns)
        worst = rows.worst_scenario if rows.worst_scenario is not None else -1
        self._worst[start:stop] = worst
        self._facts.extend(rows.facts)
        self._used = stop
        places = np.arange(start, stop, dtype=np.int64)
        self._index.update(zip(keys, places.tolist(), strict=True))
        return places

    def _rows(self, slot: IntArray) -> RowMargins:
        assert self._shape is not None
        has_mm, comps, info, has_worst, has_facts = self._shape
        table = self._values[slot]
        at = 1 + int(has_mm)
        return RowMargins.of_checked(  # rows margined (and checked) before
            total=table[:, 0].copy(),
            maintenance=table[:, 1].copy() if has_mm else None,
            components={k: table[:, at + j].copy() for j, k in enumerate(comps)},
            info={k: table[:, at + len(comps) + j].copy() for j, k in enumerate(info)},
            worst_scenario=self._worst[slot] if has_worst else None,
            scenario_names=self._names,
            facts=tuple(self._facts[i] for i in slot.tolist()) if has_facts else (),
        )


__all__ = ["MAX_CALL_ROWS", "MAX_ROWS", "RowMemo", "as_canonical", "row_keys", "take_rows"]
