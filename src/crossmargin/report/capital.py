"""The report's capital-efficiency section: attribution bars, the best hedge per account and
its saving, freed capital and ROE (figures from :mod:`crossmargin.analysis.optimise`).

:func:`capital_section` builds the JSON-ready part of the payload; :func:`render_capital`
lays it out as an HTML fragment (tables to the cent, one plotly bar chart per account).
Hedges use the default universe within a max notional of ``HEDGE_NOTIONAL_SHARE`` of the
account's gross notional (a stated limit: unbounded, the margin-minimising trade is to close
the book); capital figures fund each account with its isolated requirement.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import jinja2
import numpy as np
import plotly.graph_objects as go

from crossmargin import api
from crossmargin.errors import CrossMarginError
from crossmargin.market.snapshot import MarketSnapshot
from crossmargin.models import MarginModel
from crossmargin.portfolio import Portfolio

HEDGE_NOTIONAL_SHARE = 0.25


def gross_notional(portfolio: Portfolio, account: str, market: MarketSnapshot) -> float:
    """Σ |quantity × notional per contract| of the account's positions (reporting currency)."""
    from crossmargin.analysis.optimise.hedge import candidate_terms
    from crossmargin.analysis.optimise.universe import Candidate

    positions = portfolio.account(account).positions
    terms = candidate_terms(
        [Candidate(instrument=p.instrument) for p in positions], market, gross_delta=1.0
    )
    return float(np.sum(np.abs([p.quantity for p in positions]) * terms.notional))


def capital_section(
    portfolio: Portfolio, market: MarketSnapshot, model: MarginModel, data_dir: Any = None
) -> dict[str, Any]:
    """Attribution, hedges and capital figures under ``model`` (module docstring)."""
    try:
        att = api.attribute(portfolio, market, model, incremental=False)
        hedges = []
        for acc in portfolio.accounts:
            limit = HEDGE_NOTIONAL_SHARE * gross_notional(portfolio, acc, market)
            from crossmargin.analysis.optimise import HedgeLimits

            r = api.hedge(
                portfolio, acc, market, model, limits=HedgeLimits(max_notional=limit), greedy=False
            )
            hedges.append({**r.to_dict(), "max_notional": limit})
        cap = api.capital(
            portfolio, market, model, data_dir=data_dir, cash="isolated", liquidation=False
        )
    except CrossMarginError as error:
        return {"available": False, "reason": f"capital efficiency: {error}"}
    return {
        "available": True,
        "model": model.name,
        "attribution": att.to_dict(by="position"),
        "hedges": hedges,
        "capital": cap.to_dict(),
        "hedge_notional_share": HEDGE_NOTIONAL_SHARE,
    }


_FRAGMENT = """<h2 id="capital-heading">Capital efficiency ({{ s.model }})</h2>
<p>Each position's Euler contribution to its account's requirement ({{ ccy }}; they sum to
the requirement after the offset tiers). Negative bars are hedges: the position lowers the
requirement.</p>
{% for name, html in bars %}<div class="chart" data-chart="attribution-{{ name }}">
{{ html|safe }}</div>{% endfor %}
<h3>Best hedge per account</h3>
<p>Default universe (futures, perpetuals and near-the-money options of the account's
underlyings), integer contracts, max notional {{ share }}% of the account's gross notional;
verified on the model through what-if. Money in {{ ccy }}.</p>
<table id="capital-hedges"><thead><tr><th>account</th><th>trades (contracts)</th>
<th>max notional ({{ ccy }})</th><th>requirement before ({{ ccy }})</th>
<th>requirement after ({{ ccy }})</th><th>saving ({{ ccy }})</th><th>method</th></tr></thead>
<tbody>{% for h in hedges %}<tr data-account="{{ h.account }}"><td>{{ h.account }}</td>
<td>{{ h.trades }}</td><td class="num">{{ h.max_notional }}</td>
<td class="num" data-key="requirement_before">{{ h.before }}</td>
<td class="num" data-key="requirement_after">{{ h.after }}</td>
<td class="num" data-key="saving">{{ h.saving }}</td><td>{{ h.method }}</td></tr>
{% endfor %}</tbody></table>
<h3>Freed capital and return on equity</h3>
<p>Isolated = the rules requirement; freed = isolated − requirement; funding value at
{{ rate }}% a year ({{ rate_source }}); ROE for a strategy earning {{ ret }}% a year on its
isolated capital; utilisation = requirement / equity with each account funded with its
isolated requirement.</p>
<table id="capital-roe"><thead><tr><th>account</th><th>isolated ({{ ccy }})</th>
<th>requirement ({{ ccy }})</th><th>freed ({{ ccy }})</th><th>funding ({{ ccy }}/yr)</th>
<th>ROE isolated (%/yr)</th><th>ROE cross (%/yr)</th><th>utilisation (%)</th></tr></thead>
<tbody>{% for a in roe %}<tr data-account="{{ a.account }}"><td>{{ a.account }}</td>
<td class="num" data-key="isolated">{{ a.isolated }}</td>
<td class="num" data-key="requirement">{{ a.requirement }}</td>
<td class="num" data-key="freed">{{ a.freed }}</td>
<td class="num" data-key="funding_value">{{ a.funding }}</td>
<td class="num">{{ a.roe_iso }}</td><td class="num">{{ a.roe_cross }}</td>
<td class="num">{{ a.util }}</td></tr>{% endfor %}</tbody></table>
"""


