"""A small thread-safe least-recently-used mapping, for the caches kept between requests
(the service's books, markets and "before" results; the netting layer's book shapes)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable
from typing import Any

_MISSING = object()


class Lru:
    """At most ``maxsize`` entries; a hit makes its entry the most recent, an insertion
    beyond ``maxsize`` drops the least recent."""

    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self._data: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._data)

    def get(self, key: Hashable) -> Any:
        """The value kept under ``key``, or None."""
        with self._lock:
            found = self._data.get(key, _MISSING)
            if found is _MISSING:
                return None
            self._data.move_to_end(key)
            return found

    def put(self, key: Hashable, value: Any) -> None:
        """Keep ``value`` under ``key`` (the most recent entry)."""
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.maxsize:
                self._data.popitem(last=False)


__all__ = ["Lru"]
