"""``kernels.dense_rows`` against its NumPy twin (``np.nonzero`` row by row, the values at
those places, the running count per row): the same arrays, dtypes included, on drawn
matrices with zeros, negative zeros, NaN and infinities, empty rows and no rows."""

from __future__ import annotations

import numpy as np
import pytest

from crossmargin.pricing.kernels import dense_rows


def _twin(dense: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r, indices = np.nonzero(dense)
    data = dense[r, indices]
    indptr = np.concatenate(([0], np.cumsum(np.bincount(r, minlength=dense.shape[0]))))
    return indptr.astype(np.int64), indices.astype(np.int64), data


@pytest.mark.parametrize("seed", range(12))
def test_dense_rows_is_the_numpy_twin(seed: int) -> None:
    rng = np.random.default_rng(seed)
    shape = (int(rng.integers(0, 7)), int(rng.integers(0, 60)))
    dense = rng.normal(size=shape) * 1e3
    cells = rng.random(shape)
    dense[cells < 0.5] = 0.0
    dense[(cells >= 0.5) & (cells < 0.55)] = -0.0
    dense[(cells >= 0.55) & (cells < 0.57)] = np.nan
    dense[(cells >= 0.57) & (cells < 0.58)] = -np.inf
    if shape[0] > 1:
        dense[1] = 0.0  # an empty row
    got, want = dense_rows(dense), _twin(dense)
    for a, b in zip(got, want, strict=True):
        assert a.dtype == b.dtype
        assert np.array_equal(a, b, equal_nan=True)
    # the values themselves, bit for bit (negative zeros are not entries; NaN stays NaN)
    assert np.array_equal(got[2].view(np.uint64), want[2].view(np.uint64))
