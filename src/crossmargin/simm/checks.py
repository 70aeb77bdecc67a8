"""CRIF checks that refuse the absurd: currencies, labels, magnitudes, ``AmountUSD`` against
``Amount``, and the ``IMModel`` of each line.

Called by :func:`crossmargin.simm.crif.crif_from_frame`; every problem is an
:class:`~crossmargin.errors.Issue` (row, column, value, reason), reported with the others:

* ``AmountCurrency`` and the currency qualifiers of ``Risk_IRCurve``, ``Risk_Inflation``,
  ``Risk_XCcyBasis``, ``Risk_IRVol``, ``Risk_InflationVol``, ``Risk_FX`` (and both halves of a
  ``Risk_FXVol`` pair) are active ISO 4217 codes (:data:`CURRENCIES`; ``CNH`` accepted as the
  market's offshore yuan): ``eur``, ``Euro`` and ``XXX`` (ISO's "no currency") are refused;
* ``Risk_IRCurve``'s ``Label2`` is a SIMM sub-curve (:data:`IR_SUB_CURVES`, the same in every
  shipped version);
* ``|Amount|`` and ``|AmountUSD|`` are at most :data:`crossmargin.limits.MAX_AMOUNT`;
* where both are given, ``AmountUSD`` agrees with ``Amount``: equal (to 1e-9 relative) for a
  USD amount, otherwise the same sign and an implied rate ``AmountUSD / Amount`` between
  :data:`FX_RANGE` USD per unit (no currency trades outside it);
* ``IMModel`` is empty, ``SIMM`` or ``Schedule``. ``Schedule`` lines belong to the schedule
  (grid) method, not to SIMM: :func:`crossmargin.simm.simm_margin` leaves them out and says
  so in the result's ``notes``, never silently using or dropping them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from crossmargin.errors import Issue
from crossmargin.limits import MAX_AMOUNT
from crossmargin.simm.distinct import LABEL_COLUMNS, distinct_rows, spread

#: Active ISO 4217 alphabetic codes (funds, test and "no currency" codes excluded), and CNH.
CURRENCIES: frozenset[str] = frozenset(
    (
        "AED", "AFN", "ALL", "AMD", "ANG", "AOA", "ARS", "AUD", "AWG", "AZN", "BAM", "BBD", "BDT",
        "BGN", "BHD", "BIF", "BMD", "BND", "BOB", "BOV", "BRL", "BSD", "BTN", "BWP", "BYN", "BZD",
        "CAD", "CDF", "CHE", "CHF", "CHW", "CLF", "CLP", "CNH", "CNY", "COP", "COU", "CRC", "CUC",
        "CUP", "CVE", "CZK", "DJF", "DKK", "DOP", "DZD", "EGP", "ERN", "ETB", "EUR", "FJD", "FKP",
        "GBP", "GEL", "GHS", "GIP", "GMD", "GNF", "GTQ", "GYD", "HKD", "HNL", "HTG", "HUF", "IDR",
        "ILS", "INR", "IQD", "IRR", "ISK", "JMD", "JOD", "JPY", "KES", "KGS", "KHR", "KMF", "KPW",
        "KRW", "KWD", "KYD", "KZT", "LAK", "LBP", "LKR", "LRD", "LSL", "LYD", "MAD", "MDL", "MGA",
        "MKD", "MMK", "MNT", "MOP", "MRU", "MUR", "MVR", "MWK", "MXN", "MXV", "MYR", "MZN", "NAD",
        "NGN", "NIO", "NOK", "NPR", "NZD", "OMR", "PAB", "PEN", "PGK", "PHP", "PKR", "PLN", "PYG",
        "QAR", "RON", "RSD", "RUB", "RWF", "SAR", "SBD", "SCR", "SDG", "SEK", "SGD", "SHP", "SLE",
        "SLL", "SOS", "SRD", "SSP", "STN", "SVC", "SYP", "SZL", "THB", "TJS", "TMT", "TND", "TOP",
        "TRY", "TTD", "TWD", "TZS", "UAH", "UGX", "USD", "USN", "UYI", "UYU", "UYW", "UZS", "VED",
        "VES", "VND", "VUV", "WST", "XAF", "XAG", "XAU", "XCD", "XCG", "XDR", "XOF", "XPD", "XPF",
        "XPT", "YER", "ZAR", "ZMW", "ZWG", "ZWL",
    )
)  # fmt: skip
#: SIMM interest-rate sub-curves (``Label2`` of ``Risk_IRCurve``; ISDA SIMM methodology).
IR_SUB_CURVES: tuple[str, ...] = (
    "OIS", "Libor1m", "Libor3m", "Libor6m", "Libor12m", "Prime", "Municipal",
)  # fmt: skip
#: Accepted ``AmountUSD / Amount`` for a non-USD amount, USD per unit of the currency.
FX_RANGE: tuple[float, float] = (1e-6, 1e4)
#: Accepted ``IMModel`` values (case-insensitive); ``Schedule`` lines are not SIMM.
IM_MODELS: tuple[str, ...] = ("", "simm", "schedule")

_CURRENCY_QUALIFIED = (
    "Risk_IRCurve", "Risk_Inflation", "Risk_XCcyBasis", "Risk_IRVol", "Risk_InflationVol",
    "Risk_FX",
)  # fmt: skip
_UNITLESS = ("Param_ProductClassMultiplier", "Param_AddOnNotionalFactor")

Found = list[tuple[int, Issue]]


def schedule_mask(frame: pd.DataFrame) -> np.ndarray:
    """Lines of the schedule method (``IMModel`` = ``Schedule``, any case), decided once per
    distinct ``IMModel`` value."""
    model = frame["IMModel"]
    if isinstance(model.dtype, pd.CategoricalDtype):
        codes, models = model.cat.codes.to_numpy(), model.cat.categories
    else:
        codes, models = pd.factorize(model)
    decided = pd.Series(models, dtype=str).str.lower().eq("schedule").to_numpy(dtype=bool)
    return spread(np.append(decided, False), codes)


Masks = list[tuple[np.ndarray, str, str]]


def label_masks(frame: pd.DataFrame) -> Masks:
    """(line mask, column, reason) of the label rules, over the lines of ``frame``."""
    rt = frame["RiskType"]
    ccy = frame["AmountCurrency"]
    found: Masks = [
        (
            ccy.ne("").to_numpy() & ~ccy.isin(CURRENCIES).to_numpy(),
            "AmountCurrency",
            "not an ISO 4217 currency code (e.g. USD, EUR)",
        )
    ]
    qualifier = frame["Qualifier"]
    found.append(
        (
            rt.isin(_CURRENCY_QUALIFIED).to_numpy()
            & qualifier.ne("").to_numpy()
            & ~qualifier.isin(CURRENCIES).to_numpy(),
            "Qualifier",
            "not an ISO 4217 currency code, as this RiskType's qualifier must be",
        )
    )
    pairs = rt.eq("Risk_FXVol").to_numpy() & qualifier.str.len().eq(6).to_numpy()
    halves_known = qualifier.str[:3].isin(CURRENCIES) & qualifier.str[3:].isin(CURRENCIES)
    found.append(
        (pairs & ~halves_known.to_numpy(), "Qualifier", "not a pair of ISO 4217 currency codes")
    )
    found.append(
        (
            rt.eq("Risk_IRCurve").to_numpy() & ~frame["Label2"].isin(IR_SUB_CURVES).to_numpy(),
            "Label2",
            f"not a SIMM sub-curve ({', '.join(IR_SUB_CURVES)})",
        )
    )
    model = frame["IMModel"].str.lower()
    found.append(
        (~model.isin(IM_MODELS).to_numpy(), "IMModel", "IMModel must be SIMM, Schedule or empty")
    )
    return found


def crif_checks(
    frame: pd.DataFrame,
    amount: np.ndarray,
    amount_usd: np.ndarray,
    source: str,
    *,
    by_distinct: bool = True,
    distinct: tuple[pd.DataFrame, np.ndarray] | None = None,
) -> Found:
    """(position, issue) for every line breaking a rule of the module docstring.

    ``frame`` has the string columns of :data:`crossmargin.simm.crif.COLUMNS` and ``row``;
    ``amount`` and ``amount_usd`` are the parsed numbers (NaN where empty or bad, reported
    elsewhere).  Label rules run once per distinct label combination and are mapped back
    to the lines (``by_distinct=False``: on every line, the slow twin); ``distinct`` is
    :func:`~crossmargin.simm.distinct.distinct_rows` of ``frame`` when already known.
    """
    rows = frame["row"].to_numpy()
    found: Found = []

    def add(mask: np.ndarray, column: str, reason: str, values: np.ndarray | None = None) -> None:
        if not mask.any():
            return
        shown = frame[column].to_numpy() if values is None else values
        found.extend(
            (int(i), Issue(source=source, row=int(rows[i]), column=column,
                           value=shown[i], reason=reason))
            for i in np.flatnonzero(mask)
        )  # fmt: skip

    if by_distinct:
        table, codes = distinct or distinct_rows(frame, LABEL_COLUMNS)
    else:
        table, codes = frame, np.arange(len(frame))
    for mask, column, reason in label_masks(table):
        add(spread(mask, codes), column, reason)
    with np.errstate(invalid="ignore"):
        within = np.abs(amount) <= MAX_AMOUNT  # False for NaN and ±inf too
        within_usd = np.abs(amount_usd) <= MAX_AMOUNT
    big = np.zeros(len(frame), dtype=bool)
    big_usd = np.zeros(len(frame), dtype=bool)
    if not within.all():
        big = ~within & (np.abs(np.nan_to_num(amount, nan=0.0)) > MAX_AMOUNT)
    if not within_usd.all():
        big_usd = ~within_usd & (np.abs(np.nan_to_num(amount_usd, nan=0.0)) > MAX_AMOUNT)
    add(big, "Amount", f"beyond the maximum amount of {MAX_AMOUNT:g}")
    add(big_usd, "AmountUSD", f"beyond the maximum amount of {MAX_AMOUNT:g}")
    # AmountUSD against Amount: a line whose two amounts are equal passes both rules below
    # (difference 0; implied rate 1, or both zero), so only the others are looked at.
    unitless_d = table["RiskType"].isin(_UNITLESS).to_numpy()
    usd_d = table["AmountCurrency"].eq("USD").to_numpy()
    at = np.flatnonzero((amount_usd != amount) & within & within_usd)
    a, u = amount[at], amount_usd[at]
    is_usd = usd_d[codes[at]]
    both = ~unitless_d[codes[at]]
    differ = np.abs(u - a) > 1e-9 * np.maximum(1.0, np.abs(a))
    mismatch = np.zeros(len(frame), dtype=bool)
    mismatch[at[both & is_usd & differ]] = True
    add(mismatch, "AmountUSD", "differs from Amount although AmountCurrency is USD",
        frame["AmountUSD"].to_numpy() if mismatch.any() else None)  # fmt: skip
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = np.where(a != 0.0, u / a, np.nan)
    zero_mismatch = (a == 0.0) != (u == 0.0)
    lo, hi = FX_RANGE
    implausible = zero_mismatch | ((a != 0.0) & ~((rate >= lo) & (rate <= hi)))
    inconsistent = np.zeros(len(frame), dtype=bool)
    inconsistent[at[both & ~is_usd & implausible]] = True
    add(
        inconsistent,
        "AmountUSD",
        f"inconsistent with Amount: the implied rate AmountUSD/Amount must be {lo:g}..{hi:g} "
        "USD per unit (same sign)",
    )
    return found


__all__ = [
    "CURRENCIES",
    "FX_RANGE",
    "IM_MODELS",
    "IR_SUB_CURVES",
    "crif_checks",
    "label_masks",
    "schedule_mask",
]
