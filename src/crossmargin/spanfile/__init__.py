"""SPAN risk-parameter files: read CME's expanded ``.pa2`` and XML ``.spn`` formats.

Both readers stream the file and return one :class:`SpanFileData` (risk arrays, composite
deltas, combined commodities, inter-commodity spreads); ``data.span_arrays()`` feeds the
``span`` model's risk-array path (:func:`crossmargin.models.span.row_margins`). The writers
produce the same subset, for round trips and synthetic files. Record layouts and the
elements read: :mod:`crossmargin.spanfile.pa2`, :mod:`crossmargin.spanfile.spn`.
"""

from __future__ import annotations

from pathlib import Path

from crossmargin.errors import InputError
from crossmargin.spanfile.data import CombinedCommodity, Contract, FileSpread, SpanFileData
from crossmargin.spanfile.pa2 import read_pa2, write_pa2
from crossmargin.spanfile.spn import read_spn, write_spn

READERS = {".pa2": read_pa2, ".spn": read_spn, ".xml": read_spn}


def read_span_file(path: str | Path) -> SpanFileData:
    """Read a ``.pa2`` or ``.spn`` (``.xml``) SPAN file by its suffix."""
    p = Path(path)
    reader = READERS.get(p.suffix.lower())
    if reader is None:
        raise InputError(
            f"SPAN file {p}: unknown format {p.suffix!r}; use .pa2 (expanded) or .spn (XML)"
        )
    return reader(p)


__all__ = [
    "CombinedCommodity",
    "Contract",
    "FileSpread",
    "SpanFileData",
    "read_pa2",
    "read_span_file",
    "read_spn",
    "write_pa2",
    "write_spn",
]
