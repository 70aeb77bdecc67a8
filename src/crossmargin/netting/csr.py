"""CSR matrices from arrays already in SciPy's form, without SciPy's checks on every call.

``scipy.sparse.csr_matrix((data, indices, indptr), shape=...)`` picks the index type (for
64-bit indices by scanning them), converts, checks the arrays' lengths and trims them: about
20 µs a call on this project's machine, several calls a what-if, for matrices of a few rows
whose arrays the caller made right. :func:`csr_of` gives the matrix that call gives, the same
attributes over the same values, and skips the work when the arrays are what SciPy would keep
as they are:

* ``data`` float64 and ``indices`` and ``indptr`` int32, all one-dimensional;
* ``indptr`` one longer than the rows, ``indices`` and ``data`` exactly ``indptr[-1]`` long;
* both dimensions within int32 (SciPy then keeps int32 indices).

Anything else goes to SciPy's constructor. The shortcut sets the attributes SciPy's
constructor sets; at import a small matrix is built both ways and the shortcut is used only
if they agree attribute for attribute (a SciPy version that sets others falls back to its
constructor, at its cost). Like SciPy's own call without ``full_check``, the column order
within rows is not checked: the callers give canonical rows.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

#: The largest index an ``int32`` CSR index array holds (SciPy narrows to ``int32`` below it).
INT32_MAX = int(np.iinfo(np.int32).max)


def _assembled(
    data: npt.NDArray[Any], indices: npt.NDArray[Any], indptr: npt.NDArray[Any],
    shape: tuple[int, int],
) -> sp.csr_matrix:  # fmt: skip
    """The matrix object with SciPy's constructor's attributes set directly."""
    out: sp.csr_matrix = sp.csr_matrix.__new__(sp.csr_matrix)
    out._shape = (int(shape[0]), int(shape[1]))
    out.maxprint = _MAXPRINT
    out.indices = indices
    out.indptr = indptr
    out.data = data
    return out


def _same(a: sp.csr_matrix, b: sp.csr_matrix) -> bool:
    """Whether two matrices hold the same attributes with the same values and types."""
    if vars(a).keys() != vars(b).keys():
        return False
    for name, value in vars(a).items():
        other = vars(b)[name]
        if isinstance(value, np.ndarray):
            if not (
                isinstance(other, np.ndarray)
                and value.dtype == other.dtype
                and np.array_equal(value, other)
            ):
                return False
        elif type(value) is not type(other) or value != other:
            return False
    return True


def _reference() -> tuple[sp.csr_matrix, tuple[Any, ...]]:
    """A small matrix made by SciPy's constructor, and the arrays and shape it was made of."""
    args = (
        np.array([1.5, -2.0, 3.0]),
        np.array([0, 2, 1], dtype=np.int32),
        np.array([0, 2, 2, 3], dtype=np.int32),
        (3, 4),
    )
    return sp.csr_matrix(args[:3], shape=args[3], copy=False), args


_REFERENCE, _ARGS = _reference()
_MAXPRINT = getattr(_REFERENCE, "maxprint", 50)
#: Whether :func:`csr_of` may skip SciPy's constructor on this SciPy (module docstring).
SHORTCUT = _same(_REFERENCE, _assembled(*_ARGS))
del _REFERENCE, _ARGS


def fits_shortcut(
    data: npt.NDArray[Any], indices: npt.NDArray[Any], indptr: npt.NDArray[Any],
    shape: tuple[int, int],
) -> bool:  # fmt: skip
    """Whether the arrays are as SciPy's constructor would keep them (module docstring)."""
    return (
        data.dtype == np.float64
        and indices.dtype == np.int32
        and indptr.dtype == np.int32
        and data.ndim == indices.ndim == indptr.ndim == 1
        and indptr.size == shape[0] + 1
        and data.size == indices.size == (int(indptr[-1]) if indptr.size else -1)
        and max(shape) <= INT32_MAX
        and min(shape) >= 0
    )


def csr_of(
    data: npt.NDArray[Any], indices: npt.NDArray[Any], indptr: npt.NDArray[Any],
    shape: tuple[int, int],
) -> sp.csr_matrix:  # fmt: skip
    """``scipy.sparse.csr_matrix((data, indices, indptr), shape=shape, copy=False)``, made
    directly when the arrays are already in its form (module docstring)."""
    if SHORTCUT and fits_shortcut(data, indices, indptr, shape):
        return _assembled(data, indices, indptr, shape)
    return sp.csr_matrix((data, indices, indptr), shape=shape, copy=False)


__all__ = ["INT32_MAX", "SHORTCUT", "csr_of", "fits_shortcut"]
