"""Pure numerical building blocks: tails, backtests, EWMA/FHS, correlations, horizons.

Vectorised NumPy/SciPy functions with no dependency on the rest of the engine. Arrays put
the scenario (or day) axis first. Formulas and sources: ``docs/statistics.md`` and each
module's docstring.
"""

from __future__ import annotations

from crossmargin.stats.backtest import (
    BASEL_1996_PLUS_FACTORS,
    ChristoffersenResult,
    KupiecResult,
    TrafficLightResult,
    TrafficLightZones,
    TransitionCounts,
    Zone,
    christoffersen,
    christoffersen_from_counts,
    kupiec_pof,
    traffic_light,
    traffic_light_zones,
    transition_counts,
)
from crossmargin.stats.correlation import (
    CorrelationAdjustment,
    blend_correlations,
    flip_correlation_signs,
    nearest_correlation,
    push_correlations,
    recorrelate,
    validate_correlation,
)
from crossmargin.stats.coverage import (
    CoverageResult,
    SubsampleBacktest,
    SubsampleStats,
    coverage,
    exception_indicator,
    non_overlapping_subsamples,
    subsample_backtest,
)
from crossmargin.stats.ewma import (
    EwmaResult,
    FhsResult,
    devolatilise,
    ewma_variance,
    fhs_scenarios,
    floored_vol,
    ice_blend_vol,
    revolatilise,
    rolling_vol,
    stress_vol,
)
from crossmargin.stats.horizon import HorizonReturns, overlapping_sums, sqrt_time_scale
from crossmargin.stats.procyclicality import (
    PeakToTrough,
    ProcyclicalityES,
    ice_procyclicality,
    margin_change_es,
    peak_to_trough,
)
from crossmargin.stats.tail import (
    TailResult,
    tail_count,
    tail_mass,
    tail_weights,
    var_es,
    var_es_by_count,
    var_interpolated,
)

__all__ = [
    "BASEL_1996_PLUS_FACTORS",
    "ChristoffersenResult",
    "CorrelationAdjustment",
    "CoverageResult",
    "EwmaResult",
    "FhsResult",
    "HorizonReturns",
    "KupiecResult",
    "PeakToTrough",
    "ProcyclicalityES",
    "SubsampleBacktest",
    "SubsampleStats",
    "TailResult",
    "TrafficLightResult",
    "TrafficLightZones",
    "TransitionCounts",
    "Zone",
    "blend_correlations",
    "christoffersen",
    "christoffersen_from_counts",
    "coverage",
    "devolatilise",
    "ewma_variance",
    "exception_indicator",
    "fhs_scenarios",
    "flip_correlation_signs",
    "floored_vol",
    "ice_blend_vol",
    "ice_procyclicality",
    "kupiec_pof",
    "margin_change_es",
    "nearest_correlation",
    "non_overlapping_subsamples",
    "overlapping_sums",
    "peak_to_trough",
    "push_correlations",
    "recorrelate",
    "revolatilise",
    "rolling_vol",
    "sqrt_time_scale",
    "stress_vol",
    "subsample_backtest",
    "tail_count",
    "tail_mass",
    "tail_weights",
    "traffic_light",
    "traffic_light_zones",
    "transition_counts",
    "validate_correlation",
    "var_es",
    "var_es_by_count",
    "var_interpolated",
]
