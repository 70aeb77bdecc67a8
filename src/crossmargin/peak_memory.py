"""The peak resident memory of this process, its own.

``getrusage(RUSAGE_SELF).ru_maxrss`` is not the process's own on Linux: the kernel keeps the
high-water mark across ``fork`` and ``exec`` (``exec_mmap`` folds the old address space's
mark into the process's), so a child started from a process that once held 3.5 GB reports at
least 3.5 GB, whatever it uses. ``VmHWM`` in ``/proc/self/status`` is the high-water mark of
the current address space only: what the process itself has needed since it started (or
since ``exec``). Measured: a child of a 1.5 GB process reports ``ru_maxrss`` 1,456 MB and
``VmHWM`` 9 MB.
"""

from __future__ import annotations

import resource
import sys
from pathlib import Path

_STATUS = Path("/proc/self/status")


def peak_rss_mb() -> float:
    """Peak resident set size of this process in MB (2**20 bytes): ``VmHWM`` where the system
    has it (Linux), else ``ru_maxrss`` (kilobytes on Linux, bytes on macOS)."""
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return float(line.split()[1]) / 1024.0  # "VmHWM:   8752 kB"
    except OSError:
        pass
    peak = float(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024.0


__all__ = ["peak_rss_mb"]
