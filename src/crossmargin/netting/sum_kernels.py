"""Compiled per-group totals for :func:`crossmargin.netting.sums.group_sum`.

One pass over ``(codes, values)`` gives each group's sum (added in input order from 0, as
:func:`numpy.bincount` adds them, so bit for bit the same) and whether its error bound asks
for the exact sum: what ``group_sum`` took three ``bincount`` passes and a handful of array
operations for. A tier walk calls ``group_sum`` some twenty times on a few rows each, where
those operations' fixed costs were most of the time.
"""

from __future__ import annotations

import numba
import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


@numba.njit(cache=True, nogil=True)
def group_totals(
    codes: IntArray, values: FloatArray, n: int, rtol: float, unit_roundoff: float
) -> tuple[FloatArray, npt.NDArray[np.bool_]]:  # pragma: no cover - compiled
    """``(sums, redo)``: ``values`` summed per code in ``0..n-1``, each group's terms added
    in input order from 0, and the groups of three or more terms whose error bound
    ``(k − 1)·u·Σ|x|`` exceeds ``rtol·|sum|`` (to be summed again exactly); ValueError for a
    code outside ``0..n-1``."""
    sums = np.zeros(n)
    counts = np.zeros(n, dtype=np.int64)
    magnitudes = np.zeros(n)
    for i in range(codes.shape[0]):
        c = codes[i]
        if c < 0 or c >= n:
            raise ValueError("group_sum: a code outside 0..n-1")
        v = values[i]
        sums[c] += v
        counts[c] += 1
        magnitudes[c] += abs(v)
    redo = np.zeros(n, dtype=np.bool_)
    for g in range(n):
        if counts[g] > 2:
            bound = (counts[g] - 1) * unit_roundoff * magnitudes[g]
            redo[g] = not (bound <= rtol * abs(sums[g]))
    return sums, redo


@numba.njit(cache=True, nogil=True)
def tier_step(
    parent: IntArray,
    below_capped: FloatArray,
    below_netted: FloatArray,
    netted: FloatArray,
    eligible: npt.NDArray[np.bool_],
    cap: float,
    owner: IntArray,
    n_accounts: int,
    position_group: IntArray,
    standalone: FloatArray,
    given_base: FloatArray,
    given_below: FloatArray,
    rtol: float,
    unit_roundoff: float,
) -> tuple[
    FloatArray,
    FloatArray,
    npt.NDArray[np.bool_],
    npt.NDArray[np.bool_],
    FloatArray,
    FloatArray,
    FloatArray,
    FloatArray,
    FloatArray,
    npt.NDArray[np.bool_],
    npt.NDArray[np.bool_],
    npt.NDArray[np.bool_],
]:  # pragma: no cover - compiled
    """One tier of the tier walk (:mod:`crossmargin.netting.offsets`) in one call.

    Per group (``parent``: each member's group): ``B = Σ C(members)`` and ``Σ N(members)``
    (:func:`group_totals`, with the groups whose bound asks for the exact sum; or
    ``given_base``/``given_below`` where given, non-empty: those sums made exact),
    ``O = Σ N(members) − N``, ``C = max(N, B − c·O)`` where ``eligible`` else ``max(N, B)``,
    and the positions' standalone margins summed per group in their order from 0 (as
    :func:`numpy.bincount`); per account (``owner``: each group's) ``Σ N``, ``Σ B`` and
    ``Σ C`` with their exact-sum flags.

    Returns ``(B, Σ N(members), redo B, redo Σ N, C, standalone, account N, account B,
    account C, redo account N, redo account B, redo account C)``."""
    n_g = netted.shape[0]
    if given_base.shape[0] == n_g and given_below.shape[0] == n_g:
        base, below = given_base, given_below
        redo_base = np.zeros(n_g, dtype=np.bool_)
        redo_below = np.zeros(n_g, dtype=np.bool_)
    else:
        base, redo_base = group_totals(parent, below_capped, n_g, rtol, unit_roundoff)
        below, redo_below = group_totals(parent, below_netted, n_g, rtol, unit_roundoff)
    offset = below - netted
    capped = np.where(eligible, np.maximum(netted, base - cap * offset), np.maximum(netted, base))
    alone = np.zeros(n_g)
    for i in range(position_group.shape[0]):
        c = position_group[i]
        if c < 0 or c >= n_g:
            raise ValueError("tier_step: a position outside the tier's groups")
        alone[c] += standalone[i]
    acc_netted, redo_netted = group_totals(owner, netted, n_accounts, rtol, unit_roundoff)
    acc_base, redo_acc_base = group_totals(owner, base, n_accounts, rtol, unit_roundoff)
    acc_capped, redo_capped = group_totals(owner, capped, n_accounts, rtol, unit_roundoff)
    return (base, below, redo_base, redo_below, capped, alone, acc_netted, acc_base,
            acc_capped, redo_netted, redo_acc_base, redo_capped)  # fmt: skip


@numba.njit(cache=True, nogil=True)
def tier_walk(
    parent: IntArray,
    parent_at: IntArray,
    group_at: IntArray,
    netted: FloatArray,
    eligible: npt.NDArray[np.bool_],
    caps: FloatArray,
    owner: IntArray,
    position_group: IntArray,
    standalone: FloatArray,
    n_accounts: int,
    rtol: float,
    unit_roundoff: float,
    groups_out: FloatArray,
    accounts_out: FloatArray,
) -> bool:  # pragma: no cover - compiled
    """Every tier of the tier walk in one call: :func:`tier_step` tier after tier, each
    tier's members the groups of the tier below (the positions alone below the first).

    Tier ``t``'s groups are ``group_at[t]:group_at[t + 1]`` of ``netted``, ``eligible`` and
    ``owner``; its members' groups are ``parent[parent_at[t]:parent_at[t + 1]]``; each
    position's group is ``position_group[t]``. Writes each group's ``B``, ``C`` and its
    positions' standalone sum into rows 0-2 of ``groups_out`` (``3 x groups``) and each
    account's ``Σ N``, ``Σ B`` and ``Σ C`` into ``accounts_out[0-2, t]`` (``3 x tiers x
    accounts``). Returns False as soon as a sum's error bound asks for the exact sum (the
    outputs are then incomplete: the caller walks tier by tier, re-summing exactly)."""
    none = np.zeros(0)
    below_capped = standalone.copy()
    below_netted = standalone.copy()
    for t in range(caps.shape[0]):
        g0, g1 = group_at[t], group_at[t + 1]
        tier_netted = netted[g0:g1].copy()
        (base, _, redo_base, redo_below, capped, alone, acc_netted, acc_base, acc_capped,
         redo_netted, redo_acc_base, redo_capped) = tier_step(
            parent[parent_at[t] : parent_at[t + 1]], below_capped, below_netted, tier_netted,
            eligible[g0:g1], caps[t], owner[g0:g1], n_accounts, position_group[t], standalone,
            none, none, rtol, unit_roundoff,
        )  # fmt: skip
        if (redo_base.any() or redo_below.any() or redo_netted.any() or redo_acc_base.any()
                or redo_capped.any()):  # fmt: skip
            return False
        groups_out[0, g0:g1] = base
        groups_out[1, g0:g1] = capped
        groups_out[2, g0:g1] = alone
        accounts_out[0, t] = acc_netted
        accounts_out[1, t] = acc_base
        accounts_out[2, t] = acc_capped
        below_capped, below_netted = capped, tier_netted
    return True


__all__ = ["group_totals", "tier_step", "tier_walk"]
