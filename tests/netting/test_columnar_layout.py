"""The columnar tier layout equals :func:`tier_layout` of the same book, row for row, and
both equal the per-position layout of before (``tier_layout_twin``, one ``_Leg`` and four
tuple keys per position).

Random books over the sample book's symbols (crypto and equity, Deribit, CME and OCC
contracts), with repeated (account, symbol) rows that net, declared venues and shuffled
accounts: the holdings matrices are identical (same CSR arrays), as are the tier offsets and
every position's group in every tier.
"""

from __future__ import annotations

import numpy as np
import pytest
from netting_twin import tier_layout_twin

from crossmargin.api import sample_book
from crossmargin.errors import InputError
from crossmargin.netting.columnar import columnar_layout
from crossmargin.netting.core import tier_layout
from crossmargin.netting.tiers import TIERS
from crossmargin.portfolio import Portfolio, Position


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_columnar_layout_equals_tier_layout(seed: int) -> None:
    rng = np.random.default_rng(seed)
    universe = sample_book().instruments
    n = 400
    acc = [f"acc-{int(a)}" for a in rng.integers(0, 37, n)]
    idx = rng.integers(0, len(universe), n)
    qty = rng.integers(1, 40, n) * rng.choice([-1.0, 1.0], n) * rng.choice([1.0, 0.25], n)
    venue = rng.choice(["", "", "", "prime-x"], n)
    book = Portfolio.from_positions(
        Position(account=a, instrument=universe[int(i)], quantity=float(q), venue=str(v))
        for a, i, q, v in zip(acc, idx, qty, venue, strict=True)
    )
    assert len(book.positions) < n  # some rows net
    slow = tier_layout(book, nets_collateral=False)
    fast = columnar_layout(acc, universe, idx, qty, venue)
    # both list the instruments in canonical order, whatever order the caller's columns had
    held = {universe[int(i)] for i in idx}
    assert fast.instruments == slow.instruments == tuple(sorted(held, key=lambda i: i.sort_key))
    slow_h = slow.holdings
    np.testing.assert_array_equal(fast.holdings.indptr, slow_h.indptr)
    np.testing.assert_array_equal(fast.holdings.indices, slow_h.indices)
    np.testing.assert_array_equal(fast.holdings.data, slow_h.data)
    assert fast.offsets_of == slow.offsets_of
    assert fast.accounts == book.accounts
    assert fast.n_positions == len(book.positions)
    for t in TIERS:
        np.testing.assert_array_equal(fast.group_of[t], slow.group_of[t])
        np.testing.assert_array_equal(fast.group_account[t], slow.group_account[t])
    twin = tier_layout_twin(book, nets_collateral=False)
    assert twin.offsets_of == slow.offsets_of
    for i, leg in enumerate(twin.legs):
        assert fast.accounts[fast.account[i]] == leg.account
        assert fast.instruments[fast.instrument[i]] == leg.instrument
        assert fast.quantity[i] == leg.quantity
        assert fast.venues[fast.venue[i]] == book.positions[i].venue
        for t in TIERS:
            assert fast.group_of[t][i] == twin.group_ids[t][leg.keys[t]]
    np.testing.assert_array_equal(
        fast.account_rows(), slow.offsets_of["netting-set"] + np.arange(len(book.accounts))
    )


def test_columnar_layout_names_bad_input() -> None:
    universe = sample_book().instruments
    with pytest.raises(InputError, match="position 1: instrument index 99"):
        columnar_layout(["a", "b"], universe, [0, 99], [1.0, 2.0])
    with pytest.raises(InputError, match="position 0: quantity must be finite"):
        columnar_layout(["a"], universe, [0], [float("nan")])
    with pytest.raises(InputError, match="differ in length"):
        columnar_layout(["a"], universe, [0, 1], [1.0])
    with pytest.raises(InputError, match="account id"):
        columnar_layout([""], universe, [0], [1.0])
