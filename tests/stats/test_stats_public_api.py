"""Pin the public surface of crossmargin.stats (DESIGN.md: a test pins __all__)."""

from __future__ import annotations

import crossmargin.stats as stats

EXPECTED = {
    "BASEL_1996_PLUS_FACTORS", "ChristoffersenResult", "CorrelationAdjustment",
    "CoverageResult", "EwmaResult", "FhsResult", "HorizonReturns", "KupiecResult",
    "PeakToTrough", "ProcyclicalityES", "SubsampleBacktest", "SubsampleStats", "TailResult",
    "TrafficLightResult", "TrafficLightZones", "TransitionCounts", "Zone",
    "blend_correlations", "christoffersen", "christoffersen_from_counts", "coverage",
    "devolatilise", "ewma_variance", "exception_indicator", "fhs_scenarios",
    "flip_correlation_signs", "floored_vol", "ice_blend_vol", "ice_procyclicality",
    "kupiec_pof", "margin_change_es", "nearest_correlation", "non_overlapping_subsamples",
    "overlapping_sums", "peak_to_trough", "push_correlations", "recorrelate", "revolatilise",
    "rolling_vol", "sqrt_time_scale", "stress_vol", "subsample_backtest", "tail_count",
    "tail_mass", "tail_weights",
    "traffic_light", "traffic_light_zones", "transition_counts", "validate_correlation",
    "var_es", "var_es_by_count", "var_interpolated",
    # issue 15: rank re-ordering, ES backtests, procyclicality measures
    "RankReorder", "normal_score_correlation", "normal_scores", "psd_cholesky", "rank_reorder",
    "Predictive", "Z2Result", "acerbi_szekely_z2", "binomial_upper_p", "es_equivalent_level",
    "z2_statistic", "ApcBuffer", "MaxIncrease", "PeakTroughRatio", "apc_buffer",
    "max_increase", "peak_to_trough_ratio",
}  # fmt: skip


def test_all_is_pinned_and_importable() -> None:
    assert set(stats.__all__) == EXPECTED
    assert len(stats.__all__) == len(EXPECTED)
    for name in stats.__all__:
        assert getattr(stats, name) is not None


def test_stats_does_not_import_the_engine() -> None:
    # Pure building blocks: only crossmargin.errors and crossmargin.stats may be imported.
    import ast
    from pathlib import Path

    for path in Path(stats.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.ImportFrom)
                and node.module
                and node.module.startswith("crossmargin")
            ):
                assert node.module == "crossmargin.errors" or node.module.startswith(
                    "crossmargin.stats"
                ), f"{path.name} imports {node.module}"
