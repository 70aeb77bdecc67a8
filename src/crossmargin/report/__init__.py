"""The HTML report: margin by model, netting benefit, scenario P&L, correlations, stress and
backtest, in one self-contained file (``crossmargin report``; ``docs/report.md``)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from crossmargin.report.data import DEFAULT_MODELS, build_payload
from crossmargin.report.render import render


def write_report(payload: Mapping[str, Any], path: str | Path) -> Path:
    """Render ``payload`` and write it to ``path`` (folders created); returns the path."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render(payload), encoding="utf-8")
    return target


__all__ = ["DEFAULT_MODELS", "build_payload", "render", "write_report"]
