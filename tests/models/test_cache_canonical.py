"""A context the cache grows for new instruments keeps the canonical column order.

The netting-set rule holds bit for bit in the service because a row's instruments stand in
the same relative order in every context that covers them (``Instrument.sort_key``). A grown
context (``pm_grid``: risk units merged; ``es``/``hvar``: the priced calendars kept, the
columns' map and per-instrument terms permuted) must therefore list the old and the new
instruments in canonical order and margin every row exactly as a context prepared afresh for
those instruments does: same floats, every component, both ``pm_grid`` modes.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from crossmargin import api
from crossmargin.errors import ModelError
from crossmargin.models import MarginModel, get_model
from crossmargin.models.cache import extend_context
from market_inputs import history, sample_market

CASES = [("pm_grid", {"mode": "cross"}), ("pm_grid", {"mode": "segregated"}), ("es", {}),
         ("hvar", {})]  # fmt: skip


def _model(name: str, options: dict[str, str]) -> MarginModel:
    if name in ("es", "hvar"):
        return get_model(name, history=history(), **options)
    return get_model(name, **options)


def _rows(rng: np.random.Generator, n: int, count: int = 12) -> sp.csr_matrix:
    """Random books on ``n`` columns: 1 to 6 instruments each, integer quantities."""
    dense = np.zeros((count, n))
    for r in range(count):
        cols = rng.choice(n, size=int(rng.integers(1, min(n, 6) + 1)), replace=False)
        dense[r, cols] = rng.integers(1, 25, cols.size) * rng.choice([-1.0, 1.0], cols.size)
    return sp.csr_matrix(dense)


@pytest.mark.parametrize(("name", "options"), CASES)
def test_a_grown_context_is_canonical_and_margins_as_a_fresh_one(
    name: str, options: dict[str, str]
) -> None:
    model = _model(name, options)
    market = sample_market()
    universe = api.sample_book().instruments
    rng = np.random.default_rng(11)
    for _ in range(3):
        order = rng.permutation(len(universe))
        cut = int(rng.integers(2, len(universe) - 2))
        first = tuple(universe[k] for k in order[:cut])  # any order: not canonical
        new = tuple(universe[k] for k in order[cut:])
        grown = extend_context(model, model.prepare(first, market), first, new, market)
        keys = [i.sort_key for i in grown.instruments]
        assert keys == sorted(keys)
        assert set(grown.instruments) == set(universe)
        fresh = model.prepare(grown.instruments, market)
        rows = _rows(rng, len(universe))
        got, want = model.margin_rows(grown, rows), model.margin_rows(fresh, rows)
        assert got.total.tobytes() == want.total.tobytes()
        assert got.components.keys() == want.components.keys()
        for key, value in want.components.items():
            np.testing.assert_array_equal(got.components[key], value, err_msg=key)
        assert got.scenario_names == want.scenario_names


def test_reordering_a_var_context_takes_a_permutation_only() -> None:
    model = _model("es", {})
    market = sample_market()
    instruments = api.sample_book().instruments[:4]
    context = model.prepare(instruments, market)
    with pytest.raises(ModelError, match="not a permutation"):
        context.reordered(np.array([0, 1, 1, 3]))
    back = context.reordered(np.array([3, 2, 1, 0]))
    assert back.instruments == instruments[::-1]
