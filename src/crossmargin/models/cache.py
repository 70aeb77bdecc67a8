"""A cache of model contexts, so that repeated and what-if margin calls reprice only what is new.

``MarginModel.prepare(instruments, market)`` does the per-instrument work (full repricing on a
scenario grid or a historical window); ``margin_rows`` is cheap by comparison. A
:class:`ContextCache` keeps prepared contexts keyed by ``(model key, market key)`` and the
instruments they cover, and serves a request for instruments ``R`` by, in this order:

1. **hit** — a context covering ``R`` exactly or a superset of ``R``: holdings are re-indexed
   onto the cached columns (a zero column contributes nothing to any row: scenario P&L,
   deltas and add-ons are all linear in holdings, and a row's factor set is what it holds);
2. **extension** — a context covering a subset of ``R`` whose model has an *extender* here
   (``pm_grid``, ``es``/``hvar``): only the missing instruments are priced, and the columns
   of the grown context are put in canonical order (see :func:`extend_context`);
3. **prepare** — ``model.prepare(R, market)``, stored for next time.

Preparing and extending run outside the cache's lock (other requests are served meanwhile);
a second request for the same instruments waits for the first one's context instead of
building it again.

Hits and extensions work across underlyings, since every model margins each row on its own
positions only (the historical models on the row's own factor set). Extenders never change a
model's figures: the tests compare every path with a fresh ``prepare``. A netting layout lists
its instruments in canonical order (:attr:`~crossmargin.instruments.Instrument.sort_key`), and
so does every context an extender grows: a row's instruments then stand in the same relative
order in any context that covers them, and every sum over them runs in that order, so a cached
answer equals the answer of the row's netting set alone, bit for bit.

The cache is bounded by entries and by **bytes**: an entry's size is the memory of the arrays
its context holds (:func:`context_nbytes`; the market history and snapshot it refers to are
shared, not counted). Historical-model contexts grow as they are used (scenario P&L is priced
per calendar on first use), so an entry is measured again after every use and the least
recently used entries are dropped until the total fits.

Each context also keeps the rows margined on it (:mod:`crossmargin.models.row_memo`, for
models whose rows are invariant): a what-if or a repeated book margins only the rows it has
not seen, with the figures a single call gives, bit for bit. A memo holds at most
``row_memo.MAX_ROWS`` rows (a few hundred bytes each, not counted in the byte bound) and
goes with its context.

:class:`CachedModel` wraps a model so that :func:`crossmargin.netting.cross_margin` (and so
``api.margin``) goes through the cache unchanged; its results carry the wrapped model's name.
"""

from __future__ import annotations

import dataclasses
import threading
from collections import OrderedDict
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import scipy.sparse as sp

from crossmargin.instruments import Instrument
from crossmargin.instruments.instrument import canonical_order
from crossmargin.market.snapshot import MarketSnapshot
from crossmargin.models.base import MarginModel, RowMargins
from crossmargin.models.row_memo import MAX_CALL_ROWS, RowMemo
from crossmargin.netting.csr import INT32_MAX, csr_of

if TYPE_CHECKING:
    from crossmargin.models.result import MarginResult
    from crossmargin.portfolio import Portfolio

