"""One error model inside; each face renders it in its own shape.

Core code raises `ShoeboxError` subclasses and knows nothing of HTTP shapes; `web.errors` turns them
into responses for whichever face the request came through.
"""

from __future__ import annotations

from typing import Any


class ShoeboxError(Exception):
    status_code = 400
    code = "BAD_REQUEST"

    def __init__(self, message: str, *, code: str | None = None, details: list[dict[str, Any]] | None = None,
                 retry_after: int | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.details = details or []
        self.retry_after = retry_after  # seconds, sent as Retry-After: the answer may differ by then

    @property
    def is_refusal(self) -> bool:
        """A verdict on the request itself (a 4xx other than 429): asked again unchanged, it is refused again.
        A 429 or a 5xx (a dependency down) says nothing of the request, and a retry may succeed."""
        return 400 <= self.status_code < 500 and self.status_code != 429


class InvalidInput(ShoeboxError):
    status_code = 400
    code = "VALIDATION_ERROR"


class Unauthenticated(ShoeboxError):
    status_code = 401
    code = "UNAUTHORIZED"


class Forbidden(ShoeboxError):
    status_code = 403
    code = "FORBIDDEN"


class NotFound(ShoeboxError):
    status_code = 404
    code = "NOT_FOUND"


class Conflict(ShoeboxError):
    status_code = 409
    code = "CONFLICT"


class Gone(ShoeboxError):
    status_code = 410
    code = "GONE"


class PayloadTooLarge(ShoeboxError):
    status_code = 413
    code = "PAYLOAD_TOO_LARGE"


class Unprocessable(ShoeboxError):
    """Well-formed, but the rules of what it describes refuse it (CL's 422s: a collection with a file)."""

    status_code = 422
    code = "UNPROCESSABLE"


class QuotaExceeded(ShoeboxError):
    status_code = 426  # what Ente answers when storage is full
    code = "STORAGE_LIMIT_EXCEEDED"


class UpstreamUnavailable(ShoeboxError):
    status_code = 503
    code = "SERVICE_UNAVAILABLE"

    def __init__(self, message: str, *, code: str | None = None, details: list[dict[str, Any]] | None = None,
                 retry_after: int | None = 5):
        # A dependency down comes back: the client is told when to ask again rather than left to guess.
        super().__init__(message, code=code, details=details, retry_after=retry_after)
