"""Margin models behind one interface (:class:`MarginModel`), found by name in a registry."""

from __future__ import annotations

from crossmargin.models.base import (
    MarginModel,
    RowMargins,
    get_model,
    model_factory,
    model_names,
    register,
)
from crossmargin.models.result import AccountMargin, GroupMargin, MarginResult, PositionMargin

__all__ = [
    "AccountMargin",
    "GroupMargin",
    "MarginModel",
    "MarginResult",
    "PositionMargin",
    "RowMargins",
    "get_model",
    "model_factory",
    "model_names",
    "register",
]
