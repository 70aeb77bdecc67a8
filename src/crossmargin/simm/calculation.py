"""The ISDA SIMM calculation: from CRIF lines to a :class:`~crossmargin.simm.report.SimmResult`.

ISDA SIMM Methodology v2.5+, sections E-F::

    IM_r  = DeltaMargin_r + VegaMargin_r + CurvatureMargin_r (+ BaseCorrMargin for CreditQ)
    IM_p  = √( Σ_r IM_r² + Σ_{r≠s} ψ_rs · IM_r · IM_s )        risk classes within product p
    SIMM  = Σ_p m_p · IM_p + Σ_q f_q · Notional_q + FixedAddOn

Product classes are silos (no diversification across them); ``m_p`` is the product-class
multiplier (``Param_ProductClassMultiplier``, default 1), ``f_q`` the notional factor in
percent (``Param_AddOnNotionalFactor``) of product ``q``.

The calculation runs in USD (``AmountUSD``, or ``Amount`` converted with ``fx_rates``)
against the USD concentration thresholds; a result in another calculation currency is the
USD result divided by that currency's USD rate (every SIMM formula is positively
homogeneous once thresholds are converted too).  The calculation currency also selects the
FX risk weights and correlations and drops ``Risk_FX`` lines in itself.

Collect and post sides: the post side negates every sensitivity.  Where the CRIF names
regulations (``collect_regulations``/``post_regulations``, e.g. ``"ESA,USPR"``) each side
is computed per regulation over the lines naming it (lines naming none count for every
regulation) and the largest margin wins.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from crossmargin.errors import Issue, MarketDataError, SchemaError
from crossmargin.simm.crif import PRODUCT_CLASSES, RISK_TYPE_CLASS, Crif, as_crif, parse_regulations
from crossmargin.simm.curvature import curvature_margin
from crossmargin.simm.delta import AMOUNT, base_corr, bucketed_delta, fx_delta, ir_delta
from crossmargin.simm.distinct import FACTOR_LABELS, compact
from crossmargin.simm.factors import net_factors, net_factors_rowwise
from crossmargin.simm.parameters import FX, IR, RISK_CLASSES, SimmParameters, load_parameters
from crossmargin.simm.report import ALL, MARGIN_TYPES, RiskClassMargin, SimmLine, SimmResult
from crossmargin.simm.validation import amounts_in_usd, validate_for_version
from crossmargin.simm.vega import bucketed_vega, fx_vega, ir_vega

_VEGA_TYPES = frozenset(
    {
        "Risk_IRVol",
        "Risk_InflationVol",
        "Risk_CreditVol",
        "Risk_CreditVolNonQ",
        "Risk_EquityVol",
        "Risk_CommodityVol",
        "Risk_FXVol",
    }
)
_SIDES = {"collect": "collect_regulations", "post": "post_regulations"}
CrifInput = Crif | pd.DataFrame | Iterable[Mapping[str, Any]] | str | os.PathLike[str]


def _risk_class_margin(
    params: SimmParameters, risk_class: str, parts: Mapping[str, pd.DataFrame], calc_ccy: str
) -> RiskClassMargin:
    """Margin of one risk class from its ``delta``, ``vega`` and ``base_corr`` lines."""
    delta_rows, vega_rows = parts["delta"], parts["vega"]
    if risk_class == IR:
        delta, vega = ir_delta(params, delta_rows), ir_vega(params, vega_rows)
    elif risk_class == FX:
        delta, vega = fx_delta(params, delta_rows, calc_ccy), fx_vega(params, vega_rows)
    else:
        delta = bucketed_delta(params, risk_class, delta_rows)
        vega = bucketed_vega(params, risk_class, vega_rows)
    return RiskClassMargin(
        risk_class=risk_class,
        delta=delta,
        vega=vega,
        curvature=curvature_margin(params, risk_class, vega_rows),
        base_corr=base_corr(params, parts["base_corr"]),
    )


def _by_risk_class(risk: pd.DataFrame) -> list[tuple[str, str, dict[str, pd.DataFrame]]]:
    """(product class, risk class, its delta / vega / base-correlation lines) of each pair
    present, in order of first appearance (a groupby with ``sort=False``); lines keep
    their order.  Risk types are classified once per distinct value."""
    if not len(risk):
        return []
    pcs, pc_names = pd.factorize(risk["ProductClass"])
    rcs, rc_names = pd.factorize(risk["risk_class"])
    pair, _ = pd.factorize(pcs.astype(np.int64) * max(len(rc_names), 1) + rcs)
    types, type_names = pd.factorize(risk["RiskType"])
    names = pd.Series(type_names, dtype=object)
    kind_of = np.where(names.isin(_VEGA_TYPES), 1, np.where(names.eq("Risk_BaseCorr"), 2, 0))
    kind = kind_of[types]
    out = []
    grouped = np.split(np.argsort(pair, kind="stable"), np.cumsum(np.bincount(pair))[:-1])
    for rows in grouped:  # pair codes number the pairs in order of first appearance
        parts = {
            name: risk.take(rows[kind[rows] == k])
            for k, name in enumerate(("delta", "vega", "base_corr"))
        }
        out.append((str(pc_names[pcs[rows[0]]]), str(rc_names[rcs[rows[0]]]), parts))
    return out


def _psi_aggregate(params: SimmParameters, margins: Mapping[str, float]) -> float:
    """``√(Σ_r Σ_s ψ_rs · IM_r · IM_s)`` over the risk classes of one product class."""
    names = [r for r in margins if margins[r] != 0.0]
    total = 0.0
    for r in names:
        for s in names:
            total += params.risk_class_corr(r, s) * margins[r] * margins[s]
    return math.sqrt(max(total, 0.0))


def _single_parameter(frame: pd.DataFrame, risk_type: str, source: str) -> dict[str, float]:
    rows = frame[frame["RiskType"] == risk_type]
    values: dict[str, float] = {}
    issues = []
    for qualifier, value, row in zip(rows["Qualifier"], rows[AMOUNT], rows["row"], strict=True):
        if qualifier in values and values[qualifier] != value:
            issues.append(
                Issue(
                    source=source,
                    row=int(row),
                    column="Amount",
                    value=value,
                    reason=f"conflicting {risk_type} for {qualifier!r}",
                )
            )
        values[str(qualifier)] = float(value)
    SchemaError.raise_if_any(issues)
    return values


def _compute(
    params: SimmParameters, frame: pd.DataFrame, calc_ccy: str, scale: float, source: str
) -> SimmResult:
    """SIMM of the lines in ``frame`` (amounts in USD, column ``amount``)."""
    needed = ["ProductClass", "risk_class", "RiskType", "Qualifier", "Bucket", "Label1", "Label2"]
    risk = frame.loc[frame["risk_class"] != "", [*needed, AMOUNT]]  # no column carried idle
    by_pc: dict[str, dict[str, RiskClassMargin]] = {}
    for pc, rc, parts in _by_risk_class(risk):
        by_pc.setdefault(pc, {})[rc] = _risk_class_margin(params, rc, parts, calc_ccy)
    order = {name: i for i, name in enumerate(RISK_CLASSES)}
    multipliers = _single_parameter(frame, "Param_ProductClassMultiplier", source)
    factors = _single_parameter(frame, "Param_AddOnNotionalFactor", source)
    notional_rows = frame[frame["RiskType"] == "Notional"]
    notional = notional_rows.groupby("Qualifier", observed=True)[AMOUNT].sum()
    fixed = float(frame.loc[frame["RiskType"] == "Param_AddOnFixedAmount", AMOUNT].sum())
    notional_add_on = sum(factors.get(str(q), 0.0) / 100.0 * float(n) for q, n in notional.items())

    lines: list[SimmLine] = []
    im_by_pc: dict[str, float] = {}
    by_rc: dict[str, float] = {}
    components = dict.fromkeys(MARGIN_TYPES, 0.0)
    for pc in [p for p in PRODUCT_CLASSES if p in by_pc]:
        classes = dict(sorted(by_pc[pc].items(), key=lambda kv: order[kv[0]]))
        for rc, margin in classes.items():
            if not any(margin.component(mt).buckets for mt in MARGIN_TYPES):
                continue  # e.g. only FX lines in the calculation currency
            for mt in MARGIN_TYPES:
                part = margin.component(mt)
                if part.margin == 0.0 and not part.buckets:
                    continue
                lines += [
                    SimmLine(
                        product_class=pc,
                        risk_class=rc,
                        margin_type=mt,
                        bucket=str(b),
                        amount=k * scale,
                    )
                    for b, k in part.buckets.items()
                ]
                lines.append(
                    SimmLine(
                        product_class=pc,
                        risk_class=rc,
                        margin_type=mt,
                        bucket=ALL,
                        amount=part.margin * scale,
                    )
                )
            lines.append(
                SimmLine(
                    product_class=pc,
                    risk_class=rc,
                    margin_type=ALL,
                    bucket=ALL,
                    amount=margin.total * scale,
                )
            )
            by_rc[rc] = by_rc.get(rc, 0.0) + margin.total * scale
        for mt in MARGIN_TYPES:
            value = _psi_aggregate(
                params, {rc: m.component(mt).margin for rc, m in classes.items()}
            )
            components[mt] += value * scale
            if value:
                lines.append(
                    SimmLine(
                        product_class=pc,
                        risk_class=ALL,
                        margin_type=mt,
                        bucket=ALL,
                        amount=value * scale,
                    )
                )
        im = _psi_aggregate(params, {rc: m.total for rc, m in classes.items()})
        im_by_pc[pc] = im * scale
        lines.append(
            SimmLine(
                product_class=pc, risk_class=ALL, margin_type=ALL, bucket=ALL, amount=im * scale
            )
        )
    multiplier_add_on = sum((multipliers.get(pc, 1.0) - 1.0) * im for pc, im in im_by_pc.items())
    add_on = multiplier_add_on + (notional_add_on + fixed) * scale
    total = sum(im_by_pc.values()) + add_on
    for rc in sorted(by_rc, key=order.__getitem__):
        lines.append(
            SimmLine(
                product_class=ALL, risk_class=rc, margin_type=ALL, bucket=ALL, amount=by_rc[rc]
            )
        )
    for mt in MARGIN_TYPES:
        if components[mt]:
            lines.append(
                SimmLine(
                    product_class=ALL,
                    risk_class=ALL,
                    margin_type=mt,
                    bucket=ALL,
                    amount=components[mt],
                )
            )
    if add_on:
        lines.append(
            SimmLine(
                product_class=ALL, risk_class=ALL, margin_type="AddOn", bucket=ALL, amount=add_on
            )
        )
    lines.append(
        SimmLine(product_class=ALL, risk_class=ALL, margin_type=ALL, bucket=ALL, amount=total)
    )
    return SimmResult(
        total=total,
        delta=components["Delta"],
        vega=components["Vega"],
        curvature=components["Curvature"],
        base_corr=components["BaseCorr"],
        add_on=add_on,
        by_product_class=im_by_pc,
        by_risk_class=dict(sorted(by_rc.items(), key=lambda kv: order[kv[0]])),
        lines=tuple(lines),
        version=params.version,
        mpor_days=params.mpor_days,
        calculation_currency=calc_ccy,
    )


def _side(
    params: SimmParameters,
    frame: pd.DataFrame,
    side: str,
    calc_ccy: str,
    scale: float,
    source: str,
) -> SimmResult:
    codes, cells = pd.factorize(frame[_SIDES[side]])
    parsed = [parse_regulations(str(text)) for text in cells]
    regulations = sorted({r for regs in parsed for r in regs})
    if not regulations:
        result = _compute(params, frame, calc_ccy, scale, source)
        return _with(result, side=side)
    results = {}
    for regulation in regulations:
        included = np.array([not regs or regulation in regs for regs in parsed], dtype=bool)
        mask = included[codes]  # decided once per distinct cell
        results[regulation] = _compute(params, frame[mask], calc_ccy, scale, source)
    winner = max(regulations, key=lambda r: results[r].total)
    by_regulation = {r: results[r].total for r in regulations}
    return _with(results[winner], side=side, regulation=winner, by_regulation=by_regulation)


def _with(result: SimmResult, **changes: Any) -> SimmResult:
    from dataclasses import replace

    return replace(result, **changes)


def simm_margin(
    crif: CrifInput,
    version: str = "2.6",
    mpor_days: int = 10,
    calculation_currency: str = "USD",
    *,
    fx_rates: Mapping[str, float] | None = None,
    include_post: bool | None = None,
    columnar: bool = True,
) -> SimmResult:
    """ISDA SIMM initial margin of the CRIF lines in ``crif``.

    Parameters
    ----------
    crif:
        A :class:`~crossmargin.simm.crif.Crif`, a DataFrame or mappings with CRIF columns,
        or a path to a CRIF file.  Any source of sensitivities works.
    version:
        SIMM version (``"2.5"``, ``"2.6"``, ``"2.8+2506"``, ``"2.8+2512"``, alias ``"2.8"``).
    mpor_days:
        Margin period of risk, 10 or 1 days.
    calculation_currency:
        Currency of the result; selects FX risk weights and drops FX delta in itself.
    fx_rates:
        USD value of one unit of a currency, for lines without ``AmountUSD`` and for a
        calculation currency other than USD.
    include_post:
        Also compute the post side (amounts negated).  Default: when regulations are given.
    columnar:
        Net the lines into risk factors with integer codes and group over categorical
        label columns (the default); ``False`` nets by a loop over the lines and groups
        over the strings themselves, the slow twin the tests compare against (same
        figures; :mod:`crossmargin.simm.factors` gives the summation order).

    Returns
    -------
    SimmResult
        The collect side, with the post side in ``result.post`` when computed.

    Raises
    ------
    SchemaError
        Listing every CRIF line that is invalid for ``version``.
    ModelError
        Unknown version or MPOR.
    MarketDataError
        A needed FX rate is missing.
    """
    params = load_parameters(version, mpor_days)
    if isinstance(crif, Crif):
        table = crif
        validate_for_version(table, params)
    else:
        table = as_crif(crif, version=params.version)
    table, notes = _without_schedule_lines(table)
    usd = amounts_in_usd(table, fx_rates)
    scale = 1.0
    if calculation_currency != "USD":
        rate = (fx_rates or {}).get(calculation_currency)
        if rate is None or not rate > 0.0:
            raise MarketDataError(
                f"no USD rate for calculation currency {calculation_currency}; "
                f"pass fx_rates={{'{calculation_currency}': <USD per unit>}}"
            )
        scale = 1.0 / float(rate)
    if columnar:
        factors, factor_usd = net_factors(table.frame, usd, table.distinct)
    else:
        factors, factor_usd = net_factors_rowwise(table.frame, usd)
    frame = _working_frame(factors, factor_usd, columnar=columnar)
    source = factors
    has_regulations = bool(
        source["collect_regulations"].ne("").any() or source["post_regulations"].ne("").any()
    )
    collect = _side(params, frame, "collect", calculation_currency, scale, table.source)
    if include_post if include_post is not None else has_regulations:
        negated = frame.assign(
            **{AMOUNT: np.where(frame["risk_class"] != "", -frame[AMOUNT], frame[AMOUNT])}
        )
        post = _side(params, negated, "post", calculation_currency, scale, table.source)
        collect = _with(collect, post=post)
    return _with(collect, notes=notes) if notes else collect


def _working_frame(source: pd.DataFrame, usd: np.ndarray, *, columnar: bool) -> pd.DataFrame:
    """The label columns, regulations, ``row``, ``risk_class`` and USD ``amount`` of the lines.

    ``columnar``: labels as categoricals with sorted categories (groupby over integers in
    the strings' order, ``risk_class`` looked up once per distinct ``RiskType``).
    """
    data: dict[str, Any] = {}
    if columnar:
        for column in FACTOR_LABELS:
            data[column] = compact(source[column])
        rtype = data["RiskType"]
        classes = pd.Series(rtype.cat.categories).map(RISK_TYPE_CLASS).fillna("")
        class_codes, class_names = pd.factorize(classes, sort=True)
        data["risk_class"] = pd.Series(
            pd.Categorical.from_codes(
                class_codes[rtype.cat.codes.to_numpy()], categories=pd.Index(class_names)
            ),
            index=source.index,
        )
    else:
        for column in FACTOR_LABELS:
            data[column] = source[column].astype(str)
        data["risk_class"] = source["RiskType"].map(RISK_TYPE_CLASS).fillna("")
    for column in ("collect_regulations", "post_regulations"):
        data[column] = source[column] if columnar else source[column].astype(str)
    data["row"] = source["row"]
    data[AMOUNT] = usd
    frame = pd.DataFrame(data)
    return frame[
        [*FACTOR_LABELS, "collect_regulations", "post_regulations", "row", "risk_class", AMOUNT]
    ]


def _without_schedule_lines(table: Crif) -> tuple[Crif, tuple[str, ...]]:
    """The CRIF without its ``IMModel=Schedule`` lines, and a note naming them: the schedule
    method is not SIMM, so they are reported, never silently used."""
    from crossmargin.simm.checks import schedule_mask

    schedule = schedule_mask(table.frame)
    if not schedule.any():
        return table, ()
    rows = table.frame["row"].to_numpy()[schedule]
    shown = ", ".join(str(int(r)) for r in rows[:10]) + (" ..." if len(rows) > 10 else "")
    note = (
        f"{len(rows)} IMModel=Schedule line{'s' if len(rows) != 1 else ''} of {table.source} "
        f"left out (rows {shown}): the schedule method is not SIMM"
    )
    kept = table.frame[~schedule].reset_index(drop=True)
    return Crif(frame=kept, source=table.source), (note,)


__all__ = ["simm_margin"]
