"""CRIF string columns reduced to their distinct values, and back to the lines.

A CRIF of a million lines typically holds a few thousand distinct combinations of its
label columns (``RiskType``, ``Qualifier``, ``Bucket``, ``Label1`` ...).  Every label check
is a function of one line's labels only, so it is computed once per distinct combination
and mapped back to the lines that carry it: ``mask_on_lines = mask_on_distinct[codes]``.
The same check run on the lines themselves (``by_distinct=False`` in the callers) is the
slow twin the tests compare against.

Columns are also offered as :class:`pandas.Categorical` with the distinct values sorted,
so a groupby over them is a groupby over small integers that visits groups in the same
(lexicographic) order as the strings would.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

#: The six CRIF labels that name a risk factor.
FACTOR_LABELS: tuple[str, ...] = ("ProductClass", "RiskType", "Qualifier", "Bucket", "Label1",
                                  "Label2")  # fmt: skip
#: The label columns whose combinations the CRIF checks depend on.
LABEL_COLUMNS: tuple[str, ...] = (*FACTOR_LABELS, "AmountCurrency", "IMModel")
#: Columns a :class:`~crossmargin.simm.crif.Crif` holds as categoricals: the labels and the
#: regulation lists.
CATEGORICAL_COLUMNS: tuple[str, ...] = (*LABEL_COLUMNS, "collect_regulations", "post_regulations")
_KEY_LIMIT = 1 << 62


def codes_of(values: pd.Series) -> tuple[np.ndarray, int]:
    """(integer code of each value, number of codes); a categorical's own codes."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        return values.cat.codes.to_numpy(), len(values.cat.categories)
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    return codes, len(uniques)


def labels(column: pd.Series, text: Callable[[pd.Series], pd.Series]) -> pd.Series:
    """``text(column)`` (strings, empty where missing) as a categorical with sorted categories,
    ``text`` applied to the distinct values only (a categorical's own categories and codes,
    reused as they are when already stripped and sorted)."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        codes = column.cat.codes.to_numpy()
        uniques = pd.Series(column.cat.categories)
    else:
        found, values = pd.factorize(column, use_na_sentinel=True)
        codes, uniques = found, pd.Series(values, dtype=column.dtype)
    stripped = text(uniques).to_numpy(dtype=object)
    missing = bool((codes < 0).any())
    merged, categories = pd.factorize(np.append(stripped, "") if missing else stripped, sort=True)
    lookup = merged.astype(np.int32)
    same = not missing and bool(np.array_equal(lookup, np.arange(len(stripped))))
    if missing:
        codes = np.where(codes < 0, len(stripped), codes)  # the appended ""
    return pd.Series(
        pd.Categorical.from_codes(
            codes if same else lookup[codes],
            categories=pd.Index(categories, dtype=str),
            validate=False,
        ),
        index=column.index,
    )


def spread(mask: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """A mask over distinct combinations carried to the lines (``mask[codes]``), without the
    gather when no combination is flagged."""
    return mask[codes] if mask.any() else np.zeros(len(codes), dtype=bool)


def combined_codes(frame: pd.DataFrame, columns: Sequence[str]) -> np.ndarray:
    """Code of each line's combination of ``columns``, ``0 … m−1`` in order of first appearance.

    Each column's codes ``c`` (a categorical's own, else :func:`pandas.factorize`; −1 where
    missing) are combined into one integer key, mixed radix (``key = key · (count + 1) + c``,
    which is the key of the digits ``c + 1`` less a constant; int32 when every key fits,
    else int64, refactorized before it could overflow), and the key is factorized.  A
    column holding one value everywhere is skipped.
    """
    n = len(frame)
    digits = []
    for column in columns:
        codes, count = codes_of(frame[column])
        if count <= 1 and (n == 0 or codes.min() >= 0):
            continue  # the same code on every line
        digits.append((codes, count + 1))
    if not digits:
        return np.zeros(n, dtype=np.intp)
    small = math.prod(size for _, size in digits) < 1 << 31
    dtype = np.int32 if small else np.int64
    key: NDArray[np.signedinteger[Any]] = digits[0][0].astype(dtype)
    width = digits[0][1]
    for codes, size in digits[1:]:
        if not small and width * size >= _KEY_LIMIT:
            key = pd.factorize(key)[0].astype(np.int64)
            width = int(key.max()) + 1 if n else 1
        key *= size
        key += codes
        width *= size
    found, _ = pd.factorize(key)
    return found.astype(np.intp)


def first_lines(codes: np.ndarray, count: int) -> np.ndarray:
    """Position of the first line carrying each code ``0 … count−1``."""
    first = np.empty(count, dtype=np.intp)
    first[codes[::-1]] = np.arange(len(codes) - 1, -1, -1, dtype=np.intp)
    return first


@dataclass(frozen=True, slots=True, kw_only=True)
class Distinct:
    """The distinct combinations of some columns of a table of lines.

    Attributes
    ----------
    table:
        One row per combination (strings, or categoricals of strings where the lines'
        column is one), in order of first appearance.
    codes:
        Each line's row in ``table``: ``table.iloc[codes]`` gives back the lines.
    first:
        Position of the first line of each combination.
    """

    table: pd.DataFrame
    codes: np.ndarray
    first: np.ndarray


def distinct_index(frame: pd.DataFrame, columns: Sequence[str]) -> Distinct:
    """The :class:`Distinct` combinations of ``columns`` in ``frame``."""
    codes = combined_codes(frame, columns)
    first = first_lines(codes, int(codes.max()) + 1 if len(codes) else 0)
    table = pd.DataFrame({c: _strings_at(frame[c], first) for c in columns})
    return Distinct(table=table, codes=codes, first=first)


def _strings_at(values: pd.Series, at: np.ndarray) -> pd.Series:
    """``values.iloc[at]`` as strings; a categorical stays one (its codes at ``at``), so the
    checks on the table work on its few categories."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        codes = values.cat.codes.to_numpy()[at]
        categories = values.cat.categories
        if not (codes < 0).any() and pd.api.types.is_string_dtype(categories.dtype):
            return pd.Series(pd.Categorical.from_codes(codes, dtype=values.dtype, validate=False))
    return values.iloc[at].reset_index(drop=True).astype(str)


