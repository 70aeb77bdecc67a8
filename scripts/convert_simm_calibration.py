"""Regenerate crossmargin's shipped SIMM parameter files from ORE's calibration XML.

Usage::

    .venv/bin/python scripts/convert_simm_calibration.py [XML_DIR] [--check]

``XML_DIR`` defaults to ``../shared/data/simm/ore-calibration`` (found the same way as the
market data, see ``crossmargin.config``).  Each ``simmcalibration_<version>.xml`` becomes
``src/crossmargin/simm/data/simm_<version>.json``.  With ``--check`` nothing is written and
the exit status says whether the shipped files are exactly what the converter produces.

The XML files are ORE's (OpenSourceRisk/Engine, Modified BSD licence); the licence travels
with the JSON as ``src/crossmargin/simm/data/LICENSE-ORE.txt``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from crossmargin.config import find_data_dir
from crossmargin.simm.ore_calibration import VERSIONS, convert_ore_calibration, dump_parameters

OUT_DIR = Path(__file__).resolve().parents[1] / "src" / "crossmargin" / "simm" / "data"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("xml_dir", nargs="?", type=Path, default=None)
    parser.add_argument("--check", action="store_true", help="compare, do not write")
    args = parser.parse_args(argv)
    xml_dir: Path | None = args.xml_dir
    if xml_dir is None:
        market = find_data_dir()
        if market is None:
            print("no shared data folder found; pass XML_DIR", file=sys.stderr)
            return 2
        xml_dir = market.parent / "simm" / "ore-calibration"
    stale = []
    for version, info in VERSIONS.items():
        text = dump_parameters(convert_ore_calibration(xml_dir / info["file"], version=version))
        target = OUT_DIR / f"simm_{version}.json"
        if args.check:
            if not target.is_file() or target.read_text(encoding="utf-8") != text:
                stale.append(target.name)
        else:
            target.write_text(text, encoding="utf-8")
            print(f"wrote {target}")
    if stale:
        print("out of date: " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
