"""Losses beyond collateral: the insurance fund and auto-deleveraging, or a CCP's waterfall.

A unit closed out with equity ``E < 0`` (collateral at market value plus P&L, after the
close-out at the post-impact price) leaves a **deficit** ``D = −E``: its **bankruptcy price**
is the price at which its equity would have been zero. Deficits of one iteration are
simultaneous; they go down the layers of the waterfall in the order of ``cascade.json``
(``waterfalls``), each layer paying ``min(what is left, what the layer holds)``; what no layer
pays is the **residual** (uncovered loss: in practice tear-up, variation-margin gains
haircutting or the venue's own balance sheet).

Crypto venue (``--mode venue``)
-------------------------------
1. ``defaulter_margin``: the unit's own collateral (already consumed in ``E``).
2. ``insurance_fund``: a balance (``amount``, or ``fraction_of_open_interest`` of the
   population's delta notional at the start), fed during the run by liquidation fees and, at
   a venue with ``surplus_to_fund``, by the remaining equity of fully liquidated units.
3. ``adl``: what the fund cannot pay is charged to profitable positions on the other side of
   the bankrupt positions, in the same instrument at the same venue:

   * ``method: queue`` (Binance, Bybit, Deribit): candidates are ranked by
     ``profit/equity × notional/equity`` (profit percentage times effective leverage, Binance
     FAQ "What is Auto-Deleveraging"), highest first, and closed at the bankruptcy price
     against the ``N`` contracts the bankrupt units closed: each matched contract pays
     ``h = R/N`` (``R`` the bucket's uncovered deficit). With ``granularity: position`` the
     last counterparty's whole position is closed even if only part is matched: the
     **ADL overshoot** (contracts and notional closed beyond the need, at the mark, no
     charge). Counterparties can run out: the rest is residual.
   * ``method: pro-rata``: every profitable opposite position pays ``R·profit/Σ profit``,
     at most its profit; nothing is closed.

CCP (``--mode ccp``)
--------------------
Layers (EMIR Art 45; PFMI Principle 4): ``defaulter_margin``; ``defaulter_default_fund`` (the
defaulting account's contribution); ``skin_in_the_game`` (the CCP's dedicated own resources:
``amount`` or ``fraction_of_default_fund``); ``mutualised_default_fund`` (what is left of every
account's contribution, drawn pro rata); ``assessments`` (cash calls on accounts not in
default, up to ``multiple_of_contribution`` times their initial contribution, pro rata).
The fund is sized **Cover 2** (:func:`cover2`) unless ``default_fund.amount`` gives it, and
each account contributes in proportion to its initial margin.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from crossmargin.analysis.cascade.params import Layer
from crossmargin.errors import InputError

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]


@dataclass(slots=True)
class LayerUse:
    """A waterfall layer's capacity, what it paid and what flowed into it (USD)."""

    layer: str
    capacity: float
    drawn: float = 0.0
    inflow: float = 0.0

    @property
    def balance(self) -> float:
        """``capacity + inflow − drawn``."""
        return self.capacity + self.inflow - self.drawn

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (USD)."""
        return {
            "layer": self.layer,
            "capacity": self.capacity,
            "drawn": self.drawn,
            "inflow": self.inflow,
            "balance": self.balance,
        }


@dataclass(slots=True)
class AdlUse:
    """Auto-deleveraging totals (USD; contracts and USD notional for the closures)."""

    charged: float = 0.0
    positions_closed: int = 0
    contracts_closed: float = 0.0
    notional_closed: float = 0.0
    overshoot_contracts: float = 0.0
    overshoot_notional: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "charged": self.charged,
            "positions_closed": self.positions_closed,
            "contracts_closed": self.contracts_closed,
            "notional_closed": self.notional_closed,
            "overshoot_contracts": self.overshoot_contracts,
            "overshoot_notional": self.overshoot_notional,
        }


@dataclass(slots=True, kw_only=True)
class BookState:
    """What a waterfall may read and change: rows of the population and unit ledgers.

    ``quantity`` (contracts per row), ``realised`` (USD per unit) and ``adl_charge`` (USD per
    unit, what auto-deleveraging took) are changed in place by ADL.
    """

    row_unit: IntArray
    row_instrument: IntArray
    row_venue: IntArray
    quantity: FloatArray
    realised: FloatArray
    adl_charge: FloatArray
    closed: BoolArray
    unit_account: IntArray


@dataclass(slots=True, kw_only=True)
class Allocation:
    """What the layers paid for one iteration's deficits (USD), per unit in default."""

    units: IntArray
    deficit: FloatArray
    by_layer: dict[str, FloatArray] = field(default_factory=dict)
    residual: FloatArray = field(default_factory=lambda: np.zeros(0))


