"""Capital efficiency: margin attribution, the margin-minimising hedge, allocation across
venues, and the capital figures of cross margining (freed capital, funding value, ROE,
utilisation, liquidation distance). ``docs/capital.md`` has the methods and a worked table.

Modules: :mod:`.euler` (Euler contributions per model, with :mod:`.euler_scan`,
:mod:`.euler_var`, :mod:`.simm_euler`), :mod:`.attribution` (through the offset tiers),
:mod:`.lp`, :mod:`.lp_solve` and :mod:`.forms` (each model as a convex piecewise-linear form,
solved by HiGHS), :mod:`.hedge` with :mod:`.hedge_terms`, :mod:`.hedge_search` and
:mod:`.universe`, :mod:`.allocate` with :mod:`.allocate_heuristics` and :mod:`.venues`, and
:mod:`.capital`.
"""

from __future__ import annotations

from crossmargin.analysis.optimise.allocate import AllocationResult, allocate
from crossmargin.analysis.optimise.attribution import Attribution, attribute
from crossmargin.analysis.optimise.attribution_simm import attribute_simm
from crossmargin.analysis.optimise.capital import CapitalReport, capital
from crossmargin.analysis.optimise.euler import EulerRows, euler_rows
from crossmargin.analysis.optimise.forms import Form, margin_form
from crossmargin.analysis.optimise.hedge import CostModel, HedgeLimits, HedgeResult, optimise_hedge
from crossmargin.analysis.optimise.universe import Candidate, default_universe, load_universe
from crossmargin.analysis.optimise.venues import Venue, load_venues, parse_venues

__all__ = [
    "AllocationResult",
    "Attribution",
    "Candidate",
    "CapitalReport",
    "CostModel",
    "EulerRows",
    "Form",
    "HedgeLimits",
    "HedgeResult",
    "Venue",
    "allocate",
    "attribute",
    "attribute_simm",
    "capital",
    "default_universe",
    "euler_rows",
    "load_universe",
    "load_venues",
    "margin_form",
    "optimise_hedge",
    "parse_venues",
]
