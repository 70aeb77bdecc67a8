"""A book's contracts looked up in a SPAN risk-parameter file: the arrays ``span`` margins.

``crossmargin margin BOOK --model span --params FILE.spn`` (or ``.pa2``) margins the book
with the file's risk arrays, composite deltas and inter-commodity spreads instead of our own
revaluation; the rest is the same risk-array path (:func:`crossmargin.models.span.row_margins`,
METHODS §2.10). Each instrument is found in the file by::

    product = the instrument's root (ZB, ZN ...)     period = its expiry month, CCYYMM
    kind    = FUT for futures, PHY for spot, an option record (OOF, OOP, OOC, OOE) for options
    right   = C / P,  strike = the file's strike read as a number        (options only)

[U] The option month is taken as the option's expiry month and the strike as written in the
file, without a strike decimal locator; CME's option months can precede the contract month.
A contract the file does not hold is a :class:`~crossmargin.errors.ModelError` naming every
missing instrument and the file. Risk arrays are in each CC's currency and are converted to
the reporting currency at the snapshot's FX rate. The file carries no tiers, intra spreads,
spot-month charges or short option minimum for these readers (one tier per CC, no SOM);
``net_option_value`` is the snapshot's value of the positions, as for ``span``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from crossmargin.errors import InputError, ModelError
from crossmargin.instruments import Instrument
from crossmargin.market.snapshot import MarketSnapshot
from crossmargin.models.span_core import SpanArrays
from crossmargin.pricing.terms import instrument_terms
from crossmargin.pricing.valuation import base_fx, base_values
from crossmargin.spanfile import READERS, read_span_file
from crossmargin.spanfile.data import Contract, SpanFileData

#: File contract types for each instrument kind (CME SPAN product types).
FILE_KINDS = {
    "future": ("FUT",),
    "spot": ("PHY",),
    "option": ("OOF", "OOP", "OOC", "OOE"),
}


def span_file(params: str | Path | None, overrides: Mapping[str, object]) -> SpanFileData | None:
    """The SPAN file ``params`` names (by its suffix: ``.pa2``, ``.spn``, ``.xml``), else None.

    Keyword overrides of the scan parameters cannot apply to a file's arrays: InputError.
    """
    if params is None or Path(params).suffix.lower() not in READERS:
        return None
    if overrides:
        raise InputError(
            f"span: parameter overrides {sorted(overrides)} do not apply to the risk arrays "
            f"of SPAN file {params}"
        )
    return read_span_file(params)


def _strike(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _key(inst: Instrument) -> tuple[str, str, str, float | None]:
    """(product, period CCYYMM, right, strike) an instrument is looked up by."""
    expiry: datetime | None = inst.expiry
    period = expiry.strftime("%Y%m") if expiry is not None else ""
    right = ("C" if inst.is_call else "P") if inst.kind == "option" else ""
    return inst.spec.root, period, right, inst.strike if inst.kind == "option" else None


def _matches(c: Contract, kind: str, key: tuple[str, str, str, float | None]) -> bool:
    product, period, right, strike = key
    if c.kind not in FILE_KINDS.get(kind, ()) or (c.product, c.period) != (product, period):
        return False
    return kind != "option" or (c.right == right and _strike(c.strike) == strike)


def contract_rows(data: SpanFileData, instruments: tuple[Instrument, ...]) -> list[int]:
    """The file row of each instrument; ModelError listing every instrument not found."""
    by_product: dict[str, list[int]] = {}
    for i, c in enumerate(data.contracts):
        by_product.setdefault(c.product, []).append(i)
    rows: list[int] = []
    missing: list[str] = []
    for inst in instruments:
        key = _key(inst)
        found = [
            i for i in by_product.get(key[0], []) if _matches(data.contracts[i], inst.kind, key)
        ]
        if found:
            rows.append(found[0])
        else:
            what = " ".join(str(k) for k in key if k not in ("", None))
            missing.append(f"{inst.symbol} ({inst.kind} {what})")
    if missing:
        raise ModelError(
            f"span: SPAN file {data.source} has no risk array for {'; '.join(missing)}; "
            "instruments are looked up by root, expiry month CCYYMM and, for options, "
            "right and strike"
        )
    return rows


def file_arrays(
    data: SpanFileData, instruments: tuple[Instrument, ...], market: MarketSnapshot
) -> SpanArrays:
    """:class:`SpanArrays` of ``instruments`` (in their order) from the file's records.

    Only the CCs the instruments fall in are kept, and the file's inter spreads whose legs
    are all among them. Losses are converted from each CC's currency into the reporting
    currency.
    """
    rows = contract_rows(data, instruments)
    sub = replace(
        data,
        contracts=tuple(data.contracts[i] for i in rows),
        risk=data.risk[rows],
        delta=data.delta[rows],
    )
    arrays = sub.span_arrays()
    fx = np.array(
        [
            market.fx_rate(data.combined_commodities[c.cc].currency or market.reporting_currency)
            if c.cc in data.combined_commodities
            else 1.0
            for c in sub.contracts
        ]
    )
    terms = instrument_terms(instruments, market)
    options = np.array([i.kind == "option" for i in instruments], dtype=bool)
    calls = np.array([i.kind == "option" and i.is_call for i in instruments], dtype=bool)
    m = len(arrays.cc_names)
    return replace(
        arrays,
        loss=np.ascontiguousarray(arrays.loss * fx[None, :]),
        som_per_short=np.zeros(len(instruments)),
        is_call=calls,
        is_put=options & ~calls,
        som_gross=np.ones(m, dtype=bool),
        value=base_values(terms) * base_fx(terms),
        im_ratio=np.ones(m),
    )


def file_parameters(data: SpanFileData) -> dict[str, Any]:
    """What the model reports as its parameters when they come from a SPAN file."""
    return {
        "source": data.source,
        "span_file_format": data.file_format,
        "exchange_complex": data.exchange_complex,
        "business_date": data.business_date,
        "contracts": len(data.contracts),
        "combined_commodities": {
            k: {"currency": c.currency, "risk_exponent": c.risk_exponent}
            for k, c in data.combined_commodities.items()
        },
        "inter_spreads": [
            {
                "priority": x.priority,
                "method": x.method,
                "rate": x.rate,
                "legs": list(x.legs),
                "ratio": list(x.ratios),
                "sides": list(x.sides),
                "target": x.target,
            }
            for x in data.inter_spreads
        ],
        "records": dict(data.records),
    }


__all__ = ["FILE_KINDS", "contract_rows", "file_arrays", "file_parameters", "span_file"]
