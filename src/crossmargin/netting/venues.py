"""Which venues of an account are cross-margined: the netting sets of a book.

By default an account is one netting set across every venue it trades (a prime broker's or
a portfolio-margin account: the premise of cross margining). A book may declare instead
which venues are cross-margined with each other (``--cross-margin``, a JSON book's
``"cross_margin"`` key, the service's ``cross_margin`` field):

==========================  ==============================================================
declaration                 netting sets of an account
==========================  ==============================================================
``all`` (default)           one: every venue together
``none``                    one per venue (isolated venues)
``cme+occ,deribit``         ``cme`` and ``occ`` together, ``deribit`` alone; a venue not
                            named stands alone
==========================  ==============================================================

A venue is the clearing house of a position (:func:`crossmargin.netting.tiers.venue_of`: the
book's ``venue`` column, else the contract's venue family: ``deribit``, ``cme``, ``occ``,
``equities``). An account whose positions fall into more than one venue group is split into
one netting set per group, named ``ACCOUNT@GROUP`` (``beta-macro@cme+occ``), and every model,
stress and backtest margins each on its own; an account within one group keeps its name.
Collateral follows its ``venue``; collateral of a split account must name one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from crossmargin.errors import InputError
from crossmargin.portfolio import Portfolio


@dataclass(frozen=True, slots=True)
class VenueGroups:
    """A cross-margin declaration: ``groups`` of venues that net together, or ``mode``
    ``all`` (every venue together) / ``none`` (every venue alone)."""

    mode: str = "all"
    groups: tuple[tuple[str, ...], ...] = ()

    def group_of(self, venue: str) -> str:
        """The name of ``venue``'s group (``all`` when every venue nets together)."""
        if self.mode == "all":
            return "all"
        for group in self.groups:
            if venue in group:
                return "+".join(group)
        return venue

    def describe(self) -> str:
        """The declaration as given (``all``, ``none`` or ``cme+occ,deribit``)."""
        return self.mode if self.mode != "groups" else ",".join("+".join(g) for g in self.groups)


def parse_cross_margin(spec: str | Sequence[Sequence[str]] | None, *, source: str) -> VenueGroups:
    """A declaration from text (``all``, ``none``, ``cme+occ,deribit``) or a list of venue
    lists; InputError naming ``source`` and the value if malformed."""
    if spec is None:
        return VenueGroups()
    if isinstance(spec, str):
        text = spec.strip()
        if text.lower() in ("all", "none"):
            return VenueGroups(mode=text.lower())
        raw: list[list[str]] = [part.split("+") for part in text.split(",")]
    elif isinstance(spec, Sequence) and all(
        isinstance(g, Sequence) and not isinstance(g, str) for g in spec
    ):
        raw = [[str(v) for v in g] for g in spec]
    else:
        raise InputError(
            f"{source}: cross_margin {spec!r} must be 'all', 'none', text like "
            "'cme+occ,deribit' or a list of venue lists"
        )
    groups = []
    seen: dict[str, int] = {}
    for k, group in enumerate(raw):
        venues = tuple(v.strip() for v in group)
        if not venues or any(not v for v in venues):
            raise InputError(f"{source}: cross_margin {spec!r}: an empty venue name")
        for v in venues:
            if v in seen:
                raise InputError(f"{source}: cross_margin {spec!r}: venue {v!r} is in two groups")
            seen[v] = k
        groups.append(venues)
    return VenueGroups(mode="groups", groups=tuple(groups))


def split_netting_sets(portfolio: Portfolio, declared: VenueGroups) -> Portfolio:
    """``portfolio`` with each account cut into its netting sets (module docstring)."""
    from crossmargin.netting.tiers import venue_of

    if declared.mode == "all":
        return portfolio
    group = [declared.group_of(venue_of(p.instrument, p.venue)) for p in portfolio.raw]
    per_account: dict[str, dict[str, None]] = {}
    for p, g in zip(portfolio.raw, group, strict=True):
        per_account.setdefault(p.account, {})[g] = None
    split = {a for a, gs in per_account.items() if len(gs) > 1}
    if not split:
        return portfolio
    raw = [
        replace(p, account=f"{p.account}@{g}") if p.account in split else p
        for p, g in zip(portfolio.raw, group, strict=True)
    ]
    held = []
    for h in portfolio.collateral:
        if h.account not in split:
            held.append(h)
            continue
        if not h.venue:
            raise InputError(
                f"collateral {h.asset} of {h.account} names no venue, but the account is "
                f"margined in separate netting sets ({', '.join(per_account[h.account])}; "
                f"cross_margin {declared.describe()}): give the holding its venue"
            )
        target = f"{h.account}@{declared.group_of(h.venue)}"
        if declared.group_of(h.venue) not in per_account[h.account]:
            raise InputError(
                f"collateral {h.asset} of {h.account} at venue {h.venue}: the account holds no "
                f"position there (its netting sets: {', '.join(per_account[h.account])})"
            )
        held.append(replace(h, account=target))
    return Portfolio(raw=tuple(raw), source=portfolio.source, collateral=tuple(held))


__all__ = ["VenueGroups", "parse_cross_margin", "split_netting_sets"]
