"""Calls from one Shoebox service to another's internal routes, and the check that only a service makes them.

Internal routes live under `/internal/`. The gateway and the one port never route that prefix from
outside; a service reaches another directly (its own URL, or in-process in the all-in-one). Each call
is signed with a key derived from the installation secret over the caller's name, the time, the method,
the path with its query and the body's hash, and is refused after `MAX_SKEW_SECONDS`. So no client can
pose as a service even where it can reach a service's port. The caller of a service acts for a person
it has already authenticated and says who in the typed request (`owner_id`), never by forwarding a token.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import TypeVar

import httpx
from fastapi import Request
from pydantic import BaseModel, ValidationError
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from shoebox_lib.errors import (
    Conflict,
    Forbidden,
    Gone,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
    QuotaExceeded,
    ShoeboxError,
    Unauthenticated,
    UpstreamUnavailable,
)

INTERNAL_PREFIX = "/internal"
SIGNATURE_HEADER = "x-shoebox-internal"
MAX_SKEW_SECONDS = 60

Answer = TypeVar("Answer", bound=BaseModel)

# What an internal route's error status means to the caller: the same error, raised again on its side.
_ERRORS: dict[int, type[ShoeboxError]] = {
    e.status_code: e for e in (InvalidInput, Unauthenticated, Forbidden, NotFound, Conflict, Gone, PayloadTooLarge,
                               QuotaExceeded, UpstreamUnavailable)
}


def _key(secret: str) -> bytes:
    return hmac.new(secret.encode(), b"shoebox internal calls v1", hashlib.sha256).digest()


def signature(secret: str, caller: str, at: int, method: str, target: str, body: bytes) -> str:
    message = "\n".join((caller, str(at), method.upper(), target, hashlib.sha256(body).hexdigest())).encode()
    return hmac.new(_key(secret), message, hashlib.sha256).hexdigest()


def _target(url: httpx.URL | str, query: bytes | str = b"") -> str:
    path = url if isinstance(url, str) else url.raw_path.decode("ascii").split("?", 1)[0]
    query = query.decode("latin-1") if isinstance(query, bytes) else query
    return f"{path}?{query}" if query else path


async def require_internal(request: Request) -> str:
    """The calling service's name, once its signature holds; otherwise 401 as for any forged credential."""
    header = request.headers.get(SIGNATURE_HEADER, "")
    caller, _, rest = header.partition(":")
    at_text, _, given = rest.partition(":")
    if not (caller and at_text.isascii() and at_text.isdigit() and given):
        raise Unauthenticated("This route is for Shoebox services only")
    at = int(at_text)
    if abs(time.time() - at) > MAX_SKEW_SECONDS:
        raise Unauthenticated("The internal call's signature has expired")
    secret: str = request.app.state.runtime.settings.secret_key
    body = await request.body()
    expected = signature(secret, caller, at, request.method, _target(request.url.path, request.url.query), body)
    if not hmac.compare_digest(expected, given):
        raise Unauthenticated("This route is for Shoebox services only")
    return caller


class InternalClient:
    """One service's view of another's internal routes: typed requests and answers, short timeouts,
    transport errors retried, and the other side's errors raised again as the same `ShoeboxError`."""

    def __init__(self, caller: str, target: str, http: httpx.AsyncClient, secret: str) -> None:
        self.caller = caller
        self.target = target  # the service's name, for messages
        self.http = http  # its base URL (or in-process transport) is set by whoever built it
        self.secret = secret

    async def call(self, method: str, path: str, answer: type[Answer], body: BaseModel | None = None,
                   params: dict[str, str | int] | None = None) -> Answer:
        if not path.startswith(INTERNAL_PREFIX + "/"):
            raise ValueError(f"{path} is not an internal route")
        content = body.model_dump_json().encode() if body is not None else b""
        request = self.http.build_request(method, path, content=content or None, params=params,
                                          headers={"content-type": "application/json"} if content else None)
        at = int(time.time())
        signed = signature(self.secret, self.caller, at, method, _target(request.url, request.url.query), content)
        request.headers[SIGNATURE_HEADER] = f"{self.caller}:{at}:{signed}"
        try:
            async for attempt in AsyncRetrying(stop=stop_after_attempt(3), wait=wait_exponential(multiplier=0.1, max=1),
                                               retry=retry_if_exception_type(httpx.TransportError), reraise=True):
                with attempt:
                    response = await self.http.send(request)
        except httpx.TransportError as exc:
            raise UpstreamUnavailable(f"The {self.target} service cannot be reached; try again") from exc
        if response.is_success:
            try:
                return answer.model_validate_json(response.content)
            except ValidationError as exc:
                raise UpstreamUnavailable(f"The {self.target} service gave an answer we cannot read") from exc
        error = _ERRORS.get(response.status_code)
        if error is None:
            raise UpstreamUnavailable(f"The {self.target} service answered {response.status_code}")
        try:
            payload = response.json()
        except ValueError:
            payload = {}
        raise error(str(payload.get("message") or f"The {self.target} service refused the call"),
                    code=payload.get("code") if isinstance(payload.get("code"), str) else None)
