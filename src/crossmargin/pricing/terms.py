"""Instrument terms as arrays: the shape every vectorised valuation works on.

:func:`instrument_terms` resolves a tuple of instruments against a market snapshot into
one :class:`InstrumentTerms` of aligned arrays (one entry per instrument): kind, inverse
flag, multiplier, strike, years to expiry, spot of the underlying, cost of carry, discount
rate, implied vol at the instrument's strike and expiry (sticky strike), and the
settlement currency's value in the reporting currency.

A snapshot is immutable (read-only mappings, frozen surfaces), so the terms of one tuple of
instruments on one snapshot never change: the last :data:`KEPT` tuples resolved against each
live snapshot are kept (arrays read-only) and handed out again, as a service margining the
same books on the same market asks for them on every request.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
from numpy.typing import NDArray

from crossmargin.errors import PricingError
from crossmargin.instruments import Instrument
from crossmargin.market.snapshot import MarketSnapshot

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]

SPOT, FUTURE, PERPETUAL, OPTION = 0, 1, 2, 3
KIND_CODES = {"spot": SPOT, "future": FUTURE, "perpetual": PERPETUAL, "option": OPTION}


@dataclass(frozen=True, slots=True, kw_only=True)
class InstrumentTerms:
    """Aligned per-instrument arrays (length ``n``) plus the index of underlyings.

    ``underlying_index[i]`` points into ``underlyings``; ``settle_underlying_index[i]`` is
    the index of the settlement coin among ``underlyings`` when the instrument settles in
    a coin that is itself an underlying (inverse contracts), else -1 (then ``settle_fx[i]``
    is a constant FX rate). ``expired`` instruments have ``expired_value`` (their final
    value in settlement currency per contract) and no scenario P&L.
    """

    instruments: tuple[Instrument, ...]
    underlyings: tuple[str, ...]
    kind: IntArray
    inverse: BoolArray
    multiplier: FloatArray
    strike: FloatArray
    is_call: BoolArray
    t: FloatArray
    underlying_index: IntArray
    spot: FloatArray
    carry: FloatArray
    rate: FloatArray
    vol: FloatArray
    settle_fx: FloatArray
    settle_underlying_index: IntArray
    expired: BoolArray
    expired_value: FloatArray
    #: Figures derived from the terms alone, kept once computed by :meth:`kept`
    #: (``base_values``, the MTM marks): read-only arrays.
    derived: dict[str, NDArray[Any]] = field(default_factory=dict, repr=False, compare=False)

    @property
    def size(self) -> int:
        """Number of instruments."""
        return len(self.instruments)

    def kept(self, key: str, make: Callable[[], NDArray[Any]]) -> NDArray[Any]:
        """``make()``, computed once per terms object and kept read-only under ``key`` in
        :attr:`derived`: the terms never change, so neither does anything worked out from
        them alone."""
        found = self.derived.get(key)
        if found is None:
            found = make()
            found.flags.writeable = False
            self.derived[key] = found
        return found


def _expired_value(inst: Instrument, snapshot: MarketSnapshot) -> float:
    settle = snapshot.settlements.get(inst.symbol)
    if settle is None:
        raise PricingError(
            f"{inst.symbol} expired at {inst.expiry:%Y-%m-%d %H:%M} UTC, before the valuation "
            f"time {snapshot.valuation_time:%Y-%m-%d %H:%M} UTC, and the snapshot has no "
            "settlement price for it: add settlements[symbol] to the snapshot or remove it"
        )
    if inst.kind == "option":
        strike = inst.strike or 0.0
        payoff = max(settle - strike, 0.0) if inst.is_call else max(strike - settle, 0.0)
        if inst.settlement == "inverse":
            return inst.multiplier * payoff / settle
        return inst.multiplier * payoff
    return 0.0  # an expired future has settled its variation margin


#: Tuples of instruments whose terms are kept per snapshot (most recently used).
KEPT = 64
_Kept = tuple[
    weakref.ref[MarketSnapshot],
    OrderedDict[object, InstrumentTerms],
    OrderedDict[int, tuple[tuple[Instrument, ...], InstrumentTerms]],
]
#: per snapshot (by id): its terms by instruments and symbols, and the same by the identity
#: of the tuple asked with (kept alive with them, so its id is not reused): a tuple asked for
#: again, as a cached layout's is on every what-if, is found without hashing its instruments
_kept: dict[int, _Kept] = {}
# re-entrant: a snapshot collected while this thread holds the lock calls back into it
_kept_lock = threading.RLock()


def _forgetter(key: int) -> Callable[[object], None]:
    """The weakref callback dropping a collected snapshot's kept terms."""

    def forget(_: object) -> None:
        with _kept_lock:
            _kept.pop(key, None)

    return forget


