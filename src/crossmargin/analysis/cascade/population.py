"""The population a cascade runs on: a user's book with collateral, or a generated one.

A :class:`Population` is array-shaped so that 100,000 accounts cost no Python loop: position
rows (account, instrument, venue, quantity in contracts) over the book's unique instruments,
collateral amounts per account and (asset, venue) column, and each account's own margin mode
(cross-margined or isolated).

Generated populations (:func:`generate_population`, ``crossmargin population``) draw every
account independently from :class:`PopulationSpec` with ``numpy.random.default_rng(seed)``:

===================  ==========================================================================
quantity             distribution (defaults)
===================  ==========================================================================
venue                categorical, ``venues`` weights (deribit 1.0)
collateral [USD]     lognormal: ``median_usd·exp(sigma·Z)``, clipped to [``min_usd``,
                     ``max_usd``] (median 5,000, sigma 1.5: mean about 15,400, 99th percentile
                     about 164,000)
collateral asset     categorical, ``collateral_assets`` (USDC 0.5, USDT 0.3, USDe 0.1, BTC 0.1);
                     a coin is held as collateral/S₀ units
legs                 categorical, ``legs`` (1: 0.7, 2: 0.3); the products of an account are drawn
                     without replacement from its venue's ``products`` weights (Gumbel top-k)
direction            the first leg is long with probability ``long_share`` (0.65); every further
                     leg is opposite to it (a hedge or spread) with probability ``hedge_share``
                     (0.7), else on the same side
leverage             gross notional / collateral, lognormal ``median·exp(sigma·Z)`` (5, 0.8),
                     at least ``min``, at most ``max_utilisation / mean initial rate`` of the
                     legs, so every account meets its *isolated* initial margin at the start
                     (and so every mode's, the cross and grouped figures being lower)
notional             gross notional split equally between the legs; quantity = notional /
                     (multiplier·S₀) contracts, rounded to 1e-6
margin mode          cross-margined with probability ``cross_share`` (0.6), else isolated
===================  ==========================================================================

Products must be futures or perpetuals (linear delta-one contracts of the contract table), so
a generated account's mark-to-market at the start is 0 and its equity is its collateral.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from crossmargin.analysis.cascade.params import CascadeParams, validation_message
from crossmargin.collateral.holdings import CollateralHolding, asset_kind
from crossmargin.errors import InputError
from crossmargin.instruments import Instrument, parse_symbol
from crossmargin.market.snapshot import MarketSnapshot
from crossmargin.netting.tiers import venue_of
from crossmargin.portfolio import Portfolio
from crossmargin.portfolio.io import load_portfolio

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]
Weight = Annotated[float, Field(ge=0.0, allow_inf_nan=False)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CollateralDist(_Strict):
    """Lognormal collateral per account [USD]."""

    median_usd: float = Field(default=5_000.0, gt=0.0, allow_inf_nan=False)
    sigma: float = Field(default=1.5, ge=0.0, le=5.0, allow_inf_nan=False)
    min_usd: float = Field(default=100.0, gt=0.0, allow_inf_nan=False)
    max_usd: float = Field(default=5e7, gt=0.0, allow_inf_nan=False)


class LeverageDist(_Strict):
    """Lognormal gross leverage, capped by the legs' initial margin."""

    median: float = Field(default=5.0, gt=0.0, allow_inf_nan=False)
    sigma: float = Field(default=0.8, ge=0.0, le=5.0, allow_inf_nan=False)
    min: float = Field(default=1.0, gt=0.0, allow_inf_nan=False)
    max_utilisation: float = Field(default=0.95, gt=0.0, le=1.0, allow_inf_nan=False)


def _weights(name: str, table: Mapping[str, float] | Mapping[int, float]) -> None:
    if not table or not sum(table.values()) > 0:
        raise ValueError(f"{name} needs at least one positive weight")


