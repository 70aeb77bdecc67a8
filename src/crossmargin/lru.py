"""A small thread-safe least-recently-used mapping, for the caches kept between requests
(the service's books, markets and "before" results; the netting layer's book shapes)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable
from typing import Any


class _Key:
    """A key with its hash worked out once: the keys here are tuples of a book's rows,
    hashed element by element on every lookup, and a hit looks its key up twice (to find it,
    then to make it the most recent)."""

    __slots__ = ("hash", "value")

    def __init__(self, value: Hashable) -> None:
        self.value = value
        self.hash = hash(value)

    def __hash__(self) -> int:
        return self.hash

    def __eq__(self, other: object) -> bool:
        return self is other or (
            isinstance(other, _Key) and self.hash == other.hash and self.value == other.value
        )


class Lru:
    """At most ``maxsize`` entries; a hit makes its entry the most recent, an insertion
    beyond ``maxsize`` drops the least recent."""

    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        # each entry: (its key as stored, its value): the stored key moves the entry to the
        # end by identity, without comparing the keys again
        self._data: OrderedDict[_Key, tuple[_Key, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._data)

    def values(self) -> list[Any]:
        """The values kept, the least recent first."""
        with self._lock:
            return [value for _, value in self._data.values()]

    def get(self, key: Hashable) -> Any:
        """The value kept under ``key``, or None."""
        wanted = _Key(key)
        with self._lock:
            found = self._data.get(wanted)
            if found is None:
                return None
            self._data.move_to_end(found[0])
            return found[1]

    def put(self, key: Hashable, value: Any) -> None:
        """Keep ``value`` under ``key`` (the most recent entry)."""
        stored = _Key(key)
        with self._lock:
            self._data.pop(stored, None)  # an equal key kept before: replaced by this one
            self._data[stored] = (stored, value)
            while len(self._data) > self.maxsize:
                self._data.popitem(last=False)


__all__ = ["Lru"]
