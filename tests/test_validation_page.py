"""docs/models/validation.md is the output of scripts/validation_table.py, and every
registered published example is checked by at least one test."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

from crossmargin.report.docs import read_block
from published import examples

ROOT = Path(__file__).resolve().parents[1]


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "validation_table", ROOT / "scripts" / "validation_table.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_registered_example_has_a_test() -> None:
    script = _script()
    users = script.tests_using(set(examples()))
    untested = sorted(i for i, tests in users.items() if not tests)
    assert not untested, f"published examples no test checks: {untested}"


def test_validation_page_is_the_scripts_output() -> None:
    script = _script()
    assert read_block(script.DOC, script.BLOCK) == script.table()
