"""``csr_of`` gives the matrix SciPy's constructor gives (``crossmargin.netting.csr``)."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from crossmargin.netting import csr
from crossmargin.netting.csr import csr_of, fits_shortcut


def _attributes(m: sp.csr_matrix) -> dict[str, Any]:
    return {k: (v.dtype, v.tolist()) if isinstance(v, np.ndarray) else (type(v), v)
            for k, v in vars(m).items()}  # fmt: skip


def _scipy(data: Any, indices: Any, indptr: Any, shape: tuple[int, int]) -> sp.csr_matrix:
    return sp.csr_matrix((data, indices, indptr), shape=shape, copy=False)


def test_the_shortcut_is_taken_on_this_scipy() -> None:
    # if a SciPy version set other attributes, the import-time probe turns it off and every
    # call goes to SciPy's constructor: still right, but this test says the speed-up is gone
    assert csr.SHORTCUT


@st.composite
def _canonical(draw: Any) -> tuple[Any, ...]:
    rows, cols = draw(st.integers(0, 6)), draw(st.integers(1, 9))
    picked = [sorted(draw(st.sets(st.integers(0, cols - 1), max_size=cols))) for _ in range(rows)]
    indptr = np.zeros(rows + 1, dtype=np.int32)
    np.cumsum([len(p) for p in picked], out=indptr[1:])
    indices = np.array([c for p in picked for c in p], dtype=np.int32)
    values = st.floats(-1e6, 1e6, allow_nan=False).filter(lambda x: x != 0.0)
    data = np.array(draw(st.lists(values, min_size=indices.size, max_size=indices.size)),
                    dtype=np.float64)  # fmt: skip
    return data, indices, indptr, (rows, cols)


@settings(max_examples=200, deadline=None)
@given(_canonical())
def test_canonical_arrays_give_scipys_matrix(args: tuple[Any, ...]) -> None:
    data, indices, indptr, shape = args
    assert fits_shortcut(data, indices, indptr, shape)
    got, want = csr_of(*args), _scipy(*args)
    assert type(got) is type(want)
    assert _attributes(got) == _attributes(want)
    assert got.has_canonical_format == want.has_canonical_format
    np.testing.assert_array_equal(got.toarray(), want.toarray())
    x = np.arange(shape[1], dtype=np.float64) + 0.5
    np.testing.assert_array_equal(got @ x, want @ x)
    np.testing.assert_array_equal(got[::-1].toarray(), want[::-1].toarray())


def test_other_arrays_go_to_scipys_constructor() -> None:
    data = np.array([1.0, 2.0, 3.0])
    i32, p32 = np.array([0, 2, 1], dtype=np.int32), np.array([0, 2, 3], dtype=np.int32)
    cases = [
        (data, i32.astype(np.int64), p32.astype(np.int64), (2, 3)),  # narrowed by SciPy
        (data, i32.astype(np.int64), p32, (2, 3)),  # 64-bit columns alone
        (data, i32, p32.astype(np.int64), (2, 3)),  # 64-bit pointers alone
        (data.astype(np.float32), i32, p32, (2, 3)),  # float32 data kept as float32
        (np.append(data, 9.0), np.append(i32, np.int32(0)).astype(np.int32), p32, (2, 3)),
        (data, i32, p32, (2, 2**31)),  # too wide for int32 columns: 64-bit indices
        (data, i32, p32[:2], (2, 3)),  # indptr of the wrong length: SciPy's error
    ]
    for data_, indices, indptr, shape in cases:
        assert not fits_shortcut(data_, indices, indptr, shape)
        try:
            want = _scipy(data_, indices, indptr, shape)
        except ValueError as error:  # SciPy's own error, raised by SciPy's constructor
            with pytest.raises(ValueError, match=re.escape(str(error))):
                csr_of(data_, indices, indptr, shape)
            continue
        assert _attributes(csr_of(data_, indices, indptr, shape)) == _attributes(want)
