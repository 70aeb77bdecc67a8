"""The market a cascade moves: prices, daily vols, depth, correlations, collateral prices.

A cascade state is the vector of log moves ``xₖ = ln(Sₖ/Sₖ⁰)`` of the underlyings from the
snapshot. At any state:

* every **unique instrument** is revalued in full (:func:`crossmargin.pricing.revalue.
  revalue_instruments`, the engine's one pricing path, one call per state): its P&L per
  contract since the snapshot, its dollar delta
  ``Dᵢ = ∂Vᵢ/∂ln S ≈ (V(x + b) − V(x − b)) / (2 sinh b)`` (``b = DELTA_BUMP``; exact for a
  contract linear in ``S``, whose ``Dᵢ/S`` is then its units of the underlying), and its
  P&L under the maintenance scans (relative moves ``±s`` of the venue rates), in USD;
  accounts reach them by position row (sums over rows), so 100,000 accounts cost a few
  vector operations;
* **collateral** columns are priced: the reporting currency at 1; another fiat currency at
  the snapshot's FX rate; a stablecoin at the snapshot's rate (else par) times its depeg
  path; a coin or security at its underlying's price in the state (impact included).

Built once per run (:func:`cascade_market`):

* ``sigma_daily``: the snapshot's 30-day ATM implied vol / √(365 crypto, 252 otherwise);
* ``adv_units``: delta-one ADV per underlying in units a venue day from ``es.json``
  (:func:`crossmargin.models.var_addon_params.delta_adv_usd`): with ``impact.depth`` =
  ``market`` (default) the underlying's market-wide ADV (its ``underlyings`` layer: Yahoo
  aggregate spot volume for BTC and ETH, CME futures for SPX, the ETF's own volume), since a
  venue's liquidation flow is arbitraged across venues within minutes; with ``venue`` the
  ADV of the contract styles (deribit, cme, occ, plain) holding the positions (the
  ``venues`` layer: Deribit's own 12,000 BTC a day), summed;
* ``correlation``: the correlation of daily log returns over the 365 calendar days to the
  snapshot date, on the underlyings' joint calendar (:func:`daily_factor_moves`); it offsets
  underlyings inside a cross-margined unit (:mod:`crossmargin.analysis.cascade.margin`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from crossmargin.collateral.haircuts import HaircutSchedule, load_haircuts
from crossmargin.collateral.holdings import asset_kind
from crossmargin.errors import InputError, MarketDataError
from crossmargin.instruments import Instrument
from crossmargin.market.factor_grid import daily_factor_moves
from crossmargin.market.history import (
    ANNUALISATION_DAYS,
    MarketHistory,
    load_catalogue,
    to_timestamp,
)
from crossmargin.market.scenarios import ScenarioSet
from crossmargin.market.snapshot import MarketSnapshot
from crossmargin.models.params import load_parameters
from crossmargin.models.var_addon_params import bucket_parameters, delta_adv_usd

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
DELTA_BUMP = 1e-3  # log-spot bump of the dollar deltas
FIXED, STABLE, UNDERLYING = 0, 1, 2
#: A contract style with no ``venues`` override in es.json for crypto and index underlyings:
#: its bucket resolves to the underlying's own (market-wide) ADV layer.
MARKET_STYLE = "plain"


@dataclass(frozen=True, slots=True, kw_only=True)
class Valuation:
    """Every unique instrument at one state (USD per contract).

    ``pnl``: P&L since the snapshot; ``dollar_delta``: ``∂V/∂ln S``; ``scan_down[j]`` and
    ``scan_up[j]``: P&L from the state under a relative move of ``−scans[j]`` and
    ``+scans[j]`` of every underlying (the maintenance margin's scan,
    :mod:`crossmargin.analysis.cascade.margin`).
    """

    pnl: FloatArray
    dollar_delta: FloatArray
    scan_down: FloatArray
    scan_up: FloatArray


class InstrumentPricer:
    """Full revaluation of each unique instrument at a state (see :class:`Valuation`)."""

    def __init__(
        self,
        instruments: Sequence[Instrument],
        snapshot: MarketSnapshot,
        underlyings: Sequence[str],
        scans: Sequence[float] = (),
    ) -> None:
        self.instruments = tuple(instruments)
        self.snapshot = snapshot
        self.underlyings = tuple(underlyings)
        self.scans = tuple(sorted(set(scans)))
        if any(not 0.0 < s < 1.0 for s in self.scans):
            raise InputError(f"scan sizes must lie in (0, 1), got {self.scans}")
        self.calls = 0

    def scan_index(self, rates: FloatArray) -> IntArray:
        """Index in :attr:`scans` of each rate (each must be one of them)."""
        index = np.searchsorted(np.array(self.scans), rates)
        return np.asarray(index, dtype=np.int64)

    def evaluate(self, log_moves: FloatArray) -> Valuation:
        """Every instrument at ``ln(S/S⁰) = log_moves`` (one revaluation call)."""
        from crossmargin.pricing.revalue import revalue_instruments

        x = np.asarray(log_moves, dtype=np.float64)
        shifts = [DELTA_BUMP, -DELTA_BUMP]
        for s in self.scans:
            shifts += [math.log1p(-s), math.log1p(s)]
        rows = np.vstack([x, *(x + d for d in shifts)])
        scenarios = ScenarioSet(
            underlyings=self.underlyings,
            spot_shocks=rows,
            spot_shock_type="log",
            label="cascade state",
        )
        self.calls += 1
        pnl = revalue_instruments(self.instruments, self.snapshot, scenarios).pnl_by_scenario
        delta: FloatArray = (pnl[1] - pnl[2]) / (2.0 * math.sinh(DELTA_BUMP))
        scans = pnl[3:] - pnl[0][np.newaxis, :]
        return Valuation(
            pnl=np.array(pnl[0]),
            dollar_delta=delta,
            scan_down=np.array(scans[0::2]),
            scan_up=np.array(scans[1::2]),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class CascadeMarket:
    """Prices and liquidity of a cascade's underlyings (see the module docstring).

    ``collateral_kind`` per collateral column: ``FIXED`` (price ``collateral_price0``),
    ``STABLE`` (``collateral_price0`` times the depeg path) or ``UNDERLYING`` (the price of
    underlying ``collateral_underlying``); ``haircut`` per column from the venue's schedule.
    """

    snapshot: MarketSnapshot
    underlyings: tuple[str, ...]
    spot0: FloatArray
    sigma_daily: FloatArray
    adv_units: FloatArray
    correlation: FloatArray
    instrument_underlying: IntArray
    collateral_assets: tuple[str, ...]
    collateral_kind: IntArray
    collateral_price0: FloatArray
    collateral_underlying: IntArray
    haircut: FloatArray
    notes: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        k = len(self.underlyings)
        for name in ("spot0", "sigma_daily", "adv_units"):
            arr = getattr(self, name)
            if arr.shape != (k,) or not np.all(np.isfinite(arr)) or np.any(arr <= 0):
                raise InputError(f"cascade market: {name} must be {k} positive finite numbers")
        if self.correlation.shape != (k, k):
            raise InputError(f"cascade market: correlation must be ({k}, {k})")
        if not np.allclose(np.diag(self.correlation), 1.0) or np.any(
            np.abs(self.correlation) > 1.0 + 1e-12
        ):
            raise InputError("cascade market: correlations must lie in [-1, 1], 1 on the diagonal")
        if np.linalg.eigvalsh((self.correlation + self.correlation.T) / 2).min() < -1e-9:
            raise InputError("cascade market: the correlation matrix is not positive semidefinite")

    def index(self, underlying: str) -> int:
        """Position of ``underlying``; InputError if the market does not move it."""
        try:
            return self.underlyings.index(underlying)
        except ValueError:
            raise InputError(
                f"the cascade market has no {underlying!r} (it moves {', '.join(self.underlyings)})"
            ) from None

    def collateral_prices(self, log_moves: FloatArray, stable: Mapping[str, float]) -> FloatArray:
        """USD price of one unit of each collateral column at a state (module docstring)."""
        out = self.collateral_price0.copy()
        moving = self.collateral_kind == UNDERLYING
        idx = self.collateral_underlying[moving]
        out[moving] = self.spot0[idx] * np.exp(log_moves[idx])
        for c, asset in enumerate(self.collateral_assets):
            if self.collateral_kind[c] == STABLE and asset in stable:
                out[c] *= stable[asset]
        return out


def daily_vol(snapshot: MarketSnapshot, underlying: str, calendar: str) -> float:
    """The snapshot's 30-day ATM implied vol / √(days a year of ``calendar``)."""
    atm = float(snapshot.vol_surface(underlying).vol(30.0 / 365.0, 0.0))
    days = ANNUALISATION_DAYS["crypto" if calendar == "crypto" else "nyse"]
    return atm / math.sqrt(days)