def _draw(remaining: FloatArray, available: float) -> tuple[float, FloatArray]:
    """Pay ``min(Σ remaining, available)`` pro rata to ``remaining``."""
    need = float(remaining.sum())
    paid = min(need, max(available, 0.0))
    share = remaining * (paid / need) if need > 0 else np.zeros_like(remaining)
    return paid, share


class VenueWaterfall:
    """Insurance fund then auto-deleveraging (module docstring)."""

    mode = "venue"

    def __init__(self, layers: Sequence[Layer], open_interest: float) -> None:
        self.layers = list(layers)
        self.uses: dict[str, LayerUse] = {}
        self.adl = AdlUse()
        self.adl_layer: Layer | None = None
        for layer in self.layers[1:]:
            if layer.layer == "insurance_fund":
                size = (
                    layer.amount
                    if layer.amount is not None
                    else ((layer.fraction_of_open_interest or 0.0) * open_interest)
                )
                self.uses["insurance_fund"] = LayerUse("insurance_fund", float(size))
            elif layer.layer == "adl":
                self.adl_layer = layer

    def inflow(self, amount: float) -> None:
        """Fees and surpluses into the insurance fund (if the waterfall has one)."""
        if "insurance_fund" in self.uses and amount > 0:
            self.uses["insurance_fund"].inflow += amount

    def allocate(
        self,
        units: IntArray,
        deficit: FloatArray,
        closed_rows: IntArray,
        closed_contracts: FloatArray,
        book: BookState,
        pnl: FloatArray,
        dollar_delta: FloatArray,
        equity: FloatArray,
    ) -> Allocation:
        """Pay the deficits of ``units`` (``closed_rows`` just closed ``closed_contracts``)."""
        out = Allocation(units=units, deficit=deficit)
        remaining = deficit.copy()
        for layer in self.layers[1:]:
            if layer.layer == "insurance_fund":
                use = self.uses["insurance_fund"]
                paid, share = _draw(remaining, use.balance)
                use.drawn += paid
                out.by_layer["insurance_fund"] = share
                remaining = remaining - share
            elif layer.layer == "adl":
                share = self._adl(
                    layer,
                    units,
                    remaining,
                    closed_rows,
                    closed_contracts,
                    book,
                    pnl,
                    dollar_delta,
                    equity,
                )
                out.by_layer["adl"] = share
                remaining = remaining - share
        out.residual = np.maximum(remaining, 0.0)
        return out

    def _adl(
        self,
        layer: Layer,
        units: IntArray,
        remaining: FloatArray,
        closed_rows: IntArray,
        closed_contracts: FloatArray,
        book: BookState,
        pnl: FloatArray,
        dollar_delta: FloatArray,
        equity: FloatArray,
    ) -> FloatArray:
        """Charge profitable opposite positions; returns what each unit in default got."""
        paid = np.zeros(units.size)
        if not np.any(remaining > 0) or closed_rows.size == 0:
            return paid
        pos = {int(u): k for k, u in enumerate(units.tolist())}
        owner = np.array([pos.get(int(u), -1) for u in book.row_unit[closed_rows]])
        keep = owner >= 0
        rows, contracts, owner = closed_rows[keep], closed_contracts[keep], owner[keep]
        size = np.abs(contracts * dollar_delta[book.row_instrument[rows]])
        per_unit = np.bincount(owner, weights=size, minlength=units.size)
        want = remaining[owner] * np.where(
            per_unit[owner] > 0, size / np.where(per_unit[owner] > 0, per_unit[owner], 1.0), 0.0
        )
        method = layer.method or "queue"
        whole = (layer.granularity or "position") == "position"
        buckets: dict[tuple[int, int], list[int]] = {}
        for k, r in enumerate(rows.tolist()):
            buckets.setdefault((int(book.row_venue[r]), int(book.row_instrument[r])), []).append(k)
        for (venue, inst), members in buckets.items():
            idx = np.array(members)
            need = float(want[idx].sum())
            n_closed = float(contracts[idx].sum())  # signed: > 0 when longs were closed
            if need <= 0 or n_closed == 0:
                continue
            cand = np.flatnonzero(
                (book.row_venue == venue)
                & (book.row_instrument == inst)
                & ~book.closed[book.row_unit]
                & (np.sign(book.quantity) == -np.sign(n_closed))
            )
            profit = book.quantity[cand] * pnl[inst]
            eq = equity[book.row_unit[cand]]
            ok = (profit > 0) & (eq > 0)
            cand, profit, eq = cand[ok], profit[ok], eq[ok]
            if method == "pro-rata":
                total = float(profit.sum())
                share = np.minimum(profit, need * profit / total) if total > 0 else profit * 0.0
                got = float(share.sum())
                np.add.at(book.adl_charge, book.row_unit[cand], share)
            else:
                score = (profit / eq) * (np.abs(book.quantity[cand] * dollar_delta[inst]) / eq)
                order = cand[np.argsort(-score, kind="stable")]
                avail = np.abs(book.quantity[order])
                before = np.concatenate([[0.0], np.cumsum(avail)[:-1]])
                matched = np.clip(abs(n_closed) - before, 0.0, avail)
                closed = np.where(matched > 0, avail if whole else matched, 0.0)
                got = need * float(matched.sum()) / abs(n_closed)
                hit = closed > 0
                rows_hit, c_hit, m_hit = order[hit], closed[hit], matched[hit]
                sign = np.sign(book.quantity[rows_hit])
                np.add.at(book.realised, book.row_unit[rows_hit], sign * c_hit * pnl[inst])
                book.quantity[rows_hit] -= sign * c_hit
                np.add.at(book.adl_charge, book.row_unit[rows_hit], m_hit * need / abs(n_closed))
                self.adl.positions_closed += int(hit.sum())
                self.adl.contracts_closed += float(c_hit.sum())
                self.adl.notional_closed += float(np.abs(c_hit * dollar_delta[inst]).sum())
                self.adl.overshoot_contracts += float((c_hit - m_hit).sum())
                self.adl.overshoot_notional += float(
                    np.abs((c_hit - m_hit) * dollar_delta[inst]).sum()
                )
            self.adl.charged += got
            paid += np.bincount(owner[idx], weights=want[idx] * (got / need), minlength=units.size)
        return np.minimum(paid, remaining)

    def summary(self) -> dict[str, Any]:
        """Layers and ADL, JSON-ready."""
        return {"layers": [u.to_dict() for u in self.uses.values()], "adl": self.adl.to_dict()}


