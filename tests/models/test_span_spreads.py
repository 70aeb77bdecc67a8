"""SPAN spread types beyond the flat/delta pair: scanning-based and super inter-commodity
spreads, WPR and PMPS intra spreads, the spot-month charge; CME's published illustrations
checked exactly, hand-computed cases, and a plain-loop twin of the vectorised path.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from span_fixtures import linear_arrays, pairs, scan_points

from crossmargin.errors import InputError
from crossmargin.models.span import row_margins
from crossmargin.models.span_core import ScanSpread, SpanArrays, Spread, span_margins
from crossmargin.models.span_spreads import scan_spread_step
from published import check, examples

# CME Group, "SPAN margin: spread calculations" (cmegroup.com/clearing/margins/
# spread-calc.html), scanning-based spreads [P]: "+2 30Yr and -3 10Yr; 30Yr - $3100,
# 10Yr - $1600", "70% credit ... at a ratio of 2:2:3:5". The page prints, per scenario, the
# two positions' values (CME sign: loss positive) and the scanned spread:
CME_30Y = [0, 0, -2066, -2066, 2066, 2066, -4134, -4134, 4134, 4134,
           -6200, -6200, 6200, 6200, -6138, 6138]  # fmt: skip
CME_10Y = [0, 0, 1599, 1599, -1599, -1599, 3201, 3201, -3201, -3201,
           4800, 4800, -4800, -4800, 4752, -4752]  # fmt: skip
CME_SCANNED = examples()["cme-scanning-30y-10y-scenarios"]["figure"]  # 0, 0, 152.80 ... 2,811.60
# The page prints both legs of scenarios 15 and 16 as -6,138 and -4,752; its scanned values
# 455.40 and 2,811.60 (and the position: long 30Yr gains when prices rise) fix the signs
# used above: 15 = 4,752 − 0.7 × 6,138, 16 = 6,138 − 0.7 × 4,752.


def _treasury_arrays(spreads: tuple[ScanSpread, ...] = ()) -> SpanArrays:
    """30Yr and 10Yr futures, outrights $3,100 and $1,600, extremes 3 × PSR at 33 %.

    CME's extreme rows (6,138 = 2 × 3,100 × 3 × 0.33) fix X = 3 and the cover 0.33.
    """
    base = linear_arrays(
        [3_100.0, 1_600.0],
        cc_of=[0, 1],
        cc_names=["30Y", "10Y"],
        extreme_multiple=3.0,
        cover=0.33,
    )
    return SpanArrays(**{**_fields(base), "scan_spreads": spreads})


def _fields(arrays: SpanArrays) -> dict[str, object]:
    return {name: getattr(arrays, name) for name in SpanArrays.__slots__}  # type: ignore[attr-defined]


BOND_SPREAD = ScanSpread(legs=(0, 1), ratios=(2.0, 3.0), sides=("A", "B"), rate=0.70, target=0)


def test_cme_scanning_rule_on_the_published_legs() -> None:
    # The rule "loss of one leg minus 70 % of the gain of the other", scenario by scenario,
    # applied to CME's printed leg values gives CME's printed scanned column exactly.
    pts = scan_points()
    loss = np.array([CME_30Y, CME_10Y], dtype=float)[:, None, :]  # (legs, rows=1, s=16)
    frac, scan, worst = scan_spread_step(loss, np.array([[2.0, -3.0]]), BOND_SPREAD)
    np.testing.assert_array_equal(frac, [[1.0, 1.0]])  # one spread: all of both legs
    gains = np.maximum(-loss, 0).sum(axis=0)[0]
    scanned = np.maximum(loss, 0).sum(axis=0)[0] - 0.7 * gains
    for j, value in enumerate(scanned):
        check("cme-scanning-30y-10y-scenarios", float(value), index=j)
    check("cme-scanning-30y-10y", float(scan[0]))
    assert pts[int(worst[0])].label == "-3/3 vol up"  # scenario 13, first of the 2,840 pair


def test_cme_30y_10y_scanning_spread_is_2840() -> None:
    arrays = _treasury_arrays((BOND_SPREAD,))
    out = row_margins(arrays, np.array([[2.0, -3.0], [-2.0, 3.0], [2.0, 3.0]]))
    # CME Group, "SPAN margin: spread calculations" (cmegroup.com/clearing/margins/
    # spread-calc.html), scanning-based spreads [P]: +2 30Yr / -3 10Yr, outrights $3,100 and
    # $1,600, 70 % credit.
    # Outright: 2 × 3,100 + 3 × 1,600 = 11,000; scanned together at 70 %: $2,840.
    np.testing.assert_allclose(out.components["scan_risk"], [11_000.0] * 3)
    assert out.maintenance is not None
    check("cme-scanning-30y-10y", float(out.maintenance[0]))
    check("cme-scanning-30y-10y", float(out.maintenance[1]))  # the mirror position
    assert out.maintenance[2] == pytest.approx(11_000.0, abs=1e-9)  # both long: no spread
    assert out.components["inter_credit"][0] == pytest.approx(-8_160.0, abs=1e-9)
    rows = span_margins(arrays, np.array([[2.0, -3.0]]))
    # The spread's scan sits on the target (30Y); the 10Y leg is fully spread.
    np.testing.assert_allclose(rows.scan[0] - rows.scan_credit[0], [2_840.0, 0.0], atol=1e-9)


def test_scanning_spread_leaves_the_unspread_part_outright() -> None:
    # +3 30Y, -3 10Y at 2:3: one spread (2 of the 30Y, all 3 of the 10Y); 1 × 30Y outright.
    arrays = _treasury_arrays((BOND_SPREAD,))
    rows = span_margins(arrays, np.array([[3.0, -3.0]]))
    assert rows.maintenance[0] == pytest.approx(2_840.0 + 3_100.0, abs=1e-9)
    # Without the spread the delta-free scan is the outrights' sum: 9,300 + 4,800.
    plain = span_margins(_treasury_arrays(), np.array([[3.0, -3.0]]))
    assert plain.maintenance[0] == pytest.approx(14_100.0, abs=1e-9)


def test_scanning_spread_needs_every_leg_on_its_side() -> None:
    arrays = _treasury_arrays((BOND_SPREAD,))
    rows = span_margins(arrays, np.array([[2.0, 0.0], [0.0, -3.0]]))
    np.testing.assert_allclose(rows.maintenance, [6_200.0, 4_800.0])


def test_cme_corn_soybeans_delta_credit_unchanged_by_scanning_machinery() -> None:
    # CME illustration (spread-calc page) [P]: corn vs soybeans 2:1 at 55 % → $2,700.
    arrays = linear_arrays(
        [1_750.0, 2_500.0],
        cc_of=[0, 1],
        cc_names=["Corn", "Soybeans"],
        inter=(Spread(a=0, b=1, ratio_a=2.0, ratio_b=1.0, rate=0.55, method="delta"),),
    )
    check("cme-corn-soybeans", float(span_margins(arrays, np.array([[2.0, -1.0]])).maintenance[0]))


def _calendar(**extra: object) -> SpanArrays:
    """CME's calendar illustration (METHODS §2.5): M2 $500, M3 $500, M4 $750, one CC."""
    base = linear_arrays([500.0, 500.0, 750.0], cc_of=[0, 0, 0], cc_names=["CC"],
                         tier_of=[0, 1, 2], tier_cc=[0, 0, 0])  # fmt: skip
    return SpanArrays(**{**_fields(base), **extra})