def distinct_rows(frame: pd.DataFrame, columns: Sequence[str]) -> tuple[pd.DataFrame, np.ndarray]:
    """(distinct combinations of ``columns``, code of each line's combination).

    ``table.iloc[codes]`` gives back ``frame[columns]`` line by line; the table keeps the
    order of first appearance.
    """
    found = distinct_index(frame, columns)
    return found.table.astype(dict.fromkeys(columns, str)), found.codes


def categorical(values: pd.Series) -> pd.Series:
    """``values`` as a categorical with sorted categories (groupby order = string order).

    The empty string is always a category (first, as it sorts first), so a label can be
    blanked (``series.where(mask, "")``) as with strings.
    """
    if isinstance(values.dtype, pd.CategoricalDtype):
        present = values.cat.categories
        if "" in present and present.is_monotonic_increasing:
            return values
    codes, uniques = pd.factorize(values, sort=True)
    categories = pd.Index(uniques)
    if "" not in categories:
        categories = pd.Index(["", *uniques])
        codes = np.where(codes >= 0, codes + 1, codes)
    return pd.Series(pd.Categorical.from_codes(codes, categories=categories), index=values.index)


def compact(values: pd.Series) -> pd.Series:
    """``values`` as a categorical keeping only the categories in use, and ``""`` (as
    :func:`categorical`), held as Python strings: a groupby over it recodes a handful of
    categories, not every label of the CRIF the lines came from."""
    if not isinstance(values.dtype, pd.CategoricalDtype) or not (
        values.cat.categories.is_monotonic_increasing
        and pd.api.types.is_string_dtype(values.cat.categories.dtype)
    ):
        values = categorical(values)
    codes = values.cat.codes.to_numpy()
    categories = values.cat.categories
    used = np.zeros(len(categories), dtype=bool)
    used[codes[codes >= 0]] = True
    kept = np.asarray(categories, dtype=object)[used]
    renumber = np.cumsum(used) - 1
    if not len(kept) or kept[0] != "":  # "" sorts first
        kept, renumber = np.append(np.array([""], dtype=object), kept), renumber + 1
    return pd.Series(
        pd.Categorical.from_codes(
            np.where(codes >= 0, renumber[codes], -1),
            categories=pd.Index(kept, dtype=object),
            validate=False,
        ),
        index=values.index,
    )


__all__ = [
    "CATEGORICAL_COLUMNS",
    "FACTOR_LABELS",
    "LABEL_COLUMNS",
    "Distinct",
    "categorical",
    "codes_of",
    "combined_codes",
    "compact",
    "distinct_index",
    "distinct_rows",
    "first_lines",
    "labels",
    "spread",
]
