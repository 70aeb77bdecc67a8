"""Failure propagation: a cascade simulator for a whole venue (issue 14; ``docs/cascade.md``).

A shock moves prices; every account is revalued; accounts below maintenance margin are
liquidated (partially, by the venue's rules); their flow moves prices against the market's
depth; everyone is repriced; repeat to a fixed point, step after step. Losses beyond an
account's collateral go to the insurance fund and auto-deleveraging (a crypto venue) or down
a CCP's default waterfall; the same population and shock run isolated, grouped and
cross-margined side by side.

* :mod:`.params` — parameters as data (``crossmargin/data/cascade.json``), validated;
* :mod:`.population` — a book or a generated population (documented distributions);
* :mod:`.shocks` — crisis replays from real daily bars, hypothetical moves, spread breaks;
* :mod:`.market` — prices, depth (ADV), daily vols, correlations, the instruments' pricer;
* :mod:`.margin` — margin units per mode and the vectorised maintenance margin;
* :mod:`.impact` — the price-impact law with a depth-collapse parameter;
* :mod:`.engine` — the fixed-point loop;
* :mod:`.losses` — bankruptcy, insurance fund, ADL, the CCP waterfall and Cover 2;
* :mod:`.run` / :mod:`.result` — modes side by side, read-only results.
"""

from __future__ import annotations

from crossmargin.analysis.cascade.impact import ImpactLaw
from crossmargin.analysis.cascade.params import CascadeParams, load_params
from crossmargin.analysis.cascade.population import (
    Population,
    PopulationSpec,
    generate_population,
    load_population,
    load_spec,
    population_from_book,
    write_population,
)
from crossmargin.analysis.cascade.result import CascadeReport, CascadeResult
from crossmargin.analysis.cascade.run import DEFAULT_MODES, prepare, run_cascade
from crossmargin.analysis.cascade.shocks import (
    ShockPath,
    hypothetical_path,
    replay_path,
    resolve_replay,
    spread_break_path,
)

__all__ = [
    "DEFAULT_MODES",
    "CascadeParams",
    "CascadeReport",
    "CascadeResult",
    "ImpactLaw",
    "Population",
    "PopulationSpec",
    "ShockPath",
    "generate_population",
    "hypothetical_path",
    "load_params",
    "load_population",
    "load_spec",
    "population_from_book",
    "prepare",
    "replay_path",
    "resolve_replay",
    "run_cascade",
    "spread_break_path",
    "write_population",
]
