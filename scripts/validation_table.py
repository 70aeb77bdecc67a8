"""The table of docs/models/validation.md: every published worked example the tests reproduce.

The rows come from the registry ``tests/reference/published_examples.json`` (figure, unit,
tolerance, source) and the tests that check each example: every test function whose body or
decorators name the example's id (``check("cme-calendar-2v3", ...)``). Run
``python scripts/validation_table.py`` to print the table, ``--write`` to replace it in
docs/models/validation.md (between the ``validation-table`` markers).
"""

from __future__ import annotations

import argparse
import ast
import json
from pathlib import Path
from typing import Any

from crossmargin.report.docs import write_block

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "models" / "validation.md"
REGISTRY = ROOT / "tests" / "reference" / "published_examples.json"
BLOCK = "validation-table"


def registry() -> list[dict[str, Any]]:
    """The registered examples, in file order."""
    examples: list[dict[str, Any]] = json.loads(REGISTRY.read_text(encoding="utf-8"))["examples"]
    return examples


def tests_using(ids: set[str]) -> dict[str, list[str]]:
    """``id -> ["tests/.../file.py::test_name", ...]`` for every test naming the id."""
    found: dict[str, list[str]] = {i: [] for i in ids}
    for path in sorted((ROOT / "tests").rglob("test_*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.FunctionDef) or not node.name.startswith("test_"):
                continue
            named = {
                n.value
                for n in ast.walk(node)
                if isinstance(n, ast.Constant) and isinstance(n.value, str) and n.value in ids
            }
            for i in named:
                found[i].append(f"{path.relative_to(ROOT).as_posix()}::{node.name}")
    return found


def _figure(value: Any) -> str:
    if isinstance(value, list):
        shown = ", ".join(f"{v:,.12g}" for v in value[:6])
        return f"[{shown}{', …' if len(value) > 6 else ''}] ({len(value)} values)"
    if isinstance(value, float | int):
        return f"{value:,.12g}"
    return str(value)


def _tolerance(tol: dict[str, float]) -> str:
    parts = []
    if tol.get("abs") is not None:
        parts.append("exact" if tol["abs"] == 0 else f"abs {tol['abs']:g}")
    if tol.get("rel") is not None:
        parts.append(f"rel {tol['rel']:g}")
    return ", ".join(parts)


def table() -> str:
    """The Markdown block (module docstring)."""
    examples = registry()
    users = tests_using({e["id"] for e in examples})
    lines = [
        "| example | model | published figure | unit | tolerance | source | checked by |",
        "|---|---|---|---|---|---|---|",
    ]
    for e in examples:
        tests = "<br>".join(f"`{t}`" for t in users[e["id"]]) or "**none**"
        lines.append(
            f"| {e['title']} (`{e['id']}`) | {e['model']} | {_figure(e['figure'])} | "
            f"{e['unit']} | {_tolerance(e['tolerance'])} | {e['source']} | {tests} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help=f"replace the block in {DOC}")
    args = parser.parse_args()
    text = table()
    if args.write:
        write_block(DOC, BLOCK, text)
    else:
        print(text)


if __name__ == "__main__":
    main()
