"""Import every command module so each registers itself on the app."""

from __future__ import annotations

from crossmargin.cli import (  # noqa: F401  (registration)
    backtest,
    cascade,
    config,
    demo,
    margin,
    report,
    runs,
    sample,
    serve,
    simm,
    stress,
    value,
    whatif,
)
