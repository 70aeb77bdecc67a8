"""Capital figures of cross margining, per account (money in the reporting currency).

=====================  ========================================================================
isolated               the ``rules`` requirement: every position margined on its own
                       (strategy-based, the baseline desks know; ``docs/sample-book.md``)
requirement            the model's requirement after the offset tiers (what the account holds)
freed                  ``isolated − requirement``: capital cross margining frees
funding value          ``freed × r`` per year: what the freed capital earns (or saves) at the
                       funding rate ``r``: by default SOFR (EFFR before SOFR exists) on the
                       market date from the history, else the rate given
ROE                    for a strategy earning ``ρ`` a year on its isolated capital, P&L
                       ``ρ·isolated``; ``ROE_isolated = ρ``, ``ROE_cross = ρ·isolated /
                       requirement``; the uplift is their difference (decimals per year)
utilisation            ``requirement / equity`` (None where equity ≤ 0)
liquidation distance   the smallest joint move of the account's risk factors whose loss exceeds
                       its cushion ``equity − maintenance margin``: the Mahalanobis distance of
                       :func:`crossmargin.analysis.stress.reverse.reverse_stress` run against
                       the cushion instead of the margin (0 where the cushion is already gone)
=====================  ========================================================================

``cash`` adds cash collateral to every account: a number, or ``"isolated"`` (each account
funded with its isolated requirement, the capital it would post without cross margining).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from crossmargin.analysis.stress.common import HeldMargin, netting_set_groups
from crossmargin.analysis.stress.factors import es_window, full_history, var_model
from crossmargin.analysis.stress.reverse import ReverseStress, reverse_stress
from crossmargin.collateral.holdings import CollateralHolding
from crossmargin.errors import InputError, MarketDataError
from crossmargin.market.history import MarketHistory
from crossmargin.market.snapshot import MarketSnapshot
from crossmargin.models import MarginModel, MarginResult, get_model
from crossmargin.portfolio import Portfolio

DEFAULT_RETURN = 0.10


@dataclass(frozen=True, slots=True, kw_only=True)
class AccountCapital:
    """One account's capital figures (module docstring)."""

    account: str
    isolated: float
    requirement: float
    equity: float
    maintenance: float | None
    rate: float
    strategy_return: float
    liquidation: ReverseStress | None = None

    @property
    def freed(self) -> float:
        """``isolated − requirement``."""
        return self.isolated - self.requirement

    @property
    def funding_value(self) -> float:
        """``freed × rate`` per year."""
        return self.freed * self.rate

    @property
    def roe_isolated(self) -> float:
        """The stated return on the isolated capital (decimal per year)."""
        return self.strategy_return

    @property
    def roe_cross(self) -> float | None:
        """``ρ·isolated / requirement`` (None without a requirement)."""
        if self.requirement <= 0:
            return None
        return self.strategy_return * self.isolated / self.requirement

    @property
    def roe_uplift(self) -> float | None:
        """``ROE_cross − ROE_isolated`` (decimal per year)."""
        cross = self.roe_cross
        return None if cross is None else cross - self.roe_isolated

    @property
    def utilisation(self) -> float | None:
        """``requirement / equity`` (None where equity ≤ 0)."""
        return None if self.equity <= 0 else self.requirement / self.equity

    @property
    def cushion(self) -> float | None:
        """``equity − maintenance margin``."""
        return None if self.maintenance is None else self.equity - self.maintenance

    @property
    def liquidation_distance(self) -> float | None:
        """Mahalanobis distance of the smallest move to a maintenance breach (0: breached)."""
        cushion = self.cushion
        if cushion is not None and cushion <= 0:
            return 0.0
        return None if self.liquidation is None else self.liquidation.distance

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        liq = self.liquidation
        return {
            "account": self.account,
            "isolated": self.isolated,
            "requirement": self.requirement,
            "freed": self.freed,
            "rate": self.rate,
            "funding_value": self.funding_value,
            "strategy_return": self.strategy_return,
            "roe_isolated": self.roe_isolated,
            "roe_cross": self.roe_cross,
            "roe_uplift": self.roe_uplift,
            "equity": self.equity,
            "maintenance": self.maintenance,
            "utilisation": self.utilisation,
            "cushion": self.cushion,
            "liquidation_distance": self.liquidation_distance,
            "liquidation": None if liq is None else liq.to_dict(),
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class CapitalReport:
    """Capital figures of every account, with the rate used and where it came from."""

    model: str
    currency: str
    rate: float
    rate_source: str
    strategy_return: float
    cash: str
    accounts: tuple[AccountCapital, ...]
    result: MarginResult | None = field(default=None, repr=False)

    def totals(self) -> dict[str, float]:
        """Isolated, requirement, freed and funding value summed over accounts."""
        return {
            k: math.fsum(getattr(a, k) for a in self.accounts)
            for k in ("isolated", "requirement", "freed", "funding_value")
        }

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, with a units block."""
        ccy = self.currency
        return {
            "model": self.model,
            "currency": ccy,
            "rate": self.rate,
            "rate_source": self.rate_source,
            "strategy_return": self.strategy_return,
            "cash": self.cash,
            "totals": self.totals(),
            "accounts": [a.to_dict() for a in self.accounts],
            "units": {
                "money": f"{ccy}: isolated, requirement, freed, equity, maintenance, cushion",
                "funding_value": f"{ccy} per year",
                "rate": "decimal per year (0.0365 = 3.65%)",
                "strategy_return, roe_*": "decimal per year on the capital (0.1 = 10%)",
                "utilisation": "decimal: requirement / equity (0.4 = 40%)",
                "liquidation_distance": "Mahalanobis distance of the joint factor move "
                "(standard deviations of the MPOR move, all factors together)",
            },
        }


def funding_rate(market: MarketSnapshot, history: MarketHistory) -> tuple[float, str]:
    """SOFR (EFFR before SOFR exists) on the market date: ``(decimal per year, source)``."""
    from crossmargin.market.defaults import market_defaults

    errors = []
    for name in market_defaults()["rate_series"]:
        try:
            value, day = history.close_on(name, market.valuation_time)
        except MarketDataError as err:
            errors.append(str(err))
            continue
        return float(value), f"{name} on {day:%Y-%m-%d} from the market history"
    raise MarketDataError(
        "no funding rate on the market date: " + "; ".join(errors) + " (give one with --rate)"
    )


def _with_cash(
    portfolio: Portfolio, cash: float | str | None, isolated: Mapping[str, float], currency: str
) -> Portfolio:
    if cash is None:
        return portfolio
    if isinstance(cash, str):
        if cash != "isolated":
            raise InputError(f"cash must be an amount or 'isolated', got {cash!r}")
        amounts = dict(isolated)
    else:
        if not (math.isfinite(cash) and cash >= 0):
            raise InputError(f"cash must be a finite amount >= 0, got {cash}")
        amounts = dict.fromkeys(portfolio.accounts, float(cash))
    extra = [
        CollateralHolding(account=a, asset=currency, amount=amounts[a])
        for a in portfolio.accounts
        if amounts[a] > 0
    ]
    return portfolio.with_collateral(extra)


def capital(
    portfolio: Portfolio,
    market: MarketSnapshot,
    model: MarginModel,
    *,
    history: MarketHistory | None = None,
    rate: float | None = None,
    strategy_return: float = DEFAULT_RETURN,
    cash: float | str | None = None,
    offsets: Any = None,
    cap: float | None = None,
    liquidation: bool = True,
    n_directions: int = 500,
) -> CapitalReport:
    """Capital figures of every account under ``model`` (module docstring)."""
    if not math.isfinite(strategy_return):
        raise InputError(
            f"strategy return must be a finite decimal per year, got {strategy_return}"
        )
    if history is None and (rate is None or liquidation):
        history = MarketHistory.load()
    if rate is None:
        assert history is not None
        rate, source = funding_rate(market, history)
    else:
        if not (math.isfinite(rate) and -1.0 < rate < 1.0):
            raise InputError(f"the funding rate is a decimal per year (0.0365), got {rate}")
        source = "given"
    iso = get_model("rules").compute(portfolio, market, offsets=offsets, cap=cap)
    isolated = {a.account: a.total for a in iso.accounts}
    book = _with_cash(portfolio, cash, isolated, market.reporting_currency)
    result = model.compute(book, market, offsets=offsets, cap=cap)
    rows = {}
    for a in result.accounts:
        eq = a.equity
        rows[a.account] = AccountCapital(
            account=a.account,
            isolated=isolated[a.account],
            requirement=a.total,
            equity=float(eq.equity),
            maintenance=eq.maintenance_margin,
            rate=rate,
            strategy_return=strategy_return,
        )
    if liquidation and history is not None:
        rows = _liquidation(book, market, model, history, rows, n_directions)
    label = "none" if cash is None else str(cash)
    return CapitalReport(
        model=model.name,
        currency=market.reporting_currency,
        rate=rate,
        rate_source=source,
        strategy_return=strategy_return,
        cash=label,
        accounts=tuple(rows[a] for a in portfolio.accounts),
        result=result,
    )


def _liquidation(
    book: Portfolio,
    market: MarketSnapshot,
    model: MarginModel,
    history: MarketHistory,
    rows: dict[str, AccountCapital],
    n_directions: int,
) -> dict[str, AccountCapital]:
    """Each account's reverse stress against its cushion (equity − maintenance)."""
    from dataclasses import replace

    es = var_model(model, history)
    out = dict(rows)
    for _, accounts in netting_set_groups(book).items():
        live = [a for a in accounts if (rows[a].cushion or 0.0) > 0]
        if not live:
            continue
        sub = book.subset(live)
        held = HeldMargin(
            model=model.name,
            required={a: float(rows[a].cushion or 0.0) for a in live},
            standalone=dict.fromkeys(live, 0.0),
        )
        window = es_window(es, sub, market)
        daily, dates = full_history(es, sub, market)
        for found in reverse_stress(
            sub, market, window, held, daily, dates, n_directions=n_directions
        ):
            out[found.account] = replace(out[found.account], liquidation=found)
    return out


__all__ = ["DEFAULT_RETURN", "AccountCapital", "CapitalReport", "capital", "funding_rate"]
