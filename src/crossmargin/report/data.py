"""The report's data: every figure comes from :mod:`crossmargin.api` results' ``to_dict()``.

:func:`build_payload` gathers one JSON-ready mapping; :mod:`crossmargin.report.render` only
lays it out. The payload is embedded in the HTML (``<script id="report-data">``) so that a
reader, and the tests, can check each number shown against it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import Any

from crossmargin import api
from crossmargin.analysis.cascade.result import CascadeReport
from crossmargin.analysis.stress.report import StressReport
from crossmargin.contracts import ContractsLike
from crossmargin.defaults import COMPARED_MODELS, DEFAULT_MODEL
from crossmargin.errors import CrossMarginError, InputError
from crossmargin.market.snapshot import MarketSnapshot
from crossmargin.models import MarginResult, model_names
from crossmargin.models.var import VAR_MODELS
from crossmargin.portfolio import Portfolio
from crossmargin.report.sections import (
    backtest_payload,
    executive_summary,
    stress_payload,
    without_paths,
)

DEFAULT_MODELS = COMPARED_MODELS


def _unavailable(what: str, error: Exception) -> dict[str, Any]:
    return {"available": False, "reason": f"{what}: {error}"}


def stress_section(
    portfolio: Portfolio,
    market: MarketSnapshot,
    model: str = "es",
    data_dir: str | Path | None = None,
    contracts: ContractsLike = None,
) -> dict[str, Any]:
    """The stress section (:func:`crossmargin.report.sections.stress_payload`): every named
    crisis, the adverse correlation break, reverse stress and the default of every account
    against the model's margin held, and the table per scenario and account."""
    return stress_payload(portfolio, market, model, data_dir, contracts)


def _stress(
    stress: bool | StressReport,
    portfolio: Portfolio,
    market: MarketSnapshot,
    model: str,
    data_dir: str | Path | None,
    contracts: ContractsLike,
) -> dict[str, Any] | None:
    if isinstance(stress, StressReport):
        return stress_payload(portfolio, market, model, data_dir, contracts, report=stress)
    return stress_section(portfolio, market, model, data_dir, contracts) if stress else None


def _window_correlations(result: Mapping[str, Any]) -> dict[str, Any] | None:
    """The correlations a VaR/ES result already carries (``diagnostics``), report-shaped:
    one entry per netting set of the book's accounts."""
    sets = result.get("diagnostics", {}).get("netting_sets")
    if not sets:
        return None
    owners: dict[str, list[str]] = {}
    for a in result.get("accounts", []):
        key = a.get("netting_set", {}).get("netting_set")
        if key is not None:
            owners.setdefault(key, []).append(a["account"])
    out = []
    for key, accounts in owners.items():
        corr = sets[key]["correlations"]
        factors = list(corr)
        out.append(
            {
                "netting_set": key,
                "accounts": accounts,
                "factors": factors,
                "matrix": [[corr[r][c] for c in factors] for r in factors],
                "lookback": result.get("parameters", {}).get("lookback"),
            }
        )
    return {"netting_sets": out}


