"""Basis (calendar) and funding risk: two itemised add-ons for the historical VaR/ES models.

The historical models price futures off spot with the snapshot's carry and perpetuals off
spot with no funding, so a calendar spread, a spot-vs-future trade or a spot-vs-perpetual
trade looks riskless to them. These terms charge what they cannot see.

**Basis / calendar risk.** A parallel shift ``δ`` of the annualised cost of carry of one
underlying ``u``, ``F(T) = S·exp((b(T) + δ)·T)``, moves every instrument with an expiry on
``u`` (futures of every expiry; options reprice on the shifted forward, sticky strike);
spot and perpetuals do not move. Per contract ``i`` the P&L in the reporting currency is
found by full revaluation (:func:`crossmargin.pricing.valuation.settlement_value` at the
shifted forward, minus today's value, converted at today's FX: the spot, and so the value
of a settlement coin, does not move), so inverse, linear and option contracts need no
special case::

    P&L_i(±δ_u) = [V_i(F_i·e^{±δ_u·T_i}) − V_i(F_i)] · X_i
    basis_row   = √(h/h_ref) · Σ_u max(0, −min(Σ_{i∈u} q_i·P&L_i(+δ_u), Σ_{i∈u} q_i·P&L_i(−δ_u)))

per underlying the worse direction, no offset across underlyings (as SPAN charges
intra-commodity spreads per combined commodity, METHODS §2.5). ``δ_u`` is the move of the
annualised basis within the reference horizon ``h_ref`` (``reference_days``, 2 days: the
EMIR Art 26 MPOR of exchange-traded derivatives); a row's horizon ``h`` scales the charge
by ``√(h/h_ref)`` (the square-root-of-time rule applied to the charge, exact to first order
in ``δ``). The shifted forward is the one of a snapshot copy whose carry of ``u`` is shifted
(:func:`shift_carry`: ``δ`` added to a flat carry rate, quoted futures scaled by ``e^{δT}``).
Revaluing *on* that copy alone would not do: a future's value there is its variation against
the copy's own, shifted, mark, so it would show no P&L; hence today's terms at the shifted
forward. For ``q`` linear futures alone the charge is ``|q|·m·F·(e^{δT} − 1)`` if short (``+δ``
hurts) and ``q·m·F·(1 − e^{−δT})`` if long; a calendar spread long ``T₁`` short ``T₂ > T₁``
(same ``q``) is charged ``q·m·[F₂(e^{δT₂} − 1) − F₁(e^{δT₁} − 1)]``.

**Funding risk.** A perpetual pays or receives funding continuously; an adverse move ``f_u``
of the annualised funding rate over ``h`` calendar days costs::

    funding_row = Σ_u |Σ_{i∈u perpetuals} q_i·N_i| · f_u · h / 365

with ``N_i`` the USD notional of one long contract: the face value for an inverse perpetual
(``m`` USD, e.g. 10 for BTC-PERPETUAL), ``m·S`` for a linear one (0.001 BTC × S for
BTC_USDC-PERPETUAL). Longs pay when funding rises, shorts when it falls, so the sign of the
net notional does not matter.

Parameters (``basis_shock`` ``δ`` and ``funding_shock`` ``f``, annualised decimals, with the
horizon ``reference_days``) are data: ``crossmargin/models/params/basis.json``, per
underlying with an asset-class default; each value names its source (OKX portfolio-margin
MR4, Deribit roll shock, exchange funding caps; see ``docs/models/basis.md``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import scipy.sparse as sp
from numpy.typing import ArrayLike, NDArray

from crossmargin.errors import InputError, ModelError
from crossmargin.instruments import Instrument
from crossmargin.market.snapshot import Carry, MarketSnapshot
from crossmargin.models.param_schemas import BasisFile
from crossmargin.models.params import ParameterSet, load_parameters
from crossmargin.netting.sums import as_csr, ordered_row_sums, row_group_sums
from crossmargin.pricing.terms import FUTURE, OPTION, PERPETUAL, instrument_terms
from crossmargin.pricing.valuation import base_fx, base_values, settlement_value
from crossmargin.validation import check_document

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

PARAMETER_FILE = "basis"
DAYS_PER_YEAR = 365.0  # ACT/365, the engine's day count (funding accrues by calendar day)
SHOCK_KEYS = ("basis_shock", "funding_shock")


# ------------------------------------------------------------------------------ terms
@dataclass(frozen=True, slots=True, kw_only=True)
class BasisTerms:
    """Per-instrument basis P&L and perpetual notionals, per-underlying funding shocks.

    Attributes
    ----------
    underlyings : tuple of str
        Column order of the per-underlying arrays.
    basis_pnl_up, basis_pnl_down : ndarray
        (instruments,) P&L of one long contract in the reporting currency when the carry of
        its underlying moves by ``+δ_u`` / ``−δ_u`` (reference horizon); 0 for spot and
        perpetuals.
    underlying_index : ndarray of int
        (instruments,) column of each instrument's underlying in ``underlyings``.
    perpetual_notional : ndarray
        (instruments,) notional of one long contract for perpetuals in the reporting currency
        (USD), 0 otherwise.
    funding_shock : ndarray
        (underlyings,) annualised adverse funding move ``f_u``.
    reference_days : float
        Horizon (calendar days) at which ``basis_pnl_up``/``basis_pnl_down`` hold.
    """

    underlyings: tuple[str, ...]
    basis_pnl_up: FloatArray
    basis_pnl_down: FloatArray
    underlying_index: IntArray
    perpetual_notional: FloatArray
    funding_shock: FloatArray
    reference_days: float

    def __post_init__(self) -> None:
        n = len(self.basis_pnl_up)
        per_instrument = (self.basis_pnl_down, self.underlying_index, self.perpetual_notional)
        if any(np.ndim(a) != 1 or len(a) != n for a in (self.basis_pnl_up, *per_instrument)):
            raise ModelError("basis terms: per-instrument arrays must be 1-D of equal length")
        if np.ndim(self.funding_shock) != 1 or len(self.funding_shock) != len(self.underlyings):
            raise ModelError("basis terms: funding_shock needs one value per underlying")
        if n and (
            self.underlying_index.min() < 0 or self.underlying_index.max() >= len(self.underlyings)
        ):
            raise ModelError("basis terms: underlying_index points outside 'underlyings'")
        for name in ("basis_pnl_up", "basis_pnl_down", "perpetual_notional", "funding_shock"):
            if not np.all(np.isfinite(getattr(self, name))):
                raise ModelError(f"basis terms: {name} has non-finite values")
        if np.any(self.funding_shock < 0):
            raise ModelError("basis terms: funding_shock must be >= 0")
        if not (math.isfinite(self.reference_days) and self.reference_days > 0):
            raise ModelError(f"basis terms: reference_days must be > 0, got {self.reference_days}")

    @property
    def size(self) -> int:
        """Number of instruments (columns of a holdings matrix)."""
        return len(self.basis_pnl_up)

    def _sums(self, q: sp.csr_matrix, per_contract: FloatArray) -> FloatArray:
        """(rows, underlyings): ``Σᵢ q[r, i]·per_contract[i]`` over each underlying's
        instruments (the sparse product by an instruments x underlyings matrix, bit for bit:
        :func:`crossmargin.netting.sums.row_group_sums`)."""
        return row_group_sums(q, self.underlying_index, per_contract, len(self.underlyings))

    def _rows(
        self, holdings: sp.spmatrix, horizon_days: ArrayLike
    ) -> tuple[sp.csr_matrix, FloatArray]:
        q = as_csr(holdings)
        if q.shape[1] != self.size:
            raise InputError(
                f"holdings have {q.shape[1]} instrument columns, the basis terms {self.size}"
            )
        h = np.asarray(horizon_days, dtype=np.float64)
        if h.shape != (q.shape[0],):  # one figure for every row (a row's array as it is)
            h = np.broadcast_to(h, (q.shape[0],))
        # the arrays' own methods: NumPy's function forms cost more than a few rows' checks
        if not np.isfinite(h).all() or (h < 0).any():
            raise InputError("horizon_days must be finite and >= 0 (calendar days per row)")
        if not np.isfinite(q.data).all():
            raise InputError("holdings must be finite")
        return q, h

    def basis(self, holdings: sp.csr_matrix, horizon_days: FloatArray) -> FloatArray:
        """Basis/calendar charge per row (see the module docstring)."""
        q, h = self._rows(holdings, horizon_days)
        up = self._sums(q, self.basis_pnl_up)
        down = self._sums(q, self.basis_pnl_down)
        worst = ordered_row_sums(np.maximum(-np.minimum(up, down), 0.0))
        out: FloatArray = worst * np.sqrt(h / self.reference_days)
        return out

    def funding(self, holdings: sp.csr_matrix, horizon_days: FloatArray) -> FloatArray:
        """Funding charge per row: ``Σ_u |net perpetual notional_u|·f_u·h/365``."""
        q, h = self._rows(holdings, horizon_days)
        net = self._sums(q, self.perpetual_notional)
        out: FloatArray = ordered_row_sums(np.abs(net), self.funding_shock) * h / DAYS_PER_YEAR
        return out

    def row_charges(
        self, holdings: sp.csr_matrix, horizon_days: FloatArray
    ) -> tuple[FloatArray, FloatArray]:
        """``(basis, funding)`` per row in one compiled pass
        (:func:`crossmargin.models.addon_kernels.basis_rows`): the figures of :meth:`basis`
        and :meth:`funding`, bit for bit, with the same checks."""
        from crossmargin.models.addon_kernels import basis_rows

        q, h = self._rows(holdings, horizon_days)
        n = q.shape[0]
        basis, funding = np.empty(n), np.empty(n)
        basis_rows(
            q.indptr.astype(np.int64), q.indices.astype(np.int64),
            np.ascontiguousarray(q.data, dtype=np.float64),
            np.ascontiguousarray(self.underlying_index, dtype=np.int64),
            np.ascontiguousarray(self.basis_pnl_up, dtype=np.float64),
            np.ascontiguousarray(self.basis_pnl_down, dtype=np.float64),
            np.ascontiguousarray(self.perpetual_notional, dtype=np.float64),
            np.ascontiguousarray(self.funding_shock, dtype=np.float64),
            float(self.reference_days), DAYS_PER_YEAR, np.ascontiguousarray(h), basis, funding,
        )  # fmt: skip
        return basis, funding

    def take(self, order: IntArray) -> BasisTerms:
        """These terms with the instruments taken in ``order``; the underlyings follow, in
        the order the instruments first hold them (as terms built on that order list them),
        so sums across underlyings run in the same order too."""
        index = self.underlying_index[order]
        held = list(dict.fromkeys(index.tolist()))
        seen = set(held)
        unds = held + [k for k in range(len(self.underlyings)) if k not in seen]
        where = np.empty(len(unds), dtype=np.int64)
        where[unds] = np.arange(len(unds))
        return BasisTerms(
            underlyings=tuple(self.underlyings[k] for k in unds),
            basis_pnl_up=self.basis_pnl_up[order],
            basis_pnl_down=self.basis_pnl_down[order],
            underlying_index=where[index],
            perpetual_notional=self.perpetual_notional[order],
            funding_shock=self.funding_shock[unds],
            reference_days=self.reference_days,
        )

    def extend(self, other: BasisTerms) -> BasisTerms:
        """These terms with ``other``'s instruments appended as further columns.

        Underlyings new to ``self`` are appended; a shared underlying must carry the same
        funding shock, and both terms the same reference horizon (else ModelError).
        """
        if other.reference_days != self.reference_days:
            raise ModelError(
                f"basis terms: cannot extend terms at a reference horizon of "
                f"{self.reference_days} days with terms at {other.reference_days} days; "
                "build both from one parameter file"
            )
        unds = self.underlyings + tuple(u for u in other.underlyings if u not in self.underlyings)
        where = {u: j for j, u in enumerate(unds)}
        shock = np.concatenate([self.funding_shock, np.zeros(len(unds) - len(self.underlyings))])
        for k, u in enumerate(other.underlyings):
            j = where[u]
            if j < len(self.underlyings) and shock[j] != other.funding_shock[k]:
                raise ModelError(
                    f"basis terms: funding shock of {u} differs ({shock[j]} vs "
                    f"{other.funding_shock[k]}); build both from the same parameter file"
                )
            shock[j] = other.funding_shock[k]
        remap = np.array([where[u] for u in other.underlyings], dtype=np.int64)
        return BasisTerms(
            underlyings=unds,
            basis_pnl_up=np.concatenate([self.basis_pnl_up, other.basis_pnl_up]),
            basis_pnl_down=np.concatenate([self.basis_pnl_down, other.basis_pnl_down]),
            underlying_index=np.concatenate(
                [self.underlying_index, remap[other.underlying_index]]
            ).astype(np.int64),
            perpetual_notional=np.concatenate([self.perpetual_notional, other.perpetual_notional]),
            funding_shock=shock,
            reference_days=self.reference_days,
        )


# ------------------------------------------------------------------------- parameters
@dataclass(frozen=True, slots=True, kw_only=True)
class BasisParameters:
    """Resolved parameters of one underlying (for reporting and for :func:`basis_terms`)."""

    underlying: str
    asset_class: str
    basis_shock: float
    funding_shock: float
    reference_days: float


def _shock(entry: Mapping[str, Any], key: str, where: str, path: str) -> float:
    try:
        raw = entry[key]
    except KeyError:
        raise ModelError(f"basis parameter file {path}: {where} has no {key!r}") from None
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise InputError(
            f"basis parameter file {path}: {key!r} of {where} must be a number, got {raw!r}"
        ) from None
    if not (math.isfinite(value) and value >= 0):
        raise InputError(
            f"basis parameter file {path}: {key!r} of {where} must be finite and >= 0, got {raw!r}"
        )
    return value


def validate_parameters(params: ParameterSet) -> float:
    """Check the file against its schema (:class:`~crossmargin.models.param_schemas.BasisFile`:
    unknown keys and negative shocks are InputErrors naming the key); return ``reference_days``.
    """
    checked = check_document(BasisFile, params.raw, label=f"basis parameters {params.path}")
    return checked.defaults.reference_days


def resolve_parameters(params: ParameterSet, underlying: str, asset_class: str) -> BasisParameters:
    """The underlying's entry overlaid on its asset class's; ModelError if it has neither."""
    days = validate_parameters(params)
    classes: Mapping[str, Mapping[str, Any]] = params.raw.get("asset_classes", {})
    by_class = classes.get(asset_class)
    own = params.underlyings.get(underlying)
    if by_class is None and own is None:
        raise ModelError(
            f"basis parameter file {params.path}: no entry for underlying {underlying!r} and no "
            f"default for its asset class {asset_class!r} (asset_classes has "
            f"{', '.join(sorted(classes)) or 'none'}); add underlyings.{underlying} or "
            f"asset_classes.{asset_class}"
        )
    entry = {**(by_class or {}), **(own or {})}
    where = f"underlying {underlying} (asset class {asset_class})"
    return BasisParameters(
        underlying=underlying,
        asset_class=asset_class,
        basis_shock=_shock(entry, "basis_shock", where, params.path),
        funding_shock=_shock(entry, "funding_shock", where, params.path),
        reference_days=days,
    )


# ------------------------------------------------------------------------------ build
def shift_carry(
    market: MarketSnapshot, underlying: str, delta: float, quote_currency: str = "USD"
) -> MarketSnapshot:
    """A copy of ``market`` whose cost of carry of ``underlying`` is ``b(T) + delta`` for all T.

    Quoted futures are scaled by ``e^{delta·T}`` (their implied carries move by ``delta``,
    and so does the interpolated and flat-extrapolated curve); a flat carry gets ``delta``
    added (the quote currency's rate standing in when the snapshot has none).
    """
    curve = market.carries.get(underlying, Carry())
    if curve.futures:
        shifted = replace(
            curve, futures=tuple((t, f * math.exp(delta * t)) for t, f in curve.futures)
        )
    else:
        base = market.rate(quote_currency) if curve.carry_rate is None else curve.carry_rate
        shifted = replace(curve, carry_rate=base + delta)
    return replace(market, carries={**market.carries, underlying: shifted})


def basis_terms(
    instruments: tuple[Instrument, ...],
    market: MarketSnapshot,
    params: ParameterSet | None = None,
) -> BasisTerms:
    """Build :class:`BasisTerms` for ``instruments`` on ``market`` (see the module docstring).

    ``params`` defaults to the shipped ``basis`` parameter file.
    """
    chosen = load_parameters(PARAMETER_FILE) if params is None else params
    terms = instrument_terms(instruments, market)
    unds = terms.underlyings
    first = {u: next(i for i in instruments if i.underlying == u) for u in unds}
    resolved = [resolve_parameters(chosen, u, first[u].asset_class) for u in unds]
    days = resolved[0].reference_days if resolved else validate_parameters(chosen)
    dated = ((terms.kind == FUTURE) | (terms.kind == OPTION)) & ~terms.expired
    ratio_up, ratio_down = np.ones(terms.size), np.ones(terms.size)
    for j, (u, p) in enumerate(zip(unds, resolved, strict=True)):
        cols = np.flatnonzero(dated & (terms.underlying_index == j))
        if not cols.size:
            continue
        quote = first[u].spec.quote_currency
        base = market.forward(u, terms.t[cols], quote)
        for ratio, sign in ((ratio_up, 1.0), (ratio_down, -1.0)):
            shifted = shift_carry(market, u, sign * p.basis_shock, quote)
            ratio[cols] = shifted.forward(u, terms.t[cols], quote) / base
    v0, x0 = base_values(terms), base_fx(terms)
    pnl_up = (settlement_value(terms, terms.spot * ratio_up, terms.t, terms.vol) - v0) * x0
    pnl_down = (settlement_value(terms, terms.spot * ratio_down, terms.t, terms.vol) - v0) * x0
    perpetual = terms.kind == PERPETUAL
    quote_fx = np.array([market.fx_rate(i.spec.quote_currency) for i in instruments])
    face = np.where(terms.inverse, terms.multiplier, terms.multiplier * terms.spot) * quote_fx
    return BasisTerms(
        underlyings=unds,
        basis_pnl_up=pnl_up,
        basis_pnl_down=pnl_down,
        underlying_index=terms.underlying_index.astype(np.int64),
        perpetual_notional=np.where(perpetual, face, 0.0),
        funding_shock=np.array([p.funding_shock for p in resolved], dtype=np.float64),
        reference_days=days,
    )


__all__ = [
    "BasisParameters",
    "BasisTerms",
    "basis_terms",
    "resolve_parameters",
    "shift_carry",
    "validate_parameters",
]
