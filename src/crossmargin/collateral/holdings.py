"""Collateral holdings per account: cash, stablecoins, coins and securities.

A holding is ``amount`` units of ``asset`` posted by ``account`` (at ``venue`` when given:
the venue picks the haircut schedule; empty: the account's house schedule). Kinds:

============  ===============================================  =========================
kind          assets                                           moves in scenarios
============  ===============================================  =========================
fiat          USD, EUR, GBP, JPY, CHF, CAD, AUD                no (FX stress: not yet)
stablecoin    USDC, USDT, USDe, DAI, FDUSD, PYUSD              only in a depeg stress
coin          crypto underlyings with a price history (BTC,   with its price, like spot
              ETH, any crypto series of the market catalogue)
security      NYSE price series of the catalogue (SPY, AAPL)   with its price, like spot
============  ===============================================  =========================

A negative amount is a borrowed balance (a debt in that asset). Files are CSV, JSON or
Parquet with columns ``account``, ``asset``, ``amount`` and an optional ``venue`` (a JSON book
may carry them as ``{"positions": [...], "collateral": [...]}``); every bad row is reported
with file, row, column and value, and nothing is loaded when one is bad; an unknown column
is an error.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from crossmargin.errors import InputError, Issue, SchemaError
from crossmargin.limits import MAX_AMOUNT
from crossmargin.market.history import load_catalogue

AssetKind = Literal["fiat", "stablecoin", "coin", "security"]
ASSET_KINDS: tuple[AssetKind, ...] = ("fiat", "stablecoin", "coin", "security")
FIAT = ("USD", "EUR", "GBP", "JPY", "CHF", "CAD", "AUD")
STABLECOINS = ("USDC", "USDT", "USDe", "DAI", "FDUSD", "PYUSD")
COLUMNS = ("account", "asset", "amount", "venue")
REQUIRED = ("account", "asset", "amount")


def asset_kind(asset: str) -> AssetKind:
    """The kind of a collateral asset; InputError naming the known assets if unknown."""
    if asset in FIAT:
        return "fiat"
    if asset in STABLECOINS:
        return "stablecoin"
    spec = load_catalogue().get(asset)
    if spec is not None and spec.kind == "price":
        return "coin" if spec.calendar == "crypto" else "security"
    raise InputError(
        f"unknown collateral asset {asset!r}: use a currency ({', '.join(FIAT)}), a "
        f"stablecoin ({', '.join(STABLECOINS)}), or a coin or security with a price history "
        "(BTC, ETH, SPY, AAPL ...)"
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class CollateralHolding:
    """``amount`` units of ``asset`` posted by ``account`` (see the module docstring)."""

    account: str
    asset: str
    amount: float
    venue: str = ""

    def __post_init__(self) -> None:
        if not self.account:
            raise InputError("a collateral holding needs an account id")
        if not math.isfinite(self.amount) or abs(self.amount) > MAX_AMOUNT:
            raise InputError(
                f"collateral {self.asset} of {self.account}: amount {self.amount!r} must be "
                f"finite and at most {MAX_AMOUNT:g} in absolute value"
            )
        asset_kind(self.asset)

    @property
    def kind(self) -> AssetKind:
        """``fiat``, ``stablecoin``, ``coin`` or ``security``."""
        return asset_kind(self.asset)


def parse_collateral_rows(
    rows: Sequence[Mapping[str, Any]],
    *,
    source: str,
    row_numbers: Sequence[int] | None = None,
) -> tuple[CollateralHolding, ...]:
    """Validate collateral rows, collecting every issue (SchemaError lists them all)."""
    from crossmargin.portfolio.columns import column_problems  # (portfolio imports this module)

    issues: list[Issue] = []
    out: list[CollateralHolding] = []
    numbers = list(row_numbers) if row_numbers is not None else list(range(1, len(rows) + 1))
    for number, raw in zip(numbers, rows, strict=True):
        row = {str(k).strip().lower(): v for k, v in raw.items()}
        unknown = column_problems(raw, COLUMNS)
        for k, reason in unknown:
            issues.append(Issue(source=source, row=number, column=k, reason=reason))
        missing = [c for c in REQUIRED if row.get(c) in (None, "")]
        for c in missing:
            issues.append(Issue(source=source, row=number, column=c, reason="required"))
        if missing or unknown:
            continue
        account, asset = str(row["account"]).strip(), str(row["asset"]).strip()
        try:
            asset_kind(asset)
        except InputError as bad:
            issues.append(Issue(source=source, row=number, column="asset", value=asset,
                                reason=str(bad)))  # fmt: skip
            continue
        try:
            if isinstance(row["amount"], bool):
                raise ValueError
            amount = float(row["amount"])
            if not math.isfinite(amount):
                raise ValueError
        except (TypeError, ValueError, OverflowError):
            issues.append(Issue(source=source, row=number, column="amount", value=row["amount"],
                                reason="not a finite number"))  # fmt: skip
            continue
        if abs(amount) > MAX_AMOUNT:
            issues.append(Issue(source=source, row=number, column="amount", value=row["amount"],
                                reason=f"beyond the maximum amount of {MAX_AMOUNT:g}"))  # fmt: skip
            continue
        venue = str(row.get("venue") or "").strip()
        out.append(CollateralHolding(account=account, asset=asset, amount=amount, venue=venue))
    SchemaError.raise_if_any(issues, headline=f"{source}: bad collateral rows")
    return tuple(out)


def load_collateral(path: str | Path) -> tuple[CollateralHolding, ...]:
    """Read a collateral file (CSV, JSON list or ``{"collateral": [...]}``, Parquet)."""
    from crossmargin.portfolio.io import read_records

    target = Path(path)
    rows, numbers = read_records(target, section="collateral", what="collateral")
    if not rows:
        raise InputError(f"{target}: the collateral file has no rows")
    return parse_collateral_rows(rows, source=str(target), row_numbers=numbers)


__all__ = [
    "ASSET_KINDS",
    "FIAT",
    "STABLECOINS",
    "AssetKind",
    "CollateralHolding",
    "asset_kind",
    "load_collateral",
    "parse_collateral_rows",
]
