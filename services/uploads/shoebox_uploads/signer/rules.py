"""The limits every face's uploads keep: part sizes and numbers, what a completion may list, and when a
session still takes writes. Pure functions of a session and a request."""

from __future__ import annotations

import math
import secrets
from datetime import UTC, datetime

from shoebox_lib.errors import Conflict, Gone, InvalidInput
from shoebox_lib.storage.base import MAX_PART_NUMBER, MIN_PART_SIZE, check_completion, normalise_etag
from shoebox_uploads.models import SessionStatus, UploadKind, UploadSession

DEFAULT_PART_SIZE = 8 * 1024 * 1024


def choose_part_size(total_bytes: int) -> int:
    """8 MiB parts, doubled until the object fits in S3's 10,000 parts."""
    size = max(DEFAULT_PART_SIZE, MIN_PART_SIZE)
    while math.ceil(total_bytes / size) > MAX_PART_NUMBER:
        size *= 2
    return size


def max_parts(total_bytes: int | None) -> int:
    """The highest part number a client choosing its own part size may use for a declared size."""
    if total_bytes is None:
        return MAX_PART_NUMBER
    return max(1, min(MAX_PART_NUMBER, math.ceil(total_bytes / MIN_PART_SIZE)))


def new_session_id() -> str:
    # Also the quota hold's id at metadata: [A-Za-z0-9_-], at most 64 characters.
    return "up_" + secrets.token_urlsafe(16)


def ensure_open(record: UploadSession) -> None:
    if record.status != SessionStatus.OPEN:
        raise Conflict(f"The upload session is {record.status}")
    if record.expires_at <= datetime.now(UTC):
        raise Gone("The upload session has expired")


def ensure_part_number(record: UploadSession, part_number: int) -> None:
    limit = record.part_count or MAX_PART_NUMBER
    if not 1 <= part_number <= limit:
        raise InvalidInput(f"part_number must be between 1 and {limit}")


def completion_parts(record: UploadSession, parts: list[tuple[int, str]]) -> list[tuple[int, str]]:
    """The parts to assemble, as storage wants them. The v1 face fixed the part count at the start, so
    it must list every part; the others list ascending parts up to what the declared size allows."""
    if record.kind == UploadKind.V1:
        assert record.part_count is not None
        if sorted(n for n, _ in parts) != list(range(1, record.part_count + 1)):
            raise InvalidInput(f"parts must list part numbers 1 to {record.part_count}, each once")
        return sorted((n, normalise_etag(etag)) for n, etag in parts)
    wanted = check_completion(parts)
    limit = record.part_count or MAX_PART_NUMBER
    if wanted[-1][0] > limit:
        raise InvalidInput(f"part numbers go up to {limit} for the size declared")
    return wanted
