"""CME SPAN risk-parameter file, XML format (``.spn``, fileFormat 4.00): a streaming reader
(pyexpat: one element at a time, nothing kept but what is read) and a writer for the same
subset.

Elements read (names from CME's SPAN XML schema ``spanrisk.xml`` [P]; the schema as
published in ``marketcalls/marginism`` [R])::

    spanFile/fileFormat, pointInTime/date, clearingOrg/ec, exchange/exch
    futPf | phyPf | oopPf | oofPf | ooePf | oocPf:  pfId, pfCode
        fut | phy:            cId, pe, ra
        series/pe, opt:       cId, o (C/P), k (strike), ra
        ra:                   a (16 risk-array values, loss positive), d (composite delta)
    ccDef:                    cc, currency, riskExponent, pfLink (exch, pfId)
    interSpreads/dSpread:     spread (priority), rate/val (credit, a fraction), pLeg (cc,
                              rs side A/B, i ratio)                    → delta-based spread
    interSpreads/sSpread:     the same, and tLeg/cc the target [U: the children of sSpread
                              are assumed to follow dSpread's]         → scanning-based

A contract's combined commodity is the ccDef whose pfLink names its product family
(exchange and pfId). Every other element is counted in ``records`` and skipped. A file that
is not well-formed XML (a truncated file) or a risk array without 16 values is an error
naming the file and the line; every such problem is reported together.
"""

from __future__ import annotations

import xml.parsers.expat
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import numpy as np

from crossmargin.errors import InputError, Issue, SchemaError
from crossmargin.spanfile.data import (
    N_SCENARIOS,
    CombinedCommodity,
    Contract,
    FileSpread,
    SpanFileData,
)

PRODUCT_FAMILIES = frozenset({"futPf", "phyPf", "oopPf", "oofPf", "ooePf", "oocPf"})
CONTRACTS = frozenset({"fut", "phy", "opt"})
KIND = {
    "futPf": "FUT",
    "phyPf": "PHY",
    "oopPf": "OOP",
    "oofPf": "OOF",
    "ooePf": "OOE",
    "oocPf": "OOC",
}
CHUNK = 1 << 20


