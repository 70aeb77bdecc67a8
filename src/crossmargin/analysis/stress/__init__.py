"""Stress tests of cross-margined books (METHODS §8): does the netting survive stress?

* :mod:`.correlation` — correlation breakdown of the offsets (plus / minus / flip / stressed);
* :mod:`.crisis` — replay of named historical crises (and user windows) on today's book;
* :mod:`.hypothetical` — hypothetical joint moves from a JSON or CSV file;
* :mod:`.reverse` — the smallest Mahalanobis move that breaks each account's margin;
* :mod:`.default` — default of one account: liquidation over the MPOR with costs;
* :mod:`.report` — one run of any of these against the margin held.

Every figure compares a stressed loss with the **margin held** and reports the
**shortfall** ``max(0, loss − margin)``; conventions in :mod:`.common`, docs in
``docs/stress.md``.
"""

from __future__ import annotations

from crossmargin.analysis.stress.common import AccountOutcome, HeldMargin, Move, ScenarioOutcome
from crossmargin.analysis.stress.correlation import CorrelationBreakdown, correlation_breakdown
from crossmargin.analysis.stress.crisis import CrisisWindow, crisis_catalogue, crisis_replay
from crossmargin.analysis.stress.default import DefaultLoss, default_loss
from crossmargin.analysis.stress.factors import FactorWindow, es_window
from crossmargin.analysis.stress.hypothetical import hypothetical_stress, load_scenarios
from crossmargin.analysis.stress.report import StressReport, run_stress
from crossmargin.analysis.stress.reverse import ReverseStress, reverse_stress

__all__ = [
    "AccountOutcome",
    "CorrelationBreakdown",
    "CrisisWindow",
    "DefaultLoss",
    "FactorWindow",
    "HeldMargin",
    "Move",
    "ReverseStress",
    "ScenarioOutcome",
    "StressReport",
    "correlation_breakdown",
    "crisis_catalogue",
    "crisis_replay",
    "default_loss",
    "es_window",
    "hypothetical_stress",
    "load_scenarios",
    "reverse_stress",
    "run_stress",
]
