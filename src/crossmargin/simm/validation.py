"""Version-specific CRIF checks and conversion of amounts to USD.

:func:`crossmargin.simm.crif.read_crif` checks what any CRIF must satisfy; this module checks
what depends on the SIMM version (bucket ranges, tenor labels) and resolves each line's
amount in USD.  Every bad line is reported, together, in one
:class:`~crossmargin.errors.SchemaError`.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from crossmargin.errors import Issue, SchemaError
from crossmargin.simm.crif import PRODUCT_CLASSES, RISK_TYPE_CLASS, Crif
from crossmargin.simm.distinct import LABEL_COLUMNS, distinct_rows, spread
from crossmargin.simm.parameters import SimmParameters

_IR_QUALIFIED = (
    "Risk_IRCurve",
    "Risk_Inflation",
    "Risk_XCcyBasis",
    "Risk_IRVol",
    "Risk_InflationVol",
    "Risk_FX",
)
_TENORED = (
    "Risk_IRCurve",
    "Risk_IRVol",
    "Risk_InflationVol",
    "Risk_EquityVol",
    "Risk_CommodityVol",
    "Risk_FXVol",
)
_CREDIT_TENORED = ("Risk_CreditQ", "Risk_CreditNonQ", "Risk_CreditVol", "Risk_CreditVolNonQ")
_BUCKETED = {
    "Risk_CreditQ": "CreditQualifying",
    "Risk_CreditVol": "CreditQualifying",
    "Risk_CreditNonQ": "CreditNonQualifying",
    "Risk_CreditVolNonQ": "CreditNonQualifying",
    "Risk_Equity": "Equity",
    "Risk_EquityVol": "Equity",
    "Risk_Commodity": "Commodity",
    "Risk_CommodityVol": "Commodity",
}
_DIMENSIONLESS = ("Param_ProductClassMultiplier", "Param_AddOnNotionalFactor")


def _issues(crif: Crif, mask: np.ndarray, column: str, reason: str) -> list[tuple[int, Issue]]:
    return _frame_issues(crif.frame, crif.source, mask, column, reason)


def _frame_issues(
    frame: pd.DataFrame, source: str, mask: np.ndarray, column: str, reason: str
) -> list[tuple[int, Issue]]:
    if not mask.any():
        return []
    rows = frame["row"].to_numpy()
    values = frame[column].to_numpy()
    return [
        (
            int(i),
            Issue(
                source=source,
                row=int(rows[i]),
                column=column,
                value=values[i],
                reason=reason,
            ),
        )
        for i in np.flatnonzero(mask)
    ]


Masks = list[tuple[np.ndarray, str, str]]


def version_masks(frame: pd.DataFrame, params: SimmParameters) -> Masks:
    """(line mask, column, reason) of every version check, over the lines of ``frame``.

    ``frame`` needs the label columns only (see :data:`crossmargin.simm.distinct.LABEL_COLUMNS`).
    """
    rt = frame["RiskType"]
    found: Masks = []
    is_risk = rt.isin(list(RISK_TYPE_CLASS)).to_numpy()
    qualifier = frame["Qualifier"]
    found.append((is_risk & qualifier.eq("").to_numpy(), "Qualifier", "Qualifier is missing"))
    ccy_like = qualifier.str.fullmatch(r"[A-Z]{3}").to_numpy(dtype=bool)
    found.append(
        (
            rt.isin(_IR_QUALIFIED).to_numpy() & ~ccy_like & qualifier.ne("").to_numpy(),
            "Qualifier",
            "qualifier must be an ISO currency code for this RiskType",
        )
    )
    pair_like = qualifier.str.fullmatch(r"[A-Z]{6}").to_numpy(dtype=bool)
    found.append(
        (
            rt.eq("Risk_FXVol").to_numpy() & ~pair_like,
            "Qualifier",
            "Risk_FXVol qualifier must be a currency pair such as EURUSD",
        )
    )
    bucket = frame["Bucket"]
    for risk_type, risk_class in _BUCKETED.items():
        allowed = params.delta_buckets(risk_class)
        found.append(
            (
                rt.eq(risk_type).to_numpy() & ~bucket.isin(allowed).to_numpy(),
                "Bucket",
                f"bucket outside SIMM {params.version} range for {risk_type} "
                f"({allowed[0]}..{allowed[-1]})",
            )
        )
    ir_buckets = params.delta_buckets("InterestRate")
    found.append(
        (
            rt.eq("Risk_IRCurve").to_numpy() & ~bucket.isin(("", *ir_buckets)).to_numpy(),
            "Bucket",
            f"IR bucket must be empty or one of {', '.join(ir_buckets)}",
        )
    )
    label1 = frame["Label1"]
    found.append(
        (
            rt.isin(_TENORED).to_numpy() & ~label1.isin(params.tenors).to_numpy(),
            "Label1",
            f"tenor must be one of {', '.join(params.tenors)}",
        )
    )
    found.append(
        (
            rt.isin(_CREDIT_TENORED).to_numpy() & ~label1.isin(params.credit_tenors).to_numpy(),
            "Label1",
            f"credit tenor must be one of {', '.join(params.credit_tenors)}",
        )
    )
    found.append(
        (
            rt.eq("Param_ProductClassMultiplier").to_numpy()
            & ~qualifier.isin(PRODUCT_CLASSES).to_numpy(),
            "Qualifier",
            f"multiplier qualifier must be one of {', '.join(PRODUCT_CLASSES)}",
        )
    )
    return found


def version_issues(
    frame: pd.DataFrame,
    source: str,
    params: SimmParameters,
    *,
    by_distinct: bool = True,
    distinct: tuple[pd.DataFrame, np.ndarray] | None = None,
) -> list[tuple[int, Issue]]:
    """(position, issue) for every line of ``frame`` invalid for SIMM ``params``.

    ``frame`` has the string columns of :data:`crossmargin.simm.crif.COLUMNS` and ``row``.
    The checks run once per distinct label combination and are mapped back to the lines
    (``by_distinct=False``: on every line, the slow twin); ``distinct`` is
    :func:`~crossmargin.simm.distinct.distinct_rows` of ``frame`` when already known.
    """
    if by_distinct:
        table, codes = distinct or distinct_rows(frame, LABEL_COLUMNS)
        masks = [(spread(m, codes), c, r) for m, c, r in version_masks(table, params)]
    else:
        masks = version_masks(frame, params)
    found: list[tuple[int, Issue]] = []
    for mask, column, reason in masks:
        found += _frame_issues(frame, source, mask, column, reason)
    return found


def validate_for_version(crif: Crif, params: SimmParameters) -> None:
    """Check buckets, tenors and qualifiers against SIMM ``params``; raise all problems."""
    found = version_issues(crif.frame, crif.source, params)
    if found:
        found.sort(key=lambda pair: pair[0])
        rows = len({i for i, _ in found})
        raise SchemaError(
            [issue for _, issue in found],
            headline=f"{rows} CRIF line{'s' if rows != 1 else ''} invalid for SIMM "
            f"{params.version} in {crif.source}",
        )


def amounts_in_usd(crif: Crif, fx_rates: Mapping[str, float] | None) -> np.ndarray:
    """Each line's amount in USD (dimensionless parameter lines keep their number).

    ``AmountUSD`` is used where given; otherwise ``Amount`` when ``AmountCurrency`` is
    USD, else ``Amount × fx_rates[AmountCurrency]`` (USD per unit of the currency).
    """
    frame = crif.frame
    given = frame["AmountUSD"].to_numpy(dtype=np.float64)
    amount = frame["Amount"].to_numpy(dtype=np.float64)
    dimensionless = frame["RiskType"].isin(_DIMENSIONLESS).to_numpy()
    missing = np.isnan(given)
    if not missing.any() and not dimensionless.any():
        return given  # every line has its USD amount (read-only: the frame's own column)
    usd = given.copy()
    usd[dimensionless] = amount[dimensionless]
    missing = np.isnan(usd)
    currency = frame["AmountCurrency"]
    is_usd = currency.eq("USD").to_numpy()
    usd[missing & is_usd] = amount[missing & is_usd]
    need = missing & ~is_usd
    if need.any():
        rates = pd.Series(dict(fx_rates or {}), dtype=np.float64)
        looked_up = currency[need].astype(str).map(rates).to_numpy(dtype=np.float64)
        unknown = np.isnan(looked_up)
        if unknown.any():
            bad = np.zeros(len(frame), dtype=bool)
            bad[np.flatnonzero(need)[unknown]] = True
            issues = [
                issue
                for _, issue in _issues(
                    crif,
                    bad,
                    "AmountCurrency",
                    "AmountUSD is empty and no FX rate to USD was given for this currency "
                    "(pass fx_rates={'EUR': 1.08, ...})",
                )
            ]
            raise SchemaError(issues)
        usd[need] = amount[need] * looked_up
    return usd


__all__ = ["amounts_in_usd", "validate_for_version", "version_issues", "version_masks"]
