"""A small `application/x-www-form-urlencoded` body (CL's forms without a file), read with bounds: at most
`limit` bytes and `max_fields` fields, UTF-8, no control characters; the first value of a name wins (as
with the streaming reader, `streaming_form`)."""

from __future__ import annotations

from urllib.parse import parse_qsl

from fastapi import Request

from shoebox_lib.errors import InvalidInput, PayloadTooLarge, Unprocessable
from shoebox_lib.web.inputs import no_control_characters

URLENCODED = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data"
PLAIN_FORM_LIMIT = 64 * 1024  # a form without files holds a few short fields
MAX_FIELDS = 100


def checked_text(name: str, value: str) -> str:
    try:
        return no_control_characters(value)
    except ValueError:
        raise Unprocessable(f"{name[:64]} must not contain control characters") from None


def form_kind(request: Request) -> str:
    """The body's media type, lower case, without its parameters."""
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


async def read_plain_form(request: Request, *, limit: int = PLAIN_FORM_LIMIT, max_fields: int = MAX_FIELDS
                          ) -> dict[str, str]:
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise PayloadTooLarge(f"A form without files holds at most {limit} bytes")
    try:
        pairs = parse_qsl(body.decode(), keep_blank_values=True, max_num_fields=max_fields)
    except UnicodeDecodeError:
        raise InvalidInput("The form is not UTF-8") from None
    except ValueError:
        raise InvalidInput(f"The form has more than {max_fields} fields") from None
    values: dict[str, str] = {}
    for name, value in pairs:
        values.setdefault(name, checked_text(name, value))
    return values
