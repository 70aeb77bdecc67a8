"""The batched canonical JSON of many mappings (results' components) is, string for string,
:func:`canonical_json` of each (its slow twin)."""

from __future__ import annotations

import json

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from crossmargin.store_records import canonical_json, canonical_json_columns, canonical_json_rows

_keys = st.sampled_from(["scan", "b", "a", 'q"uote', "pct%s", "é", "1", "zz"]) | st.integers(0, 3)
_values = (
    st.floats(allow_nan=True, allow_infinity=True)
    | st.sampled_from([0.0, -0.0, 1e-300, 1e300, 0.1])
    | st.integers(-5, 5)
    | st.booleans()
    | st.none()
    | st.text(max_size=3)
    | st.builds(np.float64, st.floats(-1e6, 1e6))
)
_mapping = st.dictionaries(_keys, _values, max_size=5)


@settings(max_examples=200, deadline=None)
@given(rows=st.lists(_mapping, max_size=12), shared=st.lists(st.floats(-1e9, 1e9), max_size=6))
def test_each_string_is_the_canonical_json(rows: list[dict], shared: list[float]) -> None:  # type: ignore[type-arg]
    rows = rows + [{"scan": x, "b": -x, "a": 0.0} for x in shared]  # many with the same keys
    assert canonical_json_rows(rows) == [canonical_json(r) for r in rows]


def test_a_typical_components_row() -> None:
    (text,) = canonical_json_rows([{"scan": 12.5, "delta_shock": -0.0, "floor": 3.0}])
    assert text == '{"delta_shock":0.0,"floor":3.0,"scan":12.5}'
    assert json.loads(text) == {"delta_shock": 0.0, "floor": 3.0, "scan": 12.5}


@settings(max_examples=100, deadline=None)
@given(
    keys=st.lists(_keys, min_size=1, max_size=4),
    values=st.lists(st.floats(allow_nan=True, allow_infinity=True) | st.just(-0.0), max_size=40),
)
def test_columns_of_arrays_give_each_row_its_canonical_json(
    keys: list, values: list[float]
) -> None:  # type: ignore[type-arg]
    n = len(values) // len(keys)
    columns = [np.asarray(values[i * n : (i + 1) * n], dtype=np.float64) for i in range(len(keys))]
    want = [
        canonical_json({k: float(c[r]) for k, c in zip(keys, columns, strict=True)})
        for r in range(n)
    ]
    assert canonical_json_columns(keys, columns) == want


@settings(max_examples=100, deadline=None)
@given(rows=st.lists(_mapping, max_size=8))
def test_kept_row_texts_are_the_canonical_json(rows: list[dict]) -> None:  # type: ignore[type-arg]
    # The run store hashes book rows through a memo of each row's text: twice over (the
    # second time from the memo), and beside rows equal in value but not in type.
    from crossmargin.store_records import _row_texts

    twins = [{"q": 1}, {"q": 1.0}, {"q": True}, {"q": -0.0}, {"q": 0.0}]
    for batch in (rows, rows, twins + rows, rows + twins):
        assert _row_texts(batch) == [canonical_json(r) for r in batch]
