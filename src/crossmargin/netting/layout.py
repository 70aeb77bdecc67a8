"""The tier layout: which row of the holdings matrix every position and tier group is.

:func:`crossmargin.netting.core.cross_margin` margins one sparse matrix whose rows are every
netted position alone, then the groups of each tier of :data:`~crossmargin.netting.tiers.TIERS`
in that order, each tier's groups numbered in first-seen order of their key::

    product      (account, venue, product)
    underlying   (account, venue, underlying, settlement currency)
    asset-class  (account, broad asset class)
    netting-set  (account,)

Coin and security collateral (an *item* after the positions) joins the groups of its
underlying from the ``underlying`` tier on, keyed by its venue (``house`` when it names none)
and by the coin as currency, where a position of the account holds that key; other
collateral does not offset and is left out.

Keys are first-seen integer codes (:func:`crossmargin.portfolio.codes.combine`): the facts
of a key (venue, product, underlying, currency, broad class) are worked out once per
distinct (instrument, declared venue) and spread to the positions by array indexing, so no
Python object or tuple key is made per position; a tier's key is (account, one code per
fact row). The holdings matrix is built straight in CSR form
(:func:`crossmargin.netting.holdings.holdings_csr`). Its columns, the instruments of the
positions and of the offsetting collateral, stand in canonical order
(:attr:`~crossmargin.instruments.Instrument.sort_key`), not the book's: the instruments of an
account keep their relative order whatever the other accounts hold, so each sum a model forms
over a row's columns adds the same terms in the same order, and an account's figures inside
the book equal its figures alone bit for bit. :func:`tier_layout` builds the layout
from a :class:`~crossmargin.portfolio.Portfolio`,
:func:`crossmargin.netting.columnar.columnar_layout` from position columns; both end in
:func:`layout_rows`.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from crossmargin.instruments import Instrument
from crossmargin.instruments.instrument import in_canonical_order
from crossmargin.lru import Lru
from crossmargin.netting.holdings import entries_at_most, holdings_csr
from crossmargin.netting.tiers import TIERS, venue_of
from crossmargin.portfolio import Portfolio
from crossmargin.portfolio.codes import (
    codes,
    combine,
    first_seen_starts,
    instrument_codes,
    object_array,
)

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
ObjArray = npt.NDArray[np.object_]

#: Broad asset classes of the ``asset-class`` tier (contract-table classes not listed stay).
BROAD_CLASS = {"equity_index": "equity", "etf": "equity", "equity": "equity", "crypto": "crypto"}
#: The venue of collateral that names none (its house schedule).
HOUSE = "house"
#: Fields of a fact row (one per distinct item kind), in this order.
FACT_FIELDS = ("venue", "product", "underlying", "currency", "asset_class")
#: Per tier, the fact fields (besides the account) its key holds.
KEY_FIELDS: dict[str, tuple[int, ...]] = {
    "product": (0, 1),
    "underlying": (0, 2, 3),
    "asset-class": (4,),
    "netting-set": (),
}


@dataclass(frozen=True, slots=True, kw_only=True)
class CollateralLegs:
    """Collateral that moves in scenarios, one entry per holding (``index`` into the book's
    holdings): account name, spot instrument, amount (units of the asset), venue, asset."""

    index: tuple[int, ...] = ()
    account: tuple[str, ...] = ()
    instrument: tuple[Instrument, ...] = ()
    amount: tuple[float, ...] = ()
    venue: tuple[str, ...] = ()
    asset: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class TierLayout:
    """Rows of every netted position, then every tier group (``offsets_of[tier] + code``).

    Items are the netted positions (``n_positions``, book order), then the collateral that
    offsets (``collateral``: index of each into the book's holdings). Per item: ``account``
    (index into ``accounts``, first-seen order), ``instrument`` (column in ``instruments``:
    those of the positions and of the offsetting collateral, in canonical order),
    ``quantity`` (contracts; collateral: units of the asset), ``fact`` (row of ``facts``:
    venue, product, underlying, currency, broad asset class) and ``group_of[tier]`` (its
    group's code in that tier; -1 where the item is in no group of the tier: collateral in
    the ``product`` tier).
    ``group_account[tier]`` is each group's account, ``group_first[tier]`` each group's first
    item. ``venue`` is each position's declared venue (index into ``venues``, ``""`` none).
    ``holdings`` is (rows x instruments). ``derived`` keeps what follows from the book's
    shape alone (labels, underlying codes, the tier walk's eligibility verdicts), worked
    out once: layouts of one shape share it (:func:`with_quantities`).
    """

    accounts: tuple[str, ...]
    instruments: tuple[Instrument, ...]
    n_positions: int
    account: IntArray
    instrument: IntArray
    quantity: FloatArray
    fact: IntArray
    facts: tuple[tuple[str, str, str, str, str], ...]
    venue: IntArray
    venues: tuple[str, ...]
    collateral: IntArray
    group_of: dict[str, IntArray]
    group_account: dict[str, IntArray]
    group_first: dict[str, IntArray]
    offsets_of: dict[str, int]
    holdings: sp.csr_matrix
    derived: dict[object, Any] = field(default_factory=dict, repr=False, compare=False)

    def shaped(self, key: object, make: Callable[[], T]) -> T:
        """``make()``, computed once per layout shape under ``key``: ``make`` must read the
        shape only (accounts, instruments, facts, groups), never quantities or holdings."""
        found = self.derived.get(key, _MISSING)
        if found is _MISSING:
            found = self.derived[key] = make()
        return found  # type: ignore[no-any-return]

    def account_rows(self) -> IntArray:
        """Each account's netting-set row in ``holdings`` (``accounts`` order)."""
        start = self.offsets_of["netting-set"]
        return np.arange(start, start + len(self.accounts), dtype=np.int64)

    def n_groups(self, tier: str) -> int:
        """How many groups ``tier`` has."""
        return int(self.group_account[tier].size)

    def underlying_codes(self) -> tuple[IntArray, tuple[str, ...]]:
        """Each item's underlying as a code, and the underlyings (first-seen over facts)."""

        def make() -> tuple[IntArray, tuple[str, ...]]:
            code, names = codes([f[2] for f in self.facts])
            return _read_only(code[self.fact]), tuple(str(n) for n in names)

        return self.shaped("underlying_codes", make)

    def fact_labels(self, tier: str) -> ObjArray:
        """Per row of ``facts``, the label of the ``tier`` group it falls in
        (:func:`crossmargin.netting.offsets.group_label`; ``netting-set``: ``""``)."""
        out = np.empty(len(self.facts), dtype=object)
        for k, (venue, product, underlying, currency, cls) in enumerate(self.facts):
            if tier == "product":
                out[k] = f"{product} ({venue})"
            elif tier == "underlying":
                out[k] = f"{underlying} ({venue}, {currency})"
            elif tier == "asset-class":
                out[k] = cls
            else:
                out[k] = ""
        return out

    def item_labels(self, tier: str) -> ObjArray:
        """Each item's ``tier`` group label (``netting-set``: the account's name)."""
        if tier == "netting-set":
            return np.asarray(object_array(self.accounts)[self.account], dtype=object)
        return np.asarray(self.fact_labels(tier)[self.fact], dtype=object)

    def group_labels(self, tier: str) -> ObjArray:
        """Each ``tier`` group's label, in group-code order (read-only)."""
        return self.shaped(
            ("group_labels", tier),
            lambda: _read_only(
                np.asarray(self.item_labels(tier)[self.group_first[tier]], dtype=object)
            ),
        )


_MISSING = object()
T = TypeVar("T")


def _read_only(array: npt.NDArray[Any]) -> npt.NDArray[Any]:
    array.flags.writeable = False
    return array


def _fact_of(inst: Instrument, venue: str, currency: str) -> tuple[str, str, str, str, str]:
    cls = BROAD_CLASS.get(inst.asset_class, inst.asset_class)
    return (venue, inst.spec.product, inst.underlying, currency, cls)


def _starts(code: IntArray) -> IntArray:
    """Where each of the first-seen codes ``code`` first occurs."""
    found = first_seen_starts(code)
    assert found is not None  # combine() gives first-seen codes
    return found


def layout_rows(
    accounts: tuple[str, ...],
    instruments: tuple[Instrument, ...],
    account: IntArray,
    instrument: IntArray,
    quantity: FloatArray,
    venue: IntArray,
    venues: tuple[str, ...],
    collateral: CollateralLegs | None = None,
) -> TierLayout:
    """The layout of netted positions given as codes (module docstring): ``account`` indexes
    ``accounts``, ``instrument`` indexes ``instruments``, ``venue`` the declared ``venues``;
    ``collateral`` (optional) joins where a position holds its underlying key. The layout's
    columns are the instruments in canonical order (module docstring), its ``instrument``
    codes index those; it keeps the other arrays it is given (no copy where no collateral
    joins)."""
    n_pos = int(quantity.size)
    n_acc = len(accounts)
    # facts per distinct (instrument, declared venue), spread to the positions
    pair = combine((instrument, len(instruments)), (venue, len(venues)))
    pos_facts = [
        _fact_of(inst, venue_of(inst, venues[int(venue[p])]), inst.settlement_currency)
        for p in _starts(pair).tolist()
        for inst in (instruments[int(instrument[p])],)
    ]
    coll = collateral or CollateralLegs()
    acc_index = {a: k for k, a in enumerate(accounts)}
    c_ok = [k for k, a in enumerate(coll.account) if a in acc_index]  # no position: no offset
    c_facts = [_fact_of(coll.instrument[k], coll.venue[k] or HOUSE, coll.asset[k]) for k in c_ok]
    fact_code, fact_rows = codes([*pos_facts, *c_facts])
    pos_fact = fact_code[: len(pos_facts)][pair]
    del pair
    c_fact = fact_code[len(pos_facts) :]
    c_acc = np.array([acc_index[coll.account[k]] for k in c_ok], dtype=np.int64)
    field_codes = [codes([f[i] for f in fact_rows])[0] for i in range(len(FACT_FIELDS))]
    field_sizes = [int(c.max()) + 1 if c.size else 1 for c in field_codes]
    # per tier, the key's fields besides the account as one code per fact row, so a key is
    # (account, that code): the same groups as the tuple of fields, one gather per item
    sub_key = {
        t: combine(*((field_codes[i], field_sizes[i]) for i in fields))
        for t, fields in KEY_FIELDS.items()
        if fields
    }

    def key_of(tier: str, acc: IntArray, fact: IntArray) -> IntArray:
        sub = sub_key[tier]
        return combine((acc, n_acc), (sub[fact], int(sub.max()) + 1 if sub.size else 1))

    # collateral offsets where a position of its account holds its underlying key: its
    # code is then one of the positions' (codes first-seen, positions first)
    if c_ok:
        und = key_of(
            "underlying", np.concatenate([account, c_acc]), np.concatenate([pos_fact, c_fact])
        )
    else:
        und = key_of("underlying", account, pos_fact)
    n_und_pos = int(und[:n_pos].max()) + 1 if n_pos else 0
    keep = np.flatnonzero(und[n_pos:] < n_und_pos)
    kept = [c_ok[int(k)] for k in keep]
    n_coll = len(kept)
    # the columns in canonical order (Instrument.sort_key): a netting set's columns keep
    # their relative order whatever other accounts hold, and so does every sum over them
    all_inst = in_canonical_order([*instruments, *(coll.instrument[k] for k in kept)])
    col = {inst: j for j, inst in enumerate(all_inst)}
    to_col = np.fromiter((col[i] for i in instruments), dtype=np.int64, count=len(instruments))
    instrument = to_col[instrument]
    c_col = np.array([col[coll.instrument[k]] for k in kept], dtype=np.int64)
    c_qty = np.array([coll.amount[k] for k in kept], dtype=float)
    if n_coll:
        item_acc = np.concatenate([account, c_acc[keep]])
        item_fact = np.concatenate([pos_fact, c_fact[keep]])
        item_col = np.concatenate([instrument, c_col])
        item_qty = np.concatenate([quantity, c_qty])
        und = np.concatenate([und[:n_pos], und[n_pos:][keep]])
    else:
        item_acc, item_fact, item_col, item_qty = account, pos_fact, instrument, quantity
        und = und[:n_pos]
    group_of: dict[str, IntArray] = {}
    group_first: dict[str, IntArray] = {}
    for t in TIERS:
        first = None
        if t == "product":
            g = key_of(t, account, pos_fact)
            if n_coll:
                g = np.concatenate([g, np.full(n_coll, -1, dtype=np.int64)])
        elif t == "underlying":
            g = und
        elif t == "netting-set":
            g = item_acc  # the account codes, where they are first-seen already
            first = first_seen_starts(g)
            if first is None:
                g = combine((item_acc, n_acc))
        else:
            g = key_of(t, item_acc, item_fact)
        group_of[t] = g
        group_first[t] = _starts(g) if first is None else first
    offsets_of: dict[str, int] = {}
    start = n_pos
    for t in TIERS:
        offsets_of[t] = start
        start += int(group_first[t].size)
    holdings = holdings_csr(
        n_pos,
        item_col,
        item_qty,
        [group_of[t] for t in TIERS],
        [offsets_of[t] for t in TIERS],
        (start, len(all_inst)),
    )
    return TierLayout(
        accounts=accounts,
        instruments=all_inst,
        n_positions=n_pos,
        account=item_acc,
        instrument=item_col,
        quantity=item_qty,
        fact=item_fact,
        facts=tuple(tuple(str(x) for x in f) for f in fact_rows),  # type: ignore[misc]
        venue=venue,
        venues=venues,
        collateral=np.array([coll.index[k] for k in kept], dtype=np.int64),
        group_of=group_of,
        group_account={t: item_acc[group_first[t]] for t in TIERS},
        group_first=group_first,
        offsets_of=offsets_of,
        holdings=holdings,
    )


def collateral_legs(portfolio: Portfolio) -> CollateralLegs:
    """The book's collateral that moves in scenarios (coins and securities)."""
    from crossmargin.collateral.valuation import collateral_positions

    found = collateral_positions(portfolio.collateral)
    held = [portfolio.collateral[k] for k, _ in found]
    return CollateralLegs(
        index=tuple(k for k, _ in found),
        account=tuple(h.account for h in held),
        instrument=tuple(inst for _, inst in found),
        amount=tuple(h.amount for h in held),
        venue=tuple(h.venue for h in held),
        asset=tuple(h.asset for h in held),
    )


def tier_layout(portfolio: Portfolio, *, nets_collateral: bool = True) -> TierLayout:
    """The holdings matrix of every position and every tier group of ``portfolio`` (coin and
    security collateral joins the groups where ``nets_collateral``).

    A portfolio is immutable, so the layout of a book of up to :data:`MEMO_MAX_ITEMS`
    positions and holdings is kept while the portfolio object lives (a service margins the
    same parsed book again) and given read-only: its arrays and holdings matrix cannot be
    changed in place by whoever uses it."""
    key = (id(portfolio), nets_collateral)
    found = _MEMO.get(key)
    if found is not None:
        return found
    layout = _tier_layout(portfolio, nets_collateral)
    if len(portfolio.positions) + len(portfolio.collateral) <= MEMO_MAX_ITEMS:
        _freeze(layout)
        _MEMO[key] = layout
        # called as the portfolio is freed, before its id can name another object
        weakref.finalize(portfolio, _MEMO.pop, key, None)
    return layout


#: Books of up to this many positions and holdings keep their layout (:func:`tier_layout`).
MEMO_MAX_ITEMS = 5_000
_MEMO: dict[tuple[int, bool], TierLayout] = {}


def _freeze(layout: TierLayout) -> None:
    """Make ``layout``'s arrays (and its holdings matrix's) read-only."""
    arrays = [layout.account, layout.instrument, layout.quantity, layout.fact, layout.venue,
              layout.collateral, layout.holdings.data, layout.holdings.indices,
              layout.holdings.indptr]  # fmt: skip
    for table in (layout.group_of, layout.group_account, layout.group_first):
        arrays.extend(table.values())
    for array in arrays:
        array.flags.writeable = False


def _tier_layout(portfolio: Portfolio, nets_collateral: bool) -> TierLayout:
    positions = portfolio.positions
    legs = collateral_legs(portfolio) if nets_collateral and portfolio.collateral else None
    qty = np.fromiter((p.quantity for p in positions), dtype=np.float64, count=len(positions))
    shape = _shape_key(portfolio, legs)
    if shape is not None:
        found = _SHAPES.get(shape)
        if found is not None:
            return with_quantities(found, qty, legs)
    acc_code, acc_names = codes([p.account for p in positions])
    ven_code, ven_names = codes([p.venue for p in positions])
    inst = instrument_codes([p.instrument for p in positions], portfolio.instruments)
    layout = layout_rows(
        tuple(str(a) for a in acc_names),
        portfolio.instruments,
        acc_code,
        inst,
        qty,
        ven_code,
        tuple(str(v) for v in ven_names),
        legs,
    )
    if shape is not None:
        _freeze(layout)  # the kept layout is shared by the books of its shape
        _SHAPES.put(shape, layout)
    return layout


def _shape_key(portfolio: Portfolio, legs: CollateralLegs | None) -> tuple[object, ...] | None:
    """What a book's layout depends on besides its quantities (module docstring of
    :func:`with_quantities`); None for a book too large to keep."""
    positions = portfolio.positions
    if len(positions) + len(legs.index if legs else ()) > SHAPE_MAX_ITEMS:
        return None
    rows = tuple((p.account, p.instrument, p.instrument.symbol, p.venue) for p in positions)
    held = () if legs is None else tuple(
        zip(legs.index, legs.account, legs.instrument, (i.symbol for i in legs.instrument),
            legs.venue, legs.asset, strict=True)
    )  # fmt: skip
    return rows, held


def with_quantities(
    shape: TierLayout, quantity: FloatArray, legs: CollateralLegs | None
) -> TierLayout:
    """The layout of a book of the same shape as ``shape``'s book, holding ``quantity`` of
    its netted positions and ``legs``' amounts of its collateral.

    A layout depends on its book's quantities only through its items' quantities and the
    holdings matrix summed from them; everything else (columns, groups, rows, facts) follows
    from each position's account, instrument (with its spelling) and venue, and each
    collateral leg's holding, account, instrument, venue and asset: the book's *shape*. A
    service margins books of one shape again and again with other quantities (a what-if of
    another size of the same trade, a book after new fills), so :func:`tier_layout` keeps
    the last :data:`SHAPES_KEPT` shapes' layouts and builds a new book's from them: the item
    quantities replaced and the holdings matrix built again by
    :func:`~crossmargin.netting.holdings.holdings_csr`, exactly as :func:`layout_rows`
    builds it (``tests/netting/test_layout_shapes.py`` holds the two equal, array by array).
    """
    amount = [] if legs is None else [legs.amount[legs.index.index(int(k))]
                                      for k in shape.collateral.tolist()]  # fmt: skip
    item_qty = np.concatenate([quantity, np.asarray(amount, dtype=np.float64)])
    if item_qty.shape != shape.quantity.shape:
        raise AssertionError("a book of another shape")
    groups, start, capacity = shape.shaped(("holdings",), partial(_holdings_args, shape))
    holdings = holdings_csr(shape.n_positions, shape.instrument, item_qty, groups, start,
                            shape.holdings.shape, capacity=capacity)  # fmt: skip
    out: TierLayout = object.__new__(TierLayout)  # ``replace``, without its field walk
    for name in TierLayout.__slots__:
        object.__setattr__(out, name, getattr(shape, name))
    object.__setattr__(out, "quantity", item_qty)
    object.__setattr__(out, "holdings", holdings)
    return out


def _holdings_args(shape: TierLayout) -> tuple[list[IntArray], list[int], int]:
    """What :func:`~crossmargin.netting.holdings.holdings_csr` reads of a layout's shape:
    each item's group per tier, each tier's first row, the entries at most."""
    groups = [shape.group_of[t] for t in TIERS]
    return groups, [shape.offsets_of[t] for t in TIERS], entries_at_most(shape.n_positions, groups)


#: Book shapes whose layouts are kept, and the largest book (positions and collateral legs)
#: kept: a service's books of tens to hundreds of positions.
SHAPES_KEPT, SHAPE_MAX_ITEMS = 128, 2_000
_SHAPES = Lru(SHAPES_KEPT)


__all__ = [
    "BROAD_CLASS",
    "CollateralLegs",
    "TierLayout",
    "collateral_legs",
    "layout_rows",
    "tier_layout",
    "with_quantities",
]