def test_wpr_intra_spread_charges_rate_of_weighted_price_risk_per_leg() -> None:
    # +2 M2 / -1 M4: net delta +1, scan 2 × 500 − 750 = 250 (price down, vol-neutral
    # futures: price risk 250, time risk 0), WPR = 250 / 1; one spread charged at 10 % of
    # the WPR on each leg: 0.10 × 250 × (1 + 1) = 50.
    arrays = _calendar(intra_spreads=(Spread(a=0, b=2, rate=0.10, method="wpr"),))
    rows = span_margins(arrays, np.array([[2.0, 0.0, -1.0]]))
    assert rows.scan[0, 0] == pytest.approx(250.0)
    assert rows.intra[0, 0] == pytest.approx(50.0)


def test_pmps_intra_spread_charges_per_spread_and_per_month() -> None:
    # PMPS: n × (per spread + per month × months apart): 2 × (20 + 5 × 2) = 60.
    spread = Spread(a=0, b=1, rate=20.0, per_month_rate=5.0, months=2.0, method="pmps")
    rows = span_margins(_calendar(intra_spreads=(spread,)), np.array([[2.0, -2.0, 0.0]]))
    assert rows.intra[0, 0] == pytest.approx(60.0)


def test_spot_month_charge_on_outright_and_spread_delta() -> None:
    # Tier 0 (M2) is the spot month: $100 per contract left outright, $30 per contract of
    # spot-month delta in a calendar spread. +3 M2 / -1 M3 with the 2v3 spread at $200:
    # one spread (spot delta 1 spread: 30), 2 M2 outright (200): spot charge 230.
    arrays = _calendar(
        intra_spreads=(Spread(a=0, b=1, rate=200.0),),
        spot_tier=np.array([True, False, False]),
        spot_outright_rate=np.array([100.0]),
        spot_spread_rate=np.array([30.0]),
    )
    out = row_margins(arrays, np.array([[3.0, -1.0, 0.0]]))
    assert out.components["spot_month"][0] == pytest.approx(230.0)
    assert out.components["intra_spread"][0] == pytest.approx(200.0)
    # scan: 3 × 500 − 500 = 1,000; total 1,000 + 200 + 230.
    assert out.maintenance is not None
    assert out.maintenance[0] == pytest.approx(1_430.0)


