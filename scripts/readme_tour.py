"""Regenerate the README's CLI tour: run the commands and paste their output.

Usage: ``python scripts/readme_tour.py [--write]``. Runs ``crossmargin sample``, ``margin`` and
``stress`` on the sample book (as of 2026-02-11) in a temporary folder with an 100-column
terminal and writes each command's output between the README's ``tour-*`` markers.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from crossmargin.report.docs import write_block

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
ASOF = "2026-02-11"
TOUR = {
    "tour-margin": [
        ["sample", "--out", "book.json"],
        ["margin", "book.json", "--model", "span", "--asof", ASOF, "--no-store"],
    ],
    "tour-whatif": [
        ["what-if", "book.json", "--account", "gamma-xasset", "--trade", "ESH26:1@6950",
         "--model", "es", "--asof", ASOF],
    ],
    "tour-stress": [
        ["stress", "book.json", "--crisis", "covid", "--asof", ASOF, "--no-store"],
    ],
}  # fmt: skip


def run(args: list[str], cwd: Path) -> str:
    env = {**os.environ, "COLUMNS": "100", "NO_COLOR": "1", "TERM": "dumb"}
    done = subprocess.run(
        [sys.executable, "-m", "crossmargin", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.rstrip()


def blocks() -> dict[str, str]:
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, commands in TOUR.items():
            parts = []
            for args in commands:
                shown = " ".join(f"'{a}'" if " " in a else a for a in args)
                parts.append(f"$ crossmargin {shown}\n{run(args, Path(tmp))}")
            out[name] = "```console\n" + "\n".join(parts) + "\n```"
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="replace the README blocks")
    args = parser.parse_args()
    for name, text in blocks().items():
        if args.write:
            write_block(README, name, text)
        else:
            print(text)
    if args.write:
        print(f"wrote {README}")


if __name__ == "__main__":
    main()
