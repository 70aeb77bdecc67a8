"""Cascades on a real LocalCluster equal the single-process path.

A cascade's accounts form one fixed point (liquidations move everyone's prices), so the
cluster runs each margining mode as a task: isolated, grouped and cross on the same shock,
the venue waterfall and the CCP default fund; every figure of the report is the same float.
"""

from __future__ import annotations

import pytest
from distributed import Client
from same import assert_same

from crossmargin import api
from market_inputs import history

pytestmark = pytest.mark.realdata


@pytest.mark.parametrize(
    "options",
    [
        {"crisis": "2025-10-10", "mode": "venue"},
        {"spread": "BTC:ETH:17", "mode": "ccp", "modes": ("isolated", "cross")},
    ],
)
def test_cascade_report_equals_single_process(client: Client, options: dict[str, object]) -> None:
    history()  # skips with the reason without the shared data
    spec = {"accounts": 60, "seed": 11}
    single = api.cascade(population=spec, **options)  # type: ignore[arg-type]
    spread = api.cascade(population=spec, client=client, **options)  # type: ignore[arg-type]
    assert [r.mode for r in spread.report.results] == [r.mode for r in single.report.results]
    assert len(single.report.results) >= 2  # at least two tasks
    assert_same(spread.report.to_dict(), single.report.to_dict())


def test_cli_cascade_distributed(run_cli) -> None:  # type: ignore[no-untyped-def]
    history()
    args = ("cascade", "--population", "40:3", "--crisis", "2025-10-10",
            "--json", "--no-store")  # fmt: skip
    single = run_cli(*args)
    spread = run_cli(*args, "--distributed", "--workers", "1")
    assert single.code == 0, single.err
    assert spread.code == 0, spread.err
    import json

    assert_same(json.loads(spread.out)["modes"], json.loads(single.out)["modes"])
