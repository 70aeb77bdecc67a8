"""Integer codes of book columns (accounts, venues, instruments, tuples of codes).

First-seen codes (:func:`pandas.factorize`), so a code numbers values in the order the book
first shows them, as the dictionaries of :class:`~crossmargin.portfolio.Portfolio` do;
instruments are coded by object first (a book repeats the same instrument objects) and each
distinct object is hashed once.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from crossmargin.instruments import Instrument

IntArray = npt.NDArray[np.int64]
ObjArray = npt.NDArray[np.object_]

#: Below this many values a dictionary codes them faster than :func:`pandas.factorize`'s
#: fixed cost (a what-if's book of tens of positions).
SMALL = 256
#: From this many rows :func:`combine` numbers codes of small ranges by compiled slot tables
#: (:mod:`crossmargin.portfolio.code_kernels`) instead of a hash table.
COMPILED = 65_536


def first_seen_small(values: Sequence[Any]) -> tuple[IntArray, ObjArray] | None:
    """First-seen codes by a dictionary (as :func:`pandas.factorize`, ``sort=False``); None
    where a value is missing (None or NaN: pandas codes those -1)."""
    seen: dict[Any, int] = {}
    code = [seen.setdefault(v, len(seen)) for v in values]
    for v in seen:  # every value is a key (by identity or equality): check the few keys
        if v is None or (isinstance(v, float) and v != v):
            return None
    out = np.array(code, dtype=np.int64)
    uniques = np.empty(len(seen), dtype=object)
    for v, k in seen.items():
        uniques[k] = v
    return out, uniques


def object_array(values: Sequence[Any]) -> ObjArray:
    """``values`` as a 1-D object array, one element each (a tuple stays one element, where
    :func:`numpy.asarray` would make it a row)."""
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def codes(values: Sequence[Any] | npt.ArrayLike) -> tuple[IntArray, ObjArray]:
    """First-seen integer codes of ``values`` (strings, or tuples) and the distinct values."""
    seq = values if isinstance(values, np.ndarray) else list(values)  # type: ignore[arg-type]
    if len(seq) and isinstance(seq[0], tuple):
        seen: dict[Any, int] = {}
        code = np.array([seen.setdefault(v, len(seen)) for v in seq], dtype=np.int64)
        uniques = np.empty(len(seen), dtype=object)
        for v, k in seen.items():
            uniques[k] = v
        return code, uniques
    if len(seq) < SMALL:
        small = first_seen_small(list(seq))
        if small is not None:
            return small
    found, distinct = pd.factorize(np.asarray(seq, dtype=object), sort=False)
    return np.asarray(found, dtype=np.int64), np.asarray(distinct, dtype=object)


def _mixed_radix(parts: Sequence[tuple[IntArray, int]]) -> IntArray:
    """One integer per row for the tuple of codes ``parts`` (in place: one new array)."""
    key = np.array(parts[0][0], dtype=np.int64)
    for code, size in parts[1:]:
        key *= size
        key += code
    return key


def combine(*parts: tuple[IntArray, int]) -> IntArray:
    """First-seen codes of the tuples of integer codes ``parts`` (codes, cardinality); a part
    of cardinality 1 is the same for every row and left out."""
    used = [(code, size) for code, size in parts if size > 1]
    n = parts[0][0].size
    if not used:
        return np.zeros(n, dtype=np.int64)
    if n >= COMPILED and max(size for _, size in used) <= n:
        # the part of most values sorts the rows, the others' key fits a slot table
        major = max(range(len(used)), key=lambda k: used[k][1])
        rest = [p for k, p in enumerate(used) if k != major]
        if math.prod(size for _, size in rest) <= n:
            from crossmargin.portfolio import code_kernels

            code, size = used[major]
            if not rest:
                return code_kernels.first_seen_small(np.asarray(code, dtype=np.int64), size)
            minor = np.asarray(rest[0][0], dtype=np.int64) if len(rest) == 1 else _mixed_radix(rest)
            n_minor = math.prod(s for _, s in rest)
            return code_kernels.first_seen_pairs(
                np.asarray(code, dtype=np.int64), size, minor, n_minor
            )
    key = _mixed_radix(used)
    if key.size < SMALL:
        return first_seen_small(key.tolist())[0]  # type: ignore[index]  # integers: never missing
    out, _ = pd.factorize(key, sort=False)
    return np.asarray(out, dtype=np.int64)


def first_seen_starts(code: IntArray) -> IntArray | None:
    """Where each code first occurs (in code order) if ``code`` holds first-seen codes
    (negative: no code), as :func:`combine` gives them; None if it does not.

    First-seen codes raise their running maximum by one at each first occurrence and never
    more, so those are the steps of the running maximum (no sort)."""
    if code.size >= COMPILED:
        from crossmargin.portfolio import code_kernels

        ok, opens = code_kernels.first_seen_opens(np.asarray(code, dtype=np.int64))
        return opens if ok else None
    if code.size == 0:
        return np.empty(0, dtype=np.int64)
    top = np.maximum.accumulate(np.maximum(code, -1))
    if top[0] > 0:
        return None
    step = np.empty(code.size, dtype=np.int64)
    step[0] = top[0] + 1
    np.subtract(top[1:], top[:-1], out=step[1:])
    if int(step.max()) > 1:
        return None
    return np.flatnonzero(step)


def instrument_codes(instruments: Sequence[Instrument], columns: Sequence[Instrument]) -> IntArray:
    """The column in ``columns`` of each of ``instruments``: under :data:`SMALL` of them,
    each looked up by equality (a what-if's trades, a service's book: a dictionary lookup
    costs less than numbering them first); else each distinct object hashed once (large
    books repeat the same instrument objects). The same columns either way: one object is
    always one key."""
    where = {inst: j for j, inst in enumerate(columns)}
    if len(instruments) < SMALL:
        return np.fromiter(map(where.__getitem__, instruments), dtype=np.int64,
                           count=len(instruments))  # fmt: skip
    ids = np.fromiter(map(id, instruments), dtype=np.int64, count=len(instruments))
    code = np.asarray(pd.factorize(ids, sort=False)[0], dtype=np.int64)
    firsts = first_seen_starts(code)  # first-seen codes: each one's first row, in code order
    assert firsts is not None
    col_of = np.array([where[instruments[k]] for k in firsts.tolist()], dtype=np.int64)
    return np.asarray(col_of[code], dtype=np.int64)


__all__ = [
    "codes",
    "combine",
    "first_seen_small",
    "first_seen_starts",
    "instrument_codes",
    "object_array",
]
