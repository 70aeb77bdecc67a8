"""The least-recently-used mapping of the caches kept between requests."""

from __future__ import annotations

from crossmargin.lru import Lru


class _Clash:
    """Values of one hash that are equal only to themselves (a worst case of collisions)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __hash__(self) -> int:
        return 7

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Clash) and other.name == self.name


def test_hits_refresh_and_the_least_recent_goes_first() -> None:
    kept = Lru(2)
    kept.put(("a", 1.0), "A")
    kept.put(("b", 2.0), "B")
    assert kept.get(("a", 1.0)) == "A"  # an equal key, another object: a hit
    kept.put(("c", 3.0), "C")  # beyond 2: "b" was the least recent
    assert kept.get(("b", 2.0)) is None
    assert kept.get(("a", 1.0)) == "A"
    assert kept.get(("c", 3.0)) == "C"
    assert len(kept) == 2
    kept.put(("a", 1.0), "A2")  # an equal key again: replaced, still two entries
    assert len(kept) == 2
    assert kept.get(("a", 1.0)) == "A2"
    kept.put(("d", 4.0), "D")  # "c" is now the least recent
    assert kept.get(("c", 3.0)) is None
    assert kept.get(("d", 4.0)) == "D"
    assert kept.values() == ["A2", "D"]  # the least recent first


def test_keys_of_one_hash_are_told_apart_by_equality() -> None:
    kept = Lru(8)
    kept.put((_Clash("x"),), 1)
    kept.put((_Clash("y"),), 2)
    assert kept.get((_Clash("x"),)) == 1
    assert kept.get((_Clash("y"),)) == 2
    assert kept.get((_Clash("z"),)) is None
    assert kept.get(_Clash("x")) is None  # not the tuple: another key