class PopulationSpec(_Strict):
    """How to draw a population (module docstring); ``accounts`` ≥ 1."""

    accounts: int = Field(ge=1, le=10_000_000)
    seed: int = Field(default=0, ge=0)
    venues: dict[str, Weight] = Field(default_factory=lambda: {"deribit": 1.0})
    products: dict[str, dict[str, Weight]] = Field(
        default_factory=lambda: {
            "deribit": {"BTC_USDC-PERPETUAL": 0.6, "ETH_USDC-PERPETUAL": 0.4},
        }
    )
    collateral: CollateralDist = Field(default_factory=CollateralDist)
    collateral_assets: dict[str, Weight] = Field(
        default_factory=lambda: {"USDC": 0.5, "USDT": 0.3, "USDe": 0.1, "BTC": 0.1}
    )
    leverage: LeverageDist = Field(default_factory=LeverageDist)
    legs: dict[int, Weight] = Field(default_factory=lambda: {1: 0.7, 2: 0.3})
    long_share: float = Field(default=0.65, ge=0.0, le=1.0)
    hedge_share: float = Field(default=0.7, ge=0.0, le=1.0)
    cross_share: float = Field(default=0.6, ge=0.0, le=1.0)

    @model_validator(mode="after")
    def _consistent(self) -> PopulationSpec:
        _weights("venues", self.venues)
        _weights("collateral_assets", self.collateral_assets)
        _weights("legs", self.legs)
        for venue, w in self.venues.items():
            if w > 0 and venue not in self.products:
                raise ValueError(f"venue {venue!r} has a weight but no products")
        for venue, table in self.products.items():
            _weights(f"products.{venue}", table)
        if any(k < 1 for k in self.legs):
            raise ValueError("legs: an account holds at least one leg")
        if self.collateral.min_usd > self.collateral.max_usd:
            raise ValueError("collateral.min_usd is above collateral.max_usd")
        return self


def load_spec(source: str | Path | Mapping[str, Any]) -> PopulationSpec:
    """A spec from a mapping, a JSON file, or the shorthand ``N`` / ``N:SEED``."""
    label = "population spec"
    if isinstance(source, Mapping):
        doc: Any = dict(source)
    else:
        text = str(source).strip()
        head, _, tail = text.partition(":")
        if head.lstrip("-").isdigit() and (not tail or tail.lstrip("-").isdigit()):
            doc = {"accounts": int(head), "seed": int(tail or 0)}
        else:
            label = f"population spec {text}"
            try:
                doc = json.loads(Path(text).read_text(encoding="utf-8"))
            except OSError as bad:
                raise InputError(
                    f"{label}: cannot read ({bad.strerror}); give a JSON file or N[:SEED]"
                ) from None
            except json.JSONDecodeError as bad:
                raise InputError(f"{label}: not valid JSON ({bad})") from None
    try:
        return PopulationSpec.model_validate(doc)
    except ValidationError as bad:
        raise InputError(validation_message(label, bad, doc)) from None


