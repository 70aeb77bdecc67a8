"""``rules``: strategy-based standalone margin, the "isolated" baseline desks know.

Each position is charged on its own; nothing nets except identical contracts (netted in
the book). Per contract, in the reporting currency (``S`` underlying spot, ``K`` strike,
``m`` multiplier, ``P`` option premium per contract, ``OTM`` out-of-the-money amount per
unit of underlying, ``F`` futures price)::

    futures, perpetuals   IM = im·N,  MM = mm·N      N = m·F (linear) or m (inverse, USD face)
    spot                  IM = im·m·S, MM = mm·m·S   (Reg T 50% / FINRA 4210 25%)
    long option           P                          (paid in full: no loan value)
    short option, Cboe    m·max(base·S − OTM, min·(S for calls, K for puts))
    short option, Deribit IM = m·S·max(im_base − OTM/S, im_min),  MM = m·S·mm_base

Short options are charged beyond their premium because requirements are equity-inclusive
(:mod:`crossmargin.models.base`); the cash-basis rule figure ("premium plus ...") is this
charge plus the premium. Sources and values: ``crossmargin/models/params/rules.json``
(Cboe Margin Manual and FINRA Rule 4210(f)(2); Regulation T; Deribit standard margin).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from crossmargin.errors import ModelError
from crossmargin.instruments import Instrument
from crossmargin.market.snapshot import MarketSnapshot
from crossmargin.models.base import MarginModel, RowMargins, register
from crossmargin.models.params import ParameterSet, load_parameters, number
from crossmargin.pricing.terms import FUTURE, OPTION, PERPETUAL, SPOT, instrument_terms
from crossmargin.pricing.valuation import base_fx, base_values

FloatArray = NDArray[np.float64]


@dataclass(frozen=True, slots=True, kw_only=True)
class RuleCharges:
    """Per-contract charges (reporting currency) for long and short holdings, IM and MM."""

    long_im: FloatArray
    short_im: FloatArray
    long_mm: FloatArray
    short_mm: FloatArray
    kind: NDArray[np.int64]


def _option_charges(
    rule: str, p: dict[str, Any], where: str, s: float, k: float, call: bool, m: float
) -> tuple[float, float]:
    """(IM, MM) beyond the premium for one short option contract, in quote currency."""
    otm = max(k - s, 0.0) if call else max(s - k, 0.0)
    if rule == "cboe":
        base, floor = number(p, "option_base", where=where), number(p, "option_min", where=where)
        charge = m * max(base * s - otm, floor * (s if call else k))
        return charge, charge
    if rule == "deribit":
        im_base = number(p, "option_im_base", where=where)
        im_min = number(p, "option_im_min", where=where)
        mm_base = number(p, "option_mm_base", where=where)
        return m * s * max(im_base - otm / s, im_min), m * s * mm_base
    raise ModelError(f"{where}: unknown option_rule {rule!r} (use 'cboe' or 'deribit')")


@register
class RulesModel(MarginModel):
    """Strategy-based standalone margin (see module docstring)."""

    name = "rules"
    description = "Standalone rules: futures % of notional, Cboe/Reg T options, Deribit standard"
    subadditive = True
    rows_invariant = True  # one product per position: tests/models/test_row_invariance.py
    nets_collateral = False  # additive: collateral risk is left to the haircut

    def __init__(self, params: str | Path | None = None) -> None:
        self.params: ParameterSet = load_parameters("rules", params)

    def parameters(self) -> dict[str, Any]:
        """Parameter file metadata."""
        return self.params.metadata()

    def prepare(self, instruments: tuple[Instrument, ...], market: MarketSnapshot) -> RuleCharges:
        """Per-contract long/short IM and MM charges in the reporting currency."""
        terms = instrument_terms(instruments, market)
        value = base_values(terms) * base_fx(terms)  # premium or market value per contract, USD
        n = len(instruments)
        long_im, short_im, long_mm, short_mm = (np.zeros(n) for _ in range(4))
        for j, inst in enumerate(instruments):
            p = dict(self.params.for_underlying(inst.underlying))
            where = f"{self.params.path} [{inst.underlying}]"
            s, m = float(terms.spot[j]), float(terms.multiplier[j])
            kind = int(terms.kind[j])
            if terms.expired[j]:
                long_im[j] = long_mm[j] = max(float(value[j]), 0.0)
                continue
            if kind in (FUTURE, PERPETUAL):
                fwd = s * float(np.exp(terms.carry[j] * terms.t[j])) if kind == FUTURE else s
                notional = m if terms.inverse[j] else m * fwd
                im = number(p, "futures_im", where=where) * notional
                mm = number(p, "futures_mm", where=where) * notional
                long_im[j] = short_im[j] = im
                long_mm[j] = short_mm[j] = mm
            elif kind == SPOT:
                long_im[j] = short_im[j] = number(p, "spot_im", where=where) * abs(float(value[j]))
                long_mm[j] = short_mm[j] = number(p, "spot_mm", where=where) * abs(float(value[j]))
            elif kind == OPTION:
                long_im[j] = long_mm[j] = float(value[j])
                im, mm = _option_charges(
                    str(p.get("option_rule", "")),
                    p,
                    where,
                    s,
                    float(terms.strike[j]),
                    bool(terms.is_call[j]),
                    m,
                )
                # Deribit/Cboe amounts are in the quote currency (USD) already.
                short_im[j], short_mm[j] = im, mm
        return RuleCharges(
            long_im=long_im, short_im=short_im, long_mm=long_mm, short_mm=short_mm, kind=terms.kind
        )

    def margin_rows(
        self,
        context: RuleCharges,
        holdings: sp.csr_matrix,
        *,
        detail: NDArray[np.bool_] | None = None,
    ) -> RowMargins:
        """Σ |q|·charge, with long and short charges applied to their side."""
        long_q = holdings.maximum(0)
        short_q = (-holdings).maximum(0)
        im = long_q @ context.long_im + short_q @ context.short_im
        mm = long_q @ context.long_mm + short_q @ context.short_mm
        components: dict[str, FloatArray] = {}
        for label, codes in (
            ("futures", (FUTURE, PERPETUAL)),
            ("spot", (SPOT,)),
            ("long_options", (OPTION,)),
        ):
            mask = np.isin(context.kind, codes).astype(float)
            if label == "long_options":
                components[label] = long_q @ (context.long_im * mask)
                components["short_options"] = short_q @ (context.short_im * mask)
            else:
                components[label] = long_q @ (context.long_im * mask) + short_q @ (
                    context.short_im * mask
                )
        return RowMargins(
            total=np.asarray(im, dtype=np.float64),
            maintenance=np.asarray(mm, dtype=np.float64),
            components=components,
        )
