"""One value kept for a short while: what a service reads often and may see a little late (the store's
auth mode), so that most reads cost no query or call."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class TtlCache(Generic[T]):
    """The value last put, for `seconds` after it was put (by `clock`, the monotonic one); None once older."""

    def __init__(self, seconds: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self._clock = clock
        self._held: tuple[float, T] | None = None

    def get(self) -> T | None:
        held = self._held
        if held is None or self._clock() - held[0] >= self.seconds:
            return None
        return held[1]

    def put(self, value: T) -> T:
        self._held = (self._clock(), value)
        return value
