"""Lay out a report payload (:func:`crossmargin.report.data.build_payload`) as one HTML file.

Self-contained: plotly.js is inlined once (``include_plotlyjs=True`` on the first chart), no
CDN, so the file opens offline. Numbers in tables are the payload's, formatted to cents;
charts plot the payload's arrays.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

import jinja2
import plotly.graph_objects as go

from crossmargin.report.capital import render_capital
from crossmargin.report.cascade import cascade_html
from crossmargin.report.render_sections import backtest_html, executive_html, stress_html

CHART_HEIGHT = 420

_TEMPLATE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>{{ p.title }}</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; max-width: 1300px; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 4px 8px; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.note { color: #666; font-style: italic; }
.chart { margin: 1em 0; }
</style></head>
<body>
<h1>{{ p.title }}</h1>
<p>Book <b>{{ p.book }}</b>: {{ p.positions }} positions in {{ p.accounts|length }} accounts.
Market: {{ p.market }}. Money in {{ p.currency }}.</p>
{{ executive|safe }}

<h2 id="summary-heading">Summary: total margin by model</h2>
<p>Standalone = each position margined alone; netted = each account as one portfolio
(accounts never net against each other); benefit = standalone − total.
"vs rules" = the isolated rules requirement minus the model's total.</p>
<table id="summary"><thead><tr><th>model</th><th>total</th><th>standalone</th>
<th>grouped</th><th>netted</th><th>benefit</th><th>benefit %</th><th>vs rules</th></tr></thead>
<tbody>{% for m in summary %}<tr data-model="{{ m.model }}"><td>{{ m.model }}</td>
<td class="num" data-key="total">{{ m.total }}</td>
<td class="num" data-key="standalone_total">{{ m.standalone_total }}</td>
<td class="num" data-key="grouped_total">{{ m.grouped_total }}</td>
<td class="num" data-key="netted_total">{{ m.netted_total }}</td>
<td class="num" data-key="benefit">{{ m.benefit }}</td>
<td class="num" data-key="benefit_pct">{{ m.benefit_pct }}</td>
<td class="num" data-key="vs_rules">{{ m.vs_rules }}</td></tr>{% endfor %}</tbody></table>

<h2>Per account</h2>
<table id="accounts"><thead><tr><th>account</th>{% for name in models %}
<th>{{ name }} total</th><th>{{ name }} standalone</th>{% endfor %}</tr></thead>
<tbody>{% for row in accounts %}<tr data-account="{{ row.account }}"><td>{{ row.account }}</td>
{% for cell in row.cells %}<td class="num" data-model="{{ cell.model }}" data-key="{{ cell.key }}">
{{- cell.text }}</td>{% endfor %}</tr>{% endfor %}</tbody></table>

<h2>Equity against the requirement</h2>
<p>Per account and model ({{ p.currency }}): collateral after haircut plus the positions'
mark-to-market is the equity; excess = equity − initial margin (IM), margin ratio = equity /
maintenance margin (MM), utilisation = IM / equity (ratios in percent).</p>
<table id="equity"><thead><tr><th>model</th><th>account</th><th>collateral after haircut</th>
<th>MTM</th><th>equity</th><th>IM</th><th>MM</th><th>excess</th><th>margin ratio</th>
<th>utilisation</th></tr></thead>
<tbody>{% for row in equity %}<tr data-model="{{ row.model }}" data-account="{{ row.account }}">
<td>{{ row.model }}</td><td>{{ row.account }}</td>{% for cell in row.cells %}
<td class="num" data-model="{{ row.model }}" data-account="{{ row.account }}"
data-key="{{ cell.key }}">{{ cell.text }}</td>{% endfor %}</tr>{% endfor %}</tbody></table>

<h2>Offset tiers: where the benefit comes from</h2>
<p>Credit granted at each tier ({{ p.currency }}; base − capped requirement): within a
product (calendar spreads), within an underlying at a venue (futures against options), across
underlyings of an asset class and across asset classes, after the offset policy's caps and
correlation tests (docs/netting.md). "refused" lists offsets that failed their test.</p>
<table id="tiers"><thead><tr><th>model</th><th>account</th><th>product</th><th>underlying</th>
<th>asset-class</th><th>netting-set</th><th>refused</th></tr></thead>
<tbody>{% for row in tiers %}<tr><td>{{ row.model }}</td><td>{{ row.account }}</td>
{% for cell in row.cells %}<td class="num" data-model="{{ row.model }}"
data-account="{{ row.account }}" data-key="{{ cell.key }}">{{ cell.text }}</td>{% endfor %}
<td>{{ row.refused }}</td></tr>{% endfor %}</tbody></table>

<h2>Standalone vs netted, by group</h2>
<p>From the sum of standalone margins, each step is one group's netting benefit inside the
group (standalone − grouped), then the benefit across groups within accounts
(grouped − netted), then any cap uplift, to the total.</p>
{% for name, html in waterfalls %}<div class="chart" data-chart="waterfall-{{ name }}">
{{ html|safe }}</div>{% endfor %}

<h2>Scenario P&amp;L distribution ({{ dist_title }})</h2>
{% if distribution %}<p>Each account on its own netting set: its underlyings, its calendar, its
lookback scenarios (accounts do not net, and accounts on different calendars do not share
scenarios). VaR and ES at {{ dist.confidence }} ({{ p.currency }}).</p>
<table id="distribution"><thead><tr><th>account</th><th>netting set</th><th>calendar</th>
<th>scenarios</th><th>VaR ({{ p.currency }})</th><th>ES ({{ p.currency }})</th></tr></thead>
<tbody>{% for a in dist.accounts %}<tr data-account="{{ a.account }}"><td>{{ a.account }}</td>
<td>{{ a.netting_set }}</td><td>{{ a.calendar }}</td><td class="num">{{ a.scenarios }}</td>
<td class="num" data-key="var">{{ a.var }}</td><td class="num" data-key="es">{{ a.es }}</td>
</tr>{% endfor %}</tbody></table>
<div class="chart" data-chart="distribution">{{ distribution|safe }}</div>
{% else %}<p class="note">{{ dist_reason }}</p>{% endif %}

<h2>Correlations of each netting set's risk factors</h2>
{% if correlation %}{% for name, html in correlation %}<div class="chart"
data-chart="correlation-{{ name }}">{{ html|safe }}</div>{% endfor %}
{% else %}<p class="note">{{ corr_reason }}</p>{% endif %}

{{ stress_sections|safe }}

{{ backtest_sections|safe }}

{{ capital_html|safe }}

{{ cascade_html|safe }}
<script type="application/json" id="report-data">{{ payload_json|safe }}</script>
</body></html>
"""


