"""The resolved instrument: a contract spec plus the terms carried by the symbol."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from crossmargin.errors import InputError
from crossmargin.instruments.specs import ContractSpec, Kind, Settlement


@dataclass(frozen=True, slots=True, kw_only=True)
class Instrument:
    """One tradable contract.

    ``expiry`` is timezone-aware UTC for futures and options, ``None`` for spot and
    perpetuals; ``strike`` (in the quote currency, > 0) and ``option_type`` (``"C"`` or
    ``"P"``) are set for options only. Quantities of an instrument are in contracts.
    Identity (equality, hashing, netting) is by terms, not spelling: ``ESZ5`` and ``ESZ25``
    are the same instrument.
    """

    symbol: str = field(compare=False)
    spec: ContractSpec
    expiry: datetime | None = None
    strike: float | None = None
    option_type: str | None = None
    _hash: int = field(init=False, repr=False, compare=False)

    def __hash__(self) -> int:
        # hashed on every netting, layout and context lookup: the terms' hash is computed
        # once (a tz-aware expiry alone costs microseconds a hash)
        return self._hash

    def __reduce__(self) -> tuple[object, tuple[object, ...]]:
        # pickled by its terms, not its hash: string hashes differ between processes (the
        # receiving process builds it again and hashes it there)
        return _rebuild, (self.symbol, self.spec, self.expiry, self.strike, self.option_type)

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "_hash", hash((self.spec, self.expiry, self.strike, self.option_type))
        )
        kind = self.spec.kind
        if kind in ("future", "option") and self.expiry is None:
            raise InputError(f"{self.symbol}: a {kind} needs an expiry")
        if kind in ("spot", "perpetual") and self.expiry is not None:
            raise InputError(f"{self.symbol}: a {kind} has no expiry")
        if self.expiry is not None and self.expiry.tzinfo is None:
            raise InputError(f"{self.symbol}: expiry must be timezone-aware (UTC)")
        if kind == "option":
            if self.strike is None or not self.strike > 0:
                raise InputError(f"{self.symbol}: option strike must be > 0, got {self.strike}")
            if self.option_type not in ("C", "P"):
                raise InputError(f"{self.symbol}: option type must be C or P")
        elif self.strike is not None or self.option_type is not None:
            raise InputError(f"{self.symbol}: only options carry a strike and type")

    @property
    def kind(self) -> Kind:
        """``spot``, ``future``, ``perpetual`` or ``option``."""
        return self.spec.kind

    @property
    def settlement(self) -> Settlement:
        """``linear`` or ``inverse``."""
        return self.spec.settlement

    @property
    def underlying(self) -> str:
        """Name of the risk factor the instrument is priced off."""
        return self.spec.underlying

    @property
    def asset_class(self) -> str:
        """Asset class of the underlying."""
        return self.spec.asset_class

    @property
    def multiplier(self) -> float:
        """Contract size (see :class:`~crossmargin.instruments.specs.ContractSpec`)."""
        return self.spec.multiplier

    @property
    def settlement_currency(self) -> str:
        """Currency of premium and P&L."""
        return self.spec.settlement_currency

    @property
    def is_call(self) -> bool:
        """True for a call option."""
        return self.option_type == "C"

    @property
    def sort_key(self) -> tuple[str, str, str, float, float, str]:
        """The instrument's place in the canonical column order of every netting layout:
        underlying, settlement currency, product, expiry (POSIX seconds; -inf for none),
        strike (0 for none), option type. Equal instruments have equal keys, and a set of
        instruments sorts the same whatever else is in the book, so every sum over a
        netting set's columns runs in an order of its own (``tests/test_netting_set_isolation.py``).
        """
        spec = self.spec
        return (
            spec.underlying,
            spec.settlement_currency,
            spec.product,
            -math.inf if self.expiry is None else self.expiry.timestamp(),
            0.0 if self.strike is None else self.strike,
            self.option_type or "",
        )

    def years_to_expiry(self, at: datetime) -> float:
        """ACT/365 year fraction from ``at`` to expiry (negative once expired); 0 if no expiry."""
        if self.expiry is None:
            return 0.0
        return (self.expiry - at).total_seconds() / (365.0 * 86400.0)


def canonical_order(instruments: Sequence[Instrument]) -> npt.NDArray[np.int64]:
    """The permutation that puts ``instruments`` in canonical order:
    ``[instruments[k] for k in canonical_order(instruments)]``.

    The order is :attr:`Instrument.sort_key`'s. Two different instruments share a key only
    when their specs differ beyond the product id (two contract tables defining one product
    differently); then every term of the spec breaks the tie, so the order never depends on
    the input's. Equal instruments keep their input order."""
    keys: list[Any] = [i.sort_key for i in instruments]
    if len(set(keys)) < len(keys):  # a tie: rare, so the full terms only then
        keys = [(k, _spec_terms(i.spec)) for k, i in zip(keys, instruments, strict=True)]
    order = sorted(range(len(keys)), key=keys.__getitem__)
    return np.array(order, dtype=np.int64)


def in_canonical_order(instruments: Iterable[Instrument]) -> tuple[Instrument, ...]:
    """The distinct ``instruments`` (the first object of equal ones) in canonical order: the
    columns of a netting layout, and of every context shared by several netting sets."""
    seen = tuple(dict.fromkeys(instruments))
    return tuple(seen[k] for k in canonical_order(seen).tolist())


def _spec_terms(spec: ContractSpec) -> tuple[str, ...]:
    """Every field of a spec as text (``repr``: exact for floats; ``None`` and times alike)."""
    return tuple(repr(getattr(spec, f.name)) for f in fields(spec))


def _rebuild(
    symbol: str,
    spec: ContractSpec,
    expiry: datetime | None,
    strike: float | None,
    option_type: str | None,
) -> Instrument:
    """An unpickled instrument (:meth:`Instrument.__reduce__`)."""
    return Instrument(
        symbol=symbol, spec=spec, expiry=expiry, strike=strike, option_type=option_type
    )
