"""How much one request and one user may ask of the signer: signing is cheap per URL but not per 500,000,
and every open session can write to storage. Beyond these a request is refused before anything is signed,
held or opened.

- At most `MAX_UPLOAD_URLS` objects in one answer (Ente's own limit on `/files/upload-urls`).
- At most `MAX_SIGNED_URLS` part URLs in one answer: one object of S3's 10,000 parts, or seed 000's
  `count` objects of `parts` parts each, within the same budget (10,000 URLs are about 6 MB and 0.2 s).
- At most `UploadsSettings.max_open_sessions` sessions of one owner that can still take writes (open or
  being completed, and not past their expiry); see `Uploads.record`.
"""

from __future__ import annotations

from shoebox_lib.errors import InvalidInput, ShoeboxError
from shoebox_lib.storage.base import MAX_PART_NUMBER

MAX_UPLOAD_URLS = 50
MAX_SIGNED_URLS = MAX_PART_NUMBER


class TooManyOpenUploads(ShoeboxError):
    """The owner has as many uploads open as they may; one must end (complete, abort, expire) first."""

    status_code = 429
    code = "TOO_MANY_OPEN_UPLOADS"


def check_count(count: int) -> None:
    if not 1 <= count <= MAX_UPLOAD_URLS:
        raise InvalidInput(f"count must be between 1 and {MAX_UPLOAD_URLS}")


def check_parts(count: int) -> None:
    if not 1 <= count <= MAX_PART_NUMBER:
        raise InvalidInput(f"count (the number of parts) must be between 1 and {MAX_PART_NUMBER}")


def check_signed(objects: int, parts: int) -> None:
    """`objects` multipart uploads of `parts` parts each, in one answer."""
    check_count(objects)
    check_parts(parts)
    if objects * parts > MAX_SIGNED_URLS:
        raise InvalidInput(f"One answer signs at most {MAX_SIGNED_URLS} part URLs; {objects} objects of "
                           f"{parts} parts would be {objects * parts}")


def check_part_numbers(numbers: list[int]) -> None:
    if not numbers:
        raise InvalidInput("No part numbers were given")
    if len(numbers) > MAX_SIGNED_URLS:
        raise InvalidInput(f"One answer signs at most {MAX_SIGNED_URLS} part URLs")


def refused(owner_open: int, limit: int) -> TooManyOpenUploads:
    return TooManyOpenUploads(f"{owner_open} uploads are open, the most one account may have at once is {limit}; "
                              "complete or abort some, or wait for them to expire")