def test_inter_spread_ignores_spot_month_delta() -> None:
    # CME "Spread Rules": no inter-commodity spread when a leg is in its delivery month.
    base = linear_arrays([100.0, 100.0, 100.0], cc_of=[0, 0, 1], cc_names=["A", "B"],
                         tier_of=[0, 1, 2], tier_cc=[0, 0, 1],
                         inter=(Spread(a=0, b=1, rate=0.5, method="delta"),))  # fmt: skip
    spot = SpanArrays(**{**_fields(base), "spot_tier": np.array([True, False, False])})
    h = np.array([[1.0, 0.0, -1.0], [0.0, 1.0, -1.0]])
    assert span_margins(base, h).credit.sum(axis=1) == pytest.approx([100.0, 100.0])
    # The A leg in its spot tier forms no spread; in its next tier it does.
    assert span_margins(spot, h).credit.sum(axis=1) == pytest.approx([0.0, 100.0])


def test_super_spread_is_formed_before_intra_spreads() -> None:
    # CC A holds +2 (tier 0) and -1 (tier 1), CC B holds -1. Normally the intra spread forms
    # first (one spread, $40) and the inter spread then uses A's net delta +1 against B's -1.
    # As a super spread it forms first on A's net +1 and consumes A's position pro rata
    # (tiers scaled by 1 − 1/1 = 0), so no intra spread is left to charge.
    inter = Spread(a=0, b=1, rate=0.5, method="delta")
    base = linear_arrays([100.0, 100.0, 100.0], cc_of=[0, 0, 1], cc_names=["A", "B"],
                         tier_of=[0, 1, 2], tier_cc=[0, 0, 1], inter=(inter,),
                         intra=(Spread(a=0, b=1, rate=40.0),))  # fmt: skip
    h = np.array([[2.0, -1.0, -1.0]])
    normal = span_margins(base, h)
    assert normal.intra[0, 0] == pytest.approx(40.0)  # intra first
    assert normal.credit.sum() == pytest.approx(100.0)  # 0.5 × WPR 100 on each leg
    fields = _fields(base)
    fields["inter_spreads"] = (Spread(a=0, b=1, rate=0.5, method="delta", is_super=True),)
    sup = span_margins(SpanArrays(**fields), h)  # type: ignore[arg-type]
    assert sup.credit.sum() == pytest.approx(100.0)
    assert sup.intra[0, 0] == pytest.approx(0.0)  # A's tiers were consumed by the super spread


def test_bad_spread_definitions_are_input_errors() -> None:
    with pytest.raises(InputError, match="unknown spread method 'magic'"):
        Spread(a=0, b=1, method="magic")
    with pytest.raises(InputError, match="two or more distinct legs"):
        ScanSpread(legs=(0, 0), ratios=(1.0, 1.0), sides=("A", "B"), rate=0.5, target=0)
    with pytest.raises(InputError, match="target"):
        ScanSpread(legs=(0, 1), ratios=(1.0, 1.0), sides=("A", "B"), rate=0.5, target=2)
    with pytest.raises(InputError, match="in \\[0, 1\\]"):
        ScanSpread(legs=(0, 1), ratios=(1.0, 1.0), sides=("A", "B"), rate=1.5, target=0)


# --------------------------------------------------------------------------- twin


