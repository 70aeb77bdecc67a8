"""``conservative``: the more conservative of two models, row by row.

``IM = max(IM_A, IM_B)`` for every holding (position, group and account alike), as in the
CME–FICC customer cross-margining proposal where each CCP runs its own model and the
higher figure applies (CFTC 90 FR 58525, METHODS §7). Components of both models are kept,
prefixed with the model name, with ``binding_<name>`` (1 where that model binds).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from crossmargin.errors import ModelError
from crossmargin.instruments import Instrument
from crossmargin.market.snapshot import MarketSnapshot
from crossmargin.models.base import MarginModel, RowMargins, register


@register
class ConservativeModel(MarginModel):
    """The row-wise maximum of two models (see module docstring)."""

    name = "conservative"
    description = "The more conservative of two models, row by row"
    subadditive = False

    def __init__(self, first: MarginModel | None = None, second: MarginModel | None = None):
        if first is None or second is None:
            raise ModelError("conservative needs two models: e.g. --model span --also es")
        self.first, self.second = first, second
        # collateral nets only when both parts net it (rules charge a collateral leg in full)
        self.nets_collateral = first.nets_collateral and second.nets_collateral

    def parameters(self) -> dict[str, Any]:
        """Both models' parameters."""
        return {
            self.first.name: self.first.parameters(),
            self.second.name: self.second.parameters(),
        }

    def parameters_for(self, underlyings: Collection[str]) -> dict[str, Any]:
        """Both models' parameters for a book on ``underlyings``."""
        return {
            self.first.name: self.first.parameters_for(underlyings),
            self.second.name: self.second.parameters_for(underlyings),
        }

    def prepare(self, instruments: tuple[Instrument, ...], market: MarketSnapshot) -> Any:
        """Prepare both models."""
        return (self.first.prepare(instruments, market), self.second.prepare(instruments, market))

    def margin_rows(
        self, context: Any, holdings: sp.csr_matrix, *, detail: NDArray[np.bool_] | None = None
    ) -> RowMargins:
        """Row-wise maximum of the two models' requirements."""
        a = self.first.margin_rows(context[0], holdings, detail=detail)
        b = self.second.margin_rows(context[1], holdings, detail=detail)
        first_binds = a.total >= b.total
        components = {f"{self.first.name}.{k}": v for k, v in a.components.items()}
        components.update({f"{self.second.name}.{k}": v for k, v in b.components.items()})
        components[f"binding_{self.first.name}"] = first_binds.astype(float)
        maintenance = None
        if a.maintenance is not None and b.maintenance is not None:
            maintenance = np.where(first_binds, a.maintenance, b.maintenance)
        worst = None
        names = a.scenario_names + b.scenario_names
        if a.worst_scenario is not None and b.worst_scenario is not None:
            worst = np.where(
                first_binds, a.worst_scenario, np.where(b.worst_scenario >= 0,
                                                        b.worst_scenario + len(a.scenario_names),
                                                        -1),
            )  # fmt: skip
        info = {f"{self.first.name}.{k}": v for k, v in a.info.items()}
        info.update({f"{self.second.name}.{k}": v for k, v in b.info.items()})
        facts: tuple[Mapping[str, Any], ...] = ()
        if a.facts or b.facts:
            facts = tuple(
                {self.first.name: fa, self.second.name: fb}
                for fa, fb in zip(
                    a.facts or ({},) * len(a.total), b.facts or ({},) * len(b.total), strict=True
                )
            )
        return RowMargins(
            total=np.maximum(a.total, b.total),
            facts=facts,
            maintenance=maintenance,
            components=components,
            info=info,
            worst_scenario=worst,
            scenario_names=names,
        )
