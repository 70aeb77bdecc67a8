"""Offset tiers: which positions net at each level, and the policy that caps each credit.

A netting set's positions are netted in five steps, each a **tier** whose groups are keyed
by what their members share (venue = the clearing house of the position, from its contract's
style unless the book names one):

============  ======================================================  =======================
tier          a group holds the netting set's positions with ...      typical offset
============  ======================================================  =======================
position      (each position alone: the standalone figure)
product       the same venue and product (all expiries and strikes)  calendar spread
underlying    the same venue, underlying and settlement currency     future vs option
asset-class   the same asset class (any venue)                       BTC vs ETH, SPX vs QQQ
netting-set   everything (across asset classes)                      BTC vs SPX
============  ======================================================  =======================

Coin and security collateral joins its underlying's groups from the ``underlying`` tier on
(keyed by its venue, and by the coin as currency, so BTC posted at Deribit meets the BTC-settled
inverse contracts there).

**Capping** (:class:`OffsetPolicy`, ``crossmargin/data/offset_tiers.json``): at tier k a
group's requirement is ``C = max(N, B − c_k·O)`` with ``N`` the model's margin of the group,
``B`` the sum of its members' capped requirements at tier k − 1, ``O = Σ N_members − N`` the
offset netting adds at this tier and ``c_k`` the tier's cap (EMIR RTS 153/2013 Art 27(4)
algebraic form, ``max(N, Σ − c·(Σ − N))``, applied to each tier's own offset); where the
tier's eligibility rule fails (:mod:`crossmargin.netting.eligibility`) no credit is granted:
``C = max(N, B)``. A group with one member adds no offset (``C = B``). With caps of 1
everywhere ``C = N`` at every tier: the fully netted margin. A calendar spread (netted at the
``product`` tier, cap 1) is never charged more than its own netted margin, whatever the caps
across underlyings.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from crossmargin.errors import InputError
from crossmargin.files import parse_json, read_text
from crossmargin.instruments import Instrument

TIERS: tuple[str, ...] = ("product", "underlying", "asset-class", "netting-set")
ALL_TIERS: tuple[str, ...] = ("position", *TIERS)
_SHIPPED = "data/offset_tiers.json"
DEFAULT_POLICY = "emir"
_VENUE_OF_STYLE = {"deribit": "deribit", "cme": "cme", "occ": "occ", "plain": "equities"}


def venue_of(instrument: Instrument, declared: str = "") -> str:
    """The venue (clearing house) of a position: the one the book names, else the contract's
    venue family (``deribit``, ``cme``, ``occ``; listed equities and ETFs ``equities``)."""
    if declared:
        return declared
    return _VENUE_OF_STYLE.get(instrument.spec.style, instrument.spec.style)


class _Eligibility(BaseModel):
    model_config = ConfigDict(extra="forbid")
    min_correlation: float
    confidence: float
    lookback: str
    stressed_window: tuple[str, str]


class _Tier(BaseModel):
    model_config = ConfigDict(extra="forbid")
    cap: float
    eligibility: _Eligibility | None = None


class _Policy(BaseModel):
    model_config = ConfigDict(extra="forbid")
    description: str = ""
    tiers: dict[str, _Tier]


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid")
    description: str = ""
    version: str
    source: str = ""
    policies: dict[str, _Policy]


@dataclass(frozen=True, slots=True, kw_only=True)
class Eligibility:
    """A tier's eligibility rule (see :mod:`crossmargin.netting.eligibility`)."""

    min_correlation: float
    confidence: float
    lookback: str
    stressed_window: tuple[str, str]


@dataclass(frozen=True, slots=True, kw_only=True)
class TierRule:
    """One tier's cap and optional eligibility rule."""

    tier: str
    cap: float
    eligibility: Eligibility | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class OffsetPolicy:
    """How each tier's credit is capped and tested (see the module docstring)."""

    name: str
    rules: Mapping[str, TierRule]
    source: str = ""

    def rule(self, tier: str) -> TierRule:
        """The rule of ``tier``."""
        return self.rules[tier]

    @property
    def needs_history(self) -> bool:
        """Whether a tier tests eligibility (on the market history)."""
        return any(r.eligibility is not None for r in self.rules.values())

    def with_cap(self, cap: float | None) -> OffsetPolicy:
        """This policy with ``cap`` on the tiers across underlyings (``--cap``); None: as is."""
        if cap is None:
            return self
        if not 0.0 <= cap <= 1.0:
            raise InputError(f"the benefit cap must be in [0, 1], got {cap}")
        rules = dict(self.rules)
        for tier in ("asset-class", "netting-set"):
            rules[tier] = TierRule(tier=tier, cap=cap, eligibility=rules[tier].eligibility)
        return OffsetPolicy(name=f"{self.name}, cap {cap:g}", rules=rules, source=self.source)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "name": self.name,
            "source": self.source,
            "tiers": {
                t: {
                    "cap": r.cap,
                    "eligibility": None
                    if r.eligibility is None
                    else {
                        "min_correlation": r.eligibility.min_correlation,
                        "confidence": r.eligibility.confidence,
                        "lookback": r.eligibility.lookback,
                        "stressed_window": list(r.eligibility.stressed_window),
                    },
                }
                for t, r in self.rules.items()
            },
        }


