"""Price impact of the liquidation flow against market depth.

Per underlying ``k`` and step ``t`` of a cascade, with ``Qₖ`` the signed flow of the step's
liquidations so far (units of the underlying; buying > 0, a liquidated long sells)::

    Vₖ,ₜ  = ADVₖ · hₜ · (1 − cₜ)                 depth of the step (units)
    ιₖ,ₜ  = sign(Qₖ) · Y · σₖ · (|Qₖ| / Vₖ,ₜ)^δ    impact on the log price (Δ ln S)

* ``ADVₖ``: delta-one average daily volume of the underlying on the venues that hold it, in
  units a venue day — the ``venues`` block of ``crossmargin/models/params/es.json`` (the data
  the ES concentration add-on uses, :func:`crossmargin.models.var_addon_params.delta_adv_usd`),
  summed over the venues of the population;
* ``hₜ``: the step's share of the trading day (1/12 for 12 intraday steps);
* ``cₜ ∈ [0, 1)``: depth collapse (0.98: 98% of the depth gone, as on 2025-10-10);
* ``σₖ``: daily volatility, the snapshot's 30-day ATM implied vol / √(days a year: 365 for
  crypto, 252 otherwise);
* ``Y > 0`` (coefficient) and ``δ ∈ (0, 1]`` (exponent): δ = ½ is the square-root law (Tóth
  et al. 2011; Almgren et al. 2005, Y of order 1); δ = 1 is linear (Kyle 1985) impact.

Impact is **permanent** within a run: each step's impact adds to the log price of every later
step (no resilience, a conservative choice for a market in stress). The sign convention makes
the flow of liquidated longs push the price down. With ``δ = 1`` the law is additive, so the
impact of one step's flow does not depend on how it is split between iterations.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from crossmargin.errors import InputError

FloatArray = NDArray[np.float64]


@dataclass(frozen=True, slots=True, kw_only=True)
class ImpactLaw:
    """``ι = sign(Q)·Y·σ·(|Q| / (ADV·h·(1 − c)))^δ`` (see the module docstring)."""

    coefficient: float
    exponent: float
    depth_collapse: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 < self.coefficient <= 10.0:
            raise InputError(f"impact coefficient must be in (0, 10], got {self.coefficient}")
        if not 0.0 < self.exponent <= 1.0:
            raise InputError(f"impact exponent must be in (0, 1], got {self.exponent}")
        if not 0.0 <= self.depth_collapse < 1.0:
            raise InputError(f"depth collapse must be in [0, 1), got {self.depth_collapse}")

    def depth(self, adv_units: FloatArray, step_fraction: float, collapse: float) -> FloatArray:
        """Units tradable in the step: ``ADV·h·(1 − c)`` (``collapse`` overrides the law's)."""
        if not 0.0 < step_fraction <= 1.0:
            raise InputError(f"a step is a fraction of the day in (0, 1], got {step_fraction}")
        if not 0.0 <= collapse < 1.0:
            raise InputError(f"depth collapse must be in [0, 1), got {collapse}")
        out: FloatArray = adv_units * step_fraction * (1.0 - collapse)
        return out

    def log_impact(
        self,
        flow_units: FloatArray,
        adv_units: FloatArray,
        sigma_daily: FloatArray,
        *,
        step_fraction: float,
        collapse: float | None = None,
    ) -> FloatArray:
        """``ι`` per underlying for the signed flow of one step (module docstring)."""
        depth = self.depth(
            adv_units, step_fraction, self.depth_collapse if collapse is None else collapse
        )
        ratio = np.abs(flow_units) / depth
        out: FloatArray = (
            np.sign(flow_units) * self.coefficient * sigma_daily * ratio**self.exponent
        )
        return out


__all__ = ["ImpactLaw"]