@dataclass(frozen=True, slots=True, kw_only=True)
class Population:
    """Accounts, position rows and collateral as arrays (see the module docstring).

    ``row_*`` arrays have one entry per position row (an account's netted position in one
    instrument at one venue); ``collateral`` is (accounts, columns) in units of each column's
    asset, columns being ``(collateral_assets[c], collateral_venues[c])``; ``cross[a]`` is the
    account's own mode. ``book`` is the source portfolio when the population came from one
    (its trade prices give the positions' mark-to-market at the start).
    """

    accounts: tuple[str, ...]
    instruments: tuple[Instrument, ...]
    venues: tuple[str, ...]
    row_account: IntArray
    row_instrument: IntArray
    row_venue: IntArray
    row_quantity: FloatArray
    collateral_assets: tuple[str, ...]
    collateral_venues: tuple[str, ...]
    collateral: FloatArray
    cross: BoolArray
    source: str = ""
    spec: PopulationSpec | None = None
    book: Portfolio | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        a, p = len(self.accounts), self.row_account.shape[0]
        if a == 0:
            raise InputError("a population needs at least one account")
        if p == 0:
            raise InputError("a population needs at least one position")
        for name in ("row_instrument", "row_venue", "row_quantity"):
            if getattr(self, name).shape != (p,):
                raise InputError(f"population: {name} has {getattr(self, name).shape}, not ({p},)")
        if self.collateral.shape != (a, len(self.collateral_assets)):
            raise InputError("population: collateral must be (accounts, collateral columns)")
        if self.cross.shape != (a,):
            raise InputError("population: cross must have one flag per account")
        if not np.all(np.isfinite(self.row_quantity)) or not np.all(np.isfinite(self.collateral)):
            raise InputError("population: quantities and collateral must be finite")

    @property
    def underlyings(self) -> tuple[str, ...]:
        """Underlyings of the positions and coin/security collateral, first-seen order."""
        held = [a for a in self.collateral_assets if asset_kind(a) in ("coin", "security")]
        return tuple(dict.fromkeys([*(i.underlying for i in self.instruments), *held]))

    def records(self) -> dict[str, list[dict[str, Any]]]:
        """``positions``, ``collateral`` and ``accounts`` (margin modes) rows, JSON-ready."""
        positions = [
            {
                "account": self.accounts[a],
                "symbol": self.instruments[i].symbol,
                "quantity": float(q),
                "venue": self.venues[v],
            }
            for a, i, v, q in zip(
                self.row_account.tolist(),
                self.row_instrument.tolist(),
                self.row_venue.tolist(),
                self.row_quantity.tolist(),
                strict=True,
            )
        ]
        nz_a, nz_c = np.nonzero(self.collateral)
        collateral = [
            {
                "account": self.accounts[a],
                "asset": self.collateral_assets[c],
                "amount": float(self.collateral[a, c]),
                "venue": self.collateral_venues[c],
            }
            for a, c in zip(nz_a.tolist(), nz_c.tolist(), strict=True)
        ]
        modes = [
            {"account": acc, "margin_mode": "cross" if flag else "isolated"}
            for acc, flag in zip(self.accounts, self.cross.tolist(), strict=True)
        ]
        return {"positions": positions, "collateral": collateral, "accounts": modes}


def population_from_book(
    book: Portfolio, *, cross: Mapping[str, bool] | None = None, source: str = ""
) -> Population:
    """A book (its netted positions and collateral) as a population; every account is
    cross-margined unless ``cross`` says otherwise."""
    accounts = book.accounts
    a_idx = {a: k for k, a in enumerate(accounts)}
    i_idx = {inst: k for k, inst in enumerate(book.instruments)}
    venues = tuple(dict.fromkeys(venue_of(p.instrument, p.venue) for p in book.positions))
    v_idx = {v: k for k, v in enumerate(venues)}
    orphans = sorted({h.account for h in book.collateral} - set(accounts))
    if orphans:
        raise InputError(f"collateral of account(s) {', '.join(orphans)} with no position")
    columns = tuple(dict.fromkeys((h.asset, h.venue) for h in book.collateral))
    c_idx = {c: k for k, c in enumerate(columns)}
    amounts = np.zeros((len(accounts), len(columns)))
    for h in book.collateral:
        amounts[a_idx[h.account], c_idx[(h.asset, h.venue)]] += h.amount
    modes = dict(cross or {})
    unknown = sorted(set(modes) - set(accounts))
    if unknown:
        raise InputError(f"margin modes for unknown account(s) {', '.join(unknown)}")
    return Population(
        accounts=accounts,
        instruments=book.instruments,
        venues=venues,
        row_account=np.array([a_idx[p.account] for p in book.positions], dtype=np.int64),
        row_instrument=np.array([i_idx[p.instrument] for p in book.positions], dtype=np.int64),
        row_venue=np.array(
            [v_idx[venue_of(p.instrument, p.venue)] for p in book.positions], dtype=np.int64
        ),
        row_quantity=np.array([p.quantity for p in book.positions], dtype=np.float64),
        collateral_assets=tuple(c[0] for c in columns),
        collateral_venues=tuple(c[1] for c in columns),
        collateral=amounts,
        cross=np.array([modes.get(a, True) for a in accounts], dtype=np.bool_),
        source=source or book.source,
        book=book,
    )


class _Mode(_Strict):
    account: str = Field(min_length=1)
    margin_mode: str

    @model_validator(mode="after")
    def _known(self) -> _Mode:
        if self.margin_mode not in ("cross", "isolated"):
            raise ValueError(f"margin_mode must be 'cross' or 'isolated', not {self.margin_mode!r}")
        return self


