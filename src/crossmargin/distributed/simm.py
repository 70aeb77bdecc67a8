"""ISDA SIMM per account on a Dask cluster: each account's CRIF and margin in its own task.

The SIMM of an account (``PortfolioID`` = account) depends on its own CRIF lines only: a part
of whole accounts (:mod:`.partition`) is turned into CRIF lines
(:func:`crossmargin.simm.sensitivities.book_crif`) and each of its accounts margined
(:func:`crossmargin.simm.simm_margin`) on a worker. The pooled figure of the whole book as
one netting set is a book-level figure and is not computed here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from distributed import Client

from crossmargin.market.snapshot import MarketSnapshot
from crossmargin.portfolio import Portfolio
from crossmargin.simm import SimmResult, simm_margin
from crossmargin.simm.sensitivities import book_crif

from .cluster import worker_count
from .partition import BookPart, parts_for
from .tasks import map_units


@dataclass(frozen=True, slots=True, kw_only=True)
class _SharedSimm:
    market: MarketSnapshot
    version: str
    mpor_days: int
    include_post: bool | None
    mapping: Any


def simm_part(part: BookPart, shared: _SharedSimm) -> dict[str, SimmResult]:
    """One task: the SIMM of each account of a part (runs on a worker)."""
    sens = book_crif(part.portfolio(), shared.market, mapping=shared.mapping)
    return {
        a: simm_margin(sens.for_account(a), version=shared.version,
                       mpor_days=shared.mpor_days, include_post=shared.include_post)
        for a in sens.accounts
    }  # fmt: skip


def run_simm(
    client: Client,
    book: Portfolio,
    market: MarketSnapshot,
    *,
    version: str = "2.6",
    mpor_days: int = 10,
    include_post: bool | None = None,
    mapping: Any = None,
    chunk_positions: int | None = None,
) -> dict[str, SimmResult]:
    """Per account of ``book`` (book order), its SIMM result, computed on ``client``."""
    shared = _SharedSimm(market=market, version=version, mpor_days=mpor_days,
                         include_post=include_post, mapping=mapping)  # fmt: skip
    parts = parts_for(book, worker_count(client), chunk_positions)
    found: dict[str, SimmResult] = {}
    for part in map_units(client, simm_part, parts, shared=shared, name="simm"):
        found.update(part)
    return {a: found[a] for a in book.accounts if a in found}


__all__ = ["run_simm", "simm_part"]
