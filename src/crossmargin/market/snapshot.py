"""Market snapshot: everything needed to value a book at one valuation time.

Units: spots and futures prices in the quote currency (USD) per unit of underlying;
rates are continuously compounded decimals per year; vols are decimals; FX rates are
USD per one unit of the currency (``fx["EUR"] = 1.08``; coins such as BTC are valued at
their spot, ``fx`` is for fiat and stable coins).

Missing data is never filled silently: a currency without a rate or an FX rate is a
:class:`~crossmargin.errors.MarketDataError` naming it, with two stated conventions: a coin
held or settled in (BTC, ETH: a currency with a spot) earns no rate unless ``rates`` lists
one, and with ``stable_at_par`` (the default for snapshots built in code and from history,
which state both explicitly anyway) a stable coin without its own entries takes the USD rate
and is worth 1.0 USD. A snapshot *file* (:meth:`MarketSnapshot.load`) must give the
reporting currency's rate, and stable coins at par only when it says
``"stable_at_par": true``.

Forwards: ``F(T) = S·exp(b(T)·T)`` with the carry ``b(T)`` interpolated linearly in ``T``
between the implied carries of the quoted futures (``b_i = ln(F_i/S)/T_i``), flat
outside them, and equal to ``carry_rate`` (default: the quote currency's rate, i.e. no
dividend or basis) where no futures are quoted for the underlying.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from crossmargin.dates import parse_when
from crossmargin.errors import InputError, MarketDataError
from crossmargin.market.volsurface import VolSurface

FloatArray = NDArray[np.float64]
STABLE_COINS = ("USD", "USDC", "USDT")


@dataclass(frozen=True, slots=True, kw_only=True)
class Carry:
    """Forward curve of one underlying: quoted futures ``(years, price)`` or a flat carry."""

    futures: tuple[tuple[float, float], ...] = ()
    carry_rate: float | None = None

    def __post_init__(self) -> None:
        for t, f in self.futures:
            if not (t > 0 and f > 0 and math.isfinite(f)):
                raise MarketDataError(f"futures quote ({t}, {f}) needs T > 0 and a positive price")

    def carry(self, spot: float, t: ArrayLike, default_rate: float) -> FloatArray:
        """Cost of carry ``b(T)`` (decimal per year) for expiries ``t``."""
        t_arr = np.asarray(t, dtype=np.float64)
        if not self.futures:
            rate = default_rate if self.carry_rate is None else self.carry_rate
            return np.full_like(t_arr, rate)
        pts = sorted(self.futures)
        ts = np.array([p[0] for p in pts])
        bs = np.array([math.log(p[1] / spot) / p[0] for p in pts])
        out: FloatArray = np.interp(t_arr, ts, bs)
        return out


def _frozen(mapping: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(mapping))


@dataclass(frozen=True, slots=True, kw_only=True, weakref_slot=True)
class MarketSnapshot:
    """Spots, forwards, rates, vol surfaces and FX at ``valuation_time`` (UTC).

    ``settlements`` holds final settlement prices (per symbol) for instruments that have
    expired at ``valuation_time``; valuing an expired option without one is an error.
    ``source`` records where the snapshot came from (file, or history and date).
    """

    valuation_time: datetime
    spots: Mapping[str, float]
    vols: Mapping[str, VolSurface] = field(default_factory=dict)
    rates: Mapping[str, float] = field(default_factory=lambda: {"USD": 0.0})
    carries: Mapping[str, Carry] = field(default_factory=dict)
    fx: Mapping[str, float] = field(default_factory=dict)
    settlements: Mapping[str, float] = field(default_factory=dict)
    reporting_currency: str = "USD"
    source: str = ""
    stable_at_par: bool = True

    def __post_init__(self) -> None:
        if self.valuation_time.tzinfo is None:
            raise MarketDataError("valuation_time must be timezone-aware (UTC)")
        for name, value in self.spots.items():
            if not (math.isfinite(value) and value > 0):
                raise MarketDataError(f"spot of {name} must be positive, got {value}")
        for ccy, value in self.fx.items():
            if not (math.isfinite(value) and value > 0):
                raise MarketDataError(f"FX rate of {ccy} must be positive, got {value}")
        for attr in ("spots", "vols", "rates", "carries", "fx", "settlements"):
            object.__setattr__(self, attr, _frozen(getattr(self, attr)))

    # ----------------------------------------------------------------- look-ups
    def spot(self, underlying: str) -> float:
        """Spot of ``underlying``; raises MarketDataError naming what is missing."""
        try:
            return self.spots[underlying]
        except KeyError:
            known = ", ".join(sorted(self.spots)) or "none"
            raise MarketDataError(
                f"no spot for {underlying!r} in the market snapshot (have: {known})"
            ) from None

    def rate(self, currency: str) -> float:
        """Continuously compounded rate of ``currency`` (see the module docstring: 0 for a
        coin not listed; the USD rate for a stable coin when ``stable_at_par``)."""
        if currency in self.rates:
            return self.rates[currency]
        if currency in STABLE_COINS and self.stable_at_par and "USD" in self.rates:
            return self.rates["USD"]
        if currency in self.spots:  # a coin: no lending rate unless one is listed
            return 0.0
        have = ", ".join(sorted(self.rates)) or "none"
        hint = " or set stable_at_par" if currency in STABLE_COINS else ""
        raise MarketDataError(
            f"no rate for {currency} in the market snapshot (rates: {have}): add "
            f"rates[{currency!r}]{hint}"
        )

    def carry(self, underlying: str, t: ArrayLike, quote_currency: str = "USD") -> FloatArray:
        """Cost of carry ``b(T)`` of ``underlying`` for expiries ``t`` (years)."""
        curve = self.carries.get(underlying, Carry())
        return curve.carry(self.spot(underlying), t, self.rate(quote_currency))

    def forward(self, underlying: str, t: ArrayLike, quote_currency: str = "USD") -> FloatArray:
        """Forward price ``S·exp(b(T)·T)``."""
        t_arr = np.asarray(t, dtype=np.float64)
        out: FloatArray = self.spot(underlying) * np.exp(
            self.carry(underlying, t_arr, quote_currency) * np.maximum(t_arr, 0.0)
        )
        return out

    def vol_surface(self, underlying: str) -> VolSurface:
        """The vol surface of ``underlying``; raises MarketDataError if none."""
        try:
            return self.vols[underlying]
        except KeyError:
            have = ", ".join(sorted(self.vols)) or "none"
            raise MarketDataError(
                f"missing vol for option underlying {underlying!r} (vol surfaces: {have}); "
                "add one to the snapshot or build it from history with --asof"
            ) from None

    def fx_rate(self, currency: str) -> float:
        """Value of one unit of ``currency`` in the reporting currency (USD)."""
        if currency == self.reporting_currency:
            return 1.0
        if currency in self.fx:
            return self.fx[currency]
        if currency in self.spots:  # coins: valued at their spot
            return self.spots[currency]
        if (
            self.stable_at_par
            and currency in STABLE_COINS
            and self.reporting_currency in STABLE_COINS
        ):
            return 1.0
        hint = " (or set stable_at_par for 1.0)" if currency in STABLE_COINS else ""
        raise MarketDataError(
            f"no FX rate for {currency} into {self.reporting_currency}: add fx[{currency!r}]{hint}"
        )

    def with_spots(self, spots: Mapping[str, float]) -> MarketSnapshot:
        """A copy with some spots replaced."""
        return replace(self, spots={**self.spots, **spots})

    # ------------------------------------------------------------------ JSON I/O
    def to_dict(self) -> dict[str, Any]:
        """JSON-ready representation (round-trips through :meth:`from_dict`)."""
        return {
            "valuation_time": self.valuation_time.isoformat(),
            "reporting_currency": self.reporting_currency,
            "spots": dict(self.spots),
            "rates": dict(self.rates),
            "fx": dict(self.fx),
            "settlements": dict(self.settlements),
            "carries": {
                k: {"futures": [list(p) for p in c.futures], "carry_rate": c.carry_rate}
                for k, c in self.carries.items()
            },
            "vols": {k: v.to_dict() for k, v in self.vols.items()},
            "source": self.source,
            "stable_at_par": self.stable_at_par,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str = "") -> MarketSnapshot:
        """Build from :meth:`to_dict` output; errors name the missing or bad field.

        Strict (see the module docstring): ``rates`` must give the reporting currency's
        rate, stable coins are at par only with ``"stable_at_par": true``, every number is
        finite, and unknown top-level keys are refused.
        """
        where = f"market snapshot {source}".rstrip()
        if not isinstance(data, Mapping):
            raise InputError(f"{where}: expected a JSON object")
        unknown = sorted(str(k) for k in data if k not in _FILE_KEYS)
        if unknown:
            raise InputError(
                f"{where}: unknown key {unknown[0]!r} (known: {', '.join(_FILE_KEYS)})"
            )
        _check_finite(data, where)
        reporting = str(data.get("reporting_currency", "USD"))
        try:
            when = parse_when(str(data["valuation_time"]), what=f"{where}: valuation_time")
            if when.tzinfo is None:
                when = when.replace(tzinfo=UTC)
            spots = data["spots"]  # a missing field is reported before the rates
            rates = data.get("rates")
            if not isinstance(rates, Mapping) or reporting not in rates:
                raise InputError(
                    f"{where}: no rate for the reporting currency {reporting} "
                    f'(add "rates": {{"{reporting}": 0.04}}, a decimal per year)'
                )
            return cls(
                valuation_time=when,
                reporting_currency=reporting,
                stable_at_par=data.get("stable_at_par", False) is True,
                spots={k: float(v) for k, v in spots.items()},
                rates={k: float(v) for k, v in rates.items()},
                fx={k: float(v) for k, v in data.get("fx", {}).items()},
                settlements={k: float(v) for k, v in data.get("settlements", {}).items()},
                carries={
                    k: Carry(
                        futures=tuple((float(a), float(b)) for a, b in c.get("futures", [])),
                        carry_rate=None if c.get("carry_rate") is None else float(c["carry_rate"]),
                    )
                    for k, c in data.get("carries", {}).items()
                },
                vols={k: VolSurface.from_dict(v) for k, v in data.get("vols", {}).items()},
                source=str(data.get("source", source)) or source,
            )
        except KeyError as missing:
            raise InputError(f"{where}: missing field {missing}") from None
        except (TypeError, ValueError, AttributeError) as bad:
            raise InputError(f"{where}: invalid value ({bad})") from None

    def save(self, path: str | Path) -> None:
        """Write the snapshot as JSON (atomically: no half-written file on a full disk)."""
        from crossmargin.files import write_text

        write_text(path, json.dumps(self.to_dict(), indent=2), what="market snapshot")

    @classmethod
    def load(cls, path: str | Path) -> MarketSnapshot:
        """Read a snapshot JSON file written by :meth:`save` (strict: :meth:`from_dict`).

        The snapshot's ``source`` is the file: what a run reports as its market.
        """
        from crossmargin.files import load_json

        p = Path(path)
        data = load_json(p, what="market snapshot")
        snapshot = cls.from_dict(data, source=str(p))
        return replace(snapshot, source=str(p))


#: Top-level keys of a snapshot file (:meth:`MarketSnapshot.to_dict`).
_FILE_KEYS = (
    "valuation_time", "reporting_currency", "spots", "rates", "fx", "settlements", "carries",
    "vols", "source", "stable_at_par",
)  # fmt: skip


def _check_finite(value: Any, where: str, path: str = "") -> None:
    """Every number of a snapshot document is finite (JSON has no NaN, Python's reader
    does): InputError naming the key path."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return
    if isinstance(value, int | float):
        if not math.isfinite(value):
            raise InputError(f"{where}: {path or 'value'} is {value!r}, not a finite number")
        return
    if isinstance(value, Mapping):
        for k, v in value.items():
            _check_finite(v, where, f"{path}.{k}" if path else str(k))
    elif isinstance(value, list | tuple):
        for i, v in enumerate(value):
            _check_finite(v, where, f"{path}[{i}]")
