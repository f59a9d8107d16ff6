"""Opaque page cursors: the sort key of the last row a page showed, so the next page starts right after it.

A keyset cursor is stable: rows added or removed while a client pages never make it repeat or skip one
(rows added before the cursor's position are simply not on later pages). The key is a short tuple of
integers, sent as base64url JSON; what a client sends back is parsed strictly, and anything else is a 400.
"""

from __future__ import annotations

import base64
import binascii
import json

from shoebox_lib.errors import InvalidInput
from shoebox_metadata.library.repo import BIGINT_MAX

MAX_CURSOR_LENGTH = 200


def encode_cursor(*key: int) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(key), separators=(",", ":")).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, size: int) -> tuple[int, ...]:
    """The key of a cursor this module made, of `size` integers; anything else is InvalidInput."""
    try:
        if len(cursor) > MAX_CURSOR_LENGTH:
            raise ValueError
        key = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidInput("cursor is not one this server gave") from None
    if not isinstance(key, list) or len(key) != size or not all(
            type(part) is int and -BIGINT_MAX <= part <= BIGINT_MAX for part in key):
        raise InvalidInput("cursor is not one this server gave")
    return tuple(key)
