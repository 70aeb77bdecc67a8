"""Inputs of the correlation breakdown: offset pairs, a user correlation matrix, twin factors.

* :func:`parse_pairs` reads ``"BTC:SPX,ETH:SPX"``; :func:`offset_pairs` lists every pair of
  underlyings held together in one account (the default pairs to break);
* :func:`load_correlation_override` reads a user correlation matrix (JSON) and refuses an
  entry outside [−1, 1], a diagonal other than 1 or an asymmetric entry, naming the file and
  the entry (a non-PSD matrix is accepted: the breakdown repairs it).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np

from crossmargin.analysis.stress.common import FloatArray, account_underlyings
from crossmargin.errors import InputError
from crossmargin.portfolio import Portfolio

Pair = tuple[str, str]


def parse_pairs(text: str | Sequence[str] | Sequence[Pair] | None) -> tuple[Pair, ...] | None:
    """``"BTC:SPX,ETH:SPX"`` (or a list of ``"A:B"`` / tuples) as pairs; None stays None."""
    if text is None:
        return None
    items: list[Any] = text.split(",") if isinstance(text, str) else list(text)
    out: list[Pair] = []
    for item in items:
        if isinstance(item, tuple):
            a, b = item
        else:
            parts = [p.strip() for p in str(item).split(":")]
            if len(parts) != 2 or not all(parts):
                raise InputError(f"pair {item!r}: write two underlyings as A:B, e.g. BTC:SPX")
            a, b = parts
        if a == b:
            raise InputError(f"pair {a}:{b} names the same underlying twice")
        out.append((str(a), str(b)))
    return tuple(out)


def offset_pairs(portfolio: Portfolio) -> tuple[Pair, ...]:
    """Every pair of underlyings held together in one account (book order, no repeats)."""
    seen: dict[Pair, None] = {}
    for unds in account_underlyings(portfolio).values():
        for pair in combinations(unds, 2):
            seen[pair] = None
    return tuple(seen)


def load_correlation_override(path: str | Path) -> tuple[tuple[str, ...], FloatArray]:
    """A correlation matrix from JSON ``{"labels": [...], "matrix": [[...], ...]}``.

    Labels are underlyings (spot factors) or ``vol:u``. Checked here: square, finite,
    symmetric, unit diagonal, entries in [−1, 1]; the first violation is an InputError naming
    the file and the entry. PSD is not required (a non-PSD override is repaired, see the
    module docstring).
    """
    from crossmargin.files import load_json

    p = Path(path)
    try:
        doc = load_json(p, what="correlation")
        labels = tuple(str(x) for x in doc["labels"])
        matrix = np.asarray(doc["matrix"], dtype=np.float64)
    except FileNotFoundError:
        raise InputError(f"correlation file {p} does not exist") from None
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise InputError(
            f'correlation file {p}: expected JSON {{"labels": [...], "matrix": [[...]]}} '
            f"with numbers ({exc})"
        ) from None
    n = len(labels)
    if matrix.shape != (n, n):
        raise InputError(f"correlation file {p}: matrix is {matrix.shape}, expected {n}x{n}")
    if not np.all(np.isfinite(matrix)):
        raise InputError(f"correlation file {p}: the matrix has NaN or infinite entries")
    for i in range(n):
        for j in range(n):
            v = float(matrix[i, j])
            at = f"entry ({labels[i]}, {labels[j]}) = {v!r}"
            if abs(v) > 1.0 + 1e-12:
                raise InputError(f"correlation file {p}: {at} lies outside [-1, 1]")
            if i == j and abs(v - 1.0) > 1e-12:
                raise InputError(f"correlation file {p}: diagonal {at}; it must be 1")
            if abs(v - float(matrix[j, i])) > 1e-12:
                raise InputError(
                    f"correlation file {p}: not symmetric: {at} but ({labels[j]}, "
                    f"{labels[i]}) = {float(matrix[j, i])!r}; set both to the same value"
                )
    return labels, matrix


__all__ = ["Pair", "load_correlation_override", "offset_pairs", "parse_pairs"]
