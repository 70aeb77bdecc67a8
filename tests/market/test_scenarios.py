"""Scenario sets: validation, defaults, grid builders and the vol term shape."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crossmargin.errors import InputError
from crossmargin.market import ScenarioSet, VolTermShape


def _set(**kwargs: object) -> ScenarioSet:
    base: dict[str, object] = {
        "underlyings": ("BTC", "SPX"),
        "spot_shocks": np.array([[0.1, -0.05], [0.0, 0.02], [-0.2, 0.3]]),
    }
    return ScenarioSet(**{**base, **kwargs})  # type: ignore[arg-type]


def test_defaults() -> None:
    s = _set()
    assert s.size == 3
    np.testing.assert_array_equal(s.vol_shocks, np.zeros((3, 2)))
    np.testing.assert_array_equal(s.time_steps, np.zeros(3))
    np.testing.assert_array_equal(s.weights, np.ones(3))
    assert s.names == ("s1", "s2", "s3")
    assert s.index("SPX") == 1


def test_arrays_are_read_only() -> None:
    s = _set(time_steps=np.array([0.0, 1.0, 2.0]))
    for arr in (s.spot_shocks, s.vol_shocks, s.time_steps, s.weights):
        with pytest.raises(ValueError, match="read-only"):
            arr[0] = 1.0


def test_spot_factor() -> None:
    np.testing.assert_allclose(_set().spot_factor(), [[1.1, 0.95], [1.0, 1.02], [0.8, 1.3]])
    log = _set(spot_shock_type="log", spot_shocks=np.array([[-2.0, 0.5]]))
    np.testing.assert_allclose(log.spot_factor(), [[math.exp(-2.0), math.exp(0.5)]])


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"spot_shocks": np.zeros((3, 3))}, r"spot_shocks must be \(scenarios, 2\)"),
        ({"spot_shocks": np.zeros(2)}, r"spot_shocks must be \(scenarios, 2\)"),
        ({"spot_shocks": np.zeros((0, 2))}, "at least one scenario"),
        ({"underlyings": ("BTC", "BTC")}, "duplicate underlyings"),
        ({"spot_shocks": [[0.1, math.nan]]}, "NaN or infinite"),
        ({"spot_shocks": [[-1.0, 0.0]]}, "must be > -1"),
        ({"spot_shocks": [[0.0, -1.5]]}, "must be > -1"),
        ({"vol_shocks": np.zeros((3, 1))}, r"vol_shocks has shape \(3, 1\), expected \(3, 2\)"),
        ({"vol_shocks": np.full((3, 2), math.inf)}, "vol_shocks contains NaN or infinite"),
        ({"time_steps": [0.0, -1 / 365, 0.0]}, "time_steps must be 3 non-negative years"),
        ({"time_steps": [0.0, 0.0]}, "time_steps must be 3"),
        ({"time_steps": [0.0, math.nan, 0.0]}, "time_steps must be 3"),
        ({"weights": [1.0, -1.0, 1.0]}, "weights must be 3 non-negative"),
        ({"names": ("a", "b")}, "2 scenario names for 3 scenarios"),
    ],
)
def test_validation(kwargs: dict[str, object], pattern: str) -> None:
    with pytest.raises(InputError, match=pattern):
        _set(**kwargs)


def test_log_shocks_may_be_below_minus_one() -> None:
    s = _set(spot_shock_type="log", spot_shocks=[[-1.5, -3.0]])
    assert np.all(s.spot_factor() > 0)


@pytest.mark.parametrize("field", ["spot_shock_type", "vol_shock_type"])
def test_unknown_shock_type_is_rejected(field: str) -> None:
    with pytest.raises(InputError):
        _set(**{field: "logarithmic"})


def test_index_error_names_the_set_and_its_underlyings() -> None:
    with pytest.raises(InputError, match=r"scenario set crypto has no moves for 'ETH'.*BTC, SPX"):
        _set(label="crypto").index("ETH")


# --------------------------------------------------------------------------- grid builder


def test_joint_grid() -> None:
    g = ScenarioSet.grid(("BTC", "SPX", "SPY"), [-0.1, 0.0, 0.1], [-0.05, 0.05])
    assert g.size == 6  # 3 spot moves × 2 vol moves, every underlying together
    expected = [(-0.1, -0.05), (-0.1, 0.05), (0.0, -0.05), (0.0, 0.05), (0.1, -0.05), (0.1, 0.05)]
    for row, (m, v) in enumerate(expected):
        np.testing.assert_array_equal(g.spot_shocks[row], [m, m, m])
        np.testing.assert_array_equal(g.vol_shocks[row], [v, v, v])
    assert g.names[0] == "spot-10.00% vol-0.05"
    assert g.names[3] == "spot+0.00% vol+0.05"


def test_one_at_a_time_grid() -> None:
    und = ("BTC", "SPX")
    g = ScenarioSet.grid(und, [-0.2, 0.2], joint=False, label="oat")
    assert g.size == 4  # 2 underlyings × 2 spot moves × 1 vol move
    np.testing.assert_array_equal(g.spot_shocks, [[-0.2, 0.0], [0.2, 0.0], [0.0, -0.2], [0.0, 0.2]])
    np.testing.assert_array_equal(g.vol_shocks, 0.0)
    assert g.names == (
        "BTC spot-20.00% vol+0",
        "BTC spot+20.00% vol+0",
        "SPX spot-20.00% vol+0",
        "SPX spot+20.00% vol+0",
    )
    assert g.label == "oat"


@settings(max_examples=40, deadline=None)
@given(
    n_und=st.integers(1, 4),
    spots=st.lists(st.floats(-0.9, 2.0), min_size=1, max_size=5),
    vols=st.lists(st.floats(-0.5, 0.5), min_size=1, max_size=4),
)
def test_grid_sizes_and_single_factor_rows(
    n_und: int, spots: list[float], vols: list[float]
) -> None:
    und = tuple(f"U{i}" for i in range(n_und))
    joint = ScenarioSet.grid(und, spots, vols)
    assert joint.size == len(spots) * len(vols)
    oat = ScenarioSet.grid(und, spots, vols, joint=False)
    assert oat.size == n_und * len(spots) * len(vols)
    block = len(spots) * len(vols)
    for row in range(oat.size):
        owner = row // block  # rows come in one block per underlying
        others = [j for j in range(n_und) if j != owner]
        np.testing.assert_array_equal(oat.spot_shocks[row, others], 0.0)
        np.testing.assert_array_equal(oat.vol_shocks[row, others], 0.0)
        np.testing.assert_array_equal(
            oat.spot_shocks[row, owner], joint.spot_shocks[row % block, 0]
        )


def test_grid_passes_options_through() -> None:
    g = ScenarioSet.grid(("BTC",), [-0.5, 0.5], spot_shock_type="log", min_vol=0.05)
    assert g.spot_shock_type == "log"
    assert g.min_vol == 0.05
    with pytest.raises(InputError, match="must be > -1"):
        ScenarioSet.grid(("BTC",), [-1.0])


# --------------------------------------------------------------------------- vol term shape


def test_vol_term_shape_factor() -> None:
    shape = VolTermShape(ref_days=30.0, power_short=0.5, power_long=0.3, min_days=1.0)
    t = np.array([7.5, 30.0, 120.0, 0.0, 0.25]) / 365.0
    expected = [
        2.0,  # (30/7.5)^0.5 = 4^0.5
        1.0,  # at ref_days: the long power applies, (30/30)^0.3
        0.25**0.3,  # (30/120)^0.3 = 0.6598
        math.sqrt(30.0),  # expired: floored at min_days = 1 -> 30^0.5
        math.sqrt(30.0),  # 0.25 days < min_days
    ]
    np.testing.assert_allclose(shape.factor(t), expected, rtol=1e-13)


def test_vol_term_shape_default_is_neutral() -> None:
    np.testing.assert_array_equal(VolTermShape().factor([0.0, 0.01, 1.0, 10.0]), 1.0)