def money(x: float | None) -> str:
    """Whole currency units, ``1,235``; empty for None (no ``-0`` for a rounding residue;
    the exact figures are in the embedded payload)."""
    if x is None:
        return ""
    text = f"{x:,.0f}"
    return "0" if text == "-0" else text


def _fig_html(fig: go.Figure, div_id: str, *, first: bool) -> str:
    fig.update_layout(height=CHART_HEIGHT, margin={"l": 60, "r": 20, "t": 50, "b": 60})
    out: str = fig.to_html(
        full_html=False, include_plotlyjs=first, div_id=div_id, config={"responsive": True}
    )
    return out


def waterfall(result: Mapping[str, Any]) -> go.Figure:
    """Standalone → group benefits → grouped → cross-group benefit → netted → cap → total."""
    labels, values, measures = ["standalone"], [result["standalone_total"]], ["absolute"]
    for g in result["groups"]:
        labels.append(f"{g['account']}:{g['group']}")
        values.append(-g["benefit"])
        measures.append("relative")
    labels += ["grouped", "across groups", "netted", "cap", "total"]
    values += [
        0.0,
        result["netted_total"] - result["grouped_total"],
        0.0,
        result["total"] - result["netted_total"],
        0.0,
    ]
    measures += ["total", "relative", "total", "relative", "total"]
    fig = go.Figure(go.Waterfall(x=labels, y=values, measure=measures))
    fig.update_layout(
        title=f"{result['model']}: standalone vs netted ({result['currency']})",
        xaxis_title="requirement, step by step",
        yaxis_title=f"margin ({result['currency']})",
    )
    return fig


def distribution_figure(dist: Mapping[str, Any], currency: str) -> go.Figure:
    """Overlaid histograms of each account's scenario P&L (own netting set)."""
    fig = go.Figure()
    for a in dist["accounts"]:
        fig.add_trace(go.Histogram(x=a["pnl"], nbinsx=60, name=a["account"], opacity=0.6))
    fig.update_layout(
        barmode="overlay",
        title=f"{dist['model']} scenario P&L per account (own netting set)",
        xaxis_title=f"scenario P&L ({currency})",
        yaxis_title="scenarios (count)",
    )
    return fig


def correlation_figure(corr: Mapping[str, Any]) -> go.Figure:
    """Heatmap of one netting set's factor correlation matrix."""
    fig = go.Figure(
        go.Heatmap(
            z=corr["matrix"], x=corr["factors"], y=corr["factors"], zmin=-1, zmax=1,
            colorscale="RdBu", reversescale=True, colorbar={"title": "correlation (-1..1)"},
        )
    )  # fmt: skip
    fig.update_layout(
        title=f"{corr['netting_set']} ({', '.join(corr['accounts'])}): correlations over the "
        f"{corr['lookback']} lookback"
    )
    return fig


