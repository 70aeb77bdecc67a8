"""The HTML report: margin by model, netting benefit, scenario P&L, correlations, stress and
backtest, in one self-contained file (``crossmargin report``; ``docs/report.md``)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from crossmargin.report.data import DEFAULT_MODELS, build_payload
from crossmargin.report.render import render


def write_report(payload: Mapping[str, Any], path: str | Path) -> Path:
    """Render ``payload`` and write it to ``path`` atomically (folders created; a full disk
    leaves no 0-byte file: :func:`crossmargin.files.write_text`); returns the path."""
    from crossmargin.files import write_text

    return write_text(path, render(payload), what="report")


__all__ = ["DEFAULT_MODELS", "build_payload", "render", "write_report"]