class _Reader:
    """pyexpat callbacks building a :class:`SpanFileData` (module docstring)."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.parser = xml.parsers.expat.ParserCreate()
        self.parser.buffer_text = True
        self.parser.StartElementHandler = self.start
        self.parser.EndElementHandler = self.end
        self.parser.CharacterDataHandler = self.text
        self.stack: list[str] = []
        self.buf: list[str] = []
        self.issues: list[Issue] = []
        self.counts: dict[str, int] = {}
        self.head: dict[str, str] = {"fileFormat": "", "date": "", "ec": ""}
        self.exch = ""
        self.pf: dict[str, str] = {}
        self.period = ""
        self.item: dict[str, Any] | None = None
        self.ra: list[float] = []
        self.ra_line = 0
        self.ra_delta = 0.0
        self.cc: dict[str, Any] | None = None
        self.link: dict[str, str] = {}
        self.spread: dict[str, Any] | None = None
        self.leg: dict[str, str] = {}
        # results
        self.keys: list[tuple[str, str, str, str, str, str, str, int]] = []
        self.values: list[float] = []
        self.deltas: list[float] = []
        self.ccs: dict[str, CombinedCommodity] = {}
        self.links: dict[tuple[str, str], str] = {}
        self.spreads: list[FileSpread] = []

    def issue(self, line: int, reason: str) -> None:
        self.issues.append(Issue(source=f"SPAN file {self.source}, line {line}", reason=reason))

    def number(self, text: str, what: str) -> float:
        try:
            return float(text)
        except ValueError:
            self.issue(self.parser.CurrentLineNumber, f"{what} is {text!r}, not a number")
            return 0.0

    # ------------------------------------------------------------------ callbacks
    def start(self, name: str, attrs: dict[str, str]) -> None:
        self.counts[name] = self.counts.get(name, 0) + 1
        self.stack.append(name)
        self.buf = []
        line = self.parser.CurrentLineNumber
        if name in PRODUCT_FAMILIES:
            self.pf = {"kind": KIND[name], "pfId": "", "pfCode": ""}
        elif name in CONTRACTS:
            self.item = {"line": line, "cId": "", "pe": self.period, "o": "", "k": ""}
        elif name == "ra":
            self.ra, self.ra_line, self.ra_delta = [], line, 0.0
        elif name == "ccDef":
            self.cc = {"cc": "", "currency": "", "riskExponent": "0"}
        elif name == "pfLink":
            self.link = {"exch": "", "pfId": ""}
        elif name in ("dSpread", "sSpread") and self.parent() == "interSpreads":
            self.spread = {
                "kind": name,
                "line": line,
                "spread": "",
                "rate": None,
                "legs": [],
                "target": "",
            }
        elif name in ("pLeg", "tLeg"):
            self.leg = {"cc": "", "rs": "", "i": "1"}

    def text(self, data: str) -> None:
        self.buf.append(data)

    def parent(self, depth: int = 1) -> str:
        return self.stack[-1 - depth] if len(self.stack) > depth else ""

    def end(self, name: str) -> None:
        value = "".join(self.buf).strip()
        self.buf = []
        self.stack.pop()
        parent = self.stack[-1] if self.stack else ""
        if name in self.head and not self.head[name]:
            self.head[name] = value
        elif name == "exch" and parent == "exchange":
            self.exch = value
        elif name in ("pfId", "pfCode") and parent in PRODUCT_FAMILIES:
            self.pf[name] = value
        elif name == "pe" and parent == "series":
            self.period = value
        elif self.item is not None and parent in CONTRACTS and name in ("cId", "pe", "o", "k"):
            self.item[name] = value
        elif name == "a" and parent == "ra":
            self.ra.append(self.number(value, "risk-array value <a>"))
        elif name == "d" and parent == "ra":
            self.ra_delta = self.number(value, "composite delta <d>")
        elif name == "ra":
            self.end_ra()
        elif name in CONTRACTS:
            self.item = None
        elif self.cc is not None and parent == "ccDef" and name in self.cc:
            self.cc[name] = value
        elif parent == "pfLink" and name in self.link:
            self.link[name] = value
        elif name == "pfLink" and self.cc is not None:
            self.cc.setdefault("links", []).append((self.link["exch"], self.link["pfId"]))
        elif name == "ccDef" and self.cc is not None:
            self.end_cc()
        elif self.spread is not None:
            self.end_spread_part(name, parent, value)

    def end_ra(self) -> None:
        if self.item is None or self.stack[-1] not in CONTRACTS:
            return
        if self.item.get("read"):  # a contract's first array is the one SPAN scans
            return
        if len(self.ra) != N_SCENARIOS:
            self.issue(
                self.ra_line,
                f"risk array <ra> of contract cId {self.item['cId']!r} "
                f"has {len(self.ra)} values <a>, expected {N_SCENARIOS}",
            )
            return
        self.item["read"] = True
        self.keys.append(
            (
                self.exch,
                self.pf["pfId"],
                self.pf["pfCode"],
                self.pf["kind"],
                self.item["o"],
                self.item["pe"],
                self.item["k"],
                self.item["line"],
            )
        )
        self.values.extend(self.ra)
        self.deltas.append(self.ra_delta)

    def end_cc(self) -> None:
        assert self.cc is not None
        code = self.cc["cc"]
        exponent = self.number(self.cc["riskExponent"] or "0", "riskExponent")
        self.ccs[code] = CombinedCommodity(
            code=code, currency=self.cc["currency"], risk_exponent=int(exponent)
        )
        for link in self.cc.get("links", []):
            self.links[link] = code
        self.cc = None

    def end_spread_part(self, name: str, parent: str, value: str) -> None:
        assert self.spread is not None
        s = self.spread
        if name == "spread" and parent == s["kind"]:
            s["spread"] = value
        elif name == "val" and parent == "rate" and s["rate"] is None:
            s["rate"] = self.number(value, "spread rate <val>")
        elif parent in ("pLeg", "tLeg") and name in self.leg:
            self.leg[name] = value
        elif name == "pLeg":
            s["legs"].append(dict(self.leg))
        elif name == "tLeg":
            s["target"] = self.leg["cc"]
        elif name == s["kind"]:
            self.end_spread()

    def end_spread(self) -> None:
        assert self.spread is not None
        s, self.spread = self.spread, None
        legs = s["legs"]
        rate = s["rate"] if s["rate"] is not None else 0.0
        if len(legs) < 2 or not 0.0 <= rate <= 1.0:
            self.issue(
                s["line"],
                f"<{s['kind']}> needs two or more <pLeg> and a rate <val> in "
                f"[0, 1] (a fraction), got {len(legs)} legs and {rate}",
            )
            return
        sides = tuple(leg["rs"] for leg in legs)
        if any(side not in ("A", "B") for side in sides):
            self.issue(s["line"], f"<pLeg><rs> must be A or B, got {sides}")
            return
        self.spreads.append(
            FileSpread(
                priority=int(self.number(s["spread"] or "0", "<spread>")),
                method="scanning" if s["kind"] == "sSpread" else "delta",
                rate=rate,
                legs=tuple(leg["cc"] for leg in legs),
                ratios=tuple(self.number(leg["i"], "<pLeg><i>") for leg in legs),
                sides=sides,
                target=s["target"],
                line=s["line"],
            )
        )


def read_spn(path: str | Path) -> SpanFileData:
    """Read a SPAN XML ``.spn`` file, streaming it in 1 MB chunks."""
    p = Path(path)
    reader = _Reader(str(p))
    try:
        with p.open("rb") as stream:
            while chunk := stream.read(CHUNK):
                reader.parser.Parse(chunk, False)
            reader.parser.Parse(b"", True)
    except FileNotFoundError:
        raise InputError(f"SPAN file {p} not found") from None
    except xml.parsers.expat.ExpatError as bad:
        where = f"line {bad.lineno}, column {bad.offset + 1}"
        inside = f" inside <{reader.stack[-1]}>" if reader.stack else ""
        reason = xml.parsers.expat.ErrorString(bad.code)
        reader.issues.append(
            Issue(
                source=f"SPAN file {p}, {where}",
                reason=f"not well-formed XML{inside}: {reason} (truncated file?)",
            )
        )
    contracts: list[Contract] = []
    scale: list[float] = []
    keep: list[int] = []
    for i, (exch, pf_id, code, kind, right, period, strike, line) in enumerate(reader.keys):
        cc = reader.links.get((exch, pf_id), "")
        if not cc:
            reader.issue(
                line,
                f"contract of product family {exch} {code} (pfId {pf_id}) is "
                "in no combined commodity: no <ccDef><pfLink> names it",
            )
            continue
        contracts.append(
            Contract(
                cc=cc,
                exchange=exch,
                product=code,
                kind=kind,
                period=period,
                right=right,
                strike=strike,
                line=line,
            )
        )
        scale.append(1.0)
        keep.append(i)
    SchemaError.raise_if_any(
        reader.issues, headline=f"SPAN file {p}: {len(reader.issues)} problem(s)"
    )
    risk = np.asarray(reader.values, dtype=np.float64).reshape(-1, N_SCENARIOS)[keep]
    return SpanFileData(
        source=str(p),
        file_format=f"spn {reader.head['fileFormat']}".strip(),
        exchange_complex=reader.head["ec"],
        business_date=reader.head["date"],
        combined_commodities=reader.ccs,
        contracts=tuple(contracts),
        risk=risk * np.asarray(scale)[:, None],
        delta=np.asarray(reader.deltas, dtype=np.float64)[keep],
        inter_spreads=tuple(reader.spreads),
        records=reader.counts,
    )


# --------------------------------------------------------------------------- writer


def _num(x: float) -> str:
    return repr(float(x))


def spn_text(data: SpanFileData) -> str:
    """``data`` as SPAN XML (the subset the reader reads; module docstring)."""
    out = [
        "<?xml version='1.0' encoding='UTF-8'?>",
        "<spanFile>",
        "<fileFormat>4.00</fileFormat>",
        "<pointInTime>",
        f"<date>{escape(data.business_date)}</date><isSetl>1</isSetl>",
        "<clearingOrg>",
        f"<ec>{escape(data.exchange_complex)}</ec>",
    ]
    families: dict[tuple[str, str, str], list[int]] = {}
    for i, c in enumerate(data.contracts):
        families.setdefault((c.exchange, c.product, c.kind), []).append(i)
    pf_ids = {key: str(n + 1) for n, key in enumerate(families)}
    tag = {v: k for k, v in KIND.items()}
    for exch in dict.fromkeys(c.exchange for c in data.contracts):
        out.append(f"<exchange><exch>{escape(exch)}</exch>")
        for (e, product, kind), rows in families.items():
            if e != exch:
                continue
            pf = tag.get(kind, "futPf")
            out.append(
                f"<{pf}><pfId>{pf_ids[(e, product, kind)]}</pfId><pfCode>{escape(product)}</pfCode>"
            )
            for i in rows:
                c = data.contracts[i]
                ra = "".join(f"<a>{_num(v)}</a>" for v in data.risk[i])
                ra = f"<ra><r>1</r>{ra}<d>{_num(data.delta[i])}</d></ra>"
                if pf in ("futPf", "phyPf"):
                    item = "fut" if pf == "futPf" else "phy"
                    out.append(f"<{item}><cId>{i + 1}</cId><pe>{c.period}</pe>{ra}</{item}>")
                else:
                    out.append(
                        f"<series><pe>{c.period}</pe><opt><cId>{i + 1}</cId>"
                        f"<o>{c.right}</o><k>{escape(c.strike)}</k>{ra}</opt></series>"
                    )
            out.append(f"</{pf}>")
        out.append("</exchange>")
    for cc, info in data.combined_commodities.items():
        links = "".join(
            f"<pfLink><exch>{escape(e)}</exch><pfId>{pf_ids[(e, p, k)]}</pfId></pfLink>"
            for (e, p, k), rows in families.items()
            if data.contracts[rows[0]].cc == cc
        )
        out.append(
            f"<ccDef><cc>{escape(cc)}</cc><currency>{info.currency}</currency>"
            f"<riskExponent>{info.risk_exponent}</riskExponent>{links}</ccDef>"
        )
    out.append("<interSpreads>")
    for s in data.inter_spreads:
        kind = "sSpread" if s.method == "scanning" else "dSpread"
        legs = "".join(
            f"<pLeg><cc>{escape(leg)}</cc><rs>{side}</rs><i>{_num(r)}</i></pLeg>"
            for leg, side, r in zip(s.legs, s.sides, s.ratios, strict=True)
        )
        target = f"<tLeg><cc>{escape(s.target)}</cc></tLeg>" if kind == "sSpread" else ""
        out.append(
            f"<{kind}><spread>{s.priority}</spread><chargeMeth>10</chargeMeth>"
            f"<rate><r>1</r><val>{_num(s.rate)}</val></rate>{legs}{target}</{kind}>"
        )
    out += ["</interSpreads>", "</clearingOrg>", "</pointInTime>", "</spanFile>"]
    return "\n".join(out) + "\n"


def write_spn(data: SpanFileData, path: str | Path) -> Path:
    """Write ``data`` as SPAN XML."""
    p = Path(path)
    p.write_text(spn_text(data), encoding="utf-8")
    return p
