"""Instruments: contract specs (a shipped data table), instrument terms and symbol parsing."""

from __future__ import annotations

from crossmargin.instruments.instrument import Instrument
from crossmargin.instruments.specs import (
    ContractSpec,
    ContractTable,
    Kind,
    Settlement,
    contract_table,
)
from crossmargin.instruments.symbols import parse_symbol

__all__ = [
    "ContractSpec",
    "ContractTable",
    "Instrument",
    "Kind",
    "Settlement",
    "contract_table",
    "parse_symbol",
]
