"""The compiled tier walk (``tier_walk``, one call for every tier; ``tier_step`` a tier at a
time where exact sums are asked) against the walk on arrays it replaced (``group_sum`` per
vector, ``np.where`` and ``np.bincount``): the same figures, bit for bit, with the exact
re-sums as group_sum makes them and with every group re-summed."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from crossmargin import api
from crossmargin.models import get_model
from crossmargin.netting import offsets
from crossmargin.netting.core import cross_margin
from crossmargin.netting.offsets import TierBook
from crossmargin.netting.sums import UNIT_ROUNDOFF, group_sum
from crossmargin.netting.tiers import TIERS
from crossmargin.portfolio import Portfolio
from market_inputs import history as _history
from market_inputs import sample_market as _market


def _walk_on_arrays(book: TierBook, rtol: float) -> dict[str, dict[str, np.ndarray]]:
    """The tier walk's figures on arrays: each sum a ``group_sum`` (the reference)."""
    lay, fig = book.layout, book.evaluate()  # the verdicts: shape only, as the walk has them
    n_pos, n_acc = lay.n_positions, len(lay.accounts)
    standalone = np.asarray(book.standalone, dtype=np.float64)
    names = ("base", "capped", "standalone", "account_margin", "account_base", "account_capped")
    out: dict[str, dict[str, np.ndarray]] = {k: {} for k in names}
    below_capped = below_netted = standalone
    prev = "position"
    for tier in TIERS:
        rule = book.policy.rule(tier)
        g = lay.group_of[tier]
        n_g = lay.n_groups(tier)
        netted = np.asarray(book.totals[tier], dtype=np.float64)
        parent = g[:n_pos] if prev == "position" else g[lay.group_first[prev]]
        base = group_sum(parent, below_capped, n_g, rtol=rtol)
        offset = group_sum(parent, below_netted, n_g, rtol=rtol) - netted
        flags = np.array([v[0] for v in fig.verdicts[tier]], dtype=bool)[fig.verdict[tier]]
        capped = np.where(
            flags, np.maximum(netted, base - rule.cap * offset), np.maximum(netted, base)
        )
        owner = lay.group_account[tier]
        out["base"][tier], out["capped"][tier] = base, capped
        out["standalone"][tier] = np.bincount(g[:n_pos], weights=standalone, minlength=n_g)
        out["account_margin"][tier] = group_sum(owner, netted, n_acc, rtol=rtol)
        out["account_base"][tier] = group_sum(owner, base, n_acc, rtol=rtol)
        out["account_capped"][tier] = group_sum(owner, capped, n_acc, rtol=rtol)
        below_capped, below_netted = capped, netted
        prev = tier
    return out


def _books(model: str) -> list[TierBook]:
    """The tier books of a margin run of the sample book, twice over (rows repeated, so
    groups of many members), with collateral, under the EMIR policy (eligibility tested)."""
    seen: list[TierBook] = []
    real = TierBook.evaluate

    def spy(self: TierBook) -> Any:
        seen.append(self)
        return real(self)

    book = api.sample_book()
    doubled = Portfolio(raw=book.raw + book.raw + book.raw[:3], source=book.source,
                        collateral=book.collateral)  # fmt: skip
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(TierBook, "evaluate", spy)
        m = get_model(model, history=_history()) if model == "es" else get_model(model)
        cross_margin(m, doubled, _market(), history=_history(), offsets="emir")
    assert seen
    return seen


@pytest.mark.parametrize("model", ["pm_grid", "es", "span"])
@pytest.mark.parametrize("exact", [False, True])
def test_the_compiled_walk_is_the_walk_on_arrays_bit_for_bit(
    model: str, exact: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    rtol = 1e-14
    if exact:  # every group of three or more members summed again exactly
        rtol = 0.0
        monkeypatch.setattr(offsets, "_TOLERANCE", (0.0, UNIT_ROUNDOFF))
    for book in _books(model):
        got, want = book.evaluate(), _walk_on_arrays(book, rtol)
        for name, per_tier in want.items():
            for tier, value in per_tier.items():
                assert np.array_equal(getattr(got, name)[tier], value), (name, tier)
        assert any(np.any(a != 0) for a in want["capped"].values())


@pytest.mark.parametrize("exact", [False, True])
def test_the_walk_goes_tier_by_tier_exactly_when_an_exact_sum_is_asked(
    exact: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The one-call walk answers unless a sum's bound asks for the exact sum; then (every
    group of three or more members re-summed) the tier-by-tier walk does, so both paths of
    the test above are the ones it means to compare."""
    if exact:
        monkeypatch.setattr(offsets, "_TOLERANCE", (0.0, UNIT_ROUNDOFF))
    calls: list[TierBook] = []
    real = TierBook._stepwise

    def spy(self: TierBook, *args: Any) -> Any:
        calls.append(self)
        return real(self, *args)

    monkeypatch.setattr(TierBook, "_stepwise", spy)
    books = _books("pm_grid")
    calls.clear()  # those of the run itself
    for book in books:
        book.evaluate()
    assert len(calls) == (len(books) if exact else 0)