def _money(x: float | None) -> str:
    return "" if x is None or not math.isfinite(x) else f"{x:,.2f}"


def _pct(x: float | None) -> str:
    return "" if x is None else f"{100 * x:.2f}"


def attribution_figure(account: Mapping[str, Any], currency: str) -> go.Figure:
    """Horizontal bars: each item's contribution (reporting currency)."""
    items = account["items"]
    fig = go.Figure(go.Bar(
        x=[i["contribution"] for i in items], y=[i["name"] for i in items], orientation="h",
        marker_color=["#c0392b" if i["contribution"] >= 0 else "#27ae60" for i in items],
    ))  # fmt: skip
    fig.update_layout(
        title=f"{account['account']}: contributions to {account['total']:,.0f} {currency}",
        xaxis_title=currency,
        height=120 + 40 * len(items),
        margin={"l": 220},
    )
    return fig


def render_capital(section: Mapping[str, Any] | None, chart: Any) -> str:
    """The section's HTML (``chart(fig, div_id)`` embeds a figure)."""
    if section is None:
        return ""
    if not section.get("available"):
        return (
            f'<h2 id="capital-heading">Capital efficiency</h2><p class="note" '
            f'id="capital-hook">{section.get("reason", "")}</p>'
        )
    att = section["attribution"]
    ccy = att["currency"]
    bars = [
        (a["account"], chart(attribution_figure(a, ccy), f"chart-attribution-{k}"))
        for k, a in enumerate(att["accounts"])
    ]
    hedges = [{
        "account": h["account"],
        "trades": ", ".join(f"{t['symbol']} {t['quantity']:+,.0f}" for t in h["trades"]) or "none",
        "max_notional": _money(h["max_notional"]), "before": _money(h["requirement_before"]),
        "after": _money(h["requirement_after"]), "saving": _money(h["saving"]),
        "method": h["method"],
    } for h in section["hedges"]]  # fmt: skip
    cap = section["capital"]
    roe = [{
        "account": a["account"], "isolated": _money(a["isolated"]),
        "requirement": _money(a["requirement"]), "freed": _money(a["freed"]),
        "funding": _money(a["funding_value"]), "roe_iso": _pct(a["roe_isolated"]),
        "roe_cross": _pct(a["roe_cross"]), "util": _pct(a["utilisation"]),
    } for a in cap["accounts"]]  # fmt: skip
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    return env.from_string(_FRAGMENT).render(
        s=section,
        ccy=ccy,
        bars=bars,
        hedges=hedges,
        roe=roe,
        share=f"{100 * section['hedge_notional_share']:g}",
        rate=f"{100 * cap['rate']:.2f}",
        rate_source=cap["rate_source"],
        ret=f"{100 * cap['strategy_return']:g}",
    )


__all__ = ["HEDGE_NOTIONAL_SHARE", "capital_section", "gross_notional", "render_capital"]
