"""Parameters of the ``span`` model, read and checked from ``params/span.json``.

The file has the shape of :mod:`crossmargin.models.params` plus one top-level key,
``inter_spreads`` (a list in priority order: ``method`` "delta" (two legs, credit on each
leg's weighted price risk) or "scanning" (2-4 legs with ``sides`` and a ``target``, scanned
together with gains at ``rate``); ``super`` spreads are formed before intra spreads).
Per combined commodity (underlying), the defaults overlaid with the underlying's entry give
(units in brackets)::

    price_scan_range        PSR, relative move of the underlying          (decimal, 0..1)
    vol_scan_range          VSR, implied-vol shift                        (decimal vol)
    vol_scan_type           "absolute" (σ ± VSR) or "relative" (σ·(1 ± VSR))
    extreme_move_multiple   X: the extreme scenarios move the price by X·PSR
    extreme_cover_fraction  w: weight of the extreme scenarios' loss
    look_ahead_days         time step of every scenario                   (calendar days)
    scan_points             the scenario table: price [num, den] of PSR (of X·PSR when
                            "extreme"), vol −1/0/+1 (× VSR); 16 rows in METHODS §2.2 order
    delta_points            price [num, den] of PSR and weight, for the composite delta
    tier_max_days           upper bounds (days to expiry) of the dated tiers
    intra_spreads           [{"legs": [tier, tier], "ratio": [a, b], "rate": r, "method":
                            "flat" | "wpr" | "pmps"}] in priority order (rates per unit
                            of composite delta; :mod:`crossmargin.models.span_spreads`)
    delta_unit              "notional" (P&L per 100 % move, reporting currency; default) or
                            "contracts" (futures equivalents: notional / (F · multiplier),
                            F the forward to the contract's expiry; CME's delta unit)
    spot_month              {"tiers": [...], "outright_rate": r, "spread_rate": r}: charge per
                            unit of delta left in the spot tiers / spread out of them
    short_option_minimum    SOM per short option, as a fraction of the outright scan risk of
                            one contract's underlying notional (PSR × notional)
    som_method              "gross" (calls + puts) or "max" (max(calls, puts))
    im_ratio                initial / maintenance

Tier names: ``undated`` (spot and perpetuals), then ``0-{b1}d``, ``{b1}-{b2}d``, ... and
``{bn}d+`` from ``tier_max_days`` ``[b1, ..., bn]``. Bad values are InputErrors naming the
file, the underlying and the key; a missing underlying or key is a ModelError.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from crossmargin.errors import InputError, ModelError
from crossmargin.models.params import ParameterSet, number

UNDATED = "undated"
VOL_SCAN_TYPES = ("absolute", "relative")
SOM_METHODS = ("gross", "max")
DELTA_UNITS = ("notional", "contracts")
INTRA_METHODS = ("flat", "wpr", "pmps")
INTER_SPREAD_METHODS = ("delta", "scanning")


@dataclass(frozen=True, slots=True, kw_only=True)
class ScanPoint:
    """One scenario: price move ``num/den`` of PSR (of X·PSR if ``extreme``), vol sign."""

    num: int
    den: int
    vol: int
    extreme: bool

    @property
    def fraction(self) -> float:
        """Price move as a fraction of PSR (or of X·PSR for an extreme scenario)."""
        return self.num / self.den

    @property
    def label(self) -> str:
        """``"+2/3 vol up"``, ``"0 vol down"``, ``"-extreme"`` ..."""
        sign = "+" if self.num > 0 else "-"
        if self.extreme:
            price = f"{sign}extreme" if self.num else "extreme"
        elif self.num == 0:
            price = "0"
        else:
            price = f"{sign}{abs(self.num)}/{self.den}"
        vol = {1: " vol up", -1: " vol down", 0: ""}[self.vol]
        return price + vol


@dataclass(frozen=True, slots=True, kw_only=True)
class IntraSpreadDef:
    """A calendar spread between two tiers of one CC."""

    legs: tuple[str, str]
    ratio: tuple[float, float]
    rate: float
    method: str = "flat"
    per_month_rate: float = 0.0
    months: float = 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class InterSpreadDef:
    """A spread between CCs (underlyings): delta-based or scanning-based (module docstring)."""

    legs: tuple[str, ...]
    ratio: tuple[float, ...]
    rate: float
    method: str = "delta"
    is_super: bool = False
    sides: tuple[str, ...] = ()
    target: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class CCParams:
    """The resolved parameters of one combined commodity (see the module docstring)."""

    underlying: str
    price_scan_range: float
    vol_scan_range: float
    vol_scan_type: str
    extreme_move_multiple: float
    extreme_cover_fraction: float
    look_ahead_days: float
    scan_points: tuple[ScanPoint, ...]
    delta_points: tuple[tuple[float, float], ...]  # (fraction of PSR, weight)
    tier_max_days: tuple[float, ...]
    intra_spreads: tuple[IntraSpreadDef, ...]
    short_option_minimum: float
    som_method: str
    im_ratio: float
    delta_unit: str = "notional"
    spot_tiers: tuple[str, ...] = ()
    spot_outright_rate: float = 0.0
    spot_spread_rate: float = 0.0

    @property
    def tier_names(self) -> tuple[str, ...]:
        """``undated`` then the dated tiers in order of expiry."""
        b = [f"{x:g}" for x in self.tier_max_days]
        dated = [f"{lo}-{hi}d" for lo, hi in zip(["0", *b[:-1]], b, strict=True)]
        return (UNDATED, *dated, f"{b[-1]}d+" if b else "dated")

    def tier(self, days: float | None) -> int:
        """Tier index of a contract ``days`` to expiry (``None``: undated)."""
        if days is None:
            return 0
        for i, bound in enumerate(self.tier_max_days):
            if days <= bound:
                return i + 1
        return len(self.tier_max_days) + 1


def _fail(where: str, key: str, why: str) -> InputError:
    return InputError(f"{where}: parameter {key!r} {why}")


def _pair(value: Any, where: str, key: str) -> tuple[Any, Any]:
    if not isinstance(value, Sequence) or isinstance(value, str) or len(value) != 2:
        raise _fail(where, key, f"must be a list of two items, got {value!r}")
    return value[0], value[1]


def _fraction(value: Any, where: str, key: str) -> tuple[int, int]:
    num, den = _pair(value, where, key)
    if not (isinstance(num, int) and isinstance(den, int) and den > 0):
        raise _fail(where, key, f"must be [integer, positive integer], got {value!r}")
    return num, den


def _scan_points(raw: Any, where: str) -> tuple[ScanPoint, ...]:
    if not isinstance(raw, list) or not raw:
        raise _fail(where, "scan_points", "must be a non-empty list")
    points = []
    for item in raw:
        if not isinstance(item, Mapping):
            raise _fail(where, "scan_points", f"entries must be objects, got {item!r}")
        num, den = _fraction(item.get("price"), where, "scan_points.price")
        vol = item.get("vol", 0)
        if vol not in (-1, 0, 1):
            raise _fail(where, "scan_points.vol", f"must be -1, 0 or 1, got {vol!r}")
        points.append(ScanPoint(num=num, den=den, vol=int(vol), extreme=bool(item.get("extreme"))))
    if not any(p.num == 0 and not p.extreme for p in points):
        raise _fail(where, "scan_points", "needs an unchanged-price scenario (price [0, n])")
    return tuple(points)


def _delta_points(raw: Any, where: str) -> tuple[tuple[float, float], ...]:
    if not isinstance(raw, list) or not raw:
        raise _fail(where, "delta_points", "must be a non-empty list")
    out = []
    for item in raw:
        if not isinstance(item, Mapping):
            raise _fail(where, "delta_points", f"entries must be objects, got {item!r}")
        num, den = _fraction(item.get("price"), where, "delta_points.price")
        weight = number(item, "weight", where=where + " delta_points")
        if not weight >= 0:
            raise _fail(where, "delta_points.weight", f"must be >= 0, got {weight}")
        out.append((num / den, weight))
    if not sum(w for _, w in out) > 0:
        raise _fail(where, "delta_points", "weights must not all be zero")
    return tuple(out)


def _spread_defs(
    raw: Any, where: str, key: str
) -> list[tuple[tuple[str, str], tuple[float, float], float, Mapping[str, Any]]]:
    if not isinstance(raw, list):
        raise _fail(where, key, "must be a list")
    out = []
    for item in raw:
        if not isinstance(item, Mapping):
            raise _fail(where, key, f"entries must be objects, got {item!r}")
        a, b = _pair(item.get("legs"), where, f"{key}.legs")
        ra, rb = _pair(item.get("ratio", [1, 1]), where, f"{key}.ratio")
        try:
            ratio = (float(ra), float(rb))
        except (TypeError, ValueError):
            raise _fail(
                where, f"{key}.ratio", f"must be two numbers, got {item['ratio']!r}"
            ) from None
        rate = number(item, "rate", where=f"{where} {key}")
        if not (ratio[0] > 0 and ratio[1] > 0 and rate >= 0 and math.isfinite(rate)):
            raise _fail(where, key, f"needs ratios > 0 and a rate >= 0, got {dict(item)!r}")
        if str(a) == str(b):
            raise _fail(where, key, f"legs must differ, got {a!r} twice")
        out.append(((str(a), str(b)), ratio, rate, item))
    return out


def cc_parameters(params: ParameterSet, underlying: str, overrides: Mapping[str, Any]) -> CCParams:
    """Resolve and check the parameters of ``underlying`` (defaults, entry, overrides)."""
    entry = {**params.for_underlying(underlying), **overrides}
    where = f"parameter file {params.path}, underlying {underlying}"

    def num(key: str, lo: float, hi: float = math.inf, *, open_lo: bool = False) -> float:
        value = number(entry, key, where=where)
        ok = (value > lo if open_lo else value >= lo) and value <= hi and math.isfinite(value)
        if not ok:
            bound = f"{'>' if open_lo else '>='} {lo:g}" + (
                f" and <= {hi:g}" if hi < math.inf else ""
            )
            raise _fail(where, key, f"must be {bound}, got {value!r}")
        return value

    psr = num("price_scan_range", 0.0, 1.0, open_lo=True)
    extreme = num("extreme_move_multiple", 0.0)
    if extreme * psr >= 1.0:
        raise _fail(where, "extreme_move_multiple", "times price_scan_range must be < 1")
    vol_type = entry.get("vol_scan_type", "absolute")
    if vol_type not in VOL_SCAN_TYPES:
        raise _fail(where, "vol_scan_type", f"must be one of {VOL_SCAN_TYPES}, got {vol_type!r}")
    som_method = entry.get("som_method", "gross")
    if som_method not in SOM_METHODS:
        raise _fail(where, "som_method", f"must be one of {SOM_METHODS}, got {som_method!r}")
    for key in ("scan_points", "delta_points", "tier_max_days", "intra_spreads"):
        if key not in entry:
            raise ModelError(f"{where}: parameter {key!r} is missing")
    bounds = entry["tier_max_days"]
    if (
        not isinstance(bounds, list)
        or not all(isinstance(x, int | float) and x > 0 for x in bounds)
        or list(bounds) != sorted(set(bounds))
    ):
        raise _fail(where, "tier_max_days", f"must be increasing positive days, got {bounds!r}")
    base = CCParams(
        underlying=underlying,
        price_scan_range=psr,
        vol_scan_range=num("vol_scan_range", 0.0),
        vol_scan_type=str(vol_type),
        extreme_move_multiple=extreme,
        extreme_cover_fraction=num("extreme_cover_fraction", 0.0, 1.0),
        look_ahead_days=num("look_ahead_days", 0.0),
        scan_points=_scan_points(entry["scan_points"], where),
        delta_points=_delta_points(entry["delta_points"], where),
        tier_max_days=tuple(float(x) for x in bounds),
        intra_spreads=(),
        short_option_minimum=num("short_option_minimum", 0.0),
        som_method=str(som_method),
        im_ratio=num("im_ratio", 0.0, open_lo=True),
    )
    tiers = base.tier_names
    intra = []
    for legs, ratio, rate, item in _spread_defs(entry["intra_spreads"], where, "intra_spreads"):
        unknown = [t for t in legs if t not in tiers]
        if unknown:
            raise _fail(where, "intra_spreads", f"names unknown tier(s) {unknown} (tiers: {tiers})")
        method = str(item.get("method", "flat"))
        if method not in INTRA_METHODS:
            raise _fail(where, "intra_spreads.method", f"must be one of {INTRA_METHODS}")
        intra.append(
            IntraSpreadDef(
                legs=legs,
                ratio=ratio,
                rate=rate,
                method=method,
                per_month_rate=float(item.get("per_month_rate", 0.0)),
                months=float(item.get("months", 0.0)),
            )
        )
    unit = entry.get("delta_unit", "notional")
    if unit not in DELTA_UNITS:
        raise _fail(where, "delta_unit", f"must be one of {DELTA_UNITS}, got {unit!r}")
    spot = entry.get("spot_month") or {}
    spot_tiers = tuple(str(t) for t in spot.get("tiers", ()))
    unknown = [t for t in spot_tiers if t not in tiers]
    if unknown:
        raise _fail(where, "spot_month.tiers", f"names unknown tier(s) {unknown} (tiers: {tiers})")
    return replace(
        base,
        intra_spreads=tuple(intra),
        delta_unit=str(unit),
        spot_tiers=spot_tiers,
        spot_outright_rate=float(spot.get("outright_rate", 0.0)),
        spot_spread_rate=float(spot.get("spread_rate", 0.0)),
    )


def inter_spreads(params: ParameterSet) -> tuple[InterSpreadDef, ...]:
    """The file's inter-commodity spreads in priority order (credit rate in [0, 1]).

    A ``delta`` spread has two legs; a ``scanning`` spread 2-4 legs with one side (``A`` or
    ``B``) per leg (default: the first leg ``A``, the others ``B``) and a ``target`` among
    its legs (default: the first). Legs name underlyings (CCs).
    """
    where = f"parameter file {params.path}"
    raw = params.raw.get("inter_spreads", [])
    if not isinstance(raw, list):
        raise _fail(where, "inter_spreads", "must be a list")
    out = []
    for i, item in enumerate(raw):
        key = f"inter_spreads[{i}]"
        if not isinstance(item, Mapping):
            raise _fail(where, key, f"must be an object, got {item!r}")
        legs = tuple(str(x) for x in item.get("legs", ()))
        method = str(item.get("method", "delta"))
        if method not in INTER_SPREAD_METHODS:
            raise _fail(where, f"{key}.method", f"must be one of {INTER_SPREAD_METHODS}")
        ratio = tuple(float(x) for x in item.get("ratio") or [1.0] * len(legs))
        rate = number(item, "rate", where=f"{where} {key}")
        if len(set(legs)) != len(legs) or len(legs) < 2:
            raise _fail(where, f"{key}.legs", f"must name different underlyings, got {list(legs)}")
        if len(ratio) != len(legs) or not all(r > 0 for r in ratio):
            raise _fail(where, f"{key}.ratio", "needs one ratio > 0 per leg")
        if not 0.0 <= rate <= 1.0:
            raise _fail(where, f"{key}.rate", f"credit rate must be in [0, 1], got {rate}")
        sides: tuple[str, ...] = ()
        target = ""
        if method == "delta":
            if len(legs) != 2:
                raise _fail(where, f"{key}.legs", "a delta spread has exactly two legs")
            for extra in ("sides", "target"):
                if item.get(extra) is not None:
                    raise _fail(where, f"{key}.{extra}", "applies to scanning spreads only")
        else:
            sides = tuple(item.get("sides") or ["A"] + ["B"] * (len(legs) - 1))
            if len(sides) != len(legs):
                raise _fail(where, f"{key}.sides", "needs one side per leg")
            target = str(item.get("target") or legs[0])
            if target not in legs:
                raise _fail(where, f"{key}.target", f"{target!r} is not one of the legs {legs}")
        out.append(
            InterSpreadDef(
                legs=legs,
                ratio=ratio,
                rate=rate,
                method=method,
                is_super=bool(item.get("super", False)),
                sides=sides,
                target=target,
            )
        )
    return tuple(out)
