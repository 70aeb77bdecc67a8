"""A serving process freezes its heap once the application is built (``server.frozen``): the
garbage collector's full collections then walk only what requests created since, not the
~240,000 objects of the libraries and tables (a ~90 ms pause each, measured in process)."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.service.conftest import ASOF, needs_data

from crossmargin.service import ServiceConfig
from crossmargin.service.server import CONFIG_ENV

pytestmark = needs_data

PROBE = """
import gc, time
from crossmargin.service.server import app_from_env
app_from_env()
frozen = gc.get_freeze_count()
t = time.process_time()
gc.collect()
print(frozen, len(gc.get_objects()), time.process_time() - t)
"""


def test_a_worker_freezes_its_heap_after_building_the_app() -> None:
    env = {**os.environ, CONFIG_ENV: ServiceConfig(asof=ASOF, record=False).to_json()}
    out = subprocess.run(
        [sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr
    frozen, tracked, seconds = out.stdout.split()
    assert int(frozen) > 100_000  # the libraries and the application
    assert int(tracked) < 1_000  # what a full collection still walks
    assert float(seconds) < 0.05
