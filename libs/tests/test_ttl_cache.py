"""TtlCache: the value last put, until it is `seconds` old (a stand-in monotonic clock, no waiting)."""

from __future__ import annotations

from shoebox_lib.ttl_cache import TtlCache


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_empty_until_put_then_the_value_until_it_is_too_old() -> None:
    clock = Clock()
    cache = TtlCache[str](2.0, clock=clock)
    assert cache.get() is None
    assert cache.put("a") == "a"
    clock.now += 1.9
    assert cache.get() == "a"
    clock.now += 0.1
    assert cache.get() is None


def test_a_put_starts_the_age_again() -> None:
    clock = Clock()
    cache = TtlCache[int](2.0, clock=clock)
    cache.put(1)
    clock.now += 1.5
    cache.put(2)
    clock.now += 1.5
    assert cache.get() == 2
