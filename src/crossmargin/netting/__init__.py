"""Cross margining: standalone, tiered and fully netted margin, offset caps, equity.

:func:`cross_margin` (``core``) margins every position and every group of every offset tier
(``tiers``; rows laid out by ``layout``) of every netting set in one model call, then caps
each tier's credit by the offset policy and its eligibility tests (``offsets``,
``eligibility``) and sets each account's equity against its requirement
(:mod:`crossmargin.collateral.equity`; result objects built in ``assemble``).
"""

from __future__ import annotations

from crossmargin.netting.core import BY_TIER, capped_margin, cross_margin
from crossmargin.netting.tiers import TIERS, OffsetPolicy, load_policy, venue_of

__all__ = [
    "BY_TIER",
    "TIERS",
    "OffsetPolicy",
    "capped_margin",
    "cross_margin",
    "load_policy",
    "venue_of",
]