def _finite(x: Any) -> Any:
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_finite(v) for v in x]
    return x


def _ratio(x: float | None) -> str:
    return "" if x is None else f"{100 * x:.1f}%"


def _equity_rows(margin: Mapping[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for name, result in margin.items():
        for a in result["accounts"]:
            e = a.get("equity")
            if not e:
                continue
            cells = [
                {"key": k, "text": money(e[k])}
                for k in ("collateral_after_haircut", "mtm", "equity", "initial_margin")
            ]
            cells.append({"key": "maintenance_margin", "text": money(e["maintenance_margin"])})
            cells.append({"key": "excess", "text": money(e["excess"])})
            cells.append({"key": "margin_ratio", "text": _ratio(e["margin_ratio"])})
            cells.append({"key": "utilisation", "text": _ratio(e["utilisation"])})
            rows.append({"model": name, "account": a["account"], "cells": cells})
    return rows


def _tier_rows(margin: Mapping[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for name, result in margin.items():
        for a in result["accounts"]:
            tiers = {t["tier"]: t for t in a.get("tiers", [])}
            if not tiers:
                continue
            cells = [
                {"key": f"credit:{t}", "text": money(tiers[t]["credit"])}
                for t in ("product", "underlying", "asset-class", "netting-set")
                if t in tiers
            ]
            refused = [
                g["group"]
                for t in tiers.values()
                for g in t.get("groups", [])
                if not g.get("eligible", True)
            ]
            rows.append(
                {"model": name, "account": a["account"], "cells": cells,
                 "refused": ", ".join(refused)}
            )  # fmt: skip
    return rows


def render(payload: Mapping[str, Any]) -> str:
    """The report's HTML for ``payload``."""
    margin = payload["margin"]
    models = list(margin)
    rules_total = margin["rules"]["total"] if "rules" in margin else None
    summary = [
        {
            "model": name,
            **{
                k: money(r[k])
                for k in (
                    "total", "standalone_total", "grouped_total", "netted_total", "benefit",
                )
            },
            "benefit_pct": f"{r['benefit_pct']:.2f}",
            "vs_rules": money(rules_total - r["total"]) if rules_total is not None else "",
        }
        for name, r in margin.items()
    ]  # fmt: skip
    accounts = []
    for acc in payload["accounts"]:
        cells = []
        for name in models:
            row = next(a for a in margin[name]["accounts"] if a["account"] == acc)
            cells.append({"model": name, "key": "total", "text": money(row["total"])})
            cells.append({"model": name, "key": "standalone", "text": money(row["standalone"])})
        accounts.append({"account": acc, "cells": cells})
    equity, tiers = _equity_rows(margin), _tier_rows(margin)
    first = True
    waterfalls = []
    for name in models:
        waterfalls.append(
            (name, _fig_html(waterfall(margin[name]), f"chart-waterfall-{name}", first=first))
        )
        first = False
    dist = payload["distribution"]
    corr = payload["correlations"]
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    return env.from_string(_TEMPLATE).render(
        p=payload,
        models=models,
        summary=summary,
        accounts=accounts,
        equity=equity,
        tiers=tiers,
        waterfalls=waterfalls,
        distribution=(
            _fig_html(
                distribution_figure(dist, payload["currency"]), "chart-distribution", first=False
            )
            if dist.get("available")
            else ""
        ),
        dist_title=dist.get("model", "es"),
        dist_reason=dist.get("reason", ""),
        dist={
            "confidence": dist.get("confidence", ""),
            "accounts": [
                {
                    "account": a["account"],
                    "netting_set": a["netting_set"] or "",
                    "calendar": a["calendar"] or "",
                    "scenarios": len(a["scenarios"]),
                    "var": money(a["var"]),
                    "es": money(a["es"]),
                }
                for a in dist.get("accounts", [])
            ],
        },
        correlation=[
            (
                c["netting_set"],
                _fig_html(correlation_figure(c), f"chart-correlation-{i}", first=False),
            )
            for i, c in enumerate(corr.get("netting_sets", []))
            if len(c["factors"]) > 2
        ]
        if corr.get("available")
        else [],
        corr_reason=corr.get("reason", "no account holds more than one underlying"),
        executive=executive_html(payload, money),
        stress_sections=stress_html(payload, money),
        backtest_sections=backtest_html(payload, lambda fig, div: _fig_html(fig, div, first=False)),
        capital_html=render_capital(
            payload.get("capital"), lambda fig, div: _fig_html(fig, div, first=False)
        ),
        cascade_html=cascade_html(
            payload.get("cascade"), lambda fig, div: _fig_html(fig, div, first=False)
        ),
        payload_json=json.dumps(_finite(payload)).replace("</", "<\\/"),
    )


__all__ = ["money", "render"]