def _twin(arrays: SpanArrays, q: np.ndarray) -> float:
    """Maintenance of one row with plain loops over CCs, tiers and spreads (span_core)."""
    m, k, s = len(arrays.cc_names), len(arrays.tier_cc), arrays.n_scenarios
    loss = [[arrays.weights[c, j] * sum(q[i] * arrays.loss[j, i] for i in range(len(q))
                                        if arrays.cc_of[i] == c) for j in range(s)]
            for c in range(m)]  # fmt: skip
    tier = [sum(q[i] * arrays.composite_delta[i] for i in range(len(q)) if arrays.tier_of[i] == t)
            for t in range(k)]  # fmt: skip

    def cc_sum(values: list[float], use: list[bool]) -> list[float]:
        return [sum(values[t] for t in range(k) if arrays.tier_cc[t] == c and use[t])
                for c in range(m)]  # fmt: skip

    every = [True] * k
    eff = [0.0] * m
    spreads = [x for x in arrays.scan_spreads if x.is_super]
    spreads += [x for x in arrays.scan_spreads if not x.is_super]
    for ss in spreads:
        d = cc_sum(tier, every)
        signs = [np.sign(d[leg]) * (1 if side == "A" else -1) for leg, side in
                 zip(ss.legs, ss.sides, strict=True)]  # fmt: skip
        ok = signs[0] != 0 and all(x == signs[0] for x in signs)
        n = min(abs(d[leg]) / r for leg, r in zip(ss.legs, ss.ratios, strict=True)) if ok else 0.0
        f = [min(n * r / abs(d[leg]), 1.0) if d[leg] else 0.0
             for leg, r in zip(ss.legs, ss.ratios, strict=True)]  # fmt: skip
        best = 0.0
        for j in range(s):
            parts = [f[x] * loss[leg][j] for x, leg in enumerate(ss.legs)]
            best = max(
                best, sum(max(p, 0) for p in parts) - ss.rate * sum(max(-p, 0) for p in parts)
            )
        eff[ss.target] += best
        for x, leg in enumerate(ss.legs):
            loss[leg] = [v * (1 - f[x]) for v in loss[leg]]
            for t in range(k):
                if arrays.tier_cc[t] == leg:
                    tier[t] *= 1 - f[x]
    price = [0.0] * m
    for c in range(m):
        jw = int(np.argmax(loss[c]))
        eff[c] += max(loss[c][jw], 0.0)
        time = sum(loss[c][j] for j in arrays.time_scenarios) / len(arrays.time_scenarios)
        price[c] = (loss[c][jw] + loss[c][int(arrays.pair[jw])]) / 2 - time
    net = cc_sum(tier, every)
    wpr = [max(price[c], 0) / abs(net[c]) if net[c] else 0.0 for c in range(m)]
    credit = [0.0] * m

    def delta_spreads(group: list[Spread], rem: list[float]) -> None:
        for x in group:
            if rem[x.a] * rem[x.b] < 0:
                n = min(abs(rem[x.a]) / x.ratio_a, abs(rem[x.b]) / x.ratio_b)
                credit[x.a] += n * x.ratio_a * wpr[x.a] * x.rate
                credit[x.b] += n * x.ratio_b * wpr[x.b] * x.rate
                rem[x.a] -= np.sign(rem[x.a]) * n * x.ratio_a
                rem[x.b] -= np.sign(rem[x.b]) * n * x.ratio_b

    supers = [x for x in arrays.inter_spreads if x.is_super]
    before = cc_sum(tier, every)
    rem = list(before)
    delta_spreads(supers, rem)
    for t in range(k):
        c = arrays.tier_cc[t]
        tier[t] *= rem[c] / before[c] if before[c] else 1.0
    before_intra = list(tier)
    intra = [0.0] * m
    for x in arrays.intra_spreads:
        if tier[x.a] * tier[x.b] < 0:
            n = min(abs(tier[x.a]) / x.ratio_a, abs(tier[x.b]) / x.ratio_b)
            c = arrays.tier_cc[x.a]
            if x.method == "wpr":
                intra[c] += x.rate * wpr[c] * n * (x.ratio_a + x.ratio_b)
            elif x.method == "pmps":
                intra[c] += n * (x.rate + x.per_month_rate * x.months)
            else:
                intra[c] += n * x.rate
            tier[x.a] -= np.sign(tier[x.a]) * n * x.ratio_a
            tier[x.b] -= np.sign(tier[x.b]) * n * x.ratio_b
    spot_tier = [bool(v) for v in (arrays.spot_tier if arrays.spot_tier is not None else [0] * k)]
    spot = [0.0] * m
    for t in range(k):
        if spot_tier[t]:
            c = arrays.tier_cc[t]
            spot[c] += abs(tier[t]) * arrays.spot_outright_rate[c]  # type: ignore[index]
            spot[c] += abs(before_intra[t] - tier[t]) * arrays.spot_spread_rate[c]  # type: ignore[index]
    delta_spreads([x for x in arrays.inter_spreads if not x.is_super],
                  cc_sum(before_intra, [not v for v in spot_tier]))  # fmt: skip
    return sum(max(eff[c] + intra[c] + spot[c] - credit[c], 0.0) for c in range(m))


