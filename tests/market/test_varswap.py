"""Variance-swap level <-> ATM of the house smile: closed form, brute force, round trip, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
from tests.market.vol_reference import atm_reference, varswap_quad

from crossmargin.errors import InputError
from crossmargin.market.varswap import (
    MAX_ATM,
    HouseSmile,
    atm_from_variance_swap,
    variance_swap_from_atm,
)

T30 = 30 / 365
CLASSES = ("crypto", "equity_index", "etf", "equity")


def _params(cls: str) -> tuple[float, float, float, float]:
    s = HouseSmile.for_asset_class(cls)
    return s.skew_1y, s.smile_1y, s.min_vol, s.max_vol_multiple


def test_flat_smile_gives_atm_equal_to_the_level() -> None:
    # Closed form (DDKZ 1999): with one vol σ at every strike the replicated variance is σ²
    # (the log contract), so the variance-swap vol is σ and ATM = level.
    flat = HouseSmile(skew_1y=0.0, smile_1y=0.0, min_vol=0.02, max_vol_multiple=3.0)
    x = np.array([0.02, 0.05, 0.1773, 0.55, 1.2, 3.0, 9.0])
    np.testing.assert_allclose(variance_swap_from_atm(x, flat), x, rtol=1e-12)
    np.testing.assert_allclose(atm_from_variance_swap(x, flat), x, rtol=1e-12)


@pytest.mark.parametrize("cls", ["crypto", "equity_index", "equity"])
@pytest.mark.parametrize("atm", [0.03, 0.12, 0.45, 1.3])
def test_forward_map_equals_brute_force_quadrature(cls: str, atm: float) -> None:
    # Independent reference: scipy quad over Black-76 (math.erfc) prices of the same smile.
    # Equity smiles at 0.12 are floored on the call side and capped on the put side.
    got = float(variance_swap_from_atm(atm, cls))
    assert got == pytest.approx(varswap_quad(atm, T30, _params(cls)), rel=1e-11)


def test_forward_map_other_tenor() -> None:
    got = float(variance_swap_from_atm(0.6, "crypto", tenor_days=7))
    assert got == pytest.approx(varswap_quad(0.6, 7 / 365, _params("crypto")), rel=1e-11)


@pytest.mark.parametrize("level", [0.09, 0.1773, 0.4203, 0.82, 1.56])
@pytest.mark.parametrize("cls", ["crypto", "equity_index", "equity"])
def test_inverse_equals_a_root_find_of_the_quadrature(cls: str, level: float) -> None:
    want = atm_reference(level, T30, _params(cls))
    assert float(atm_from_variance_swap(level, cls)) == pytest.approx(want, rel=1e-9)


@pytest.mark.parametrize("cls", CLASSES)
def test_round_trip(cls: str) -> None:
    atm = np.geomspace(0.02, 0.99 * MAX_ATM, 1500)
    back = atm_from_variance_swap(variance_swap_from_atm(atm, cls), cls)
    np.testing.assert_allclose(back, atm, rtol=1e-8, atol=0)


@pytest.mark.parametrize("cls", CLASSES)
def test_both_maps_are_strictly_increasing(cls: str) -> None:
    atm = np.geomspace(0.02, MAX_ATM, 400)
    assert np.all(np.diff(variance_swap_from_atm(atm, cls)) > 0)
    level = np.geomspace(0.001, float(variance_swap_from_atm(MAX_ATM, cls)) * 0.999, 20_000)
    assert np.all(np.diff(atm_from_variance_swap(level, cls)) > 0)


def test_smile_lifts_the_level_above_atm() -> None:
    # Convex smiles put more variance in the wings than at the money: ATM < level.
    for cls in CLASSES:
        level = np.array([0.15, 0.5, 1.0])
        assert np.all(atm_from_variance_swap(level, cls) < level)


def test_below_the_floor_keeps_the_floor_ratio() -> None:
    # ATM below min_vol cannot be drawn by the smile; the map continues proportionally.
    floor_level = float(variance_swap_from_atm(0.02, "equity_index"))
    low = np.array([0.5, 0.9, 0.999]) * floor_level
    np.testing.assert_allclose(
        atm_from_variance_swap(low, "equity_index"), low * 0.02 / floor_level
    )
    assert float(atm_from_variance_swap(floor_level, "equity_index")) == pytest.approx(
        0.02, rel=1e-10
    )


def test_shapes_are_kept() -> None:
    assert atm_from_variance_swap(0.5, "crypto").shape == ()
    assert atm_from_variance_swap([[0.5, 0.6]], "crypto").shape == (1, 2)
    assert variance_swap_from_atm(np.full((2, 3), 0.4), "equity").shape == (2, 3)


@pytest.mark.parametrize("bad", [0.0, -0.2, math.nan, math.inf])
def test_bad_levels_are_refused(bad: float) -> None:
    with pytest.raises(InputError, match="must be positive and finite"):
        atm_from_variance_swap([0.5, bad], "crypto")
    with pytest.raises(InputError, match="must be positive and finite"):
        variance_swap_from_atm(bad, "crypto")


def test_other_bad_arguments() -> None:
    with pytest.raises(InputError, match=r"above .* check the units"):
        atm_from_variance_swap(55.0, "crypto")  # percent points instead of a decimal
    with pytest.raises(InputError, match="unknown asset class 'fx'"):
        atm_from_variance_swap(0.5, "fx")
    with pytest.raises(InputError, match="tenor_days"):
        atm_from_variance_swap(0.5, "crypto", tenor_days=0)
    with pytest.raises(InputError, match="numeric"):
        atm_from_variance_swap("high", "crypto")
    with pytest.raises(InputError, match="smile_1y must be >= 0"):
        HouseSmile(skew_1y=0.0, smile_1y=-0.1, min_vol=0.02, max_vol_multiple=3.0)
