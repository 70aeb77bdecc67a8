"""The one interface every margin method implements, and the model registry.

A model works in two steps so that the netting code can margin many subsets of a book in
one call:

1. ``prepare(instruments, market)`` does the per-instrument work once (e.g. the scenario
   P&L matrix of every unique instrument, or per-instrument rule charges);
2. ``margin_rows(context, holdings)`` margins each row of a sparse ``rows x instruments``
   holdings matrix (quantities in contracts) and returns :class:`RowMargins`.

``compute(portfolio, market)`` (the public entry point) runs both through
:func:`crossmargin.netting.cross_margin`, which margins every position alone, every
group, and every account, and reports the cross-margin benefit.

**Convention.** A margin requirement is the *equity* an account must hold: cash collateral
plus the mark-to-market of its positions, in the reporting currency, never negative.
Scenario methods therefore charge the worst loss relative to today's MTM; rule methods
charge long options their premium (no loan value) and short options the rule's amount
beyond their premium. SPAN's cash-basis figure (risk − net option value) is reported as a
component where it applies.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from crossmargin.errors import ModelError
from crossmargin.instruments import Instrument
from crossmargin.market.snapshot import MarketSnapshot

if TYPE_CHECKING:
    from crossmargin.models.result import MarginResult
    from crossmargin.portfolio import Portfolio

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]


@dataclass(frozen=True, slots=True, kw_only=True)
class RowMargins:
    """Margins of each row of a holdings matrix (all arrays have one entry per row).

    ``total`` is the requirement (the initial margin where the method has both);
    ``maintenance`` is set where the method defines one. ``components`` are additive
    pieces in the reporting currency whose documented combination gives ``total`` (e.g.
    ``scan_risk``, ``intra_spread``, ``inter_credit`` (negative), ``floor``, add-ons);
    ``worst_scenario`` indexes ``scenario_names`` (-1 where not applicable). ``info`` holds
    informational figures that are *not* part of the sum (e.g. SPAN's net option value).
    ``facts`` (empty, or one mapping per row) holds JSON-ready facts about how a row was
    margined (e.g. its netting set's calendar and windows), filled for the ``detail`` rows.
    """

    total: FloatArray
    maintenance: FloatArray | None = None
    components: Mapping[str, FloatArray] = field(default_factory=dict)
    info: Mapping[str, FloatArray] = field(default_factory=dict)
    worst_scenario: IntArray | None = None
    scenario_names: tuple[str, ...] = ()
    facts: tuple[Mapping[str, Any], ...] = ()

    def __post_init__(self) -> None:
        n = self.total.shape[0]
        if self.facts and len(self.facts) != n:
            raise ModelError(f"{len(self.facts)} row facts for {n} rows")
        if (self.total < 0).any() or not np.isfinite(self.total).all():
            raise ModelError("a margin requirement must be finite and >= 0")
        for name, arr in {**self.components, **self.info}.items():
            if arr.shape != (n,):
                raise ModelError(f"component {name} has shape {arr.shape}, expected ({n},)")

    @classmethod
    def of_checked(
        cls,
        *,
        total: FloatArray,
        maintenance: FloatArray | None,
        components: Mapping[str, FloatArray],
        info: Mapping[str, FloatArray],
        worst_scenario: IntArray | None,
        scenario_names: tuple[str, ...],
        facts: tuple[Mapping[str, Any], ...],
    ) -> RowMargins:
        """Rows made of the same rows of checked :class:`RowMargins` (one's :meth:`take`, a
        memo's table of them): the checks of ``__post_init__`` hold by construction and are
        not made again (they were most of the cost of a what-if's few rows)."""
        out = object.__new__(cls)
        for name, value in (
            ("total", total), ("maintenance", maintenance), ("components", components),
            ("info", info), ("worst_scenario", worst_scenario),
            ("scenario_names", scenario_names), ("facts", facts),
        ):  # fmt: skip
            object.__setattr__(out, name, value)
        return out

    def take(self, rows: IntArray | slice) -> RowMargins:
        """The margins of a subset of rows."""
        return RowMargins.of_checked(
            total=self.total[rows],
            maintenance=None if self.maintenance is None else self.maintenance[rows],
            components={k: v[rows] for k, v in self.components.items()},
            info={k: v[rows] for k, v in self.info.items()},
            worst_scenario=None if self.worst_scenario is None else self.worst_scenario[rows],
            scenario_names=self.scenario_names,
            facts=_take_facts(self.facts, rows),
        )


def _take_facts(
    facts: tuple[Mapping[str, Any], ...], rows: IntArray | slice
) -> tuple[Mapping[str, Any], ...]:
    if not facts:
        return ()
    if isinstance(rows, slice):
        return facts[rows]
    table = np.empty(len(facts), dtype=object)
    table[:] = facts
    return tuple(table[np.asarray(rows).reshape(-1)].tolist())


class MarginModel(ABC):
    """Base class of every margin method (see the module docstring).

    Subclasses set ``name`` (the registry key, the CLI ``--model`` value and the docs
    heading), ``description`` and ``subadditive`` (True where the method guarantees that
    netted margin <= the sum of standalone margins), take their parameters in the
    constructor and implement :meth:`prepare` and :meth:`margin_rows`.

    ``nets_collateral`` (True by default) says whether coin and security collateral joins the
    groups of its underlying as a position (:mod:`crossmargin.netting.core`): right for risk
    methods that move the group jointly (a short inverse perpetual against BTC collateral is
    a synthetic dollar), wrong for additive per-position rules, which charge each position
    alone and leave the collateral's risk to its haircut.
    """

    name: ClassVar[str]
    description: ClassVar[str]
    subadditive: ClassVar[bool] = False
    #: True where a row's figures do not depend on the other rows of a ``margin_rows`` call,
    #: bit for bit (``tests/models/test_row_invariance.py`` holds every model so marked to it):
    #: then a cached context may reuse rows it has margined (:mod:`crossmargin.models.row_memo`).
    rows_invariant: ClassVar[bool] = False
    nets_collateral: bool = True

    @abstractmethod
    def prepare(self, instruments: tuple[Instrument, ...], market: MarketSnapshot) -> Any:
        """Per-instrument work done once (checks the market data the model needs)."""

    @abstractmethod
    def margin_rows(
        self, context: Any, holdings: sp.csr_matrix, *, detail: BoolArray | None = None
    ) -> RowMargins:
        """Margin each row of ``holdings`` (rows x instruments, in ``prepare``'s order).

        ``detail`` (a mask over rows, None = all) marks the rows whose informational figures
        (``info``, ``facts``) the caller will read; a model may skip costly figures that do
        not enter ``total`` for the other rows (reporting 0 there). Totals and components are
        always computed for every row.
        """

    def parameters(self) -> dict[str, Any]:
        """The parameters in force, JSON-ready (reported with every result)."""
        return {}

    def parameters_for(self, underlyings: Collection[str]) -> dict[str, Any]:
        """The parameters in force for a book on ``underlyings``, as its result reports them:
        :meth:`parameters`, which a model whose tables are per underlying (``pm_grid``,
        ``span``) restricts to the book's own underlyings."""
        del underlyings
        return self.parameters()

    def diagnostics(self, context: Any) -> dict[str, Any]:
        """Per-run facts worth showing beside the result, JSON-ready (default: none).

        E.g. the correlations a historical window implies, or the stressed window found.
        """
        return {}

    def compute(
        self,
        portfolio: Portfolio,
        market: MarketSnapshot,
        *,
        by: str = "underlying",
        cap: float | None = None,
        offsets: Any = None,
        haircuts: Any = None,
        detail: bool = True,
    ) -> MarginResult:
        """Margin ``portfolio``: standalone, every offset tier (``by`` the one reported as
        grouped), netted and capped per account (``offsets``: the offset policy, default
        ``emir``; ``cap``: the Art 27(4) cap across underlyings), with each account's equity
        (``haircuts``: a haircut file or schedule, default the shipped one).
        ``detail=False``: the accounts alone, no positions, groups, parameters or
        diagnostics (:func:`crossmargin.netting.core.cross_margin`).
        """
        from crossmargin.netting import cross_margin

        return cross_margin(
            self, portfolio, market, by=by, cap=cap, offsets=offsets, haircuts=haircuts,
            detail=detail,
        )  # fmt: skip


_REGISTRY: dict[str, Callable[..., MarginModel]] = {}


def register(cls: type[MarginModel]) -> type[MarginModel]:
    """Class decorator: make a model available by its ``name``."""
    _REGISTRY[cls.name] = cls
    return cls


def model_names() -> list[str]:
    """Registered model names, sorted."""
    _load_builtin_models()
    return sorted(_REGISTRY)


def get_model(name: str, **kwargs: Any) -> MarginModel:
    """Instantiate a registered model; ModelError names the known models if unknown."""
    _load_builtin_models()
    try:
        factory = _REGISTRY[name]
    except KeyError:
        raise ModelError(
            f"unknown model {name!r}: choose one of {', '.join(sorted(_REGISTRY))}"
        ) from None
    return factory(**kwargs)


def model_factory(name: str, **params: Any) -> MarginModel | Callable[[Any], MarginModel]:
    """A model, or for models that read market history themselves (their constructor takes
    ``history``) a factory called with a history view (used by backtests for no look-ahead).

    Parameters a model's constructor does not take are dropped (e.g. ``confidence`` for
    ``rules``, whose requirement does not depend on a confidence level).
    """
    import inspect

    _load_builtin_models()
    if name not in _REGISTRY:
        get_model(name)  # raises the clear unknown-model error
    accepted = inspect.signature(_REGISTRY[name]).parameters
    kwargs = {k: v for k, v in params.items() if k in accepted}
    if "history" in accepted:
        return lambda history: get_model(name, history=history, **kwargs)
    return get_model(name, **kwargs)


def _load_builtin_models() -> None:
    import importlib

    for module in ("rules", "span", "pm_grid", "var", "conservative"):
        try:
            importlib.import_module(f"crossmargin.models.{module}")
        except ModuleNotFoundError as missing:
            if missing.name != f"crossmargin.models.{module}":
                raise
