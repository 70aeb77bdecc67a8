"""``scripts/setup`` runs pip only when pyproject.toml changed (a stamp in .venv keyed on its
hash), so the quick start's second command does not reinstall (issue 19).

The test runs the real script in a scratch copy whose ``.venv/bin/python`` is a wrapper: it
logs every ``-m pip`` call instead of installing, and runs everything else (the hash, the
import check) with this interpreter and this checkout's sources.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import crossmargin

ROOT = Path(__file__).resolve().parents[1]
SRC = Path(crossmargin.__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    (tmp_path / "scripts").mkdir()
    shutil.copy(ROOT / "scripts" / "setup", tmp_path / "scripts" / "setup")
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    venv_bin = tmp_path / ".venv" / "bin"
    venv_bin.mkdir(parents=True)
    wrapper = venv_bin / "python"
    wrapper.write_text(
        "#!/usr/bin/env bash\n"
        'if [ "$1" = -m ] && [ "$2" = pip ]; then echo "pip $*" >> "$(dirname "$0")/pip.log"; '
        "exit 0; fi\n"
        f'PYTHONPATH={SRC} exec {sys.executable} "$@"\n'
    )
    wrapper.chmod(0o755)
    return tmp_path


def _setup(clone: Path, **env: str) -> list[str]:
    done = subprocess.run(
        ["bash", str(clone / "scripts" / "setup")],
        capture_output=True, text=True, timeout=120, env={**os.environ, **env},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    log = clone / ".venv" / "bin" / "pip.log"
    calls = log.read_text().splitlines() if log.exists() else []
    log.unlink(missing_ok=True)
    return calls


def test_pip_runs_once_then_only_when_pyproject_changes(clone: Path) -> None:
    first = _setup(clone)
    assert any("-e .[dev]" in call for call in first)
    assert (clone / ".venv" / ".setup-stamp").exists()
    assert _setup(clone) == []  # nothing changed: no pip at all
    with (clone / "pyproject.toml").open("a") as handle:
        handle.write("\n# a new dependency would change this file\n")
    assert any("-e .[dev]" in call for call in _setup(clone))
    assert _setup(clone) == []
    assert any("-e .[dev]" in call for call in _setup(clone, FORCE="1"))
