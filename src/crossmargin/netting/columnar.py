"""Columnar tier layout: the holdings matrix of :func:`crossmargin.netting.core.tier_layout`
from position columns, without a Python object per position.

Input: one entry per booked position — account id, an index into a tuple of unique
instruments, a signed quantity in contracts and the venue the book names (``""``: the
contract's own family, :func:`crossmargin.netting.tiers.venue_of`). Rows are netted per
(account, instrument, venue) in first-seen order (quantities summed exactly, as
:class:`crossmargin.portfolio.Portfolio` nets them), then every netted position is a row,
followed by the groups of each tier in :data:`crossmargin.netting.tiers.TIERS` order, each
tier's groups numbered in first-seen order of their key::

    product      (account, venue, product)
    underlying   (account, venue, underlying, settlement currency)
    asset-class  (account, broad asset class)
    netting-set  (account,)

Keys are turned into integer codes once per unique instrument and venue
(:func:`crossmargin.netting.layout.layout_rows`, where
:func:`~crossmargin.netting.layout.tier_layout` of a Portfolio ends too), so building the
rows of 100,000 accounts x 20 positions takes array operations, not millions of dictionary look-ups.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from crossmargin.errors import InputError
from crossmargin.instruments import Instrument
from crossmargin.netting.layout import TierLayout, layout_rows
from crossmargin.netting.sums import group_sum
from crossmargin.portfolio.codes import codes, combine, first_seen_starts

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
#: The columnar layout is the tier layout (one type, one builder).
ColumnarLayout = TierLayout


def columnar_layout(
    accounts: Sequence[str] | npt.ArrayLike,
    instruments: Sequence[Instrument],
    instrument_index: npt.ArrayLike,
    quantity: npt.ArrayLike,
    venue: Sequence[str] | npt.ArrayLike | None = None,
) -> ColumnarLayout:
    """The tier rows of a book given as columns (see the module docstring).

    ``accounts``, ``instrument_index``, ``quantity`` and ``venue`` (default ``""``) have one
    entry per booked position; ``instrument_index`` indexes ``instruments``.
    """
    return columnar_book(accounts, instruments, instrument_index, quantity, venue)[0]


def columnar_book(
    accounts: Sequence[str] | npt.ArrayLike,
    instruments: Sequence[Instrument],
    instrument_index: npt.ArrayLike,
    quantity: npt.ArrayLike,
    venue: Sequence[str] | npt.ArrayLike | None = None,
) -> tuple[ColumnarLayout, IntArray]:
    """:func:`columnar_layout`, and the netted position each booked entry went into (an
    index into the layout's positions: what :func:`crossmargin.pricing.mtm.row_mtm` sums by).
    """
    inst = tuple(instruments)
    idx = np.array(instrument_index, dtype=np.int64)  # a copy: the layout keeps it
    qty = np.asarray(quantity, dtype=np.float64)
    acc_raw = np.asarray(accounts, dtype=object)
    ven_raw = None if venue is None else np.asarray(venue, dtype=object)
    n = idx.size
    if not (acc_raw.size == qty.size == n and (ven_raw is None or ven_raw.size == n)):
        raise InputError("accounts, instrument_index, quantity and venue differ in length")
    if n == 0:
        raise InputError("the book is empty: nothing to margin")
    if idx.min() < 0 or idx.max() >= len(inst):
        bad = int(np.flatnonzero((idx < 0) | (idx >= len(inst)))[0])
        raise InputError(f"position {bad}: instrument index {idx[bad]} outside 0..{len(inst) - 1}")
    if not np.all(np.isfinite(qty)):
        bad = int(np.flatnonzero(~np.isfinite(qty))[0])
        raise InputError(f"position {bad}: quantity must be finite, got {qty[bad]!r}")
    acc_code, acc_names = codes(acc_raw)
    del acc_raw
    if any(not a for a in acc_names):
        raise InputError("a position needs an account id")
    if ven_raw is None:  # every row the contract's own venue
        declared_code, declared = np.zeros(n, dtype=np.int64), np.array([""], dtype=object)
    else:
        declared_code, declared = codes(ven_raw)
        del ven_raw
    # net identical (account, instrument, declared venue) rows, first-seen order
    net = combine((acc_code, acc_names.size), (idx, len(inst)), (declared_code, declared.size))
    first = first_seen_starts(net)  # net codes are first-seen: position = code
    assert first is not None
    if first.size < n:
        qty_net = group_sum(net, qty, first.size, rtol=0.0)  # fsum, as Portfolio nets
        acc_code, idx, declared_code = acc_code[first], idx[first], declared_code[first]
    else:  # nothing nets: each sum is 0 + q (-0.0 -> 0.0, as the sums give it)
        qty_net = qty + 0.0
    del first
    layout = layout_rows(
        tuple(str(x) for x in acc_names),
        inst,
        acc_code,
        idx,
        qty_net,
        declared_code,
        tuple(str(v) for v in declared),
    )
    return layout, net


__all__ = ["ColumnarLayout", "columnar_book", "columnar_layout"]
