"""``prefixed``: the JSON of ``{**head, **body}`` from the JSON of ``body`` already written
is, character for character, what :func:`strict_json` writes for the merged mapping."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crossmargin.errors import ModelError
from crossmargin.service.responses import prefixed, spliced, strict_json

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


_any = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.tuples(inner, inner)
    | st.dictionaries(st.text(max_size=4), inner, max_size=4),
    max_leaves=20,
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(value=_any)
def test_strict_json_reads_back_as_the_standard_encoder_writes_it(value: Any) -> None:
    # The fast encoder against the json module: the same values read back (every float to
    # the bit, surrogates and control characters included), whichever encoder wrote them.
    import json
    import math

    text = strict_json(value)
    want = json.loads(json.dumps(value, ensure_ascii=False, separators=(",", ":")))
    got = json.loads(text)
    assert got == want

    def bits(x: Any) -> Any:
        if isinstance(x, float):
            return math.copysign(1.0, x), x.hex()
        if isinstance(x, list):
            return [bits(v) for v in x]
        if isinstance(x, dict):
            return {k: bits(v) for k, v in x.items()}
        return x

    assert bits(got) == bits(want)


def test_strict_json_writes_numpy_floats_and_refuses_their_nan_by_name() -> None:
    import numpy as np

    assert strict_json({"x": np.float64(0.1), "y": "a/b"}) == '{"x":0.1,"y":"a/b"}'
    with pytest.raises(ModelError, match=r"rows\.1"):
        strict_json({"rows": [1.0, np.float64("inf")]})


def test_registered_folders_are_cut_from_every_answer(tmp_path: Any) -> None:
    from crossmargin.service.responses import register_roots, scrub_text

    folder = tmp_path / "data-folder"
    register_roots([folder])
    text = f'{{"market":"{folder}/market/BTC.csv","pair":"BTC/ETH","unit":"USD/day"}}'
    assert scrub_text(text, thorough=False) == (
        '{"market":".../market/BTC.csv","pair":"BTC/ETH","unit":"USD/day"}'
    )
    plain = '{"pair":"BTC/ETH","unit":"USD/day"}'  # slashes, no folder: unchanged
    assert scrub_text(plain, thorough=False) is plain


@settings(max_examples=200, deadline=None)
@given(content=st.dictionaries(st.text(max_size=4), _values, min_size=1, max_size=6),
       data=st.data())  # fmt: skip
def test_spliced_parts_give_the_text_of_the_whole(content: dict[str, Any], data: Any) -> None:
    """Parts written already (``spliced``) give, character for character, the text of the
    whole, wherever they sit and whatever the rest holds (NUL characters included)."""
    given_ = data.draw(st.sets(st.sampled_from(sorted(content)), max_size=3))
    content = {**content, **data.draw(st.dictionaries(st.sampled_from(["\x00", "a\x00b"]), _values,
                                                      max_size=2))}  # fmt: skip
    texts = {k: strict_json(content[k]) for k in given_ if k in content}
    placeholders = {k: (None if k in texts else v) for k, v in content.items()}
    assert spliced(placeholders, texts) == strict_json(content)


def test_spliced_refuses_a_missing_place_and_a_non_finite_rest() -> None:
    with pytest.raises(ValueError, match="before"):
        spliced({"after": 1.0}, {"before": "2.0"})
    with pytest.raises(ModelError, match="after"):
        spliced({"before": None, "after": float("inf")}, {"before": "2.0"})
