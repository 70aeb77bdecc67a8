"""SIMM result objects: the margin, its standard breakdown, ``to_dict()`` and ``summary()``.

The breakdown follows the standard SIMM report (as ISDA's and ORE's): one line per product
class × risk class × margin type × bucket, with ``"All"`` on the aggregated levels.
Amounts are in the calculation currency and are never rounded here; round only for display.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

ALL = "All"
MARGIN_TYPES: tuple[str, ...] = ("Delta", "Vega", "Curvature", "BaseCorr")


@dataclass(frozen=True, slots=True, kw_only=True)
class MarginComponent:
    """One margin type of one risk class: the margin and each bucket's ``K_b``.

    For curvature ``buckets`` holds the bucket-level ``K_b`` of the curvature formula (not
    scaled by λ or, for IR, by HVR⁻²), as the standard report shows it.
    """

    margin: float = 0.0
    buckets: Mapping[str, float] = field(default_factory=dict)


EMPTY = MarginComponent()


@dataclass(frozen=True, slots=True, kw_only=True)
class RiskClassMargin:
    """Delta, vega, curvature and base-correlation margins of one risk class.

    ``total = delta + vega + curvature + base_corr`` (ISDA SIMM section E).
    """

    risk_class: str
    delta: MarginComponent = EMPTY
    vega: MarginComponent = EMPTY
    curvature: MarginComponent = EMPTY
    base_corr: MarginComponent = EMPTY

    @property
    def total(self) -> float:
        return self.delta.margin + self.vega.margin + self.curvature.margin + self.base_corr.margin

    def component(self, margin_type: str) -> MarginComponent:
        """The component named ``Delta``, ``Vega``, ``Curvature`` or ``BaseCorr``."""
        return {
            "Delta": self.delta,
            "Vega": self.vega,
            "Curvature": self.curvature,
            "BaseCorr": self.base_corr,
        }[margin_type]


@dataclass(frozen=True, slots=True, kw_only=True)
class SimmLine:
    """One line of the standard SIMM report; ``"All"`` marks an aggregated level."""

    product_class: str
    risk_class: str
    margin_type: str
    bucket: str
    amount: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "product_class": self.product_class,
            "risk_class": self.risk_class,
            "margin_type": self.margin_type,
            "bucket": self.bucket,
            "amount": self.amount,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class SimmResult:
    """ISDA SIMM initial margin of one portfolio, one side.

    Attributes
    ----------
    total:
        ``SIMM = Σ_p m_p · IM_p + AddOn_notional + AddOn_fixed``.
    delta, vega, curvature, base_corr:
        SIMM computed with only that margin type in every risk class (ψ-aggregated within
        each product class, summed over product classes, without multipliers), as the
        ISDA unit tests report them.
    add_on:
        ``Σ_p (m_p − 1) · IM_p`` plus notional-based and fixed add-ons.
    by_product_class:
        ``IM_p`` per product class (before the multiplier).
    by_risk_class:
        Risk-class margin ``IM_r``, summed over the product classes it appears in.
    lines:
        The standard report breakdown (see :class:`SimmLine`).
    side:
        ``"collect"`` (amounts as given) or ``"post"`` (amounts negated).
    regulation:
        The winning regulation (largest margin) when the CRIF names regulations.
    by_regulation:
        The SIMM of each regulation of this side.
    post:
        The post side, when computed (regulations given, or asked for).
    notes:
        What was left out and why (e.g. ``IMModel=Schedule`` lines, which are not SIMM).
    """

    total: float
    delta: float
    vega: float
    curvature: float
    base_corr: float
    add_on: float
    by_product_class: Mapping[str, float]
    by_risk_class: Mapping[str, float]
    lines: tuple[SimmLine, ...]
    version: str
    mpor_days: int
    calculation_currency: str
    side: str = "collect"
    regulation: str | None = None
    by_regulation: Mapping[str, float] = field(default_factory=dict)
    post: SimmResult | None = None
    notes: tuple[str, ...] = ()

    def line(
        self, product_class: str, risk_class: str, margin_type: str, bucket: str = ALL
    ) -> float:
        """Amount of one report line (0.0 if the line is absent)."""
        for item in self.lines:
            if (item.product_class, item.risk_class, item.margin_type, item.bucket) == (
                product_class,
                risk_class,
                margin_type,
                bucket,
            ):
                return item.amount
        return 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready mapping: totals, components, breakdowns, and the post side if any."""
        out: dict[str, Any] = {
            "total": self.total,
            "delta": self.delta,
            "vega": self.vega,
            "curvature": self.curvature,
            "base_corr": self.base_corr,
            "add_on": self.add_on,
            "by_product_class": dict(self.by_product_class),
            "by_risk_class": dict(self.by_risk_class),
            "buckets": [line.to_dict() for line in self.lines],
            "version": self.version,
            "mpor_days": self.mpor_days,
            "calculation_currency": self.calculation_currency,
            "side": self.side,
            "regulation": self.regulation,
            "by_regulation": dict(self.by_regulation),
            "notes": list(self.notes),
        }
        if self.post is not None:
            out["post"] = self.post.to_dict()
        return out

    def summary(self) -> str:
        """A short human-readable account of the margin."""
        ccy = self.calculation_currency
        head = f"ISDA SIMM {self.version}, {self.mpor_days}-day MPOR, {self.side} side"
        if self.regulation:
            head += f" (regulation {self.regulation})"
        rows = [
            head,
            f"  total      {self.total:>22,.2f} {ccy}",
            f"  delta      {self.delta:>22,.2f}",
            f"  vega       {self.vega:>22,.2f}",
            f"  curvature  {self.curvature:>22,.2f}",
            f"  base corr  {self.base_corr:>22,.2f}",
            f"  add-on     {self.add_on:>22,.2f}",
        ]
        rows += [f"  {pc:<10} {im:>22,.2f}" for pc, im in self.by_product_class.items()]
        if self.post is not None:
            rows.append(f"  post side total {self.post.total:,.2f} {ccy}")
        rows += [f"  note: {note}" for note in self.notes]
        return "\n".join(rows)


__all__ = [
    "ALL",
    "MARGIN_TYPES",
    "MarginComponent",
    "RiskClassMargin",
    "SimmLine",
    "SimmResult",
]
