"""Published SPAN worked examples, stated as risk arrays, through the span risk-array path.

METHODS §2.10: "Risk arrays are inputs when a .spn file is supplied; otherwise generate them
by full revaluation ... Both paths feed the same scan/spread/SOM/NOV code." These tests feed
published arrays to :func:`crossmargin.models.span.row_margins` (the code ``margin_rows``
runs) and check the published figures exactly.
"""

from __future__ import annotations

import numpy as np
import pytest
from span_fixtures import linear_arrays, pairs, scan_points

from crossmargin.models.span import row_margins
from crossmargin.models.span_core import SpanArrays, Spread, span_margins
from published import check

# McMillan, *Options as a Strategic Investment*, ch. 34 (METHODS §2.11 [R][✓]): S&P
# futures at $500 per point, PSR $10,000 (20 points); the extreme rows (15, 16) already
# carry 2 x PSR x 35% = $7,000, so their weight here is 1. PROFIT POSITIVE as McMillan
# prints them; the loader boundary below negates them into CME's loss-positive arrays.
MCMILLAN_FUTURE_PROFIT = [
    0, 0, 3330, 3330, -3330, -3330, 6670, 6670,
    -6670, -6670, 10000, 10000, -10000, -10000, 7000, -7000,
]  # fmt: skip
MCMILLAN_CALL_PROFIT = [  # long 1 Dec 410 call
    460, -610, 2640, 1730, -1270, -2340, 5210, 4540,
    -2540, -3430, 8060, 7640, -3380, -3990, 3130, -1500,
]  # fmt: skip


def _mcmillan() -> SpanArrays:
    pts = scan_points()
    profit = np.array([MCMILLAN_FUTURE_PROFIT, MCMILLAN_CALL_PROFIT], dtype=float).T
    return SpanArrays(
        cc_names=("S&P",),
        scenario_labels=tuple(p.label for p in pts),
        loss=-profit,  # the one sign conversion: profit positive -> loss positive
        weights=np.ones((1, 16)),  # McMillan's extreme rows are already weighted
        pair=pairs(pts),
        time_scenarios=np.array([0, 1]),
        cc_of=np.array([0, 0]),
        composite_delta=np.array([1.0, 0.5]),
        tier_of=np.array([0, 0]),
        tier_cc=np.array([0]),
    )


def test_mcmillan_scan_risk() -> None:
    arrays = _mcmillan()
    # rows: long future; long call; covered write (long future, short call); short call
    holdings = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, -1.0], [0.0, -1.0]])
    out = row_margins(arrays, holdings)
    scan = out.components["scan_risk"]
    # Long future $10,000 (scenarios 13/14), long call $3,990 (scenario 14, as McMillan
    # states), covered write $6,620: scenario 13, -10,000 - (-3,380) = -6,620 profit.
    for k in range(3):
        check("mcmillan-scan-risk", float(scan[k]), index=k)
    # The short call alone loses $8,060 in scenario 11 (+3/3, vol up), so margining the
    # two legs separately costs 10,000 + 8,060 = $18,060 against $6,620 scanned together.
    # (The older customer-margin rules give $13,000 = 10,000 + 4,000 - 1,000, METHODS §1;
    # that is a rules figure we cannot derive from the arrays.)
    assert scan[3] == 8_060.0
    assert scan[0] + scan[3] == 18_060.0
    names = [out.scenario_names[i] for i in out.worst_scenario]
    assert names == ["S&P -3/3 vol up", "S&P -3/3 vol down", "S&P -3/3 vol up", "S&P +3/3 vol up"]
    # No spreads, SOM or I/M ratio in these arrays: the requirement is the scan risk.
    np.testing.assert_array_equal(out.total, scan)
    np.testing.assert_array_equal(out.maintenance, scan)


@pytest.mark.parametrize(
    ("holdings", "example", "scan", "intra"),
    [
        ([1, -1, 0], "cme-calendar-2v3", 0.0, 200.0),  # +1 M2 / -1 M3: (500 - 500) + 200
        ([1, 0, -1], "cme-calendar-2v4", 250.0, 50.0),  # +1 M2 / -1 M4: (750 - 500) + 50
        ([0, 1, -1], "cme-calendar-3v4", 250.0, 0.0),  # +1 M3 / -1 M4: (750 - 500) + 0
    ],
)
def test_cme_calendar_spreads(
    holdings: list[float], example: str, scan: float, intra: float
) -> None:
    # CME illustrative calendar example (CME Group, "SPAN margin: spread calculations",
    # cmegroup.com/clearing/margins/spread-calc.html; METHODS §2.5 [P]): outrights M2 $500,
    # M3 $500, M4 $750; intra charges 2v3 $200, 2v4 $50, 3v4 $0 per spread, in that priority order.
    intra_spreads = (
        Spread(a=0, b=1, rate=200.0),
        Spread(a=0, b=2, rate=50.0),
        Spread(a=1, b=2, rate=0.0),
    )
    arrays = linear_arrays(
        [500.0, 500.0, 750.0],
        cc_of=[0, 0, 0],
        cc_names=["CC"],
        tier_of=[0, 1, 2],
        tier_cc=[0, 0, 0],
        intra=intra_spreads,
    )
    out = row_margins(arrays, np.array([holdings], dtype=float))
    assert out.components["scan_risk"][0] == pytest.approx(scan, abs=1e-9)
    assert out.components["intra_spread"][0] == pytest.approx(intra, abs=1e-9)
    check(example, float(out.total[0]))


