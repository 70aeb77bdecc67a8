"""``prefixed``: the JSON of ``{**head, **body}`` from the JSON of ``body`` already written
is, character for character, what :func:`strict_json` writes for the merged mapping."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crossmargin.errors import ModelError
from crossmargin.service.responses import prefixed, strict_json

_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner,
                                                                max_size=3),
    max_leaves=10,
)  # fmt: skip
_keys = st.sampled_from(["asof", "run_id", "record_status", "x", "é"])


@settings(max_examples=200, deadline=None)
@given(head=st.dictionaries(_keys, _values, max_size=3),
       body=st.dictionaries(st.text(max_size=4), _values, max_size=4))  # fmt: skip
def test_the_same_text_as_the_merged_mapping(head: dict[str, Any], body: dict[str, Any]) -> None:
    body = {k: v for k, v in body.items() if k not in head}
    assert prefixed(head, body, strict_json(body)) == strict_json({**head, **body})


def test_shared_keys_are_refused() -> None:
    with pytest.raises(ValueError, match="run_id"):
        prefixed({"run_id": 1}, {"run_id": 2}, '{"run_id":2}')


def test_a_non_finite_figure_is_refused_by_name() -> None:
    with pytest.raises(ModelError, match=r"accounts\.0\.total"):
        strict_json({"accounts": [{"total": float("nan")}]})
