"""What a readiness check is: a coroutine that raises when its dependency does not answer; and what a
service's health is made of them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from enum import StrEnum

HealthCheck = Callable[[], Awaitable[None]]


class Health(StrEnum):
    OK = "ok"
    # A dependency the service can do without for a while is down (a replica tier): it goes on serving,
    # and says so.
    DEGRADED = "degraded"
    FAILING = "failing"  # a dependency it cannot do without is down: /healthz answers 503

    @property
    def serving(self) -> bool:
        return self is not Health.FAILING

    @classmethod
    def worst(cls, healths: Iterable[Health]) -> Health:
        found = set(healths)
        return next((h for h in (cls.FAILING, cls.DEGRADED) if h in found), cls.OK)