def instrument_terms(
    instruments: tuple[Instrument, ...], snapshot: MarketSnapshot
) -> InstrumentTerms:
    """Resolve ``instruments`` against ``snapshot`` (see :class:`InstrumentTerms`); the same
    (read-only) terms again for the same instruments, spelled the same, on the same snapshot
    (module docstring)."""
    with _kept_lock:
        entry = _live(snapshot)
        if entry is not None:
            same = entry[2].get(id(instruments))
            if same is not None and same[0] is instruments:
                entry[2].move_to_end(id(instruments))
                return same[1]
    # symbols are part of the key: equal instruments spelled differently may look up
    # different settlement prices
    key = (instruments, tuple(i.symbol for i in instruments))
    with _kept_lock:
        entry = _live(snapshot)
        if entry is not None:
            found = entry[1].get(key)
            if found is not None:
                entry[1].move_to_end(key)
                _remember(entry, instruments, found)
                return found
    terms = _resolve(instruments, snapshot)
    for f in fields(terms):
        value = getattr(terms, f.name)
        if isinstance(value, np.ndarray):
            value.flags.writeable = False
    with _kept_lock:
        entry = _live(snapshot)
        if entry is None:
            entry = (weakref.ref(snapshot, _forgetter(id(snapshot))), OrderedDict(), OrderedDict())
            _kept[id(snapshot)] = entry
        entry[1][key] = terms
        while len(entry[1]) > KEPT:
            entry[1].popitem(last=False)
        _remember(entry, instruments, terms)
    return terms


def _live(snapshot: MarketSnapshot) -> _Kept | None:
    """The kept entry of ``snapshot`` (locked), or None (none yet, or one of a collected
    snapshot whose id this one reuses)."""
    entry = _kept.get(id(snapshot))
    return entry if entry is not None and entry[0]() is snapshot else None


def _remember(entry: _Kept, instruments: tuple[Instrument, ...], terms: InstrumentTerms) -> None:
    """Keep ``terms`` by the identity of ``instruments`` too (the :data:`KEPT` tuples asked
    with most recently)."""
    entry[2][id(instruments)] = (instruments, terms)
    entry[2].move_to_end(id(instruments))
    while len(entry[2]) > KEPT:
        entry[2].popitem(last=False)


def _resolve(instruments: tuple[Instrument, ...], snapshot: MarketSnapshot) -> InstrumentTerms:
    """The terms of ``instruments`` on ``snapshot``, computed."""
    n = len(instruments)
    underlyings = tuple(dict.fromkeys(i.underlying for i in instruments))
    u_index = {u: j for j, u in enumerate(underlyings)}
    kind = np.array([KIND_CODES[i.kind] for i in instruments], dtype=np.int64)
    inverse = np.array([i.settlement == "inverse" for i in instruments], dtype=bool)
    mult = np.array([i.multiplier for i in instruments], dtype=np.float64)
    strike = np.array([i.strike or np.nan for i in instruments], dtype=np.float64)
    is_call = np.array([i.is_call for i in instruments], dtype=bool)
    t = np.array([i.years_to_expiry(snapshot.valuation_time) for i in instruments])
    uidx = np.array([u_index[i.underlying] for i in instruments], dtype=np.int64)
    spot = np.array([snapshot.spot(i.underlying) for i in instruments], dtype=np.float64)
    expired = (kind == FUTURE) | (kind == OPTION)
    expired &= t <= 0.0
    expired_value = np.zeros(n)
    for j in map(int, np.flatnonzero(expired)):
        expired_value[j] = _expired_value(instruments[j], snapshot)
    t_live = np.where(expired, 0.0, t)
    carry = np.zeros(n)
    rate = np.zeros(n)
    vol = np.zeros(n)
    for u in underlyings:
        cols = np.flatnonzero(uidx == u_index[u])
        quote = instruments[cols[0]].spec.quote_currency
        carry[cols] = snapshot.carry(u, t_live[cols], quote)
        opt = cols[(kind[cols] == OPTION) & ~expired[cols]]
        if opt.size:
            surface = snapshot.vol_surface(u)
            fwd = spot[opt] * np.exp(carry[opt] * t_live[opt])
            vol[opt] = surface.vol(t_live[opt], np.log(strike[opt] / fwd))
    for j, inst in enumerate(instruments):
        # Linear contracts discount at the quote currency's rate; coin-settled at the coin's.
        ccy = inst.settlement_currency if inst.settlement == "inverse" else inst.spec.quote_currency
        rate[j] = snapshot.rate(ccy)
    settle_fx = np.array([snapshot.fx_rate(i.settlement_currency) for i in instruments])
    settle_uidx = np.array(
        [u_index.get(i.settlement_currency, -1) for i in instruments], dtype=np.int64
    )
    return InstrumentTerms(
        instruments=instruments,
        underlyings=underlyings,
        kind=kind,
        inverse=inverse,
        multiplier=mult,
        strike=strike,
        is_call=is_call,
        t=t_live,
        underlying_index=uidx,
        spot=spot,
        carry=carry,
        rate=rate,
        vol=vol,
        settle_fx=settle_fx,
        settle_underlying_index=settle_uidx,
        expired=expired,
        expired_value=expired_value,
    )
