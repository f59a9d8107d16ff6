"""Types for what a face accepts, so that every value is bounded at the edge: integers fit PostgreSQL's
bigint, text holds no NUL or other control characters (PostgreSQL cannot store NUL, and nothing a person
types needs the others), and free-form JSON stays small. Use them in request models and parameters."""

from __future__ import annotations

import json
from typing import Annotated, Any

from pydantic import AfterValidator, Field

BIGINT_MAX = 2**63 - 1

Int64 = Annotated[int, Field(ge=-BIGINT_MAX - 1, le=BIGINT_MAX)]
NonNegative64 = Annotated[int, Field(ge=0, le=BIGINT_MAX)]
Id64 = Annotated[int, Field(ge=1, le=BIGINT_MAX)]  # a database id: never 0 or negative


def no_control_characters(value: str) -> str:
    """Tabs and newlines are text; NUL and the other C0/C1 controls are not."""
    for char in value:
        code = ord(char)
        if (code < 32 and char not in "\t\n\r") or 127 <= code < 160:
            raise ValueError("must not contain control characters")
    return value


Text = Annotated[str, AfterValidator(no_control_characters)]


def bounded_json(limit: int) -> AfterValidator:
    """Free-form JSON a client stores (magic metadata, attributes, Uppy metadata): at most `limit` bytes
    encoded, and no NUL anywhere in it."""

    def check(value: Any) -> Any:
        encoded = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
        if len(encoded.encode()) > limit:
            raise ValueError(f"must be at most {limit} bytes of JSON")
        if "\\u0000" in encoded or "\x00" in encoded:
            raise ValueError("must not contain NUL characters")
        return value

    return AfterValidator(check)
