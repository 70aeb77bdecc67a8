"""Compare two JSON-shaped results figure by figure, floats bit for bit.

A distributed run margins each netting set on its own part of the book, in a context shared
by every part whose columns stand in canonical order, as the single process margins it: so
every figure is the same float (``tests/test_netting_set_isolation.py``).
"""

from __future__ import annotations

import math
from typing import Any


def differences(a: Any, b: Any, path: str = "") -> list[str]:
    """Where ``a`` and ``b`` differ: keys, lengths, strings and floats exactly (``0.0`` equal
    to ``-0.0``, NaN equal to NaN)."""
    if isinstance(a, dict) and isinstance(b, dict):
        if set(a) != set(b):
            return [f"{path}: keys {sorted(set(a) ^ set(b))}"]
        return [d for k in a for d in differences(a[k], b[k], f"{path}.{k}")]
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        if len(a) != len(b):
            return [f"{path}: {len(a)} vs {len(b)} items"]
        return [d for i, (x, y) in enumerate(zip(a, b, strict=True))
                for d in differences(x, y, f"{path}[{i}]")]  # fmt: skip
    if isinstance(a, float) and isinstance(b, float | int) and not isinstance(b, bool):
        if math.isnan(a) and math.isnan(float(b)):
            return []
        if a == float(b):
            return []
        return [f"{path}: {a!r} vs {b!r}"]
    return [] if a == b else [f"{path}: {a!r} vs {b!r}"]


def assert_same(a: Any, b: Any) -> None:
    """``differences(a, b)`` is empty (the first few are shown otherwise)."""
    found = differences(a, b)
    assert not found, f"{len(found)} differences, e.g. " + "; ".join(found[:5])