def test_vectorised_spreads_agree_with_plain_twin() -> None:
    rng = np.random.default_rng(16)
    n, m = 10, 4
    cc_of = np.array([0, 0, 0, 1, 1, 2, 2, 2, 3, 3])
    tier_cc = np.array([0, 0, 1, 1, 2, 2, 3])
    tier_of = np.array([0, 1, 1, 2, 3, 4, 5, 5, 6, 6])
    pts = scan_points()
    arrays = SpanArrays(
        cc_names=("A", "B", "C", "D"),
        scenario_labels=tuple(p.label for p in pts),
        loss=rng.normal(0, 100, size=(16, n)),
        weights=np.tile([0.33 if p.extreme else 1.0 for p in pts], (m, 1)),
        pair=pairs(pts),
        time_scenarios=np.array([0, 1]),
        cc_of=cc_of,
        composite_delta=rng.normal(0, 1, size=n),
        tier_of=tier_of,
        tier_cc=tier_cc,
        intra_spreads=(
            Spread(a=0, b=1, rate=5.0),
            Spread(a=2, b=3, rate=0.2, method="wpr"),
            Spread(a=4, b=5, rate=3.0, per_month_rate=1.5, months=3, method="pmps"),
        ),
        inter_spreads=(
            Spread(a=0, b=1, ratio_b=2.0, rate=0.4, method="delta", is_super=True),
            Spread(a=1, b=2, rate=0.6, method="delta"),
            Spread(a=0, b=3, rate=0.3, method="delta"),
        ),
        scan_spreads=(
            ScanSpread(legs=(2, 3), ratios=(1.0, 1.5), sides=("A", "B"), rate=0.7, target=3),
            ScanSpread(
                legs=(0, 1, 2),
                ratios=(1.0, 1.0, 2.0),
                sides=("A", "B", "A"),
                rate=0.5,
                target=1,
                is_super=True,
            ),
        ),
        spot_tier=np.array([True, False, False, False, True, False, False]),
        spot_outright_rate=np.array([7.0, 0.0, 4.0, 0.0]),
        spot_spread_rate=np.array([2.0, 0.0, 1.0, 0.0]),
    )
    h = rng.integers(-4, 5, size=(150, n)).astype(float)
    h[rng.random(h.shape) < 0.3] = 0.0
    fast = span_margins(arrays, sp.csr_matrix(h))
    slow = np.array([_twin(arrays, row) for row in h])
    np.testing.assert_allclose(fast.maintenance, slow, rtol=1e-10, atol=1e-8)
    assert np.count_nonzero(fast.scan_credit) > 0  # the scanning spreads formed somewhere
    assert np.count_nonzero(fast.spot) > 0


def test_spot_month_and_scanning_spread_from_a_parameter_file() -> None:
    # examples/span_cme_treasuries.json: ZT's front tier (0-120 days) is its spot month at
    # $100 per contract left outright; ZTH26 is in it on 2026-01-15. ZT's scan: 0.4% of
    # 100-00 × $2,000 a point (200,000 USD face) = $800. The file's scanning spread (ZB/ZN
    # 2:3 at 70%) gives CME's published $2,840 (CME Group, "SPAN margin: spread
    # calculations", cmegroup.com/clearing/margins/spread-calc.html, scanning-based [P]).
    from pathlib import Path

    from crossmargin.contracts import load_contracts
    from crossmargin.market import MarketSnapshot
    from crossmargin.models.span import SpanModel

    root = Path(__file__).resolve().parents[2] / "examples"
    contracts = load_contracts(root / "contracts_sol_eth_treasuries.json")
    model = SpanModel(root / "span_cme_treasuries.json")
    market = MarketSnapshot.load(root / "market_cme_treasuries.json")
    symbols = ("ZTH26", "ZBH26", "ZNH26")
    ctx = model.prepare(tuple(contracts.parse(s, reference_year=2026) for s in symbols), market)
    out = model.margin_rows(ctx, sp.csr_matrix(np.array([[1.0, 0, 0], [0, 2.0, -3.0]])))
    assert out.components["spot_month"][0] == pytest.approx(100.0)
    assert out.components["scan_risk"][0] == pytest.approx(800.0)
    assert out.maintenance is not None
    assert out.maintenance[0] == pytest.approx(900.0)
    check("cme-scanning-30y-10y", float(out.maintenance[1]))
