"""Where the shared ISDA/ORE SIMM reference data live (``shared/data/simm``)."""

from __future__ import annotations

from pathlib import Path

from crossmargin.config import find_data_dir

FIXTURES = Path(__file__).parent / "fixtures"


def shared_simm_dir() -> Path | None:
    """``find_data_dir().parent / "simm"``, or None if the shared data are absent."""
    market = find_data_dir()
    if market is None:
        return None
    simm = market.parent / "simm"
    return simm if simm.is_dir() else None
