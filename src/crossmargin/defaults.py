"""Defaults shared by every interface, defined once (and light to import: the CLI's options
read them at start-up).

``DEFAULT_MODEL`` is the margin model of ``margin``, ``what-if``, ``stress``, ``backtest``,
``report --backtest`` and the service when none is named: SPAN, because it needs only the
valuation-date market (a ``--market`` snapshot file is enough), where the historical models
need a history. ``BUILTIN_MODELS`` names the models the registry ships (a test holds it equal
to :func:`crossmargin.models.model_names`); ``COMPARED_MODELS`` are those the report and the
demo compare side by side.
"""

from __future__ import annotations

DEFAULT_MODEL = "span"
BUILTIN_MODELS: tuple[str, ...] = ("conservative", "es", "hvar", "pm_grid", "rules", "span")
COMPARED_MODELS: tuple[str, ...] = ("rules", "span", "pm_grid", "es")

__all__ = ["BUILTIN_MODELS", "COMPARED_MODELS", "DEFAULT_MODEL"]
