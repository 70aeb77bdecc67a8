"""Modules loaded on first use, so that ``import crossmargin`` and ``crossmargin --help`` do
not pay for numpy, pandas, scipy, numba and duckdb (issue 17: start-up under 0.5 s).

``api = lazy_module("crossmargin.api")`` binds a stand-in whose first attribute access
imports the real module (``importlib.import_module``, so the import lock makes it thread
safe) and reads the attribute from it; a module importing the names for its annotations
does so under ``if TYPE_CHECKING`` so that type checkers see the real module.
"""

from __future__ import annotations

import importlib
import types
from typing import Any


class _LazyModule(types.ModuleType):
    """Stand-in for a module: every attribute is read from the real one, imported on demand."""

    def __getattr__(self, name: str) -> Any:
        return getattr(importlib.import_module(self.__name__), name)


def lazy_module(name: str) -> types.ModuleType:
    """A stand-in for module ``name`` that imports it on first attribute access."""
    return _LazyModule(name)


__all__ = ["lazy_module"]