Extender = Callable[[Any, Any, tuple[Instrument, ...], MarketSnapshot], Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class CacheStats:
    """Counts of how requests were served (see the module docstring)."""

    hits: int
    extensions: int
    prepares: int
    entries: int
    bytes: int = 0
    max_bytes: int | None = None
    evictions: int = 0

    def to_dict(self) -> dict[str, int]:
        """JSON-ready counts."""
        return dataclasses.asdict(self)


@dataclass(frozen=True, slots=True, kw_only=True)
class _Entry:
    instruments: tuple[Instrument, ...]
    columns: dict[Instrument, int]
    context: Any


@dataclass(frozen=True, slots=True, kw_only=True)
class MappedContext:
    """A cached context and, per requested instrument, its column in that context."""

    context: Any
    columns: np.ndarray
    width: int
    slot: int = -1


class ContextCache:
    """LRU cache of prepared model contexts (thread-safe; see the module docstring).

    Parameters
    ----------
    maxsize:
        Contexts kept; the least recently used is dropped beyond it. ``0`` disables the
        cache (every request prepares: the baseline of ``benchmarks/bench_service.py``).
    max_bytes:
        Bytes the contexts may hold together (:func:`context_nbytes`); ``None``: no limit.
        A context larger than the limit on its own serves the request that built it and is
        dropped.
    """

    def __init__(self, maxsize: int = 64, max_bytes: int | None = None) -> None:
        if maxsize < 0:
            raise ValueError("maxsize must be >= 0")
        if max_bytes is not None and max_bytes < 0:
            raise ValueError("max_bytes must be >= 0")
        self.maxsize = maxsize
        self.max_bytes = max_bytes
        self._entries: OrderedDict[int, tuple[tuple[str, str], _Entry]] = OrderedDict()
        self._sizes: dict[int, int] = {}
        self._grown: dict[int, Any] = {}
        self._memos: dict[int, RowMemo] = {}
        self._inflight: dict[tuple[tuple[str, str], frozenset[Instrument]], threading.Event] = {}
        self._next = 0
        self._lock = threading.RLock()
        self._hits = self._extensions = self._prepares = self._evictions = 0

    def stats(self) -> CacheStats:
        """How requests have been served so far, and the bytes held."""
        with self._lock:
            return CacheStats(
                hits=self._hits,
                extensions=self._extensions,
                prepares=self._prepares,
                entries=len(self._entries),
                bytes=sum(self._sizes.values()),
                max_bytes=self.max_bytes,
                evictions=self._evictions,
            )

    def clear(self) -> None:
        """Drop every context (counts are kept)."""
        with self._lock:
            self._entries.clear()
            self._sizes.clear()
            self._grown.clear()
            self._memos.clear()

    def _store(self, key: tuple[str, str], entry: _Entry) -> int:
        """Keep ``entry``; its slot (``-1`` when the cache is disabled)."""
        if self.maxsize == 0:
            return -1
        slot = self._next
        self._next += 1
        self._entries[slot] = (key, entry)
        self._grown[slot] = _growth(entry.context)
        self._sizes[slot] = context_nbytes(entry.context)
        self._evict()
        return slot

    def _evict(self) -> None:
        while len(self._entries) > self.maxsize or (
            self.max_bytes is not None
            and self._entries
            and sum(self._sizes.values()) > self.max_bytes
        ):
            slot, _ = self._entries.popitem(last=False)
            self._sizes.pop(slot, None)
            self._grown.pop(slot, None)
            self._memos.pop(slot, None)
            self._evictions += 1

    def row_memo(self, slot: int, context: Any) -> RowMemo | None:
        """The rows margined so far on the context in ``slot`` (:mod:`~crossmargin.models.row_memo`;
        ``MAX_ROWS`` rows at most per context, dropped with it); None if the slot is gone."""
        with self._lock:
            if slot not in self._entries:
                return None
            memo = self._memos.get(slot)
            if memo is None or memo.context is not context:
                memo = self._memos[slot] = RowMemo(context)
            return memo

    def measure(self, slot: int) -> None:
        """Measure the context in ``slot`` again if it grew in use (lazy contexts report how
        much they have built: ``context.computed()``) and evict to the limits."""
        with self._lock:
            if slot not in self._entries:
                return
            context = self._entries[slot][1].context
            grown = _growth(context)
            if grown is None or grown == self._grown.get(slot):
                return
            self._grown[slot] = grown
            self._sizes[slot] = context_nbytes(context)
            self._evict()

    def context(
        self,
        model: MarginModel,
        model_key: str,
        instruments: tuple[Instrument, ...],
        market: MarketSnapshot,
        market_key: str,
    ) -> MappedContext:
        """A context of ``model`` on ``market`` covering ``instruments`` (hit, extend or prepare).

        ``model_key`` must identify the model and its parameters, ``market_key`` the snapshot:
        two calls with equal keys must mean the same computation.
        """
        key = (model_key, market_key)
        wanted = set(instruments)
        while True:
            with self._lock:
                found = self._lookup(key, wanted, instruments)
                if isinstance(found, MappedContext):
                    return found
                busy = self._inflight.get((key, frozenset(wanted)))
                if busy is None:
                    done = threading.Event()
                    self._inflight[(key, frozenset(wanted))] = done
                    break
            busy.wait()  # the same context is being built by another request: use it
        try:  # built outside the lock: other requests are served meanwhile
            extender = extender_for(model)
            if found is not None and extender is not None:
                new = tuple(i for i in instruments if i not in found.columns)
                context = extender(model, found.context, new, market)
                entry = _entry(context.instruments, context)  # the grown, canonical order
            else:
                entry = _entry(instruments, model.prepare(instruments, market))
            with self._lock:
                if found is not None and extender is not None:
                    self._extensions += 1
                else:
                    self._prepares += 1
                return _mapped(entry, instruments, self._store(key, entry))
        finally:
            with self._lock:
                del self._inflight[(key, frozenset(wanted))]
            done.set()

    def _lookup(
        self, key: tuple[str, str], wanted: set[Instrument], instruments: tuple[Instrument, ...]
    ) -> MappedContext | _Entry | None:
        """A hit (mapped), else the largest cached subset to extend, else None (locked)."""
        best: tuple[int, _Entry] | None = None
        for slot, (k, entry) in reversed(self._entries.items()):
            if k != key:
                continue
            if wanted <= entry.columns.keys():
                self._entries.move_to_end(slot)
                self._hits += 1
                return _mapped(entry, instruments, slot)
            if entry.columns.keys() <= wanted and (
                best is None or len(entry.instruments) > len(best[1].instruments)
            ):
                best = (slot, entry)
        return None if best is None else best[1]


def _entry(instruments: tuple[Instrument, ...], context: Any) -> _Entry:
    return _Entry(
        instruments=instruments,
        columns={inst: j for j, inst in enumerate(instruments)},
        context=context,
    )


def _mapped(entry: _Entry, instruments: tuple[Instrument, ...], slot: int = -1) -> MappedContext:
    cols = np.fromiter((entry.columns[i] for i in instruments), dtype=np.int64)
    return MappedContext(
        context=entry.context, columns=cols, width=len(entry.instruments), slot=slot
    )


def _growth(context: Any) -> Any:
    """What a lazy context has built so far (``None``: it does not grow after ``prepare``)."""
    computed = getattr(context, "computed", None)
    return computed() if callable(computed) else None


_ENTRY_OVERHEAD = 16_384  # bytes counted per context besides its arrays (objects, dicts)


def _shared_types() -> tuple[type, ...]:
    """Objects a context refers to but does not own (never counted)."""
    from crossmargin.contracts import Contracts
    from crossmargin.instruments.specs import ContractSpec, ContractTable
    from crossmargin.market.history import MarketHistory
    from crossmargin.models.params import ParameterSet

    return (
        MarketHistory, MarketSnapshot, MarginModel, Instrument, ContractSpec, ContractTable,
        Contracts, ParameterSet, str, bytes, int, float, bool, type(None), type,
    )  # fmt: skip


def context_nbytes(context: Any) -> int:
    """Approximate memory a context owns: its numpy arrays (each buffer once), sparse
    matrices and pandas objects, found through dataclass fields, attributes and containers,
    plus a fixed overhead. Shared objects (history, snapshot, model, instruments) are skipped.
    """
    import pandas as pd

    shared = _shared_types()
    seen: set[int] = set()
    total = _ENTRY_OVERHEAD
    stack: list[Any] = [context]
    while stack:
        obj = stack.pop()
        if isinstance(obj, shared) or id(obj) in seen:
            continue
        seen.add(id(obj))
        if isinstance(obj, np.ndarray):
            root = obj
            while isinstance(root.base, np.ndarray):
                root = root.base
            if root is obj or id(root) not in seen:
                seen.add(id(root))
                total += int(root.nbytes)
        elif sp.issparse(obj):
            stack.extend(getattr(obj, name, None) for name in ("data", "indices", "indptr"))
        elif isinstance(obj, pd.Index):
            total += int(obj.memory_usage(deep=False))
        elif isinstance(obj, pd.Series | pd.DataFrame):
            usage = obj.memory_usage(index=True, deep=False)
            total += int(usage.sum() if isinstance(usage, pd.Series) else usage)
        elif isinstance(obj, dict):
            stack.extend(obj.values())
        elif isinstance(obj, list | tuple | set | frozenset):
            stack.extend(x for x in obj if type(x) is not str)  # day names: skip fast
        elif dataclasses.is_dataclass(obj):
            stack.extend(getattr(obj, f.name, None) for f in dataclasses.fields(obj))
        elif hasattr(obj, "__dict__"):
            stack.extend(vars(obj).values())
    return total


def remap(mapped: MappedContext, holdings: sp.spmatrix) -> sp.csr_matrix:
    """``holdings`` (rows x the requested instruments) re-indexed onto the columns of
    ``mapped.context`` (rows x ``mapped.width``); unchanged when the columns already agree
    (a CSR matrix: the same object).

    A re-indexed matrix owns its arrays: its columns may be out of order, and a model that
    sorts them in place (SciPy does in ``maximum``, ``sum_duplicates``) must not reorder the
    caller's quantities."""
    # a CSR matrix as it is (a new matrix object over its arrays cost more than the remap)
    h = holdings if type(holdings) is sp.csr_matrix else sp.csr_matrix(holdings)
    if mapped.width != h.shape[1] or not np.array_equal(mapped.columns, np.arange(h.shape[1])):
        cols = mapped.columns[h.indices]
        if mapped.width <= INT32_MAX:  # int32, as SciPy narrows them
            cols = cols.astype(np.int32)
        h = csr_of(h.data.copy(), cols, h.indptr.copy(), (h.shape[0], mapped.width))
    return h


# ------------------------------------------------------------------------------ extenders
def _extend_pm_grid(model: Any, context: Any, new: tuple[Instrument, ...], market: Any) -> Any:
    """A :class:`~crossmargin.models.pm_grid.PMGridContext` for the old and ``new``
    instruments, in canonical order.

    The new instruments are prepared on their own; their risk units are merged into the
    existing ones of the same (underlying, currency). Every column then moves to its
    canonical place, each unit keeps its columns in that order and the units stand in the
    order of their first column: the layout ``prepare`` gives to the same instruments in
    canonical order.
    """
    from crossmargin.models.pm_grid import PMGridContext
    from crossmargin.models.pm_grid_units import in_column_order, merge_units

    old: PMGridContext = context
    add: PMGridContext = model.prepare(new, market)
    union = old.instruments + new
    order = canonical_order(union)
    place = np.empty(len(union), dtype=np.int64)
    place[order] = np.arange(len(union))
    shift = len(old.instruments)
    merged = {(u.underlying, u.currency): u for u in old.units}
    for unit in add.units:
        moved = dataclasses.replace(unit, cols=unit.cols + shift)
        k = (unit.underlying, unit.currency)
        merged[k] = merge_units(merged[k], moved) if k in merged else moved
    placed = sorted(
        (in_column_order(dataclasses.replace(u, cols=place[u.cols])) for u in merged.values()),
        key=lambda u: int(u.cols[0]),
    )
    # scenario names are laid out per underlying in unit order; rebuild the offsets
    names: list[str] = []
    offset: dict[str, int] = {}
    for unit in placed:
        if unit.underlying not in offset:
            offset[unit.underlying] = len(names)
            names += model.scenarios(unit.underlying).names
    units = tuple(dataclasses.replace(u, scenario_offset=offset[u.underlying]) for u in placed)
    return PMGridContext(
        instruments=tuple(union[k] for k in order.tolist()),
        units=units,
        scenario_names=tuple(names),
    )


def _extend_var(model: Any, context: Any, new: tuple[Instrument, ...], market: Any) -> Any:
    """Append ``new`` to a :class:`~crossmargin.models.var_context.VarContext`.

    The context keeps the calendars it has priced (only the new columns are priced on their
    scenarios, see :meth:`VarContext.extended`); the new instruments' add-on terms (dollar
    delta, vega, half spreads; and basis/funding terms) are appended to the existing ones,
    whose per-bucket capacities are unchanged (:meth:`AddOnTerms.extend`).
    """
    from crossmargin.models.var_addons import addon_terms

    addons = context.addons
    if addons is not None:
        addons = addons.extend(addon_terms(new, market, model.history(), model.params))
    basis = context.basis
    if basis is not None:
        basis = basis.extend(model.basis_terms(new, market))
    grown = context.extended(new, addons=addons, basis=basis)
    return grown.reordered(canonical_order(grown.instruments))


def extender_for(model: MarginModel) -> Extender | None:
    """The extender of ``model``'s context, or None (then the cache re-prepares)."""
    from crossmargin.models.pm_grid import PMGridModel
    from crossmargin.models.var import HistoricalVaRModel

    if isinstance(model, PMGridModel):
        return _extend_pm_grid
    if isinstance(model, HistoricalVaRModel):
        return _extend_var
    return None


def extend_context(
    model: MarginModel,
    context: Any,
    instruments: tuple[Instrument, ...],
    new: tuple[Instrument, ...],
    market: MarketSnapshot,
) -> Any:
    """A context of ``model`` covering ``instruments + new`` from ``context`` (for
    ``instruments``): its columns are ``context.instruments``, in canonical order where the
    model has an extender (module docstring).

    Uses the model's extender where there is one; otherwise prepares ``instruments + new``
    afresh, in that order.
    """
    extender = extender_for(model)
    if extender is not None:
        return extender(model, context, new, market)
    return model.prepare(instruments + new, market)


class CachedModel(MarginModel):
    """``model`` with its ``prepare`` served by a :class:`ContextCache`.

    Parameters
    ----------
    model:
        The model wrapped; its name, parameters and figures are what results report.
    cache:
        The shared cache.
    model_key, market_key:
        Identify the model (with its parameters) and the market snapshot in the cache.
    history:
        The market history for the offset-eligibility tests when the wrapped model reads
        none itself (``pm_grid``, ``span``, ``rules``): the service's, opened once, instead of
        one opened per call.
    """

    name: ClassVar[str] = "cached"
    description: ClassVar[str] = "A model whose prepared contexts are cached"

    def __init__(
        self,
        model: MarginModel,
        cache: ContextCache,
        *,
        model_key: str,
        market_key: str,
        history: Any = None,
    ) -> None:
        self.model = model
        self.cache = cache
        self.model_key = model_key
        self.market_key = market_key
        self.nets_collateral = model.nets_collateral  # rules: collateral left to its haircut
        self._history = history

    def parameters(self) -> dict[str, Any]:
        """The wrapped model's parameters."""
        return self.model.parameters()

    def parameters_for(self, underlyings: Collection[str]) -> dict[str, Any]:
        """The wrapped model's parameters for a book on ``underlyings``."""
        return self.model.parameters_for(underlyings)

    def history(self) -> Any:
        """The wrapped model's market history if it reads one, else the one given (offset
        eligibility)."""
        own = getattr(self.model, "history", None)
        return own() if callable(own) else self._history

    def diagnostics(self, context: Any) -> dict[str, Any]:
        """The wrapped model's diagnostics of the cached context."""
        mapped: MappedContext = context
        return self.model.diagnostics(mapped.context)

    def prepare(self, instruments: tuple[Instrument, ...], market: MarketSnapshot) -> Any:
        """The cached context of the wrapped model with the column map of ``instruments``."""
        return self.cache.context(self.model, self.model_key, instruments, market, self.market_key)

    def margin_rows(
        self, context: Any, holdings: sp.csr_matrix, *, detail: np.ndarray | None = None
    ) -> RowMargins:
        """Re-index ``holdings`` onto the cached columns and margin them; for a model whose
        rows are invariant, rows margined before on the same context are taken from its
        :class:`~crossmargin.models.row_memo.RowMemo` (calls of up to ``MAX_CALL_ROWS`` rows)."""
        mapped: MappedContext = context
        h = remap(mapped, holdings)
        memo = None
        if self.model.rows_invariant and mapped.slot >= 0 and h.shape[0] <= MAX_CALL_ROWS:
            memo = self.cache.row_memo(mapped.slot, mapped.context)
        if memo is not None:  # rows margined before on this context are reused
            rows = memo.margin_rows(self.model, h, detail)
        else:
            rows = self.model.margin_rows(mapped.context, h, detail=detail)
        if mapped.slot >= 0:
            self.cache.measure(mapped.slot)  # lazy contexts grow in use
        return rows

    def compute(
        self,
        portfolio: Portfolio,
        market: MarketSnapshot,
        *,
        by: str = "underlying",
        cap: float | None = None,
        offsets: Any = None,
        haircuts: Any = None,
        detail: bool = True,
    ) -> MarginResult:
        """As the wrapped model's ``compute``, with cached contexts."""
        from crossmargin.netting import cross_margin

        result = cross_margin(
            self, portfolio, market, by=by, cap=cap, offsets=offsets, haircuts=haircuts,
            detail=detail,
        )  # fmt: skip
        return dataclasses.replace(result, model=self.model.name)


__all__ = [
    "CacheStats",
    "CachedModel",
    "ContextCache",
    "MappedContext",
    "context_nbytes",
    "extend_context",
    "extender_for",
    "remap",
]
