"""Every ``from crossmargin... import name`` in ``benchmarks/`` resolves, at module level or
inside a function (where an import runs only when that benchmark runs).

The benchmarks are too slow for the suite; this keeps a renamed or moved function from
breaking ``benchmarks/run.py`` unnoticed, as ``read_records``/``parse_rows`` moving to
``crossmargin.portfolio.io`` once broke ``netting_tier_walk_10k``.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def _imports() -> list[tuple[str, int, str, str]]:
    found = []
    for path in sorted(BENCHMARKS.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("crossmargin"):
                found += [(path.name, node.lineno, str(node.module), a.name) for a in node.names]
            elif isinstance(node, ast.Import):
                found += [(path.name, node.lineno, a.name, "") for a in node.names
                          if a.name.startswith("crossmargin")]  # fmt: skip
    return found


IMPORTS = _imports()


def test_the_benchmarks_import_from_crossmargin() -> None:
    assert len({name for name, *_ in IMPORTS}) >= 10  # the scan sees the benchmark files


@pytest.mark.parametrize(("file", "line", "module", "name"), IMPORTS,
                         ids=[f"{f}:{n}:{m}.{a}" for f, n, m, a in IMPORTS])  # fmt: skip
def test_a_benchmark_import_resolves(file: str, line: int, module: str, name: str) -> None:
    imported = importlib.import_module(module)
    if name:
        assert hasattr(imported, name) or importlib.util.find_spec(f"{module}.{name}"), (
            f"benchmarks/{file}:{line}: {module} has no {name}"
        )
