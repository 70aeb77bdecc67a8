"""HTML of the report sections of :mod:`crossmargin.report.sections` (executive summary,
stress per account and scenario, correlation break, reverse stress, defaults, backtest per
account). Tables carry ``data-*`` attributes (row keys and cell ``data-key``) so that every
number can be checked against the embedded payload; charts plot the payload's arrays.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import jinja2
import plotly.graph_objects as go

Money = Callable[[float | None], str]

_EXECUTIVE = """<h2 id="executive-heading">Executive summary</h2>
<p>Book <b>{{ s.book }}</b> as of <b>{{ s.as_of }}</b> (market: {{ s.market }}); money in
{{ currency }}. Models: {% for m in s.models %}<b>{{ m.model }}</b>{% if m.parameters %} ({% for
k, v in m.parameters.items() %}{{ k }} {{ v }}{% if not loop.last %}, {% endif %}{% endfor %}){%
endif %}{% if not loop.last %}; {% endif %}{% endfor %}.</p>
<p>The netting benefit per account, split by offset tier: the credit from netting within one
underlying (calendar spreads, futures against options: tiers product and underlying) apart
from the credit across underlyings (asset-class tier: e.g. SPX against SPY) and across asset
classes (netting-set tier: e.g. BTC against the S&amp;P). Standalone − the three credits =
the requirement.</p>
<table id="executive-benefit"><thead><tr><th>model</th><th>account</th><th>standalone</th>
<th>same-underlying credit</th><th>cross-underlying credit</th>
<th>cross-asset-class credit</th><th>requirement</th></tr></thead><tbody>
{% for r in s.benefit %}<tr data-model="{{ r.model }}" data-account="{{ r.account }}">
<td>{{ r.model }}</td><td>{{ r.account }}</td>{% for k in benefit_keys %}
<td class="num" data-key="{{ k }}">{{ money(r[k]) }}</td>{% endfor %}</tr>{% endfor %}
</tbody></table>
<h3>Where the netting breaks</h3>
{% if s.breaks %}<p>Accounts whose stressed loss exceeds the margin they hold (shortfall =
max(0, loss − margin held)); the correlation break is the direction that hurts the account.</p>
<table id="executive-breaks"><thead><tr><th>stress</th><th>account</th><th>scenario</th>
<th>loss</th><th>margin held</th><th>shortfall</th></tr></thead><tbody>
{% for b in s.breaks %}<tr data-kind="{{ b.kind }}" data-account="{{ b.account }}">
<td>{{ b.kind }}</td><td>{{ b.account }}</td><td>{{ b.what }}</td>
<td class="num" data-key="loss">{{ money(b.loss) }}</td>
<td class="num" data-key="margin">{{ money(b.margin) }}</td>
<td class="num" data-key="shortfall">{{ money(b.shortfall) }}</td></tr>{% endfor %}
</tbody></table>{% else %}<p class="note">No stress run shows a shortfall.</p>{% endif %}
{% if s.backtest %}<p>Backtest ({{ s.backtest.model }}, {{ s.backtest.start }} to
{{ s.backtest.end }}): {{ s.backtest.exceptions }} exceptions of the netted book margin in
{{ s.backtest.observations }} days.</p>{% endif %}
"""

_STRESS = """<h2 id="stress-heading">Stress tests</h2>
{% if rows %}<p>Each row is one account on one scenario row (the day or move named in
"applied"); loss = −P&amp;L by full revaluation of the account (collateral included),
margin held = its requirement after the offset tiers, shortfall = max(0, loss − margin held).
Accounts never net, and no loss here is a sum over different days. Correlation rows: the loss
is the account's ES with its offset correlations broken.</p>
<table id="stress"><thead><tr><th>scenario</th><th>horizon</th><th>account</th><th>applied</th>
<th>loss</th><th>margin held</th><th>standalone margin</th><th>shortfall</th></tr></thead><tbody>
{% for r in rows %}<tr data-scenario="{{ r.scenario }}" data-account="{{ r.account }}">
<td>{{ r.scenario }}</td><td>{{ r.horizon }}</td><td>{{ r.account }}</td><td>{{ r.applied }}</td>
<td class="num" data-key="loss">{{ "not covered" if r.loss is none else money(r.loss) }}</td>
<td class="num" data-key="margin">{{ money(r.margin) }}</td>
<td class="num" data-key="standalone">{{ money(r.standalone) }}</td>
<td class="num" data-key="shortfall">{{ money(r.shortfall) }}</td></tr>{% endfor %}
</tbody></table>
{% if corr %}<h3 id="correlation-break-heading">Correlation break</h3>
<p>Each netting set on its own window; each underlying's scenario rows are re-paired by rank
(Iman–Conover), so every underlying keeps its own distribution exactly. adverse = per account
the direction (+1 / −1) of each pair that raises its ES. ES at {{ corr.confidence }}.</p>
<table id="correlation-break"><thead><tr><th>account</th><th>netting set</th><th>mode</th>
<th>pair</th><th>direction / target</th><th>ES unbroken</th><th>ES broken</th>
<th>margin held</th><th>shortfall</th></tr></thead><tbody>
{% for r in corr.rows %}<tr data-account="{{ r.account }}" data-mode="{{ r.mode }}"
data-pair="{{ r.pair }}"><td>{{ r.account }}</td><td>{{ r.netting_set }}</td><td>{{ r.mode }}</td>
<td>{{ r.pair }}</td><td>{{ r.how }}</td>
<td class="num" data-key="baseline">{{ money(r.baseline) }}</td>
<td class="num" data-key="broken">{{ money(r.broken) }}</td>
<td class="num" data-key="margin">{{ money(r.margin) }}</td>
<td class="num" data-key="shortfall">{{ money(r.shortfall) }}</td></tr>{% endfor %}
</tbody></table>
<p>Controls: the ES of each account's leg on one underlying alone, before and under every
break (an underlying's distribution is kept, so it cannot move).</p>
<table id="correlation-controls"><thead><tr><th>account</th><th>underlying</th>
<th>ES alone</th><th>largest change</th></tr></thead><tbody>
{% for c in corr.controls %}<tr data-account="{{ c.account }}" data-underlying="{{ c.underlying }}">
<td>{{ c.account }}</td><td>{{ c.underlying }}</td>
<td class="num" data-key="baseline">{{ money(c.baseline) }}</td>
<td class="num" data-key="max_change">{{ "%.1e"|format(c.max_change) }}</td></tr>{% endfor %}
</tbody></table>{% endif %}
{% if reverse %}<h3 id="reverse-heading">Reverse stress</h3>
<p>The smallest joint move (Mahalanobis distance over the MPOR) whose loss exceeds the margin
held, and the share of the history's moves at least that far.</p>
<table id="reverse"><thead><tr><th>account</th><th>margin held</th><th>distance</th>
<th>moves (spot %, vol points)</th><th>P(d ≥ d*)</th><th>last seen</th></tr></thead><tbody>
{% for r in reverse %}<tr data-account="{{ r.account }}"><td>{{ r.account }}</td>
<td class="num" data-key="margin">{{ money(r.margin) }}</td>
<td class="num" data-key="distance">{{ "none" if r.mahalanobis_distance is none else
"%.2f"|format(r.mahalanobis_distance) }}</td><td>{{ r.moves_text }}</td>
<td class="num">{{ "" if r.plausibility is none else "%.1f%%"|format(100 * r.plausibility) }}</td>
<td>{{ r.last_seen or "" }}</td></tr>{% endfor %}</tbody></table>{% endif %}
{% if defaults %}<h3 id="default-heading">Default of each account</h3>
<p>The account's legs liquidated over the MPOR under its worst scenario among those run, with
liquidation costs; loss beyond margin = max(0, loss − margin held).</p>
<table id="defaults"><thead><tr><th>account</th><th>scenario</th><th>loss</th>
<th>of which liquidation cost</th><th>margin held</th><th>loss beyond margin</th>
<th>standalone margin</th></tr></thead><tbody>
{% for d in defaults %}<tr data-account="{{ d.account }}"><td>{{ d.account }}</td>
<td>{{ d.description }} ({{ d.scenario }})</td>
<td class="num" data-key="loss">{{ money(d.loss) }}</td>
<td class="num" data-key="liquidation_cost">{{ money(d.liquidation_cost) }}</td>
<td class="num" data-key="margin">{{ money(d.margin) }}</td>
<td class="num" data-key="shortfall">{{ money(d.shortfall) }}</td>
<td class="num" data-key="standalone">{{ money(d.standalone) }}</td></tr>{% endfor %}
</tbody></table>{% endif %}
{% else %}<p class="note" id="stress-hook">{{ reason }}</p>{% endif %}
"""

_BACKTEST = """<h2 id="backtest-heading">Backtest: {{ bt.model }} margin vs realised loss</h2>
<p>{{ bt.start }} to {{ bt.end }}, {{ bt.mpor }}-step MPOR: {{ bt.exceptions }} exceptions of
the netted book margin in {{ bt.observations }} days ({{ bt.traffic_light }} zone). Realised
loss = hypothetical P&amp;L of the static book (full revaluation on the market of t + h);
"clean" = the model's own factors only. Per account: the netted margin (the requirement after
the offset tiers) against the standalone margin and the realised loss.</p>
<table id="backtest-accounts"><thead><tr><th>account</th><th>days</th>
<th>exceptions netted</th><th>exceptions standalone</th><th>expected at 1 − α</th>
<th>expected at the ES-equivalent level</th><th>P(X ≥ x) at it</th><th>Z2 (p)</th>
<th>clean-P&amp;L exceptions</th><th>peak/trough</th><th>max rise 1/5/30 steps</th>
<th>with a 25% buffer run down</th></tr></thead><tbody>
{% for a in accounts %}<tr data-account="{{ a.account }}"><td>{{ a.account }}</td>
<td class="num" data-key="observations">{{ a.observations }}</td>
<td class="num" data-key="exceptions">{{ a.exceptions }}</td>
<td class="num" data-key="standalone_exceptions">{{ a.standalone_exceptions }}</td>
<td class="num">{{ a.expected }}</td><td class="num">{{ a.es_expected }}</td>
<td class="num">{{ a.es_p }}</td><td class="num">{{ a.z2 }}</td>
<td class="num">{{ a.clean }}</td><td class="num">{{ a.ptt }}</td>
<td class="num">{{ a.rise }}</td><td class="num">{{ a.buffered }}</td></tr>{% endfor %}
</tbody></table>
<div class="chart" data-chart="backtest">{{ book_chart|safe }}</div>
{% for name, html in charts %}<div class="chart" data-chart="backtest-{{ name }}">
{{ html|safe }}</div>{% endfor %}
"""


def _env() -> jinja2.Environment:
    return jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)


def executive_html(payload: Mapping[str, Any], money: Money) -> str:
    """The executive summary section."""
    s = payload.get("summary")
    if not s:
        return ""
    keys = ("standalone", "same_underlying", "cross_underlying", "cross_asset_class", "total")
    return (
        _env()
        .from_string(_EXECUTIVE)
        .render(s=s, currency=payload["currency"], money=money, benefit_keys=keys)
    )


def _moves(r: Mapping[str, Any]) -> str:
    return ", ".join(
        f"{u} {100 * m['spot']:+.1f}%/{100 * m['vol']:+.1f}" for u, m in r["moves"].items()
    ) or str(r.get("direction", ""))


def stress_html(payload: Mapping[str, Any], money: Money) -> str:
    """Stress per account and scenario, correlation break, reverse stress and defaults."""
    stress = payload.get("stress") or {"reason": "stress tests not requested"}
    result = stress.get("result") or {}
    corr = result.get("correlation")
    if corr:
        rows = []
        for r in corr["rows"]:
            how = ", ".join(f"{k} {v}" for k, v in r["direction"].items()) or ", ".join(
                f"{k} {v:+.2f}" for k, v in r["target"].items()
            )
            rows.append({**r, "how": how or "no pair to break"})
        corr = {**corr, "rows": rows}
    reverse = [{**r, "moves_text": _moves(r)} for r in result.get("reverse", [])]
    return (
        _env()
        .from_string(_STRESS)
        .render(
            rows=stress.get("rows", []),
            corr=corr,
            reverse=reverse,
            defaults=result.get("defaults", []),
            reason=stress.get("reason", "the stress result has no table to show"),
            money=money,
        )
    )


def _fmt(x: float | None, spec: str) -> str:
    return "" if x is None else format(x, spec)


def _account_cells(a: Mapping[str, Any], confidence: float) -> dict[str, Any]:
    net, alone = a["netted"], a["standalone"]
    es = net.get("es_backtest") or {}
    z2 = es.get("z2", {})
    cyc = net.get("procyclicality", {})
    rise = cyc.get("max_increase_pct", {})
    buf = cyc.get("apc_buffer", {}).get("max_increase_pct", {})
    return {
        "account": a["account"],
        "observations": net["observations"],
        "exceptions": net["exceptions"],
        "standalone_exceptions": alone["exceptions"],
        "expected": f"{(1 - confidence) * net['observations']:.1f}",
        "es_expected": _fmt(es.get("normal", {}).get("expected"), ".1f"),
        "es_p": _fmt(es.get("normal", {}).get("binomial_p_value"), ".3f"),
        "z2": (f"{z2['z2']:.2f} ({z2['p_value']:.3f})" if "z2" in z2 else ""),
        "clean": es.get("clean_exceptions", ""),
        "ptt": _fmt(cyc.get("peak_to_trough_ratio"), ".2f"),
        "rise": "/".join(_fmt(rise.get(h), ".0f") for h in ("1", "5", "30")) + " %" if rise else "",
        "buffered": "/".join(_fmt(buf.get(h), ".0f") for h in ("1", "5", "30")) + " %"
        if buf
        else "",
    }


def backtest_figure(series: list[Mapping[str, Any]], title: str, currency: str) -> go.Figure:
    """Netted and standalone margin, realised loss (hypothetical P&L; the clean P&L hidden
    until clicked in the legend), exceptions marked; money in ``currency``."""
    dates = [r["date"] for r in series]
    fig = go.Figure()
    fig.add_scatter(x=dates, y=[r["margin"] for r in series], name="margin held (netted)")
    fig.add_scatter(
        x=dates, y=[r["standalone_margin"] for r in series], name="standalone margin",
        line={"dash": "dot"},
    )  # fmt: skip
    fig.add_scatter(
        x=dates, y=[-r["pnl"] for r in series], name="realised loss (hypothetical P&L)",
        mode="lines", opacity=0.6,
    )  # fmt: skip
    if any(r.get("pnl_clean") is not None for r in series):
        fig.add_scatter(
            x=dates, y=[None if r["pnl_clean"] is None else -r["pnl_clean"] for r in series],
            name="realised loss (clean P&L: the model's factors)", mode="lines", opacity=0.4,
            line={"dash": "dash"}, visible="legendonly",
        )  # fmt: skip
    exc = [r for r in series if r["exception"]]
    fig.add_scatter(
        x=[r["date"] for r in exc], y=[-r["pnl"] for r in exc], mode="markers",
        name="exception (netted)", marker={"color": "red", "size": 9, "symbol": "x"},
    )  # fmt: skip
    fig.update_layout(
        title=title,
        yaxis_title=f"margin and realised loss ({currency})",
        xaxis_title="day t (loss over t to t + MPOR)",
    )
    return fig


def backtest_html(payload: Mapping[str, Any], fig_html: Callable[[go.Figure, str], str]) -> str:
    """The backtest section: per-account table and charts, and the book's chart."""
    bt = payload.get("backtest")
    if not bt:
        return ""
    currency = payload["currency"]
    book = fig_html(
        backtest_figure(bt["series"], f"{bt['model']} backtest: book", currency), "chart-backtest"
    )
    charts = [
        (
            a["account"],
            fig_html(
                backtest_figure(a["series"], f"{bt['model']} backtest: {a['account']}", currency),
                f"chart-backtest-{i}",
            ),
        )
        for i, a in enumerate(bt.get("accounts", []))
    ]
    accounts = [_account_cells(a, bt["confidence"]) for a in bt.get("accounts", [])]
    return (
        _env()
        .from_string(_BACKTEST)
        .render(bt=bt, accounts=accounts, book_chart=book, charts=charts)
    )


__all__ = ["backtest_figure", "backtest_html", "executive_html", "stress_html"]
