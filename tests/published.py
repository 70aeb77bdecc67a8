"""The published worked examples the tests reproduce: one registry, one check.

``tests/reference/published_examples.json`` lists every example with its source, the
published figure, its unit and the tolerance; tests call :func:`check` with the example's
id and the figure the code computes. ``scripts/validation_table.py`` turns the registry (and
the tests that use each id) into ``docs/models/validation.md``.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest

REGISTRY = Path(__file__).resolve().parent / "reference" / "published_examples.json"


@cache
def examples() -> dict[str, dict[str, Any]]:
    """The registry by id."""
    data = json.loads(REGISTRY.read_text(encoding="utf-8"))
    return {e["id"]: e for e in data["examples"]}


def tolerance(example_id: str) -> dict[str, float]:
    """``{"rtol": ..., "atol": ...}`` of an example, for element-wise array comparisons."""
    tol = examples()[example_id]["tolerance"]
    return {"rtol": tol.get("rel", 0.0), "atol": tol.get("abs", 0.0)}


def check(example_id: str, got: float | list[float], *, index: int | None = None) -> None:
    """Assert ``got`` equals the published figure of ``example_id`` within its tolerance.

    ``index`` picks one figure of an example that publishes a list.
    """
    entry = examples()[example_id]
    want = entry["figure"] if index is None else entry["figure"][index]
    tol = entry["tolerance"]
    assert got == pytest.approx(want, rel=tol.get("rel", 0.0), abs=tol.get("abs", 0.0)), (
        f"{example_id}: {entry['title']}"
    )
