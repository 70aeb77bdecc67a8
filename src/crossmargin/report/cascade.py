"""The report's cascade section: per margin mode the liquidations and the layers consumed, and
three charts — the price path (exogenous and with impact), the liquidations over the steps,
the layers consumed (``docs/cascade.md``).

:func:`cascade_section` builds the payload entry from ``api.cascade(...).report.to_dict()``;
:func:`cascade_html` lays it out. Every number is the payload's.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jinja2
import plotly.graph_objects as go

from crossmargin.analysis.cascade.result import CascadeReport
from crossmargin.errors import CrossMarginError
from crossmargin.market.snapshot import MarketSnapshot
from crossmargin.portfolio import Portfolio

_TEMPLATE = """<h2 id="cascade-heading">Cascade: {{ c.shock }} ({{ c.allocation }} loss
allocation)</h2>
{% if available %}<p>{{ c.description }}. {{ c.account_count }} accounts; money and notional in
USD (notional: delta notional closed). {{ c.answer }}.</p>
<table id="cascade"><thead><tr><th>mode</th><th>accounts liquidated</th><th>units liquidated</th>
<th>bankrupt</th><th>notional</th><th>deficits</th><th>funds drawn</th><th>ADL</th>
<th>residual</th><th>iterations</th></tr></thead>
<tbody>{% for r in rows %}<tr data-mode="{{ r.mode }}"><td>{{ r.mode }}</td>
<td class="num" data-key="accounts_liquidated">{{ r.accounts_liquidated }}</td>
<td class="num" data-key="units_liquidated">{{ r.units_liquidated }}</td>
<td class="num" data-key="units_bankrupt">{{ r.units_bankrupt }}</td>
<td class="num" data-key="notional">{{ r.notional }}</td>
<td class="num" data-key="deficits">{{ r.deficits }}</td>
<td class="num" data-key="fund_drawn">{{ r.fund_drawn }}</td>
<td class="num" data-key="adl">{{ r.adl }}</td>
<td class="num" data-key="residual">{{ r.residual }}</td>
<td class="num" data-key="iterations">{{ r.iterations }}</td></tr>{% endfor %}</tbody></table>
{% for name, html in charts %}<div class="chart" data-chart="cascade-{{ name }}">{{ html|safe }}
</div>{% endfor %}
{% for n in c.notes %}<p class="note">{{ n }}</p>{% endfor %}
{% else %}<p class="note" id="cascade-hook">{{ reason }}</p>{% endif %}
"""


def cascade_section(
    portfolio: Portfolio,
    market: MarketSnapshot,
    crisis: str,
    *,
    mode: str = "venue",
    data_dir: str | Path | None = None,
) -> dict[str, Any]:
    """The section's payload: the book's cascade under ``crisis`` (or why there is none)."""
    from crossmargin import api

    try:
        run = api.cascade(portfolio, crisis=crisis, market=market, mode=mode, data_dir=data_dir)
    except CrossMarginError as error:
        return {
            "available": False,
            "reason": f"cascade: {error}",
            "shock": crisis,
            "allocation": mode,
        }
    return {"available": True, "result": run.report.to_dict()}


def section_of(report: CascadeReport) -> dict[str, Any]:
    """The section's payload from a report already computed."""
    return {"available": True, "result": report.to_dict()}


def _money(x: float) -> str:
    return f"{x:,.2f}"


def price_figure(result: Mapping[str, Any]) -> go.Figure:
    """Each underlying's price over the steps, exogenous and with each mode's impact."""
    fig = go.Figure()
    for m in result["modes"]:
        labels = [s["label"] for s in m["steps"]]
        for u in result["underlyings"]:
            fig.add_scatter(
                x=labels,
                y=[s["prices"][u] for s in m["steps"]],
                name=f"{u} {m['mode']}",
                mode="lines",
            )
    first = result["modes"][0]
    labels = [s["label"] for s in first["steps"]]
    for u in result["underlyings"]:
        fig.add_scatter(
            x=labels,
            y=[s["exogenous_prices"][u] for s in first["steps"]],
            name=f"{u} exogenous",
            mode="lines",
            line={"dash": "dot"},
        )
    fig.update_layout(
        title="Price path (USD per unit): exogenous and with the liquidations' impact",
        yaxis_title="USD",
        yaxis_type="log",
    )
    return fig


def liquidation_figure(result: Mapping[str, Any]) -> go.Figure:
    """Units liquidated per step, one bar series per mode."""
    fig = go.Figure()
    for m in result["modes"]:
        fig.add_bar(
            x=[s["label"] for s in m["steps"]],
            y=[s["units_liquidated"] for s in m["steps"]],
            name=m["mode"],
        )
    fig.update_layout(
        title="Units liquidated per step", yaxis_title="units (count)", barmode="group"
    )
    return fig


def layers_figure(result: Mapping[str, Any]) -> go.Figure:
    """Per mode, where the losses went: collateral, each fund layer, ADL, residual (USD)."""
    modes = [m["mode"] for m in result["modes"]]
    names = list(dict.fromkeys(k for m in result["modes"] for k in m["ledger"]["layers"]))
    fig = go.Figure()
    fig.add_bar(
        x=modes,
        y=[m["ledger"]["collateral_consumed"] for m in result["modes"]],
        name="collateral consumed",
    )
    for name in names:
        fig.add_bar(
            x=modes, y=[m["ledger"]["layers"].get(name, 0.0) for m in result["modes"]], name=name
        )
    fig.add_bar(x=modes, y=[m["ledger"]["adl"] for m in result["modes"]], name="ADL")
    fig.add_bar(x=modes, y=[m["ledger"]["residual"] for m in result["modes"]], name="residual")
    fig.update_layout(title="Layers consumed (USD)", yaxis_title="USD", barmode="stack")
    return fig


def cascade_html(section: Mapping[str, Any] | None, fig_html: Any) -> str:
    """The section's HTML (empty without a section); ``fig_html(fig, div_id)`` embeds a chart."""
    if not section:
        return ""
    available = bool(section.get("available"))
    result = section.get("result") or {}
    rows = [
        {
            "mode": m["mode"],
            "accounts_liquidated": f"{m['accounts_liquidated']:,}",
            "units_liquidated": f"{m['units_liquidated']:,}",
            "units_bankrupt": f"{m['units_bankrupt']:,}",
            "notional": _money(m["notional"]),
            "deficits": _money(m["ledger"]["deficits"]),
            "fund_drawn": _money(m["fund_drawn"]),
            "adl": _money(m["ledger"]["adl"]),
            "residual": _money(m["ledger"]["residual"]),
            "iterations": m["iterations"],
        }
        for m in result.get("modes", [])
    ]
    charts = []
    if available:
        charts = [
            ("prices", fig_html(price_figure(result), "chart-cascade-prices")),
            ("liquidations", fig_html(liquidation_figure(result), "chart-cascade-liquidations")),
            ("layers", fig_html(layers_figure(result), "chart-cascade-layers")),
        ]
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    context = (
        result
        if available
        else {"shock": section.get("shock", ""), "allocation": section.get("allocation", "")}
    )
    return env.from_string(_TEMPLATE).render(
        c=context,
        available=available,
        rows=rows,
        charts=charts,
        reason=section.get("reason", ""),
    )


__all__ = [
    "cascade_html",
    "cascade_section",
    "layers_figure",
    "liquidation_figure",
    "price_figure",
    "section_of",
]
