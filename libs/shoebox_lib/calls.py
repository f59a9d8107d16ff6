"""The few synchronous calls one service makes to another while a person waits: short timeouts (the
client's), transport errors retried with backoff, and an unreachable service reported as a 503."""

from __future__ import annotations

from typing import Any

import httpx
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from shoebox_lib.errors import UpstreamUnavailable


async def call_service(http: httpx.AsyncClient, method: str, url: str, *, service: str, token: str | None = None,
                       headers: dict[str, str] | None = None, json: Any = None,
                       params: dict[str, Any] | None = None) -> httpx.Response:
    """One call, retried only when it never reached the other side; every answer is returned as it is."""
    sent = dict(headers or {})
    if token:
        sent["Authorization"] = f"Bearer {token}"
    try:
        async for attempt in AsyncRetrying(stop=stop_after_attempt(3), wait=wait_exponential(multiplier=0.1, max=1),
                                           retry=retry_if_exception_type(httpx.TransportError), reraise=True):
            with attempt:
                return await http.request(method, url, headers=sent, json=json, params=params)
    except httpx.TransportError as exc:
        raise UpstreamUnavailable(f"The {service} service cannot be reached; try again") from exc
    raise AssertionError("unreachable: tenacity either returns or raises")
