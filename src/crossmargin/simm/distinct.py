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

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

#: The label columns whose combinations the CRIF checks depend on.
LABEL_COLUMNS: tuple[str, ...] = (
    "ProductClass",
    "RiskType",
    "Qualifier",
    "Bucket",
    "Label1",
    "Label2",
    "AmountCurrency",
    "IMModel",
)
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
    ``text`` applied to the distinct values only."""
    codes, uniques = pd.factorize(column, use_na_sentinel=True)
    stripped = text(pd.Series(uniques, dtype=column.dtype)).to_numpy(dtype=object)
    merged, categories = pd.factorize(np.append(stripped, ""), sort=True)
    lookup = merged.astype(np.intp)
    return pd.Series(
        pd.Categorical.from_codes(lookup[codes], categories=pd.Index(categories, dtype=str)),
        index=column.index,
    )


def distinct_rows(frame: pd.DataFrame, columns: Sequence[str]) -> tuple[pd.DataFrame, np.ndarray]:
    """(distinct combinations of ``columns``, code of each line's combination).

    ``table.iloc[codes]`` gives back ``frame[columns]`` line by line; the table keeps the
    order of first appearance.
    """
    n = len(frame)
    key = np.zeros(n, dtype=np.int64)
    width = 1
    for column in columns:
        codes, count = codes_of(frame[column])
        size = count + 1
        if width * size >= _KEY_LIMIT:
            key, kept = pd.factorize(key)
            width = max(len(kept), 1)
        key = key * size + (codes.astype(np.int64) + 1)
        width *= size
    codes, _ = pd.factorize(key)
    first = np.empty(int(codes.max()) + 1 if n else 0, dtype=np.intp)
    first[codes[::-1]] = np.arange(n - 1, -1, -1, dtype=np.intp)
    table = frame.iloc[first][list(columns)].reset_index(drop=True)
    table = table.astype(dict.fromkeys(columns, str))
    return table, codes.astype(np.intp)


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


__all__ = [
    "CATEGORICAL_COLUMNS",
    "LABEL_COLUMNS",
    "categorical",
    "codes_of",
    "distinct_rows",
    "labels",
]
