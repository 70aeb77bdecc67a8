"""Where crossmargin finds the shared market history.

Resolution order for the market-data folder (the one holding ``crypto/``, ``index/`` ...):

1. an explicit path (``--data DIR`` on the CLI, ``data_dir=`` in the API);
2. the ``CROSSMARGIN_DATA`` environment variable;
3. the first ``shared/data/market`` found walking up from the current directory, then
   from this package's own location (so a checkout with ``../shared`` beside it works
   with no configuration, as CI lays it out).
"""

from __future__ import annotations

import os
from pathlib import Path

from crossmargin.errors import MarketDataError

ENV_VAR = "CROSSMARGIN_DATA"
_RELATIVE = Path("shared") / "data" / "market"


def _search_upwards(start: Path) -> Path | None:
    for base in (start, *start.parents):
        candidate = base / _RELATIVE
        if candidate.is_dir():
            return candidate
    return None


def find_data_dir(explicit: str | os.PathLike[str] | None = None) -> Path | None:
    """Return the market-data folder, or ``None`` if none is configured or found."""
    if explicit is not None:
        return Path(explicit).expanduser().resolve()
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser().resolve()
    for start in (Path.cwd().resolve(), Path(__file__).resolve().parent):
        found = _search_upwards(start)
        if found is not None:
            return found
    return None


def data_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    """Return the market-data folder or raise :class:`MarketDataError` saying how to set it."""
    found = find_data_dir(explicit)
    if found is None:
        raise MarketDataError(
            "no market-data folder found: pass --data DIR, set "
            f"{ENV_VAR}, or place the shared data at ../shared/data/market"
        )
    if not found.is_dir():
        raise MarketDataError(f"market-data folder {found} does not exist")
    return found
