"""Request bodies of the HTTP service (pydantic), with the constraints that give 422s.

Every field is bounded so that a request that passes validation is one the engine can take;
what only the engine can check (a symbol it cannot parse, market data it lacks) comes back
as a domain error (see :mod:`crossmargin.service.errors`). Types are strict, as in a book
file: a quantity is a JSON number (``true`` and ``"5"`` are refused), a flag a JSON boolean.
Each request model carries an example that the service answers with 200 (tested).
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from crossmargin.contracts import ContractsFile
from crossmargin.defaults import DEFAULT_MODEL
from crossmargin.models import model_names
from crossmargin.models.result import GROUPINGS
from crossmargin.simm import available_versions

#: Models the service offers by name (``conservative`` is reached through ``also``).
SERVICE_MODELS: tuple[str, ...] = tuple(n for n in model_names() if n != "conservative")
VAR_MODELS: tuple[str, ...] = ("es", "hvar")
MAX_ROWS = 20_000
#: Largest absolute quantity, price or amount a request may carry (contracts, coins, USD).
MAX_AMOUNT = 1e15

Text = Annotated[str, Field(min_length=1, max_length=128)]
Money = Annotated[float, Field(strict=True, allow_inf_nan=False, ge=-MAX_AMOUNT, le=MAX_AMOUNT)]
Grouping = Literal["position", "product", "underlying", "asset-class", "account"]
assert set(GROUPINGS) == {"position", "product", "underlying", "asset-class", "account"}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


def _model_name(value: str) -> str:
    if value not in SERVICE_MODELS:
        raise ValueError(f"unknown model {value!r}: choose one of {', '.join(SERVICE_MODELS)}")
    return value


QuantityUnit = Literal["contracts", "usd", "coin"]


class PositionRow(_Strict):
    """One position: ``quantity`` (signed) of ``symbol`` in ``account``, in ``quantity_unit``
    (contracts; USD face of inverse futures and perpetuals; coins of crypto products)."""

    account: Text
    symbol: Text
    quantity: Money
    quantity_unit: QuantityUnit = "contracts"
    trade_price: Money | None = None
    position_id: Text | None = None
    venue: Text | None = None


class CollateralRow(_Strict):
    """``amount`` units of ``asset`` (USD, USDC, BTC, SPY ...) posted by ``account``."""

    account: Text
    asset: Text
    amount: Money
    venue: Text | None = None


class TradeRow(_Strict):
    """A proposed trade of the what-if account (its account is the request's)."""

    symbol: Text
    quantity: Money
    quantity_unit: QuantityUnit = "contracts"
    trade_price: Money | None = None


class ModelParameters(_Strict):
    """Model parameters; each applies to the models named in its description."""

    mode: Literal["cross", "segregated"] | None = Field(
        default=None,
        description="pm_grid: one USD risk unit per underlying, or per settlement currency",
    )
    venue: Literal["deribit", "paradex", "okx"] | None = Field(
        default=None, description="pm_grid: venue"
    )
    confidence: float | None = Field(
        default=None, gt=0.0, lt=1.0, description="es, hvar: confidence"
    )
    lookback: str | None = Field(
        default=None,
        pattern=r"^\s*[1-9][0-9]{0,4}\s*[DWMYdwmy]\s*$",
        description="es, hvar: lookback as calendar time (12M, 365D, 2Y; default 12M)",
        examples=["12M"],
    )
    mpor: int | None = Field(
        default=None,
        ge=1,
        le=20,
        description="es, hvar: margin period of risk in steps of each netting set's calendar "
        "(days for crypto-only sets, NYSE sessions otherwise)",
    )
    lam: float | None = Field(
        default=None, gt=0.0, lt=1.0, description="es, hvar: EWMA decay (fhs)"
    )
    apc: Literal["buffer", "stress-weight", "floor"] | None = Field(
        default=None, description="es, hvar: anti-procyclicality tool (EMIR Art 28)"
    )
    method: Literal["hs", "fhs"] | None = Field(default=None, description="es, hvar: scenarios")
    horizon_method: Literal["overlapping", "sqrt"] | None = Field(
        default=None, description="es, hvar: how daily moves reach the MPOR"
    )

    def for_model(self, name: str) -> dict[str, Any]:
        """Constructor keyword arguments for model ``name``; ValueError if one does not apply."""
        given = self.model_dump(exclude_none=True)
        applies = {
            "pm_grid": {"mode", "venue"},
            "es": set(given) - {"mode", "venue"},
            "hvar": set(given) - {"mode", "venue"},
        }.get(name, set())
        wrong = sorted(set(given) - applies)
        if wrong:
            raise ValueError(f"parameter(s) {', '.join(wrong)} do not apply to model {name}")
        return given


class _ModelChoice(_Strict):
    model: str = Field(
        default=DEFAULT_MODEL,
        description="Margin model",
        json_schema_extra={"enum": list(SERVICE_MODELS)},
    )
    also: str | None = Field(
        default=None,
        description="A second model: charge the more conservative of the two",
        json_schema_extra={"enum": [*SERVICE_MODELS, None]},
    )
    parameters: ModelParameters = ModelParameters()
    by: Grouping = "underlying"
    cap: float | None = Field(
        default=None,
        ge=0.0,
        le=1.0,
        description="Art 27(4) cap C on the credits across underlyings (policy default 0.8)",
    )
    offsets: Literal["emir", "none"] = Field(
        default="emir",
        description="Offset policy: emir (caps and eligibility tests per tier) or none",
    )
    cross_margin: str = Field(
        default="all",
        max_length=512,
        description="Which venues of an account are margined together: all, none, or groups "
        "like 'cme+occ,deribit' (accounts spanning groups become ACCOUNT@GROUP netting sets)",
    )
    asof: str | None = Field(
        default=None,
        pattern=r"^\d{4}-\d{2}-\d{2}$",
        description="Valuation date (YYYY-MM-DD); default the service's, fixed when it started "
        "(GET /v1/health). Every response states the date used.",
        examples=["2026-02-11"],
    )

    @field_validator("asof")
    @classmethod
    def _real_date(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                date.fromisoformat(value)
            except ValueError:
                raise ValueError(f"{value!r} is not a calendar date (YYYY-MM-DD)") from None
        return value

    @field_validator("model")
    @classmethod
    def _known(cls, value: str) -> str:
        return _model_name(value)

    @field_validator("also")
    @classmethod
    def _known_also(cls, value: str | None) -> str | None:
        return None if value is None else _model_name(value)


EXAMPLE_POSITIONS: list[dict[str, Any]] = [
    {"account": "acc-1", "symbol": "BTC-PERPETUAL", "quantity": 2000.0},
    {"account": "acc-1", "symbol": "BTC-25DEC26-100000-C", "quantity": -5.0},
    {"account": "acc-1", "symbol": "ETH-PERPETUAL", "quantity": -150000.0,
     "quantity_unit": "usd"},
    {"account": "acc-2", "symbol": "SPY", "quantity": 100.0},
]  # fmt: skip
MARGIN_EXAMPLE: dict[str, Any] = {
    "positions": EXAMPLE_POSITIONS,
    "model": "pm_grid",
    "by": "underlying",
    "record": True,
}
WHAT_IF_EXAMPLE: dict[str, Any] = {
    "account": "acc-1",
    "positions": EXAMPLE_POSITIONS[:3],
    "trades": [{"symbol": "BTC-25DEC26-120000-C", "quantity": -2.0}],
    "collateral": 1_000_000.0,
    "model": "pm_grid",
}
CASCADE_EXAMPLE: dict[str, Any] = {
    "population": {"accounts": 30, "seed": 7},
    "crisis": "2025-10-10",
    "record": False,
}
SIMM_EXAMPLE: dict[str, Any] = {
    "crif": [
        {"ProductClass": "RatesFX", "RiskType": "Risk_FX", "Qualifier": "EUR",
         "Amount": 1_000_000.0, "AmountCurrency": "USD", "AmountUSD": 1_000_000.0},
        {"ProductClass": "RatesFX", "RiskType": "Risk_IRCurve", "Qualifier": "USD",
         "Bucket": "1", "Label1": "5y", "Label2": "OIS", "Amount": 25_000.0,
         "AmountCurrency": "USD", "AmountUSD": 25_000.0},
    ],
    "version": "2.6",
}  # fmt: skip

CONTRACTS_HELP = (
    "The caller's own products and market-series mappings, as a contracts file's JSON "
    "(docs/formats.md); merged into the service's contracts for this request only. "
    "Market-series files are relative to the service's data folder."
)


class MarginRequest(_ModelChoice):
    """``POST /v1/margin``: a book and how to margin it."""

    model_config = ConfigDict(json_schema_extra={"examples": [MARGIN_EXAMPLE]})

    positions: list[PositionRow] = Field(min_length=1, max_length=MAX_ROWS)
    collateral: list[CollateralRow] = Field(default_factory=list, max_length=MAX_ROWS)
    record: bool = Field(True, description="Record the run in the service's run store")
    contracts: ContractsFile | None = Field(default=None, description=CONTRACTS_HELP)


class WhatIfRequest(_ModelChoice):
    """``POST /v1/what-if``: an account's book, proposed trades and its collateral."""

    model_config = ConfigDict(json_schema_extra={"examples": [WHAT_IF_EXAMPLE]})

    account: Text
    positions: list[PositionRow] = Field(min_length=1, max_length=MAX_ROWS)
    trades: list[TradeRow] = Field(min_length=1, max_length=1000)
    collateral: float = Field(
        default=0.0,
        ge=0.0,
        le=1e15,
        allow_inf_nan=False,
        description="Extra cash in the reporting currency (USD) on top of the holdings",
    )
    holdings: list[CollateralRow] = Field(
        default_factory=list,
        max_length=MAX_ROWS,
        description="The account's collateral holdings (cash, stablecoins, coins, securities)",
    )
    contracts: ContractsFile | None = Field(default=None, description=CONTRACTS_HELP)


CrifText = Annotated[str, Field(max_length=128)]


class CrifRow(_Strict):
    """One CRIF line (ISDA Risk Data Standards column names)."""

    RiskType: CrifText
    Qualifier: CrifText = ""
    Bucket: CrifText = ""
    Label1: CrifText = ""
    Label2: CrifText = ""
    Amount: Money
    AmountCurrency: CrifText = "USD"
    AmountUSD: Money | None = None
    ProductClass: CrifText = ""
    TradeID: CrifText = ""
    PortfolioID: CrifText = ""
    IMModel: CrifText = ""
    collect_regulations: CrifText = ""
    post_regulations: CrifText = ""


class SimmRequest(_Strict):
    """``POST /v1/simm``: CRIF lines and the SIMM version."""

    model_config = ConfigDict(json_schema_extra={"examples": [SIMM_EXAMPLE]})

    crif: list[CrifRow] = Field(min_length=1, max_length=MAX_ROWS)
    version: str = Field(default="2.6", json_schema_extra={"enum": list(available_versions())})
    mpor: Literal[1, 10] = 10
    post: bool = False

    @field_validator("version")
    @classmethod
    def _known_version(cls, value: str) -> str:
        if value not in available_versions():
            raise ValueError(
                f"unknown SIMM version {value!r}: use one of {', '.join(available_versions())}"
            )
        return value


MAX_POPULATION = 5_000
CascadeMode = Literal["population", "isolated", "grouped", "cross"]
ALL_MODES: list[CascadeMode] = ["population", "isolated", "grouped", "cross"]


class HypotheticalMoves(_Strict):
    """A hypothetical shock: relative moves (> −1) per underlying or asset class."""

    name: Text = "hypothetical"
    moves: dict[Text, Annotated[float, Field(gt=-1.0, le=100.0, allow_inf_nan=False)]] = Field(
        min_length=1, max_length=64
    )


class CascadeRequest(_Strict):
    """``POST /v1/cascade``: a book (positions and collateral) or a population spec, a shock,
    the loss allocation and the margin modes to compare (``docs/service.md``)."""

    positions: list[PositionRow] = Field(default_factory=list, max_length=MAX_ROWS)
    collateral: list[CollateralRow] = Field(default_factory=list, max_length=MAX_ROWS)
    population: dict[str, Any] | None = Field(
        default=None,
        description="A population spec (docs/cascade.md): accounts (1 to 5,000 here; more with "
        "the CLI), seed and distributions",
        examples=[{"accounts": 1000, "seed": 7}],
    )
    crisis: Annotated[str, Field(min_length=1, max_length=32)] | None = Field(
        default=None, description="2020-03-12, ftx, 2024-08-05, 2025-10-10, or DAY / START:END"
    )
    scenario: HypotheticalMoves | None = None
    spread: Annotated[str, Field(min_length=5, max_length=64)] | None = Field(
        default=None, description="Correlation break LONG:SHORT:MULTIPLE, e.g. BTC:ETH:17"
    )
    scale: float = Field(default=1.0, ge=0.0, le=10.0, allow_inf_nan=False)
    mode: Literal["venue", "ccp"] = "venue"
    modes: list[CascadeMode] = Field(
        default_factory=lambda: list(ALL_MODES),
        min_length=1,
        max_length=4,
    )
    model: str | None = Field(
        default=None,
        description="Calibrate a book's maintenance margin to this model (re-run every step)",
        json_schema_extra={"enum": [*SERVICE_MODELS, None]},
    )
    record: bool = Field(True, description="Record the run in the service's run store")

    @field_validator("model")
    @classmethod
    def _known_model(cls, value: str | None) -> str | None:
        return None if value is None else _model_name(value)


RUN_ID_PATTERN = r"^r-[0-9]{8}T[0-9]{6}-[0-9a-f]{8}$"

__all__ = [
    "CASCADE_EXAMPLE",
    "MARGIN_EXAMPLE",
    "MAX_AMOUNT",
    "MAX_POPULATION",
    "RUN_ID_PATTERN",
    "SERVICE_MODELS",
    "SIMM_EXAMPLE",
    "WHAT_IF_EXAMPLE",
    "CascadeRequest",
    "CrifRow",
    "HypotheticalMoves",
    "MarginRequest",
    "ModelParameters",
    "PositionRow",
    "SimmRequest",
    "TradeRow",
    "WhatIfRequest",
]
