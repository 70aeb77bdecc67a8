"""Shared check of the backtest tests: two runs of ``run_paths`` gave the same figures."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from crossmargin.analysis.backtest import MODES


def assert_same_paths(new: Any, old: Any) -> None:
    """``new`` and ``old`` (``run_paths`` results) hold the same days, skipped days, margins
    of every mode (finite where the P&L is), P&Ls, horizon ends and forecasts, exactly."""
    assert new.dates == old.dates
    assert new.skipped == old.skipped
    for mode in MODES:
        np.testing.assert_array_equal(new.margin[mode], old.margin[mode])
        assert np.isfinite(new.margin[mode][np.isfinite(new.pnl)]).all()
    np.testing.assert_array_equal(new.pnl, old.pnl)
    np.testing.assert_array_equal(new.pnl_clean, old.pnl_clean)
    np.testing.assert_array_equal(new.horizon_end, old.horizon_end)
    assert (new.forecast is None) == (old.forecast is None)
    if new.forecast is not None:
        for f in dataclasses.fields(new.forecast):
            a, b = getattr(new.forecast, f.name), getattr(old.forecast, f.name)
            if isinstance(a, np.ndarray):
                np.testing.assert_array_equal(a, b)
            else:
                assert a == b