class CcpWaterfall:
    """A CCP's default waterfall (module docstring)."""

    mode = "ccp"

    def __init__(
        self, layers: Sequence[Layer], default_fund: float, contributions: FloatArray
    ) -> None:
        if default_fund < 0 or np.any(contributions < 0):
            raise InputError("a default fund and its contributions must be >= 0")
        self.layers = list(layers)
        self.default_fund = float(default_fund)
        self.contribution0 = contributions.astype(np.float64)
        self.balance = contributions.astype(np.float64).copy()
        self.in_default = np.zeros(contributions.size, dtype=np.bool_)
        self.assessed = np.zeros(contributions.size)
        self.uses: dict[str, LayerUse] = {}
        self.multiple = 0.0
        for layer in self.layers[1:]:
            if layer.layer == "skin_in_the_game":
                size = (
                    layer.amount
                    if layer.amount is not None
                    else ((layer.fraction_of_default_fund or 0.0) * default_fund)
                )
                self.uses[layer.layer] = LayerUse(layer.layer, float(size))
            elif layer.layer == "assessments":
                self.multiple = float(layer.multiple_of_contribution or 0.0)
                self.uses[layer.layer] = LayerUse(layer.layer, self.multiple * default_fund)
            elif layer.layer in ("defaulter_default_fund", "mutualised_default_fund"):
                self.uses[layer.layer] = LayerUse(layer.layer, 0.0)
        self.adl = AdlUse()

    def inflow(self, amount: float) -> None:
        """A CCP has no insurance fund: fees (if any) stay with the CCP."""
        del amount

    def allocate(
        self,
        units: IntArray,
        deficit: FloatArray,
        closed_rows: IntArray,
        closed_contracts: FloatArray,
        book: BookState,
        pnl: FloatArray,
        dollar_delta: FloatArray,
        equity: FloatArray,
    ) -> Allocation:
        """Pay the deficits of ``units`` down the layers (simultaneous defaults)."""
        del closed_rows, closed_contracts, pnl, dollar_delta, equity
        out = Allocation(units=units, deficit=deficit)
        accounts = book.unit_account[units]
        self.in_default[accounts] = True
        remaining = deficit.copy()
        for layer in self.layers[1:]:
            name = layer.layer
            if name == "defaulter_default_fund":
                need = np.bincount(accounts, weights=remaining, minlength=self.balance.size)
                take = np.minimum(need, self.balance)
                self.balance -= take
                share = remaining * np.where(
                    need[accounts] > 0,
                    take[accounts] / np.where(need[accounts] > 0, need[accounts], 1.0),
                    0.0,
                )
                self.uses[name].drawn += float(take.sum())
                self.uses[name].capacity = float(self.contribution0.sum())
            elif name == "skin_in_the_game":
                paid, share = _draw(remaining, self.uses[name].balance)
                self.uses[name].drawn += paid
            elif name == "mutualised_default_fund":
                pool = float(self.balance.sum())
                paid, share = _draw(remaining, pool)
                if pool > 0:
                    self.balance *= 1.0 - paid / pool
                self.uses[name].drawn += paid
                self.uses[name].capacity = float(self.contribution0.sum())
            elif name == "assessments":
                room = np.where(
                    self.in_default, 0.0, self.multiple * self.contribution0 - self.assessed
                )
                pool = float(room.sum())
                paid, share = _draw(remaining, pool)
                if pool > 0:
                    self.assessed += room * (paid / pool)
                self.uses[name].drawn += paid
            else:  # pragma: no cover - validated by the parameters
                continue
            out.by_layer[name] = share
            remaining = remaining - share
        out.residual = np.maximum(remaining, 0.0)
        return out

    def summary(self) -> dict[str, Any]:
        """Layers, the fund and the contributions, JSON-ready."""
        return {
            "default_fund": self.default_fund,
            "layers": [u.to_dict() for u in self.uses.values()],
            "accounts_in_default": int(self.in_default.sum()),
        }