def history_correlation(
    history: MarketHistory, underlyings: Sequence[str], asof: Any, days: int = 365
) -> FloatArray:
    """Correlation of daily log returns over ``days`` calendar days to ``asof`` (joint calendar)."""
    unds = tuple(underlyings)
    if len(unds) == 1:
        return np.ones((1, 1))
    end = to_timestamp(asof)
    moves = daily_factor_moves(history, unds, end - pd.Timedelta(days=days), end)
    spot = moves.daily[:, : len(unds)]
    if spot.shape[0] < 30:
        raise MarketDataError(
            f"only {spot.shape[0]} joint daily moves of {', '.join(unds)} in the {days} days to "
            f"{end:%Y-%m-%d}: too few for a correlation; pass one explicitly"
        )
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = np.corrcoef(spot, rowvar=False)
    corr = np.nan_to_num(np.asarray(corr, dtype=np.float64), nan=0.0)
    np.fill_diagonal(corr, 1.0)
    return corr


def _calendar(underlying: str) -> str:
    spec = load_catalogue().get(underlying)
    return spec.calendar if spec is not None else "nyse"


def _adv_units(
    instruments: Sequence[Instrument],
    snapshot: MarketSnapshot,
    history: MarketHistory | None,
    underlyings: Sequence[str],
    depth: str,
) -> tuple[FloatArray, dict[str, str]]:
    params = load_parameters("es")
    asof = to_timestamp(snapshot.valuation_time)
    out = np.zeros(len(underlyings))
    notes: dict[str, str] = {}
    styles: dict[str, list[str]] = {}
    for inst in instruments:
        styles.setdefault(inst.underlying, [])
        style = inst.spec.style if depth == "venue" else MARKET_STYLE
        if style not in styles[inst.underlying]:
            styles[inst.underlying].append(style)
    for k, u in enumerate(underlyings):
        if u not in styles:  # no position: no flow, the depth never matters
            out[k] = 1.0
            continue
        parts = []
        for style in styles[u]:
            bucket = bucket_parameters(params, u, style)
            if bucket.adv_source[0] == "adv_volume_units" and history is None:
                raise MarketDataError(
                    f"the ADV of {u} on {style} comes from the market history's volume; "
                    "run the cascade with a market history"
                )
            usd = delta_adv_usd(history, bucket, snapshot.spot(u), asof)  # type: ignore[arg-type]
            units = usd / snapshot.spot(u)
            out[k] += units
            where = "market" if depth == "market" else style
            parts.append(f"{where} {units:,.0f} ({bucket.adv_source[1]}.{bucket.adv_source[0]})")
        notes[u] = "ADV units/day: " + ", ".join(parts)
    return out, notes


