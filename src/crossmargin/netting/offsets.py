"""Tier by tier: each group's base, eligibility and capped requirement, per account.

Given the model's margin of every row built by :func:`crossmargin.netting.core.cross_margin`
(positions alone and the groups of each tier), :class:`TierBook` walks the tiers bottom-up
(:mod:`crossmargin.netting.tiers` for the formula) and returns, per account, one
:class:`~crossmargin.models.result.TierMargin` per tier, ``position`` first.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from crossmargin.models.result import TierGroup, TierMargin
from crossmargin.netting.tiers import TIERS, OffsetPolicy, capped

if TYPE_CHECKING:
    from crossmargin.market.history import MarketHistory


@dataclass(frozen=True, slots=True, kw_only=True)
class TierBook:
    """Inputs of the tier walk (built by :func:`crossmargin.netting.core.cross_margin`)."""

    policy: OffsetPolicy
    legs: Sequence[Any]
    coll: Sequence[Any]
    group_ids: dict[str, dict[tuple[Any, ...], int]]
    totals: dict[str, NDArray[np.float64]]
    standalone: NDArray[np.float64]
    asof: datetime
    history: MarketHistory | None
    _unds: dict[str, dict[tuple[Any, ...], set[str]]] = field(default_factory=dict)
    _tests: dict[tuple[str, str, int], tuple[bool, str, dict[str, Any]]] = field(
        default_factory=dict
    )  # pair tests met so far, per pair and rule: many groups test the same pairs

    def evaluate(self) -> dict[str, tuple[TierMargin, ...]]:
        """Per account, the tiers ``position`` .. ``netting-set`` (module docstring)."""
        accounts = list(dict.fromkeys(leg.account for leg in self.legs))
        alone_of_account: dict[str, float] = dict.fromkeys(accounts, 0.0)
        alone_of: dict[str, dict[tuple[Any, ...], float]] = {t: {} for t in TIERS}
        unds_of: dict[str, dict[tuple[Any, ...], set[str]]] = {t: {} for t in TIERS}
        for i, leg in enumerate(self.legs):  # one pass: per-group sums and underlyings
            alone = float(self.standalone[i])
            alone_of_account[leg.account] += alone
            for tier in TIERS:
                key = leg.keys[tier]
                alone_of[tier][key] = alone_of[tier].get(key, 0.0) + alone
                unds_of[tier].setdefault(key, set()).add(leg.instrument.underlying)
        for leg in self.coll:
            for tier in TIERS[1:]:
                unds_of[tier].setdefault(leg.keys[tier], set()).add(leg.instrument.underlying)
        self._unds.update(unds_of)
        made: dict[str, list[list[TierGroup]]] = {}
        index = {a: k for k, a in enumerate(accounts)}
        below_capped = {("leg", i): float(c) for i, c in enumerate(self.standalone)}
        below_netted = dict(below_capped)
        prev = "position"
        for tier in TIERS:
            rule = self.policy.rule(tier)
            members = self._members(tier, prev)
            made[tier] = [[] for _ in accounts]
            capped_here: dict[tuple[Any, ...], float] = {}
            netted_here: dict[tuple[Any, ...], float] = {}
            for key, g in self.group_ids[tier].items():
                netted = float(self.totals[tier][g])
                kids = members.get(key, [])
                base = math.fsum(below_capped[k] for k in kids)
                offset = math.fsum(below_netted[k] for k in kids) - netted
                eligible, reason = True, ""
                tests: tuple[dict[str, Any], ...] = ()
                if rule.eligibility is not None and len(kids) > 1:
                    eligible, reason, tests = self._eligible(prev, kids, rule)
                value = capped(netted, base, offset, rule.cap, eligible)
                capped_here[key], netted_here[key] = value, netted
                made[tier][index[key[0]]].append(
                    TierGroup(
                        tier=tier,
                        group=group_label(tier, key),
                        margin=netted,
                        base=base,
                        capped=value,
                        standalone=alone_of[tier].get(key, 0.0),
                        eligible=eligible,
                        reason=reason,
                        tests=tests,
                    )
                )
            below_capped = {(tier, *k): v for k, v in capped_here.items()}
            below_netted = {(tier, *k): v for k, v in netted_here.items()}
            prev = tier
        out: dict[str, tuple[TierMargin, ...]] = {}
        for acc in accounts:
            alone = alone_of_account[acc]
            rows = [TierMargin(tier="position", cap=1.0, margin=alone, base=alone, capped=alone)]
            for tier in TIERS:
                groups = tuple(made[tier][index[acc]])
                rows.append(
                    TierMargin(
                        tier=tier,
                        cap=self.policy.rule(tier).cap,
                        margin=math.fsum(g.margin for g in groups),
                        base=math.fsum(g.base for g in groups),
                        capped=math.fsum(g.capped for g in groups),
                        groups=groups,
                    )
                )
            out[acc] = tuple(rows)
        return out

    def _members(self, tier: str, prev: str) -> dict[tuple[Any, ...], list[tuple[Any, ...]]]:
        """For each group of ``tier``, the ids of its members one tier below."""
        out: dict[tuple[Any, ...], list[tuple[Any, ...]]] = {}
        if prev == "position":
            for i, leg in enumerate(self.legs):
                out.setdefault(leg.keys[tier], []).append(("leg", i))
            return out
        seen = set()
        for leg in self.legs:
            child = (prev, *leg.keys[prev])
            if child not in seen:
                seen.add(child)
                out.setdefault(leg.keys[tier], []).append(child)
        for leg in self.coll:  # a collateral-only group below (coin held where it offsets)
            if leg.keys[prev] in self.group_ids[prev]:
                child = (prev, *leg.keys[prev])
                if child not in seen:
                    seen.add(child)
                    out.setdefault(leg.keys[tier], []).append(child)
        return out

    def _eligible(
        self, prev: str, kids: list[tuple[Any, ...]], rule: Any
    ) -> tuple[bool, str, tuple[dict[str, Any], ...]]:
        """Whether every pair of distinct underlyings across ``kids`` passes the rule."""
        from crossmargin.netting.eligibility import pair_test

        sets = [self._unds[prev][k[1:]] for k in kids]
        pairs = sorted(
            {
                tuple(sorted((a, b)))
                for x, y in itertools.combinations(sets, 2)
                for a in x
                for b in y
                if a != b
            }
        )
        if not pairs:
            return True, "one underlying: no correlation to test", ()
        if self.history is None:
            return False, "no market history to test the correlation: no credit granted", ()
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


def group_label(tier: str, key: tuple[Any, ...]) -> str:
    """A readable name of a tier's group: ``BTC (deribit, BTC)``, ``deribit_btc_future
    (deribit)``, ``crypto``, or the netting set's name."""
    if tier == "product":
        return f"{key[2]} ({key[1]})"
    if tier == "underlying":
        return f"{key[2]} ({key[1]}, {key[3]})"
    if tier == "asset-class":
        return str(key[1])
    return str(key[0])


__all__ = ["TierBook", "group_label"]
