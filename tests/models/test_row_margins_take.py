"""RowMargins.take: every per-row field follows the rows asked for, facts included (index
arrays of every length, repeated and negative indices, slices)."""

from __future__ import annotations

from types import MappingProxyType

import numpy as np
import pytest

from crossmargin.models.base import RowMargins


def _margins(n: int) -> RowMargins:
    facts = tuple(MappingProxyType({"row": r}) for r in range(n))
    return RowMargins(
        total=np.arange(n, dtype=float),
        maintenance=np.arange(n, dtype=float) / 2,
        components={"core": np.arange(n, dtype=float) * 3},
        info={"stress": -np.arange(n, dtype=float)},
        worst_scenario=np.arange(n, dtype=np.int64) + 10,
        scenario_names=("a", "b"),
        facts=facts,
    )


@pytest.mark.parametrize(
    "rows", [[], [3], [4, 0, 0, 2], [-1, 1], list(range(7))[::-1], slice(1, 5), slice(None)]
)
def test_take_follows_the_rows(rows: list[int] | slice) -> None:
    m = _margins(7)
    index = rows if isinstance(rows, slice) else np.array(rows, dtype=np.int64)
    got = m.take(index)
    want = list(range(7))[rows] if isinstance(rows, slice) else [range(7)[r] for r in rows]
    assert got.total.tolist() == [float(r) for r in want]
    assert got.maintenance is not None
    assert got.maintenance.tolist() == [r / 2 for r in want]
    assert got.components["core"].tolist() == [3.0 * r for r in want]
    assert got.info["stress"].tolist() == [-float(r) for r in want]
    assert got.worst_scenario is not None
    assert got.worst_scenario.tolist() == [r + 10 for r in want]
    assert isinstance(got.facts, tuple)
    assert [f["row"] for f in got.facts] == want
    assert got.scenario_names == ("a", "b")


def test_take_is_the_checked_rows_field_for_field() -> None:
    """``take`` skips ``__post_init__``'s checks (``of_checked``): its rows equal those the
    checked constructor makes, every field set, so a field added to RowMargins and not to
    ``of_checked`` fails here rather than as a missing attribute in use."""
    from dataclasses import fields

    m = _margins(7)
    rows = np.array([4, 0, 0, 2], dtype=np.int64)
    got = m.take(rows)
    checked = RowMargins(**{f.name: getattr(got, f.name) for f in fields(RowMargins)})
    for f in fields(RowMargins):
        a, b = getattr(got, f.name), getattr(checked, f.name)
        if isinstance(a, np.ndarray):
            assert np.array_equal(a, b), f.name
        elif isinstance(a, dict):
            assert a.keys() == b.keys(), f.name
            assert all(np.array_equal(a[k], b[k]) for k in a), f.name
        else:
            assert a == b, f.name
    # the checks themselves still stand on the constructor
    with pytest.raises(Exception, match="finite and >= 0"):
        RowMargins(total=np.array([-1.0]))