def cascade_market(
    instruments: Sequence[Instrument],
    collateral_assets: Sequence[str],
    collateral_venues: Sequence[str],
    snapshot: MarketSnapshot,
    *,
    history: MarketHistory | None = None,
    correlation: FloatArray | None = None,
    adv_units: Mapping[str, float] | None = None,
    haircuts: HaircutSchedule | None = None,
    depth: str = "market",
) -> CascadeMarket:
    """The market of a population's instruments and collateral (module docstring).

    ``correlation`` (in the order of the underlyings: instruments' first, then coins held
    as collateral) and ``adv_units`` (per underlying) override the history-based figures.
    """
    held = [a for a in collateral_assets if asset_kind(a) in ("coin", "security")]
    unds = tuple(dict.fromkeys([*(i.underlying for i in instruments), *held]))
    spot0 = np.array([snapshot.spot(u) for u in unds])
    sigma = np.array([daily_vol(snapshot, u, _calendar(u)) for u in unds])
    if adv_units is None:
        adv, notes = _adv_units(instruments, snapshot, history, unds, depth)
    else:
        missing = [u for u in unds if u not in adv_units]
        if missing:
            raise InputError(f"no ADV given for {', '.join(missing)}")
        adv, notes = np.array([float(adv_units[u]) for u in unds]), {}
    if correlation is None:
        if history is None:
            raise MarketDataError("the cascade needs a market history or explicit correlations")
        corr = history_correlation(history, unds, snapshot.valuation_time)
    else:
        corr = np.asarray(correlation, dtype=np.float64)
    schedule = haircuts or load_haircuts()
    kinds, price0, under, cut = [], [], [], []
    for asset, venue in zip(collateral_assets, collateral_venues, strict=True):
        kind = asset_kind(asset)
        cut.append(schedule.haircut(asset, venue))
        if kind in ("coin", "security"):
            kinds.append(UNDERLYING)
            price0.append(float("nan"))
            under.append(unds.index(asset))
        else:
            kinds.append(STABLE if kind == "stablecoin" else FIXED)
            price0.append(
                1.0
                if asset == snapshot.reporting_currency
                or (kind == "stablecoin" and asset not in snapshot.fx)
                else snapshot.fx_rate(asset)
            )
            under.append(0)
    return CascadeMarket(
        snapshot=snapshot,
        underlyings=unds,
        spot0=spot0,
        sigma_daily=sigma,
        adv_units=adv,
        correlation=corr,
        instrument_underlying=np.array(
            [unds.index(i.underlying) for i in instruments], dtype=np.int64
        ),
        collateral_assets=tuple(collateral_assets),
        collateral_kind=np.array(kinds, dtype=np.int64),
        collateral_price0=np.array(price0, dtype=np.float64),
        collateral_underlying=np.array(under, dtype=np.int64),
        haircut=np.array(cut, dtype=np.float64),
        notes=notes,
    )


__all__ = [
    "DELTA_BUMP",
    "CascadeMarket",
    "InstrumentPricer",
    "Valuation",
    "cascade_market",
    "daily_vol",
    "history_correlation",
]
