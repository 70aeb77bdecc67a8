"""ISDA SIMM: the Standard Initial Margin Model for non-cleared derivatives.

Entry points: :func:`simm_margin` (CRIF lines from any source → :class:`SimmResult`),
:func:`read_crif` / :func:`write_crif`, :func:`load_parameters` and
:func:`available_versions`.  Parameters ship as JSON per version in ``simm/data/``,
converted from the Open Source Risk Engine's calibrations (Modified BSD licence).
See ``docs/simm.md`` for the formulas, versions and provenance.
"""

from __future__ import annotations

from crossmargin.simm.calculation import simm_margin
from crossmargin.simm.crif import Crif, looks_like_crif, read_crif, write_crif
from crossmargin.simm.parameters import SimmParameters, available_versions, load_parameters
from crossmargin.simm.report import SimmLine, SimmResult

__all__ = [
    "Crif",
    "SimmLine",
    "SimmParameters",
    "SimmResult",
    "available_versions",
    "load_parameters",
    "looks_like_crif",
    "read_crif",
    "simm_margin",
    "write_crif",
]
