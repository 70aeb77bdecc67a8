"""Tier by tier: each group's base, eligibility and capped requirement, on arrays.

Given the model's margin of every row of a :class:`~crossmargin.netting.layout.TierLayout`
(positions alone and the groups of each tier), :class:`TierBook` walks the tiers bottom-up
(:mod:`crossmargin.netting.tiers` for the formula). A group's *members* are the groups one
tier below whose first item falls in it (positions alone below ``product``); per tier::

    B = Σ C(members)   O = Σ N(members) − N   C = max(N, B − c·O) if eligible else max(N, B)

summed per group code and capped, the whole walk in one compiled call
(:func:`crossmargin.netting.sum_kernels.tier_walk`; ``fsum``-accurate as
:func:`crossmargin.netting.sums.group_sum`: where a sum's error bound asks for the exact sum,
the walk goes tier by tier, :func:`~crossmargin.netting.sum_kernels.tier_step`, with those
sums made exact). What the walk reads besides the margins (each member's group, each
group's verdict, the caps) follows from the layout's shape and is kept with it, so a what-if
of a book seen before walks its tiers in one call on arrays made before.

Where the tier has an eligibility rule, a group of two or more members is tested on every
pair of distinct underlyings drawn from two different members
(:mod:`crossmargin.netting.eligibility`); the verdict depends only on the members' sets of
underlyings, so it is worked out once per distinct combination of those sets and each pair
test once per pair and rule. :func:`tier_margins` turns the arrays into the result's
:class:`~crossmargin.models.result.TierMargin` per account, ``position`` first.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from crossmargin.models.result import TierGroup, TierMargin
from crossmargin.netting.layout import TierLayout
from crossmargin.netting.sum_kernels import tier_step, tier_walk
from crossmargin.netting.sums import UNIT_ROUNDOFF, exact_where
from crossmargin.netting.tiers import TIERS, OffsetPolicy, TierRule

if TYPE_CHECKING:
    from crossmargin.market.history import MarketHistory

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
#: An eligibility verdict: eligible, reason, the pair tests (JSON-ready).
Verdict = tuple[bool, str, tuple[dict[str, Any], ...]]
#: Verdict 0 (no test: eligible) and 1 (members on one underlying).
NOT_TESTED: Verdict = (True, "", ())
ONE_UNDERLYING: Verdict = (True, "one underlying: no correlation to test", ())


@dataclass(frozen=True, slots=True, kw_only=True)
class TierFigures:
    """The tier walk's figures (money in the reporting currency), per tier of
    :data:`~crossmargin.netting.tiers.TIERS` and group code: ``margin`` (``N``), ``base``
    (``B``), ``capped`` (``C``), ``standalone`` (its positions alone, summed) and ``verdict``
    (index into ``verdicts[tier]``); per account (``position`` too): ``account_margin``,
    ``account_base`` and ``account_capped``, the tier's groups summed."""

    margin: dict[str, FloatArray]
    base: dict[str, FloatArray]
    capped: dict[str, FloatArray]
    standalone: dict[str, FloatArray]
    verdict: dict[str, IntArray]
    verdicts: dict[str, tuple[Verdict, ...]]
    account_margin: dict[str, FloatArray]
    account_base: dict[str, FloatArray]
    account_capped: dict[str, FloatArray]

    def eligible(self, tier: str) -> BoolArray:
        """Whether each group of ``tier`` is granted its credit."""
        flags = np.array([v[0] for v in self.verdicts[tier]], dtype=bool)
        return np.asarray(flags[self.verdict[tier]], dtype=bool)


#: Members below which :func:`member_sets` keys the groups in dictionaries (array calls
#: would cost more than the loop).
SMALL_MEMBERS = 256


def _set_ids(
    values: IntArray, starts: IntArray, base: int
) -> tuple[IntArray, list[tuple[int, ...]]]:
    """Ids of the sorted runs ``values[starts[k]:starts[k + 1]]`` (each value < ``base``),
    numbered in the lexicographic order of their tuples, and the tuples.

    A run of at most ``w`` values is the number ``Σ (vᵢ + 1)·(base + 1)^(w − 1 − i)`` where
    that fits 62 bits (the shorter run first on a common prefix, as tuples order), else a row
    of a matrix padded with -1; either is numbered by :func:`numpy.unique`."""
    lengths = np.append(starts[1:], values.size) - starts
    width = int(lengths.max())
    place = np.arange(values.size) - np.repeat(starts, lengths)
    if width * math.log2(base + 1) < 62:
        digit = (values + 1) * (base + 1) ** (width - 1 - place)
        _, first, ids = np.unique(np.add.reduceat(digit, starts), return_index=True,
                                  return_inverse=True)  # fmt: skip
    else:
        pad = np.full((starts.size, width), -1, dtype=np.int64)
        pad[np.repeat(np.arange(starts.size), lengths), place] = values
        _, first, ids = np.unique(pad, axis=0, return_index=True, return_inverse=True)
    sets = [tuple(values[starts[k] : starts[k] + lengths[k]].tolist()) for k in first.tolist()]
    return np.asarray(ids, dtype=np.int64).reshape(-1), sets


