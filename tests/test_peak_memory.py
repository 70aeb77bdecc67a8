"""``peak_rss_mb`` is a process's own peak: a child does not inherit its parent's.

The benchmarks measure peak memory in fresh child processes (``bench_fused``,
``bench_spanfile``, ``bench_distributed``) and dataset tasks report their worker's; on Linux
``ru_maxrss`` carries the high-water mark of the process that started them.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from crossmargin.peak_memory import peak_rss_mb

pytestmark = pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="Linux /proc only")


def test_a_child_reports_its_own_peak_not_its_parents() -> None:
    held = np.ones(50_000_000)  # 400 MB, every page touched
    assert peak_rss_mb() >= 380.0
    code = "from crossmargin.peak_memory import peak_rss_mb; print(peak_rss_mb())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert float(out.stdout) < 250.0  # an interpreter with numpy, not the parent's 400 MB
    assert held.sum() == 50_000_000.0  # held until the child has answered
