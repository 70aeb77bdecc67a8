"""The unit of every figure of a JSON result: the ``units`` block of ``margin``, ``value`` and
``what-if`` payloads (CLI ``--json`` and the service).

A ``units`` block maps field names to units. The unit of a figure is found by its key path
(list positions left out), nearest first (:func:`unit_of`): the longest dotted suffix of the
path that the block names, then the same for its parent (a container such as
``components``, whose entries all share a unit), and so on up. ``equity.haircut`` (money)
thus beats ``haircut`` (a decimal fraction of a holding), and a key ending in ``*`` names
every key with that prefix (``binding_*``).

**One convention for ratios.** A ratio is a decimal fraction (``0.4`` = 40%) unless its key
ends in ``_pct``, which is a percent (``51.3`` = 51.3%): ``benefit_pct`` keeps its historical
percent, and its name says so. Money is in the result's currency; Greeks state what they
are per (vega per 1.00 of volatility = 100 vol points, theta per year: the tables show per
vol point and per day).
"""

from __future__ import annotations

import fnmatch
import functools
from collections.abc import Mapping, Sequence
from typing import Any

PERCENT = "percent (51.3 = 51.3%)"
DECIMAL = "decimal fraction (0.4 = 40%)"
CORRELATION = "correlation coefficient (-1..1)"
COUNT = "count"
_MARGIN_MONEY = (
    "total", "maintenance", "standalone_total", "grouped_total", "netted_total", "benefit",
    "netted", "standalone", "grouped", "capped", "margin", "base", "credit", "components",
)  # fmt: skip
_EQUITY_MONEY = (
    "collateral_value", "equity.haircut", "collateral_after_haircut", "mtm", "unrealised_pnl",
    "equity", "initial_margin", "maintenance_margin", "excess", "value", "value_after_haircut",
)  # fmt: skip
_WHAT_IF_MONEY = (
    "collateral", "premium_paid", "margin_before", "margin_after", "incremental_margin",
    "equity_before", "equity_after",
)  # fmt: skip


def _money(currency: str, what: str = "") -> str:
    return f"{currency}{': ' + what if what else ''}"


def margin_units(currency: str) -> dict[str, str]:
    """Units of a margin result (:meth:`crossmargin.models.MarginResult.to_dict`); a new
    dictionary each call (written once per currency)."""
    return dict(_margin_units(currency))


@functools.lru_cache(maxsize=64)
def _margin_units(currency: str) -> dict[str, str]:
    money = _money(currency)
    return {
        "money": _money(currency, "totals, margins, components, benefits, equity, collateral, MTM"),
        # totals and per-account figures
        **dict.fromkeys(_MARGIN_MONEY, money),
        "benefit_pct": "percent of the standalone requirement (51.3 = 51.3%)",
        "info": "per key: the unit named in parentheses (pm_grid's segregated risk units, "
        f"e.g. 'BTC/BTC worst_case (BTC)' in BTC), else {currency}",
        "components.binding_*": "flag: 1 where that model's requirement binds, else 0",
        "days_to_liquidate": "trading days",
        "cap": DECIMAL + ": the share of an offset's credit kept",
        "quantity": "contracts (netted positions; see quantity_unit)",
        # equity and collateral
        **dict.fromkeys(_EQUITY_MONEY, money),
        "margin_ratio": "decimal: equity / maintenance margin (1.5 = 150%)",
        "utilisation": "decimal: initial margin / equity (0.4 = 40%)",
        "haircut": "decimal fraction of a holding's value (0.1 = 10%); equity.haircut is money",
        "amount": "units of the collateral asset (coins, shares, currency)",
        "price": f"{currency} per unit of the collateral asset",
        # offset eligibility tests and policy
        "rho": CORRELATION,
        "lower_bound": CORRELATION + ": one-sided lower confidence bound of |rho|",
        "min_correlation": CORRELATION,
        "confidence": DECIMAL + " (0.99 = 99%)",
        "tests.lookback.days": COUNT + " of joint daily observations",
        "tests.stressed.days": COUNT + " of joint daily observations",
        # historical models: each netting set's windows
        "scenarios": COUNT + " of scenarios",
        "calendar_days": "calendar days",
        "mpor_steps": "steps of the netting set's calendar (days or NYSE sessions)",
        "mpor_calendar_days": "calendar days",
        "vol_factors": COUNT + " of days",
        "correlations": CORRELATION,
        "parameters": "as the model's parameter file states them (docs/models/)",
    }


def valuation_units(currency: str) -> dict[str, str]:
    """Units of a valuation (:meth:`crossmargin.pricing.mtm.BookValuation.to_dict`)."""
    return {
        "money": _money(currency, "MTM and dollar delta"),
        **dict.fromkeys(("net_mtm", "gross_positive", "gross_negative", "mtm"), currency),
        "quantity": "contracts (see quantity_unit)",
        "value_per_contract": "the settlement currency per contract (settlement_currency)",
        "spot": f"{currency} per unit of the underlying",
        "delta": "units of the underlying (coins, shares, index units): "
        f"{currency} per 1 {currency} move of the spot",
        "dollar_delta": f"{currency}: delta x spot",
        "gamma": f"units of the underlying per 1 {currency} move of the spot (d delta / d spot)",
        "vega": f"{currency} per 1.00 change of implied vol (100 vol points; the table shows "
        "per vol point)",
        "theta": f"{currency} per year of time decay (the table shows per day, /365)",
    }


def what_if_units(currency: str) -> dict[str, str]:
    """Units of a what-if (:meth:`crossmargin.api.WhatIfResult.to_dict`): its own figures and
    those of the account rows ``before`` and ``after`` (as in a margin result); a new
    dictionary each call (written once per currency)."""
    return dict(_what_if_units(currency))


@functools.lru_cache(maxsize=64)
def _what_if_units(currency: str) -> dict[str, str]:
    money = _money(currency)
    return {
        **_margin_units(currency),
        **dict.fromkeys(_WHAT_IF_MONEY, money),
    }


def unit_of(path: Sequence[str | int], units: Mapping[str, str]) -> str | None:
    """The declared unit of the figure at ``path`` (see the module docstring), or None."""
    parts = [str(p) for p in path if not isinstance(p, int)]
    patterns = [k for k in units if k.endswith("*")]
    for end in range(len(parts), 0, -1):
        for start in range(end):
            key = ".".join(parts[start:end])
            if key in units:
                return units[key]
            for pattern in patterns:
                if fnmatch.fnmatchcase(key, pattern):
                    return units[pattern]
    return None


def uncovered(payload: Any, units: Mapping[str, str]) -> list[str]:
    """Key paths of the numbers in ``payload`` that ``units`` gives no unit for."""
    missing: list[str] = []

    def walk(value: Any, path: tuple[str | int, ...]) -> None:
        if isinstance(value, bool) or value is None or isinstance(value, str):
            return
        if isinstance(value, int | float):
            if unit_of(path, units) is None:
                missing.append(".".join(str(p) for p in path))
            return
        if isinstance(value, Mapping):
            for key, item in value.items():
                if path == () and key == "units":
                    continue
                walk(item, (*path, str(key)))
        elif isinstance(value, list | tuple):
            for i, item in enumerate(value):
                walk(item, (*path, i))

    walk(payload, ())
    return missing


__all__ = [
    "CORRELATION",
    "DECIMAL",
    "PERCENT",
    "margin_units",
    "uncovered",
    "unit_of",
    "valuation_units",
    "what_if_units",
]