def member_sets(
    kid: IntArray, und: IntArray, parent: IntArray, n_und: int
) -> dict[int, tuple[tuple[int, ...], ...]]:
    """Per group, in the order of its first member, its members' sets of underlyings, sorted:
    ``(kid[i], und[i])`` are the (member, underlying) pairs sorted by member then underlying,
    ``parent[member]`` is the member's group (each underlying below ``n_und``)."""
    if kid.size < SMALL_MEMBERS:
        sets: dict[int, list[int]] = {}
        for k, u in zip(kid.tolist(), und.tolist(), strict=True):
            sets.setdefault(k, []).append(u)
        members: dict[int, list[tuple[int, ...]]] = {}
        for k, held in sets.items():
            members.setdefault(int(parent[k]), []).append(tuple(held))
        return {g: tuple(sorted(held)) for g, held in members.items()}
    starts = np.flatnonzero(np.concatenate(([True], kid[1:] != kid[:-1])))
    set_id, found = _set_ids(und, starts, n_und)
    grp = parent[kid[starts]]  # members in kid order
    order = np.argsort(grp * len(found) + set_id, kind="stable")
    in_order, id_sorted = grp[order], set_id[order].tolist()
    bounds = [0, *(np.flatnonzero(in_order[1:] != in_order[:-1]) + 1).tolist(), len(id_sorted)]
    grouped = in_order.tolist()
    keys = {grouped[a]: tuple(found[i] for i in id_sorted[a:b])
            for a, b in itertools.pairwise(bounds)}  # fmt: skip
    first = np.sort(np.unique(grp, return_index=True)[1])  # groups as first met
    return {g: keys[g] for g in grp[first].tolist()}


@dataclass(frozen=True, slots=True, kw_only=True)
class _WalkPlan:
    """What the tier walk reads besides the margins, per tier of :data:`TIERS`: each
    group's verdict, the tier's cap, and packed as
    :func:`~crossmargin.netting.sum_kernels.tier_walk` reads them, each member's group
    (``parent_all``), whether each group is granted its credit (``eligible_all``), each
    group's account and each position's group (``*_at``: each tier's bounds; :meth:`tier`).
    It follows from the layout's shape, the policy, the date and the history alone."""

    verdict: tuple[IntArray, ...]
    verdicts: tuple[tuple[Verdict, ...], ...]
    caps: FloatArray
    parent_all: IntArray
    parent_at: IntArray
    group_at: IntArray
    eligible_all: BoolArray
    owner_all: IntArray
    position_group: IntArray

    @classmethod
    def packed(
        cls,
        layout: TierLayout,
        parent: tuple[IntArray, ...],
        verdict: tuple[IntArray, ...],
        verdicts: tuple[tuple[Verdict, ...], ...],
        eligible: tuple[BoolArray, ...],
        caps: tuple[float, ...],
    ) -> _WalkPlan:
        """The plan of these per-tier parts, packed (``*_at``: each tier's bounds)."""
        n_pos = layout.n_positions
        sizes = [layout.n_groups(t) for t in TIERS]
        plan = cls(
            verdict=verdict,
            verdicts=verdicts,
            caps=np.array(caps, dtype=np.float64),
            parent_all=np.concatenate(parent),
            parent_at=np.concatenate([[0], np.cumsum([p.size for p in parent])]).astype(np.int64),
            group_at=np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64),
            eligible_all=np.concatenate(eligible),
            owner_all=np.concatenate([layout.group_account[t] for t in TIERS]).astype(np.int64),
            position_group=np.array(
                [layout.group_of[t][:n_pos] for t in TIERS], dtype=np.int64
            ).reshape(len(TIERS), n_pos),
        )
        for name in ("caps", "parent_all", "parent_at", "group_at", "eligible_all", "owner_all",
                     "position_group"):  # fmt: skip
            getattr(plan, name).flags.writeable = False  # kept with the shape: shared
        return plan

    def tier(self, t: int) -> tuple[IntArray, BoolArray]:
        """Tier ``t``'s members' groups and its groups' eligibility (views of the packed)."""
        return (self.parent_all[self.parent_at[t] : self.parent_at[t + 1]],
                self.eligible_all[self.group_at[t] : self.group_at[t + 1]])  # fmt: skip


