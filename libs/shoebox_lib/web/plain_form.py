"""A small `application/x-www-form-urlencoded` body (CL's forms without a file), read with bounds: at most
`limit` bytes and `max_fields` fields, UTF-8, no control characters; the first value of a name wins (as
with the streaming reader, `streaming_form`). `open_form` is the opening that CL's forms with a file share:
a plain form is read here, multipart is handed back to be streamed."""

from __future__ import annotations

from urllib.parse import parse_qsl

from fastapi import Request

from shoebox_lib.errors import InvalidInput, PayloadTooLarge, Unprocessable
from shoebox_lib.web.inputs import no_control_characters
from shoebox_lib.web.streaming_form import DEFAULT_MAX_FIELDS, StreamingForm

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


async def open_form(request: Request, *, max_bytes: int, too_large: str, max_fields: int = DEFAULT_MAX_FIELDS
                    ) -> dict[str, str] | StreamingForm:
    """A form that may carry files: a body whose Content-Length passes `max_bytes` is refused before any of
    it is read (`too_large` says why); a plain form (or a body without a content type) is read whole, as
    `read_plain_form` reads it; multipart comes back as a `StreamingForm` for the caller to stream; any
    other content type is refused."""
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > max_bytes:
        raise PayloadTooLarge(too_large)
    kind = form_kind(request)
    if kind in ("", URLENCODED):
        return await read_plain_form(request)
    if kind != MULTIPART:
        raise InvalidInput(f"Send a form ({URLENCODED} or {MULTIPART}), not {kind}")
    return StreamingForm(request.stream(), request.headers["content-type"], max_fields=max_fields)