def load_population(path: str | Path, *, collateral: str | Path | None = None) -> Population:
    """A book or a written population (``crossmargin population --out``): positions and
    collateral as :func:`crossmargin.api.load_book` reads them, plus the ``accounts`` section
    (margin modes) of a JSON file when present."""
    target = Path(path)
    book = load_portfolio(target, collateral=collateral)
    modes: dict[str, bool] = {}
    spec = None
    if target.suffix.lower() == ".json":
        doc = json.loads(target.read_text(encoding="utf-8"))
        if isinstance(doc, dict):
            for n, raw in enumerate(doc.get("accounts") or [], start=1):
                try:
                    row = _Mode.model_validate(raw)
                except ValidationError as bad:
                    raise InputError(
                        validation_message(f"{target}: accounts row {n}", bad, raw)
                    ) from None
                modes[row.account] = row.margin_mode == "cross"
            if "population" in doc:
                spec = load_spec(
                    {k: v for k, v in doc["population"].items() if k in PopulationSpec.model_fields}
                )
    pop = population_from_book(book, cross=modes, source=str(target))
    return pop if spec is None else _with_spec(pop, spec)


def _with_spec(pop: Population, spec: PopulationSpec) -> Population:
    from dataclasses import replace

    return replace(pop, spec=spec)


def _top_k(rng: np.random.Generator, weights: FloatArray, n: int, k: int) -> IntArray:
    """``n`` draws of ``k`` distinct indices without replacement, weighted (Gumbel top-k)."""
    with np.errstate(divide="ignore"):
        logw = np.log(weights)
    keys = logw[np.newaxis, :] + rng.gumbel(size=(n, weights.size))
    out: IntArray = np.argsort(-keys, axis=1)[:, :k].astype(np.int64)
    return out


def generate_population(
    spec: PopulationSpec, market: MarketSnapshot, params: CascadeParams
) -> Population:
    """Draw a population (module docstring), sized at ``market``'s prices."""
    rng = np.random.default_rng(spec.seed)
    n = spec.accounts
    venues = tuple(v for v, w in spec.venues.items() if w > 0)
    symbols = tuple(dict.fromkeys(s for v in venues for s, w in spec.products[v].items() if w > 0))
    year = market.valuation_time.year
    instruments = tuple(parse_symbol(s, reference_year=year) for s in symbols)
    for inst in instruments:
        if inst.kind not in ("future", "perpetual"):
            raise InputError(
                f"population spec: product {inst.symbol} is a {inst.kind}; generated "
                "populations hold futures and perpetuals only"
            )
    price = np.array([inst.multiplier * market.spot(inst.underlying) for inst in instruments])
    venue_w = np.array([spec.venues[v] for v in venues])
    venue = rng.choice(len(venues), size=n, p=venue_w / venue_w.sum())
    c = spec.collateral
    usd = np.clip(c.median_usd * np.exp(c.sigma * rng.standard_normal(n)), c.min_usd, c.max_usd)
    assets = tuple(a for a, w in spec.collateral_assets.items() if w > 0)
    for a in assets:
        asset_kind(a)  # an unknown asset names itself
    asset_w = np.array([spec.collateral_assets[a] for a in assets])
    asset = rng.choice(len(assets), size=n, p=asset_w / asset_w.sum())
    leg_keys = np.array(sorted(spec.legs), dtype=np.int64)
    leg_w = np.array([spec.legs[int(k)] for k in leg_keys])
    legs = leg_keys[rng.choice(len(leg_keys), size=n, p=leg_w / leg_w.sum())]
    long_first = rng.random(n) < spec.long_share
    hedged = rng.random(n) < spec.hedge_share
    cross = rng.random(n) < spec.cross_share
    lev = spec.leverage
    target = np.maximum(lev.median * np.exp(lev.sigma * rng.standard_normal(n)), lev.min)
    rows_a: list[IntArray] = []
    rows_i: list[IntArray] = []
    rows_q: list[FloatArray] = []
    rows_v: list[IntArray] = []
    im_rate = np.zeros((len(venues), len(instruments)))
    for vi, v in enumerate(venues):
        for j, inst in enumerate(instruments):
            im_rate[vi, j] = params.venue_rates(v, inst.underlying, inst.spec.asset_class)[1]
    for vi, v in enumerate(venues):
        offered = np.array([spec.products[v].get(s, 0.0) for s in symbols])
        for k in np.unique(legs[venue == vi]):
            who = np.flatnonzero((venue == vi) & (legs == k))
            kk = int(min(k, np.count_nonzero(offered)))
            picks = _top_k(rng, offered, who.size, kk)
            mean_im = im_rate[vi, picks].mean(axis=1)
            leverage = np.minimum(target[who], lev.max_utilisation / mean_im)
            per_leg = leverage * usd[who] / kk
            sign0 = np.where(long_first[who], 1.0, -1.0)
            for leg in range(kk):
                sign = sign0 if leg == 0 else np.where(hedged[who], -sign0, sign0)
                qty = np.round(sign * per_leg / price[picks[:, leg]], 6)
                rows_a.append(who)
                rows_i.append(picks[:, leg])
                rows_q.append(qty)
                rows_v.append(np.full(who.size, vi, dtype=np.int64))
    row_a = np.concatenate(rows_a)
    order = np.lexsort((np.concatenate(rows_i), row_a))
    row_q = np.concatenate(rows_q)[order]
    keep = row_q != 0.0
    spot_assets = {a: market.spot(a) for a in assets if asset_kind(a) in ("coin", "security")}
    amounts = np.zeros((n, len(assets)))
    units = usd / np.array([spot_assets.get(a, 1.0) for a in assets])[asset]
    amounts[np.arange(n), asset] = np.round(units, 8)
    return Population(
        accounts=tuple(f"p{k:07d}" for k in range(n)),
        instruments=instruments,
        venues=venues,
        row_account=row_a[order][keep],
        row_instrument=np.concatenate(rows_i)[order][keep],
        row_venue=np.concatenate(rows_v)[order][keep],
        row_quantity=row_q[keep],
        collateral_assets=assets,
        collateral_venues=tuple("" for _ in assets),
        collateral=amounts,
        cross=cross,
        source=f"generated: {n} accounts, seed {spec.seed}",
        spec=spec,
    )