@dataclass(frozen=True, slots=True, kw_only=True)
class TierBook:
    """Inputs of the tier walk (built by :func:`crossmargin.netting.core.cross_margin`):
    the layout, the model's margin of each tier's groups (``totals``) and of each position
    alone (``standalone``)."""

    policy: OffsetPolicy
    layout: TierLayout
    totals: dict[str, FloatArray]
    standalone: FloatArray
    asof: datetime
    history: MarketHistory | None
    _tests: dict[tuple[str, str, int], tuple[bool, str, dict[str, Any]]] = field(
        default_factory=dict
    )  # pair tests met so far, per pair and rule

    def evaluate(self) -> TierFigures:
        """Every tier's figures (module docstring): the whole walk in one compiled call
        (:func:`~crossmargin.netting.sum_kernels.tier_walk`); where a sum's error bound asks
        for the exact sum, tier by tier with those sums made exact (:meth:`_stepwise`)."""
        lay, plan = self.layout, self._plan()
        n_acc = len(lay.accounts)
        standalone = np.asarray(self.standalone, dtype=np.float64)
        netted = [np.asarray(self.totals[t], dtype=np.float64) for t in TIERS]
        groups = np.empty((3, int(plan.group_at[-1])))
        accounts = np.empty((3, len(TIERS), n_acc))
        if not tier_walk(plan.parent_all, plan.parent_at, plan.group_at, np.concatenate(netted),
                         plan.eligible_all, plan.caps, plan.owner_all, plan.position_group,
                         standalone, n_acc, *_TOLERANCE, groups, accounts):  # fmt: skip
            return self._stepwise(plan, standalone, netted)
        groups.flags.writeable = accounts.flags.writeable = False  # views of one buffer each
        out = self._figures(plan, standalone)
        for t, tier in enumerate(TIERS):
            at = slice(int(plan.group_at[t]), int(plan.group_at[t + 1]))
            out["margin"][tier], out["base"][tier] = netted[t], groups[0, at]
            out["capped"][tier], out["standalone"][tier] = groups[1, at], groups[2, at]
            out["account_margin"][tier] = accounts[0, t]
            out["account_base"][tier] = accounts[1, t]
            out["account_capped"][tier] = accounts[2, t]
        return TierFigures(**out)

    def _figures(self, plan: _WalkPlan, standalone: FloatArray) -> dict[str, dict[str, Any]]:
        """The figures' tables, with each tier's verdicts and the ``position`` accounts."""
        lay = self.layout
        n_acc = len(lay.accounts)
        alone_acc = np.bincount(lay.account[: lay.n_positions], weights=standalone,
                                minlength=n_acc)  # fmt: skip
        names = ("margin", "base", "capped", "standalone", "account_margin", "account_base",
                 "account_capped")  # fmt: skip
        out: dict[str, dict[str, Any]] = {k: {} for k in names}
        for k in ("account_margin", "account_base", "account_capped"):
            out[k]["position"] = alone_acc
        out["verdict"] = dict(zip(TIERS, plan.verdict, strict=True))
        out["verdicts"] = dict(zip(TIERS, plan.verdicts, strict=True))
        return out

    def _stepwise(
        self, plan: _WalkPlan, standalone: FloatArray, netted: list[FloatArray]
    ) -> TierFigures:
        """The walk a tier at a time (:func:`~crossmargin.netting.sum_kernels.tier_step`),
        each sum whose error bound asks for it made exact (:func:`~crossmargin.netting.sums.
        exact_where`)."""
        lay = self.layout
        n_pos, n_acc = lay.n_positions, len(lay.accounts)
        out = self._figures(plan, standalone)
        below_capped = below_netted = standalone
        for t, tier in enumerate(TIERS):
            g = lay.group_of[tier]
            (parent, eligible), owner = plan.tier(t), lay.group_account[tier]
            sums = partial(tier_step, parent, below_capped, below_netted, netted[t], eligible,
                           float(plan.caps[t]), owner, n_acc, g[:n_pos], standalone)  # fmt: skip
            step = sums(_NONE, _NONE, *_TOLERANCE)
            base, below, redo_base, redo_below = step[:4]
            if redo_base.any() or redo_below.any():  # exact sums asked: the rest from them
                step = sums(
                    exact_where(parent, below_capped, base, redo_base),
                    exact_where(parent, below_netted, below, redo_below),
                    *_TOLERANCE,
                )
            (base, _, _, _, capped, alone, acc_netted, acc_base, acc_capped, redo_netted,
             redo_acc_base, redo_capped) = step  # fmt: skip
            out["margin"][tier], out["base"][tier], out["capped"][tier] = netted[t], base, capped
            out["standalone"][tier] = alone
            out["account_margin"][tier] = exact_where(owner, netted[t], acc_netted, redo_netted)
            out["account_base"][tier] = exact_where(owner, base, acc_base, redo_acc_base)
            out["account_capped"][tier] = exact_where(owner, capped, acc_capped, redo_capped)
            below_capped, below_netted = capped, netted[t]
        return TierFigures(**out)

    def _plan(self) -> _WalkPlan:
        """The walk's :class:`_WalkPlan`, kept with the layout's shape (as the verdicts are:
        :meth:`_shaped_verdicts`) for this policy, date and history."""

        rules = tuple(self.policy.rule(t) for t in TIERS)

        def make() -> tuple[MarketHistory | None, _WalkPlan]:
            return self.history, self._make_plan(rules)

        key = ("walk", rules, self.asof, id(self.history))
        history, plan = self.layout.shaped(key, make)
        if history is not self.history:  # another history object under a reused id
            return self._make_plan(rules)
        return plan

    def _make_plan(self, rules: tuple[TierRule, ...]) -> _WalkPlan:
        lay = self.layout
        n_pos = lay.n_positions
        und, und_names = lay.underlying_codes()
        parents, verdict_of, verdicts_of, eligible = [], [], [], []
        prev = "position"
        for tier, rule in zip(TIERS, rules, strict=True):
            g = lay.group_of[tier]
            n_g = lay.n_groups(tier)
            if prev == "position":  # members: the positions alone
                parent = g[:n_pos]
                item_kid = np.arange(n_pos, dtype=np.int64)
            else:  # members: the groups below, each in the group of its first item
                parent = g[lay.group_first[prev]]
                item_kid = lay.group_of[prev]
            verdict = np.zeros(n_g, dtype=np.int64)
            verdicts: tuple[Verdict, ...] = (NOT_TESTED, ONE_UNDERLYING)
            if rule.eligibility is not None:
                work_out = partial(self._verdicts, rule, parent, item_kid, und, und_names,
                                   partial(_several, parent, n_g))  # fmt: skip
                verdict, verdicts = self._shaped_verdicts(tier, rule, work_out)
            parents.append(np.ascontiguousarray(parent, dtype=np.int64))
            verdict_of.append(verdict)
            verdicts_of.append(verdicts)
            eligible.append(np.array([v[0] for v in verdicts], dtype=bool)[verdict])
            prev = tier
        return _WalkPlan.packed(lay, tuple(parents), tuple(verdict_of), tuple(verdicts_of),
                                tuple(eligible), tuple(r.cap for r in rules))  # fmt: skip

    def _shaped_verdicts(
        self,
        tier: str,
        rule: TierRule,
        work_out: Callable[[], tuple[IntArray, tuple[Verdict, ...]]],
    ) -> tuple[IntArray, tuple[Verdict, ...]]:
        """``work_out()`` (the tier's :meth:`_verdicts`), kept with the layout's shape: which
        groups hold which underlyings follows from the shape alone, so books of one shape
        (the same trade at other sizes) share the verdicts of one rule, date and history."""

        def make() -> tuple[MarketHistory | None, IntArray, tuple[Verdict, ...]]:
            verdict, verdicts = work_out()
            verdict.flags.writeable = False
            return self.history, verdict, verdicts

        key = ("verdicts", tier, rule, self.asof, id(self.history))
        history, verdict, verdicts = self.layout.shaped(key, make)
        if history is not self.history:  # another history object under a reused id
            return work_out()
        return verdict, verdicts

    def _verdicts(
        self,
        rule: TierRule,
        parent: IntArray,
        item_kid: IntArray,
        und: IntArray,
        und_names: tuple[str, ...],
        tested_of: Callable[[], BoolArray],
    ) -> tuple[IntArray, tuple[Verdict, ...]]:
        """Per group (``tested_of()``: those of two or more members), the index of its
        verdict, and the verdicts: one per distinct combination of the members' sets of
        underlyings."""
        tested = tested_of()
        n_und = max(len(und_names), 1)
        n_g = tested.size
        item = np.flatnonzero(item_kid >= 0)
        pairs = np.unique(item_kid[item] * n_und + und[item])
        kid, kid_und = pairs // n_und, pairs % n_und  # each member's underlyings, sorted
        owner = parent[kid]
        union = np.bincount(np.unique(owner * n_und + kid_und) // n_und, minlength=n_g)
        verdict = np.zeros(n_g, dtype=np.int64)
        verdict[tested & (union <= 1)] = 1
        several = tested & (union >= 2)
        verdicts: list[Verdict] = [NOT_TESTED, ONE_UNDERLYING]
        if not several.any():
            return verdict, tuple(verdicts)
        pick = several[owner]
        found: dict[tuple[tuple[int, ...], ...], int] = {}
        for g, key in member_sets(kid[pick], kid_und[pick], parent, n_und).items():
            if key not in found:
                found[key] = len(verdicts)
                verdicts.append(self._eligible(key, und_names, rule))
            verdict[g] = found[key]
        return verdict, tuple(verdicts)

    def _eligible(
        self, sets: tuple[tuple[int, ...], ...], names: tuple[str, ...], rule: TierRule
    ) -> Verdict:
        """Whether every pair of distinct underlyings across the members' ``sets`` passes."""
        from crossmargin.netting.eligibility import pair_test

        assert rule.eligibility is not None
        pairs = sorted(
            {
                tuple(sorted((names[a], names[b])))
                for x, y in itertools.combinations(sets, 2)
                for a in x
                for b in y
                if a != b
            }
        )
        if not pairs:
            return ONE_UNDERLYING
        if self.history is None:
            return (False, "no market history to test the correlation: no credit granted", ())
        tests = []
        for a, b in pairs:
            key = (a, b, id(rule.eligibility))
            if key not in self._tests:
                found = pair_test(self.history, (a, b), self.asof, rule.eligibility)
                self._tests[key] = (found.eligible, found.reason, found.to_dict())
            tests.append(self._tests[key])
        failed = [t for t in tests if not t[0]]
        reason = "; ".join(t[1] for t in failed) if failed else "every pair passes"
        return not failed, reason, tuple(t[2] for t in tests)


#: No sums given to :func:`~crossmargin.netting.sum_kernels.tier_step` (it makes them).
_NONE = np.zeros(0)
#: ``group_sum``'s tolerance for the bound past which a group is summed exactly.
_TOLERANCE = (1e-14, UNIT_ROUNDOFF)


def _several(parent: IntArray, n_groups: int) -> BoolArray:
    """The groups of two or more members."""
    out: BoolArray = np.bincount(parent, minlength=n_groups) > 1
    return out


def tier_margins(
    layout: TierLayout, figures: TierFigures, policy: OffsetPolicy
) -> list[tuple[TierMargin, ...]]:
    """Per account (``layout.accounts`` order), its tiers ``position`` .. ``netting-set``
    (each tier's groups in group-code order)."""
    n_acc = len(layout.accounts)
    per_account: list[list[TierMargin]] = [[] for _ in range(n_acc)]
    alone = figures.account_margin["position"].tolist()
    for a in range(n_acc):
        per_account[a].append(
            TierMargin(tier="position", cap=1.0, margin=alone[a], base=alone[a], capped=alone[a])
        )
    for tier in TIERS:
        cap = policy.rule(tier).cap
        owner = layout.group_account[tier]
        if n_acc == 1:  # one account (a what-if, a service request): its groups in order
            order: IntArray | slice = slice(None)
            bounds = [0, int(owner.size)]
        else:
            order = np.argsort(owner, kind="stable")
            bounds = np.searchsorted(owner[order], np.arange(n_acc + 1)).tolist()
        labels = layout.group_labels(tier)[order].tolist()
        verdicts = figures.verdicts[tier]
        made = [
            TierGroup(
                tier=tier,
                group=label,
                margin=n,
                base=b,
                capped=c,
                standalone=s,
                eligible=verdicts[v][0],
                reason=verdicts[v][1],
                tests=verdicts[v][2],
            )
            for label, n, b, c, s, v in zip(
                labels,
                figures.margin[tier][order].tolist(),
                figures.base[tier][order].tolist(),
                figures.capped[tier][order].tolist(),
                figures.standalone[tier][order].tolist(),
                figures.verdict[tier][order].tolist(),
                strict=True,
            )
        ]
        margin = figures.account_margin[tier].tolist()
        base = figures.account_base[tier].tolist()
        capped = figures.account_capped[tier].tolist()
        for a in range(n_acc):
            per_account[a].append(
                TierMargin(
                    tier=tier,
                    cap=cap,
                    margin=margin[a],
                    base=base[a],
                    capped=capped[a],
                    groups=tuple(made[bounds[a] : bounds[a + 1]]),
                )
            )
    return [tuple(t) for t in per_account]


__all__ = ["TierBook", "TierFigures", "member_sets", "tier_margins"]
