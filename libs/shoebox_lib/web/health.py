"""What a readiness check is: a coroutine that raises when its dependency does not answer."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

HealthCheck = Callable[[], Awaitable[None]]