def test_cme_calendar_outrights_alone() -> None:
    arrays = linear_arrays([500.0, 500.0, 750.0], cc_of=[0, 0, 0], cc_names=["CC"],
                           tier_of=[0, 1, 2], tier_cc=[0, 0, 0])  # fmt: skip
    out = row_margins(arrays, np.eye(3))
    np.testing.assert_allclose(out.total, [500.0, 500.0, 750.0])


def test_cme_corn_soybean_inter_commodity_credit() -> None:
    # CME illustration (CME Group, "SPAN margin: spread calculations", cmegroup.com/clearing/
    # margins/spread-calc.html; METHODS §2.7 [P]): corn vs soybeans at 2:1, credit rate 55%,
    # outrights corn $1,750, soybeans $2,500. Outright total 2 x 1,750 + 2,500 = $6,000;
    # credit_leg = spreads x delta ratio x WPR x rate, WPR = price risk / |net delta|:
    # corn 1 x 2 x (3,500 / 2) x 0.55 = 1,925; soybeans 1 x 1 x 2,500 x 0.55 = 1,375;
    # credit $3,300, margin $2,700.
    arrays = linear_arrays(
        [1_750.0, 2_500.0],
        cc_of=[0, 1],
        cc_names=["Corn", "Soybeans"],
        inter=(Spread(a=0, b=1, ratio_a=2.0, ratio_b=1.0, rate=0.55),),
    )
    rows = span_margins(arrays, np.array([[2.0, -1.0], [-2.0, 1.0], [2.0, 1.0]]))
    np.testing.assert_allclose(rows.scan[0], [3_500.0, 2_500.0])
    np.testing.assert_allclose(rows.credit[0], [1_925.0, 1_375.0])
    assert rows.credit[0].sum() == pytest.approx(3_300.0)
    check("cme-corn-soybeans", float(rows.maintenance[0]))
    check("cme-corn-soybeans", float(rows.maintenance[1]))  # the mirror position
    # Both legs long: the deltas do not offset, no spread forms.
    assert rows.maintenance[2] == pytest.approx(2 * 1_750.0 + 2_500.0)
    out = row_margins(arrays, np.array([[2.0, -1.0]]))
    assert out.components["inter_credit"][0] == pytest.approx(-3_300.0)


def test_inter_spread_uses_remaining_delta_in_priority_order() -> None:
    # Three CCs, two spreads sharing leg A: the first in priority order takes all of A's
    # delta, so the second forms nothing (priority order from the file, never sorted).
    arrays = linear_arrays(
        [100.0, 100.0, 100.0],
        cc_of=[0, 1, 2],
        cc_names=["A", "B", "C"],
        inter=(Spread(a=0, b=1, rate=0.5), Spread(a=0, b=2, rate=0.9)),
    )
    rows = span_margins(arrays, np.array([[1.0, -1.0, -1.0]]))
    np.testing.assert_allclose(rows.credit[0], [50.0, 50.0, 0.0])
    swapped = linear_arrays(
        [100.0, 100.0, 100.0],
        cc_of=[0, 1, 2],
        cc_names=["A", "B", "C"],
        inter=(Spread(a=0, b=2, rate=0.9), Spread(a=0, b=1, rate=0.5)),
    )
    rows = span_margins(swapped, np.array([[1.0, -1.0, -1.0]]))
    np.testing.assert_allclose(rows.credit[0], [90.0, 0.0, 90.0])


def test_short_option_minimum_gross_and_max() -> None:
    # A CC of far out-of-the-money options whose scan risk is tiny: the SOM binds.
    pts = scan_points()
    loss = np.zeros((16, 2))
    loss[:, 0] = [-2.0 * p.fraction if p.fraction > 0 else 1.0 for p in pts]  # long call
    loss[:, 1] = [2.0 * p.fraction if p.fraction < 0 else 1.0 for p in pts]  # long put
    base = {
        "cc_names": ("X",),
        "scenario_labels": tuple(p.label for p in pts),
        "loss": loss,
        "weights": np.ones((1, 16)),
        "pair": pairs(pts),
        "time_scenarios": np.array([0, 1]),
        "cc_of": np.array([0, 0]),
        "composite_delta": np.array([0.05, -0.05]),
        "tier_of": np.array([0, 0]),
        "tier_cc": np.array([0]),
        "som_per_short": np.array([100.0, 100.0]),
        "is_call": np.array([True, False]),
        "is_put": np.array([False, True]),
        "value": np.array([3.0, 4.0]),
        "im_ratio": np.array([1.25]),
    }
    holdings = np.array([[-3.0, -2.0], [3.0, 2.0]])
    gross = row_margins(SpanArrays(**base, som_gross=np.array([True])), holdings)
    # Short strangle: worst scenario +3/3 loses 3 x 2 - 2 x 1 = 4; SOM = 100 x (3 + 2).
    assert gross.components["scan_risk"][0] == pytest.approx(4.0)
    assert gross.maintenance[0] == pytest.approx(500.0)
    assert gross.components["short_option_minimum"][0] == pytest.approx(
        500.0 - gross.components["scan_risk"][0]
    )
    assert gross.total[0] == pytest.approx(625.0)  # initial = 1.25 x maintenance
    assert gross.components["im_uplift"][0] == pytest.approx(125.0)
    # NOV: long > 0, short < 0 (per contract value 3 and 4).
    np.testing.assert_allclose(gross.info["net_option_value"], [-17.0, 17.0])
    # Long options never carry a SOM.
    assert gross.components["short_option_minimum"][1] == 0.0
    mx = row_margins(SpanArrays(**base, som_gross=np.array([False])), holdings)
    assert mx.maintenance[0] == pytest.approx(300.0)  # max(3, 2) x 100