def build_payload(
    portfolio: Portfolio,
    market: MarketSnapshot,
    *,
    models: Sequence[str] = DEFAULT_MODELS,
    results: Mapping[str, MarginResult] | None = None,
    backtest: tuple[str | date, str | date] | None = None,
    backtest_model: str = DEFAULT_MODEL,
    data_dir: str | Path | None = None,
    var_params: Mapping[str, Any] | None = None,
    stress: bool | StressReport = True,
    contracts: ContractsLike = None,
    cascade: str | CascadeReport | None = None,
    capital: bool = True,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Everything the report shows, as plain JSON (see the module docstring).

    Parameters
    ----------
    portfolio, market:
        The book and the snapshot it is margined on.
    models:
        Models margined (``results`` given are reused, others computed with ``api.margin``).
    backtest:
        ``(start, end)`` to add a backtest of ``backtest_model`` on the book.
    data_dir, var_params:
        Market-history folder and parameters of the VaR/ES figures (distribution,
        correlations).
    stress:
        Add the stress section (``api.stress`` with the VaR/ES model), or use this
        already computed report.
    contracts:
        The run's own contracts (a file or :class:`~crossmargin.contracts.Contracts`): the
        history the VaR/ES figures, the stresses and the backtest read serves their series.
    cascade:
        Add the cascade section: a crisis replay of the book (``2025-10-10``, dates ...) or
        an already computed :class:`~crossmargin.analysis.cascade.CascadeReport`.
    capital:
        Add the capital-efficiency section under the VaR/ES model
        (:mod:`crossmargin.report.capital`).
    progress:
        ``progress(done, total)`` after each backtest day (the CLI's progress bar).
    """
    known = set(model_names())
    unknown = [m for m in models if m not in known]
    if unknown:
        raise InputError(
            f"unknown model(s) {', '.join(unknown)}: choose from {', '.join(sorted(known))}"
        )
    done = dict(results or {})
    where: dict[str, Any] = (
        {"data_dir": data_dir}
        if contracts is None
        else {"history": api.market_history(data_dir, contracts=contracts)}
    )
    vparams: dict[str, Any] = {**where, **(var_params or {})}
    margin: dict[str, Any] = {}
    for name in models:
        result = done.get(name)
        if result is None:
            params = vparams if name in VAR_MODELS else {}
            result = api.margin(portfolio, market, name, **params)
        margin[name] = result.to_dict()
    var_model = next((m for m in models if m in VAR_MODELS), "es")
    try:
        distribution: dict[str, Any] = {
            "available": True,
            **api.scenario_distribution(portfolio, market, var_model, **vparams),
        }
    except CrossMarginError as error:
        distribution = _unavailable("scenario P&L", error)
    # The VaR/ES result margined above already carries its window's correlations.
    known_corr = _window_correlations(margin[var_model]) if var_model in margin else None
    try:
        corr: dict[str, Any] = {
            "available": True,
            **(known_corr or api.correlations(portfolio, market, var_model, **vparams)),
        }
    except CrossMarginError as error:
        corr = _unavailable("correlations", error)
    bt: dict[str, Any] | None = None
    if backtest is not None:
        result_bt = api.backtest(
            portfolio,
            backtest_model,
            backtest[0],
            backtest[1],
            data_dir=data_dir,
            contracts=contracts,
            progress=progress,
        )
        bt = backtest_payload(result_bt, backtest_model)
    first = next(iter(margin.values()))
    stress_data = _stress(stress, portfolio, market, var_model, data_dir, contracts)
    # the book by its file name and the as-of date, never an absolute (internal) path
    name = Path(portfolio.source).name if portfolio.source else "book"
    asof = market.valuation_time.date().isoformat()
    return {
        "title": f"crossmargin report: {name} as of {asof}",
        "book": name,
        "positions": len(portfolio.raw),
        "accounts": list(portfolio.accounts),
        "market": without_paths(market.source) or market.valuation_time.isoformat(),
        "valuation_time": market.valuation_time.isoformat(),
        "currency": first["currency"],
        "margin": margin,
        "distribution": distribution,
        "correlations": corr,
        "stress": stress_data,
        "backtest": bt,
        "capital": _capital(capital, portfolio, market, var_model, vparams, data_dir),
        "cascade": _cascade(cascade, portfolio, market, data_dir),
        "summary": executive_summary(portfolio, market, margin, stress_data, bt),
    }


def _cascade(
    cascade: str | CascadeReport | None,
    portfolio: Portfolio,
    market: MarketSnapshot,
    data_dir: str | Path | None,
) -> dict[str, Any] | None:
    from crossmargin.report.cascade import cascade_section, section_of

    if cascade is None:
        return None
    if isinstance(cascade, CascadeReport):
        return section_of(cascade)
    return cascade_section(portfolio, market, cascade, data_dir=data_dir)


def _capital(
    wanted: bool,
    portfolio: Portfolio,
    market: MarketSnapshot,
    model: str,
    params: Mapping[str, Any],
    data_dir: str | Path | None,
) -> dict[str, Any] | None:
    """The capital-efficiency section (None when not wanted)."""
    if not wanted:
        return None
    from crossmargin.report.capital import capital_section

    try:
        chosen = api.make_model(model, **params)
    except CrossMarginError as error:
        return _unavailable("capital efficiency", error)
    return capital_section(portfolio, market, chosen, data_dir)


__all__ = ["DEFAULT_MODELS", "build_payload", "stress_section"]