def _error(label: str, bad: ValidationError) -> InputError:
    first = bad.errors()[0]
    where = ".".join(str(p) for p in first["loc"])
    if first["type"] == "extra_forbidden":
        return InputError(f"offset-tier file {label}: unknown key {where!r}")
    return InputError(f"offset-tier file {label}: {where}: {first['msg']}")


def load_policy(spec: str | Path | OffsetPolicy | None = None) -> OffsetPolicy:
    """An offset policy: a shipped one by name (``emir`` default, ``none``), or the first
    policy of a file with the shipped file's shape (``name`` in a file: ``FILE#name``)."""
    if isinstance(spec, OffsetPolicy):
        return spec
    name = DEFAULT_POLICY if spec is None else str(spec)
    path, _, wanted = name.partition("#")
    if Path(path).suffix.lower() == ".json":
        label = path
        text = read_text(path, what="offset-tier")
    else:
        label, wanted = f"crossmargin/{_SHIPPED}", path
        text = resources.files("crossmargin").joinpath(_SHIPPED).read_text("utf-8")
    try:
        parsed = _File.model_validate(parse_json(text, label, what="offset-tier"))
    except ValidationError as bad:
        raise _error(label, bad) from None
    if not parsed.policies:
        raise InputError(f"offset-tier file {label}: no policy")
    chosen = wanted or next(iter(parsed.policies))
    if chosen not in parsed.policies:
        raise InputError(
            f"unknown offset policy {chosen!r} in {label}: use one of "
            f"{', '.join(parsed.policies)} or a JSON file"
        )
    policy = parsed.policies[chosen]
    rules: dict[str, TierRule] = {}
    for tier in TIERS:
        if tier not in policy.tiers:
            raise InputError(f"offset-tier file {label}: policy {chosen!r} lacks tier {tier!r}")
    for tier, rule in policy.tiers.items():
        if tier not in TIERS:
            raise InputError(
                f"offset-tier file {label}: unknown tier {chosen}.tiers.{tier} "
                f"(use {', '.join(TIERS)})"
            )
        if not 0.0 <= rule.cap <= 1.0:
            raise InputError(
                f"offset-tier file {label}: {chosen}.tiers.{tier}.cap must be in [0, 1]"
            )
        elig = None
        if rule.eligibility is not None:
            e = rule.eligibility
            if not (0.0 <= e.min_correlation < 1.0 and 0.5 <= e.confidence < 1.0):
                raise InputError(
                    f"offset-tier file {label}: {chosen}.tiers.{tier}.eligibility needs "
                    "min_correlation in [0, 1) and confidence in [0.5, 1)"
                )
            elig = Eligibility(
                min_correlation=e.min_correlation,
                confidence=e.confidence,
                lookback=e.lookback,
                stressed_window=e.stressed_window,
            )
        rules[tier] = TierRule(tier=tier, cap=rule.cap, eligibility=elig)
    return OffsetPolicy(name=chosen, rules=rules, source=parsed.source)


def capped(netted: float, base: float, offset: float, cap: float, eligible: bool) -> float:
    """``max(N, B − c·O)`` where eligible, else ``max(N, B)`` (module docstring): ``N`` the
    group's netted margin, ``B`` its members' capped requirements summed, ``O`` the offset
    this tier adds (its members' netted margins summed, minus ``N``)."""
    if not eligible:
        return max(netted, base)
    return max(netted, base - cap * offset)


__all__ = [
    "ALL_TIERS",
    "DEFAULT_POLICY",
    "TIERS",
    "Eligibility",
    "OffsetPolicy",
    "TierRule",
    "capped",
    "load_policy",
    "venue_of",
]
