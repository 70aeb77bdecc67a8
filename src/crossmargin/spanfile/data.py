"""What a SPAN risk-parameter file holds, once read: the common result of both readers.

Both formats (the positional expanded ``.pa2`` and the XML ``.spn``) are read into one
:class:`SpanFileData`; :meth:`SpanFileData.span_arrays` turns it into the
:class:`~crossmargin.models.span_core.SpanArrays` that the ``span`` model's risk-array path
margins (METHODS §2.10: arrays from a file and arrays from our own revaluation feed the same
code).

Units: risk-array values are per one long contract in the CC's performance-bond currency,
loss positive (CME sign), with the extreme scenarios 15 and 16 already multiplied by their
cover fraction, as SPAN files carry them (METHODS §2.3, §2.11) [U: the readers do not apply
the cover again]; composite deltas are futures equivalents per contract.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from crossmargin.errors import InputError
from crossmargin.models.span_core import ScanSpread, SpanArrays, Spread

FloatArray = NDArray[np.float64]
N_SCENARIOS = 16
#: Scenario labels of the 16 CME scenarios (METHODS §2.2 order) and each one's pair.
LABELS = (
    "0 vol up",
    "0 vol down",
    "+1/3 vol up",
    "+1/3 vol down",
    "-1/3 vol up",
    "-1/3 vol down",
    "+2/3 vol up",
    "+2/3 vol down",
    "-2/3 vol up",
    "-2/3 vol down",
    "+3/3 vol up",
    "+3/3 vol down",
    "-3/3 vol up",
    "-3/3 vol down",
    "+extreme",
    "-extreme",
)
PAIRS = (1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10, 13, 12, 14, 15)


@dataclass(frozen=True, slots=True, kw_only=True)
class Contract:
    """One contract with a risk array: where it sits and what it is (no arrays here)."""

    cc: str
    exchange: str
    product: str
    kind: str  # FUT, PHY, OOF, OOP, ... as the file says
    period: str  # contract month CCYYMM (option month for options)
    right: str = ""  # "C" or "P" for options
    strike: str = ""
    line: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class CombinedCommodity:
    """A combined commodity's currency and risk exponent."""

    code: str
    currency: str = ""
    risk_exponent: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class FileSpread:
    """An inter-commodity spread of the file, in priority order.

    ``method`` is ``"delta"`` or ``"scanning"``; ``rate`` a fraction (0.70 = 70 %).
    """

    priority: int
    method: str
    rate: float
    legs: tuple[str, ...]
    ratios: tuple[float, ...]
    sides: tuple[str, ...]
    target: str = ""
    line: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class SpanFileData:
    """A SPAN risk-parameter file, read.

    ``risk`` is (contracts, 16), ``delta`` (contracts,), aligned with ``contracts``;
    ``records`` counts every record type (or XML element) seen, read or skipped.
    """

    source: str
    file_format: str
    exchange_complex: str
    business_date: str
    combined_commodities: Mapping[str, CombinedCommodity]
    contracts: tuple[Contract, ...]
    risk: FloatArray
    delta: FloatArray
    inter_spreads: tuple[FileSpread, ...] = ()
    records: Mapping[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.contracts)
        if self.risk.shape != (n, N_SCENARIOS) or self.delta.shape != (n,):
            raise InputError(
                f"SPAN file {self.source}: {n} contracts but risk arrays of shape "
                f"{self.risk.shape} and deltas of shape {self.delta.shape}"
            )

    def index(self, cc: str, product: str, period: str, right: str = "", strike: str = "") -> int:
        """Row of one contract; InputError naming it if the file has no such contract."""
        key = (cc, product, period, right, strike)
        for i, c in enumerate(self.contracts):
            if (c.cc, c.product, c.period, c.right, c.strike) == key:
                return i
        raise InputError(f"SPAN file {self.source}: no contract {key}")

    def span_arrays(self) -> SpanArrays:
        """The file's risk arrays, composite deltas and inter spreads as SpanArrays.

        One tier per CC (the readers do not read tier or intra-spread records yet); spreads
        whose legs are not all in the file are left out.
        """
        ccs = tuple(dict.fromkeys(c.cc for c in self.contracts))
        cc_of = np.array([ccs.index(c.cc) for c in self.contracts], dtype=np.int64)
        delta: list[Spread] = []
        scanning: list[ScanSpread] = []
        for s in sorted(self.inter_spreads, key=lambda s: s.priority):
            if not all(leg in ccs for leg in s.legs):
                continue
            ids = tuple(ccs.index(leg) for leg in s.legs)
            if s.method == "scanning":
                target = ccs.index(s.target) if s.target in ccs else ids[0]
                scanning.append(
                    ScanSpread(legs=ids, ratios=s.ratios, sides=s.sides, rate=s.rate, target=target)
                )
            elif len(ids) == 2:
                delta.append(
                    Spread(
                        a=ids[0],
                        b=ids[1],
                        ratio_a=s.ratios[0],
                        ratio_b=s.ratios[1],
                        rate=s.rate,
                        method="delta",
                    )
                )
        m = len(ccs)
        return SpanArrays(
            cc_names=ccs,
            scenario_labels=LABELS,
            loss=np.ascontiguousarray(self.risk.T),
            weights=np.ones((m, N_SCENARIOS)),
            pair=np.array(PAIRS, dtype=np.int64),
            time_scenarios=np.array([0, 1], dtype=np.int64),
            cc_of=cc_of,
            composite_delta=self.delta.copy(),
            tier_of=cc_of.copy(),
            tier_cc=np.arange(m, dtype=np.int64),
            inter_spreads=tuple(delta),
            scan_spreads=tuple(scanning),
        )


__all__ = ["CombinedCommodity", "Contract", "FileSpread", "SpanFileData"]
