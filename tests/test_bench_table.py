"""``scripts/bench_table.py``: README's benchmark table is the benchmark records' own figures."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _script() -> ModuleType:
    path = ROOT / "scripts" / "bench_table.py"
    spec = importlib.util.spec_from_file_location("bench_table", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_rows_carry_the_records_values_and_ratios(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    records = [
        {"name": "option_revaluation", "value": 18_124_162.19, "unit": "revaluations/s",
         "baseline_ratio": 26.34},
        {"name": "whatif_es", "value": 7.228, "unit": "ms", "baseline_ratio": 7.7},
        {"name": "not_in_the_table", "value": 1.0, "unit": "s", "baseline_ratio": 1.0},
    ]  # fmt: skip
    path = tmp_path / "bench.jsonl"
    path.write_text("noise line\n" + "\n".join(json.dumps(r) for r in records) + "\n")
    text = _script().table(path)
    lines = text.splitlines()
    row = ("| option revaluation, 10,000 options x 1,000 scenarios | 18.1 M revaluations/s | "
           "26.3x | a plain-Python loop |")  # fmt: skip
    assert row in lines
    assert any(line.startswith("| what-if over HTTP, `es`") and "| 7.23 ms | 7.7x |" in line
               for line in lines)  # fmt: skip
    assert "not_in_the_table" not in text
    assert len([line for line in lines if line.startswith("| ") and "---" not in line]) == 3
    assert "no record simm_crif_100k" in capsys.readouterr().err  # missing rows are named
