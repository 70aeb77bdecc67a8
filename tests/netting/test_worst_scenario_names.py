"""Each row's worst scenario by name: the row's index into the model's scenario names, None
where the model names none (-1) or has no worst scenario at all."""

from __future__ import annotations

import numpy as np

from crossmargin.models.base import RowMargins
from crossmargin.netting.assemble import worst_scenario_names


def test_each_row_names_its_own_worst_scenario() -> None:
    names = tuple(f"2024-01-{d:02d}" for d in range(1, 29))
    margins = RowMargins(
        total=np.array([1.0, 2.0, 3.0, 4.0]),
        worst_scenario=np.array([27, -1, 0, 5], dtype=np.int64),
        scenario_names=names,
    )
    got = worst_scenario_names(margins)
    assert got.dtype == object
    assert got.tolist() == ["2024-01-28", None, "2024-01-01", "2024-01-06"]


def test_no_worst_scenario_names_none() -> None:
    got = worst_scenario_names(RowMargins(total=np.array([1.0, 2.0])))
    assert got.tolist() == [None, None]
    empty = RowMargins(total=np.zeros(0), worst_scenario=np.zeros(0, dtype=np.int64))
    assert worst_scenario_names(empty).tolist() == []
