"""Import every command module so each registers itself on the app."""

from __future__ import annotations

from crossmargin.cli import (  # noqa: F401  (registration)
    attribute,
    backtest,
    cascade,
    config,
    demo,
    margin,
    optimise,
    report,
    runs,
    sample,
    serve,
    simm,
    stress,
    value,
    whatif,
)
