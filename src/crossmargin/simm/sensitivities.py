"""SIMM sensitivities (CRIF lines) computed from a book's own positions.

:func:`book_crif` turns every netted position of a :class:`~crossmargin.portfolio.Portfolio`
into CRIF lines that :func:`crossmargin.simm.simm_margin` accepts, using the closed-form
reporting-currency Greeks of :func:`crossmargin.pricing.greeks.reporting_greeks` (delta
``∂(V·X)/∂S`` per contract in underlying units, vega ``∂(V·X)/∂σ`` per 1.00 of vol, both
in the reporting currency, inverse contracts included)::

    delta (Risk_Equity / Risk_Commodity)        s   = q · Δ · S · 0.01
    vega  (Risk_EquityVol / Risk_CommodityVol)  s_j = q · ν · 0.01 · w_j(T)

* **Delta** is the value change for a 1 % relative rise of the underlying price (ISDA SIMM
  Methodology v2.5-v2.8, section C "Definition of the delta ... sensitivity": equity and
  commodity ``s = V(1.01·x) − V(x)``), taken to first order.
* **Vega** is the value change for a rise of the implied volatility by one percentage
  point (0.20 → 0.21), ``∂V/∂σ · 0.01``.  For equity, commodity and FX the CRIF amount is
  the plain vega: SIMM itself multiplies it by ``σ_k = RW_k·√(365/14)/Φ⁻¹(0.99)``, a
  volatility *in percent* derived from the delta risk weight (Methodology section B,
  "vega risk"; Clarus, *ISDA SIMM in Excel – Equity Options*), as
  :meth:`crossmargin.simm.SimmParameters.vega_sigma` does.  Vega times implied vol
  (``σ·∂V/∂σ``) is the convention of the interest-rate and credit volatility lines only;
  used here it would be multiplied by σ twice.
* **Tenors**: the vega of an option expiring in ``T`` days is split between the two
  neighbouring SIMM vertices 2w, 1m, 3m, 6m, 1y, 2y, 3y, 5y, 10y, 15y, 20y, 30y (14 days,
  then ``n·365/12`` and ``n·365`` days, the day counts of the engine's curvature scaling)
  linearly in time: ``w_hi = (T − T_lo)/(T_hi − T_lo)``, ``w_lo = 1 − w_hi``; before 2w
  everything goes to 2w, beyond 30y to 30y.  The weights sum to one.
* **Curvature** needs no lines of its own: SIMM derives it from the vega lines
  (``CVR = Σ_j SF(t_j)·σ_k·s_kj``, see :mod:`crossmargin.simm.curvature`).

Risk factors come from a mapping underlying → (qualifier, risk class, bucket, product
class) shipped as ``simm/data/book_mapping.json`` and overridable per underlying.  Crypto
has no SIMM risk class; the default puts BTC and ETH in **Commodity bucket 16 ("Other")**:
it is the catch-all bucket of the methodology for underlyings outside the named commodity
groups, its risk weight is the largest commodity weight and at least the equity residual
weight in every shipped version (v2.5 58 vs 34, v2.6 68 vs 50, v2.8+2506 64 vs 39,
v2.8+2512 44 vs 38), its correlations with other buckets and between its qualifiers are
zero (no hedge credit between BTC, ETH and anything else), and it is the baseline that
Federal Reserve FEDS 2026-009 (Amirdjanova, Lynch, Zheng, *Initial Margin for Crypto
Currencies Risks in Uncleared Markets*) measures a dedicated crypto class against.
Equity bucket "Residual" is the documented alternative (``--mapping``).

Amounts are in the snapshot's reporting currency (``AmountCurrency``) with ``AmountUSD``
filled; ``PortfolioID`` is the account and ``TradeID`` the position id (or the symbol).
Interest-rate (rho, carry) and FX sensitivities of the positions are not generated.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from crossmargin.errors import InputError
from crossmargin.market.snapshot import MarketSnapshot
from crossmargin.portfolio import Portfolio
from crossmargin.pricing.greeks import reporting_greeks
from crossmargin.pricing.terms import instrument_terms
from crossmargin.simm.crif import COLUMNS, Crif, crif_from_frame

FloatArray = NDArray[np.float64]

#: SIMM volatility tenor vertices and their length in calendar days (365 per year).
VEGA_TENORS: tuple[str, ...] = (
    "2w", "1m", "3m", "6m", "1y", "2y", "3y", "5y", "10y", "15y", "20y", "30y",
)  # fmt: skip
TENOR_DAYS: FloatArray = np.array(
    [14.0, 365.0 / 12, 365.0 / 4, 365.0 / 2, 365.0, 730.0, 1095.0, 1825.0, 3650.0, 5475.0,
     7300.0, 10950.0]
)  # fmt: skip
DAYS_PER_YEAR = 365.0
#: Relative spot shift of a delta sensitivity and absolute vol shift of a vega one.
DELTA_SHIFT = 0.01
VEGA_SHIFT = 0.01

_RISK_TYPES = {"Equity": ("Risk_Equity", "Risk_EquityVol")}
_RISK_TYPES["Commodity"] = ("Risk_Commodity", "Risk_CommodityVol")
#: Buckets of ISDA SIMM v2.5-v2.8.
_BUCKETS = {
    "Equity": frozenset([str(b) for b in range(1, 13)] + ["Residual"]),
    "Commodity": frozenset(str(b) for b in range(1, 18)),
}
_PRODUCT_CLASSES = frozenset({"RatesFX", "Credit", "Equity", "Commodity"})

MappingInput = str | os.PathLike[str] | Mapping[str, Any] | None


@dataclass(frozen=True, slots=True, kw_only=True)
class RiskFactorMapping:
    """Where one underlying's sensitivities go in the CRIF."""

    qualifier: str
    risk_class: str
    bucket: str
    product_class: str
    note: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class PositionNote:
    """A position that produced no CRIF line, and why."""

    account: str
    symbol: str
    position_id: str | None
    reason: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready mapping."""
        return {
            "account": self.account,
            "symbol": self.symbol,
            "position_id": self.position_id,
            "reason": self.reason,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class BookCrif:
    """CRIF lines of a book, and the positions that legitimately produced none.

    Attributes
    ----------
    crif:
        The validated CRIF (pass it to :func:`crossmargin.simm.simm_margin`).
    accounts:
        Every account of the book, in book order (some may have no line).
    notes:
        One entry per position without any line (zero net quantity, expired, all
        sensitivities exactly zero), with the reason.
    """

    crif: Crif
    accounts: tuple[str, ...]
    notes: tuple[PositionNote, ...]

    def for_account(self, account: str) -> Crif:
        """The lines of one account (``PortfolioID``), possibly none."""
        if account not in self.accounts:
            raise InputError(f"unknown account {account!r} (accounts: {', '.join(self.accounts)})")
        frame = self.crif.frame
        part = frame[frame["PortfolioID"] == account].reset_index(drop=True)
        return Crif(frame=part, source=f"{self.crif.source} [{account}]")


def _entry(underlying: str, raw: Any, source: str) -> RiskFactorMapping:
    if not isinstance(raw, Mapping):
        raise InputError(f"{source}: entry for {underlying!r} must be an object")
    risk_class = str(raw.get("risk_class", ""))
    if risk_class not in _BUCKETS:
        raise InputError(
            f"{source}: {underlying!r} has risk_class {risk_class!r}; use Equity or Commodity"
        )
    bucket = str(raw.get("bucket", ""))
    if bucket not in _BUCKETS[risk_class]:
        allowed = "1-12 or Residual" if risk_class == "Equity" else "1-17"
        raise InputError(
            f"{source}: {underlying!r} has {risk_class} bucket {bucket!r}; use {allowed}"
        )
    product_class = str(raw.get("product_class", risk_class))
    if product_class not in _PRODUCT_CLASSES:
        raise InputError(
            f"{source}: {underlying!r} has product_class {product_class!r}; use one of "
            f"{', '.join(sorted(_PRODUCT_CLASSES))}"
        )
    return RiskFactorMapping(
        qualifier=str(raw.get("qualifier") or underlying),
        risk_class=risk_class,
        bucket=bucket,
        product_class=product_class,
        note=str(raw.get("note", "")),
    )


def _entries(data: Any, source: str) -> dict[str, RiskFactorMapping]:
    table = data.get("underlyings", data) if isinstance(data, Mapping) else None
    if not isinstance(table, Mapping):
        raise InputError(f"{source}: expected {{'underlyings': {{name: {{...}}}}}}")
    return {
        str(k): _entry(str(k), v, source) for k, v in table.items() if not str(k).startswith("_")
    }


def default_mapping() -> dict[str, RiskFactorMapping]:
    """The shipped mapping ``simm/data/book_mapping.json``."""
    text = (resources.files("crossmargin.simm") / "data" / "book_mapping.json").read_text("utf-8")
    return _entries(json.loads(text), "book_mapping.json")


def load_mapping(mapping: MappingInput = None) -> dict[str, RiskFactorMapping]:
    """The default mapping, with the entries of ``mapping`` replacing it per underlying.

    ``mapping`` is a JSON file path or a mapping with the shipped file's layout
    (``{"underlyings": {"BTC": {"risk_class": "Equity", "bucket": "Residual"}}}``; the
    ``"underlyings"`` level may be left out).  ``qualifier`` defaults to the underlying
    and ``product_class`` to the risk class.
    """
    merged = default_mapping()
    if mapping is None:
        return merged
    if isinstance(mapping, str | os.PathLike):
        from crossmargin.files import load_json

        path = Path(mapping)
        data = load_json(path, what="SIMM mapping")
        merged.update(_entries(data, str(path)))
    else:
        merged.update(_entries(mapping, "SIMM mapping"))
    return merged


def tenor_weights(days: FloatArray) -> FloatArray:
    """Allocation of a vega at ``days`` to expiry onto :data:`VEGA_TENORS` (rows sum to 1).

    Linear in time between the two neighbouring vertices; flat before 2w and after 30y.
    """
    d = np.clip(np.asarray(days, dtype=np.float64), TENOR_DAYS[0], TENOR_DAYS[-1])
    hi = np.clip(np.searchsorted(TENOR_DAYS, d, side="right"), 1, TENOR_DAYS.size - 1)
    lo = hi - 1
    w_hi = (d - TENOR_DAYS[lo]) / (TENOR_DAYS[hi] - TENOR_DAYS[lo])
    out = np.zeros((d.size, TENOR_DAYS.size))
    rows = np.arange(d.size)
    out[rows, lo] = 1.0 - w_hi
    out[rows, hi] += w_hi
    return out


def _check_mapped(portfolio: Portfolio, table: Mapping[str, RiskFactorMapping]) -> None:
    missing: dict[str, list[str]] = {}
    for pos in portfolio.positions:
        if pos.instrument.underlying not in table:
            missing.setdefault(pos.instrument.underlying, []).append(pos.symbol)
    if missing:
        parts = [f"{u} ({', '.join(dict.fromkeys(s))})" for u, s in missing.items()]
        raise InputError(
            "no SIMM risk factor for underlying(s) " + "; ".join(parts) + ": add them to a "
            'mapping file ({"underlyings": {"NAME": {"risk_class": "Equity", "bucket": "11"}}}) '
            "and pass it with --mapping FILE (mapping=...)"
        )


def book_crif(
    portfolio: Portfolio, snapshot: MarketSnapshot, mapping: MappingInput = None
) -> BookCrif:
    """CRIF delta and vega lines of every netted position of ``portfolio``.

    Parameters
    ----------
    portfolio:
        The book; positions are netted per account and instrument.
    snapshot:
        Market on the valuation date (spots, vol surfaces, carry, rates).
    mapping:
        Overrides of the default underlying → risk factor mapping (see
        :func:`load_mapping`).

    Returns
    -------
    BookCrif
        The CRIF (one delta line per position, one vega line per position and tenor
        vertex with a non-zero weight; zero amounts left out) and notes on positions
        without lines.

    Raises
    ------
    InputError
        An underlying has no mapping (all of them are named), or the mapping is invalid.
    MarketDataError, PricingError
        Missing spot or vol surface, or an expired instrument without a settlement price.
    """
    table = load_mapping(mapping)
    _check_mapped(portfolio, table)
    instruments = portfolio.instruments
    terms = instrument_terms(instruments, snapshot)
    greeks = reporting_greeks(terms)
    index = {inst: j for j, inst in enumerate(instruments)}
    usd = 1.0 if snapshot.reporting_currency == "USD" else 1.0 / snapshot.fx_rate("USD")
    weights = tenor_weights(terms.t * DAYS_PER_YEAR)
    records: list[dict[str, Any]] = []
    notes: list[PositionNote] = []
    for pos in portfolio.positions:
        inst = pos.instrument
        j = index[inst]
        factor = table[inst.underlying]
        delta_type, vega_type = _RISK_TYPES[factor.risk_class]
        base = dict.fromkeys(COLUMNS, "") | {
            "TradeID": pos.position_id or pos.symbol,
            "PortfolioID": pos.account,
            "ProductClass": factor.product_class,
            "Qualifier": factor.qualifier,
            "Bucket": factor.bucket,
            "Label2": "",
            "AmountCurrency": snapshot.reporting_currency,
        }
        amounts: list[tuple[str, str, float]] = []
        delta = pos.quantity * greeks.delta[j] * terms.spot[j] * DELTA_SHIFT
        amounts.append((delta_type, "", float(delta)))
        vega = pos.quantity * greeks.vega[j] * VEGA_SHIFT
        amounts += [
            (vega_type, t, float(vega * w)) for t, w in zip(VEGA_TENORS, weights[j], strict=True)
        ]
        lines = [(rt, label, a) for rt, label, a in amounts if a != 0.0]
        for risk_type, label1, amount in lines:
            records.append(
                base
                | {
                    "RiskType": risk_type,
                    "Label1": label1,
                    "Amount": amount,
                    "AmountUSD": amount * usd,
                }
            )
        if not lines:
            notes.append(
                PositionNote(
                    account=pos.account,
                    symbol=pos.symbol,
                    position_id=pos.position_id,
                    reason=_no_line_reason(pos.quantity, bool(terms.expired[j]), inst.expiry),
                )
            )
    frame = pd.DataFrame.from_records(records, columns=list(COLUMNS))
    source = f"SIMM sensitivities of {portfolio.source or 'book'}"
    crif = crif_from_frame(frame, source=source)
    return BookCrif(crif=crif, accounts=portfolio.accounts, notes=tuple(notes))


def _no_line_reason(quantity: float, expired: bool, expiry: Any) -> str:
    if quantity == 0.0:
        return "net quantity is zero"
    if expired:
        return f"expired at {expiry:%Y-%m-%d %H:%M} UTC: a settled value has no sensitivity"
    return "delta and vega are exactly zero at this market"


__all__ = [
    "DELTA_SHIFT",
    "TENOR_DAYS",
    "VEGA_SHIFT",
    "VEGA_TENORS",
    "BookCrif",
    "PositionNote",
    "RiskFactorMapping",
    "book_crif",
    "default_mapping",
    "load_mapping",
    "tenor_weights",
]