def write_population(pop: Population, path: str | Path, *, asof: str = "") -> Path:
    """Write ``pop`` as a JSON book (``positions``, ``collateral``) with its ``accounts``
    (margin modes) and the ``population`` spec; every command reads it as a book."""
    target = Path(path)
    if target.suffix.lower() != ".json":
        raise InputError(f"{target}: a population is written as JSON (use a .json file)")
    doc: dict[str, Any] = {
        "description": "crossmargin generated population: positions (contracts), collateral "
        "(units of each asset), each account's margin mode; 'population' holds the spec",
        "population": {**(pop.spec.model_dump() if pop.spec else {}), "asof": asof},
        **pop.records(),
    }
    if pop.spec is not None:
        doc["population"]["legs"] = {str(k): v for k, v in pop.spec.legs.items()}
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(doc), encoding="utf-8")
    return target


def collateral_holdings(pop: Population) -> tuple[CollateralHolding, ...]:
    """The population's collateral as holdings (for the margin models and reports)."""
    nz_a, nz_c = np.nonzero(pop.collateral)
    return tuple(
        CollateralHolding(
            account=pop.accounts[a],
            asset=pop.collateral_assets[c],
            amount=float(pop.collateral[a, c]),
            venue=pop.collateral_venues[c],
        )
        for a, c in zip(nz_a.tolist(), nz_c.tolist(), strict=True)
    )


def summary(pop: Population) -> dict[str, Any]:
    """Counts for the CLI: accounts, positions, cross share, legs."""
    legs = np.bincount(pop.row_account, minlength=len(pop.accounts))
    return {
        "accounts": len(pop.accounts),
        "positions": int(pop.row_account.size),
        "cross_margined": int(pop.cross.sum()),
        "isolated": int((~pop.cross).sum()),
        "instruments": [i.symbol for i in pop.instruments],
        "venues": list(pop.venues),
        "mean_legs": float(legs.mean()),
        "collateral_columns": [
            f"{a}@{v}" if v else a
            for a, v in zip(pop.collateral_assets, pop.collateral_venues, strict=True)
        ],
    }


__all__ = [
    "Population",
    "PopulationSpec",
    "collateral_holdings",
    "generate_population",
    "load_population",
    "load_spec",
    "population_from_book",
    "summary",
    "write_population",
]
