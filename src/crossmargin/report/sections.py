"""Report sections of issue 15: executive summary, stress per account, backtest per account.

Every figure comes from an API result's ``to_dict()`` (no arithmetic beyond sums of credits
already split by tier and the selection of rows):

* :func:`executive_summary` — the book (file name only), the as-of date and market, the
  models and their parameters, per model and account the netting benefit split into the
  **same-underlying** credit (offset tiers ``product`` and ``underlying``) and the
  **cross-underlying** credit (``asset-class``: across underlyings of one class;
  ``netting-set``: across classes), and where the netting breaks (correlation-break and
  crisis shortfalls, reverse-stress distances, defaults beyond the margin held);
* :func:`stress_payload` — one stress run with every named crisis, the adverse correlation
  break, reverse stress and the default of every account, and its table **per scenario and
  account** (each row one account on one scenario row; nothing summed across days);
* :func:`backtest_payload` — the backtest per account: netted and standalone margin,
  hypothetical and clean realised loss, exceptions, and the ES and procyclicality figures.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from crossmargin import api
from crossmargin.analysis.backtest_stats import BacktestResult
from crossmargin.analysis.stress.report import StressReport
from crossmargin.contracts import ContractsLike
from crossmargin.errors import CrossMarginError
from crossmargin.market.snapshot import MarketSnapshot
from crossmargin.portfolio import Portfolio

SAME_UNDERLYING = ("product", "underlying")
CROSS_UNDERLYING = ("asset-class", "netting-set")
_ABSOLUTE = re.compile(r"(?:[A-Za-z]:)?[\\/](?:[^\s\\/]+[\\/])+([^\s\\/]+)")


def without_paths(text: str) -> str:
    """``text`` with every absolute path replaced by its last component."""
    return _ABSOLUTE.sub(lambda m: m.group(1), text)


def stress_payload(
    portfolio: Portfolio,
    market: MarketSnapshot,
    model: str = "es",
    data_dir: str | Path | None = None,
    contracts: ContractsLike = None,
    report: StressReport | None = None,
) -> dict[str, Any]:
    """The stress section (module docstring); ``report`` reuses a run already made."""
    from crossmargin.analysis.stress.crisis import crisis_catalogue

    try:
        result = report or api.stress(
            portfolio,
            model,
            market=market,
            crisis=list(crisis_catalogue()),
            correlation="break",
            reverse=True,
            default="all",
            data_dir=data_dir,
            contracts=contracts,
        )
    except CrossMarginError as error:
        return {"available": False, "reason": f"stress tests: {error}"}
    return {
        "available": True,
        "result": result.to_dict(),
        "rows": result.account_scenario_rows(),
    }


def _tier_credit(account: Mapping[str, Any], tiers: Sequence[str]) -> float:
    return float(sum(t["credit"] for t in account.get("tiers", []) if t["tier"] in tiers))


def _benefit(margin: Mapping[str, Any]) -> list[dict[str, Any]]:
    out = []
    for name, result in margin.items():
        for a in result["accounts"]:
            if not a.get("tiers"):
                continue
            out.append(
                {
                    "model": name,
                    "account": a["account"],
                    "standalone": a["standalone"],
                    "same_underlying": _tier_credit(a, SAME_UNDERLYING),
                    "cross_underlying": _tier_credit(a, ("asset-class",)),
                    "cross_asset_class": _tier_credit(a, ("netting-set",)),
                    "total": a["total"],
                }
            )
    return out


def _breaks(stress: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """Where the netting breaks: every account row with a shortfall, per kind of stress."""
    if not stress or not stress.get("available"):
        return []
    res = stress["result"]
    out: list[dict[str, Any]] = []
    corr = res.get("correlation") or {}
    for r in corr.get("rows", []):
        if r["mode"] == "adverse" and r["pair"] == "all" and r["shortfall"] > 0:
            out.append(
                {
                    "kind": "correlation break",
                    "account": r["account"],
                    "what": ", ".join(f"{k} → {v}" for k, v in r["direction"].items()),
                    "loss": r["broken"],
                    "margin": r["margin"],
                    "shortfall": r["shortfall"],
                }
            )
    worst: dict[str, dict[str, Any]] = {}
    for row in stress.get("rows", []):
        if row["kind"] != "crisis" or not row["covered"] or not row["shortfall"]:
            continue
        if row["account"] not in worst or row["shortfall"] > worst[row["account"]]["shortfall"]:
            worst[row["account"]] = {
                "kind": "crisis",
                "account": row["account"],
                "what": f"{row['scenario']} ({row['applied']})",
                "loss": row["loss"],
                "margin": row["margin"],
                "shortfall": row["shortfall"],
            }
    out += list(worst.values())
    for d in res.get("defaults", []):
        if d["shortfall"] > 0:
            out.append(
                {
                    "kind": "default",
                    "account": d["account"],
                    "what": d["description"],
                    "loss": d["loss"],
                    "margin": d["margin"],
                    "shortfall": d["shortfall"],
                }
            )
    return out


def _models(margin: Mapping[str, Any]) -> list[dict[str, Any]]:
    out = []
    for name, result in margin.items():
        p = result.get("parameters", {})
        keys = ("confidence", "lookback", "mpor", "method", "apc")
        shown = {k: p[k] for k in keys if k in p and p[k] is not None}
        out.append({"model": name, "parameters": shown})
    return out


def executive_summary(
    portfolio: Portfolio,
    market: MarketSnapshot,
    margin: Mapping[str, Any],
    stress: Mapping[str, Any] | None,
    backtest: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """The executive summary (module docstring)."""
    reverse = []
    if stress and stress.get("available"):
        reverse = [
            {
                "account": r["account"],
                "distance": r["mahalanobis_distance"],
                "plausibility": r["plausibility"],
            }
            for r in stress["result"].get("reverse", [])
        ]
    headline = None
    if backtest:
        headline = {
            k: backtest.get(k) for k in ("model", "start", "end", "exceptions", "observations")
        }
    return {
        "book": Path(portfolio.source).name if portfolio.source else "book",
        "as_of": market.valuation_time.date().isoformat(),
        "market": without_paths(market.source or ""),
        "models": _models(margin),
        "benefit": _benefit(margin),
        "breaks": _breaks(stress),
        "reverse": reverse,
        "backtest": headline,
    }


def backtest_payload(result: BacktestResult, model: str) -> dict[str, Any]:
    """The backtest section: the book line (as before) and every account's series and
    statistics (netted and standalone)."""
    stats = result.to_dict(with_series=False)
    accounts = []
    for account in result.paths.accounts:
        net = result.stats[(account, "netted")].to_dict()
        alone = result.stats[(account, "standalone")].to_dict()
        accounts.append(
            {
                "account": account,
                "series": result.series(account),
                "netted": net,
                "standalone": alone,
            }
        )
    return {
        "model": model,
        "start": stats["start"],
        "end": stats["end"],
        "confidence": stats["confidence"],
        "mpor": stats["mpor"],
        "observations": stats.get("observations"),
        "exceptions": stats.get("exceptions"),
        "traffic_light": stats.get("traffic_light"),
        "series": result.series(),
        "accounts": accounts,
    }


__all__ = ["backtest_payload", "executive_summary", "stress_payload", "without_paths"]