def cover2(
    losses_by_scenario: FloatArray, equity: FloatArray, names: Sequence[str]
) -> tuple[float, str, tuple[int, int]]:
    """Cover-2 default fund: ``max_s`` of the two largest ``max(0, loss_sa − equity_a)``.

    ``losses_by_scenario`` is (scenarios, accounts), a loss > 0; returns the fund, the
    scenario that sizes it and the two accounts (indices) it covers.
    """
    if losses_by_scenario.ndim != 2 or losses_by_scenario.shape[1] != equity.size:
        raise InputError("cover2 needs (scenarios, accounts) losses and one equity per account")
    beyond = np.maximum(losses_by_scenario - equity[np.newaxis, :], 0.0)
    if beyond.shape[1] == 1:
        top = beyond[:, 0]
        pair = np.zeros((beyond.shape[0], 2), dtype=np.int64)
    else:
        pair = np.argsort(-beyond, axis=1)[:, :2]
        top = np.take_along_axis(beyond, pair, axis=1).sum(axis=1)
    s = int(np.argmax(top))
    return float(top[s]), names[s], (int(pair[s, 0]), int(pair[s, -1]))


def contributions(initial_margin: FloatArray, fund: float) -> FloatArray:
    """Each account's share of ``fund`` in proportion to its initial margin."""
    total = float(initial_margin.sum())
    if total <= 0:
        return np.full(initial_margin.size, fund / max(initial_margin.size, 1))
    out: FloatArray = fund * initial_margin / total
    return out


def layer_totals(allocations: Sequence[Allocation]) -> Mapping[str, float]:
    """Σ paid per layer over allocations, plus ``residual``."""
    out: dict[str, list[float]] = {}
    for a in allocations:
        for name, share in a.by_layer.items():
            out.setdefault(name, []).extend(share.tolist())
        out.setdefault("residual", []).extend(a.residual.tolist())
    return {k: math.fsum(v) for k, v in out.items()}


__all__ = [
    "AdlUse",
    "Allocation",
    "BookState",
    "CcpWaterfall",
    "LayerUse",
    "VenueWaterfall",
    "contributions",
    "cover2",
    "layer_totals",
]
