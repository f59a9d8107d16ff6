"""multipart/form-data read as it arrives: fields are small and bounded, files are streamed.

Starlette's own form parser spools every file part to a temporary file before the route sees any of
it. Here python-multipart's push parser is fed from the request's byte stream (`request.stream()`) and
its callbacks are turned into a pull interface: `next_part()` answers the next field (read whole, up to
`max_field_bytes`) or the next file (whose bytes `FilePart.chunks()` yields as they come). Nothing is
written to disk and at most one received chunk's worth of parsed events is held at a time.
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass
from enum import Enum, auto
from typing import TYPE_CHECKING

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect

from shoebox_lib.errors import InvalidInput

if TYPE_CHECKING:
    from python_multipart.multipart import MultipartCallbacks

DEFAULT_MAX_FIELD_BYTES = 64 * 1024
DEFAULT_MAX_FIELDS = 100
# Per part: Content-Disposition, Content-Type and a few more are all a form needs; each header line is
# bounded too, so a part's headers never cost more than about 8 x 4 KiB.
MAX_PART_HEADERS = 8
MAX_HEADER_BYTES = 4096 + 128

INCOMPLETE_UPLOAD = "INCOMPLETE_UPLOAD"


def incomplete() -> InvalidInput:
    return InvalidInput("The upload ended before the form was complete", code=INCOMPLETE_UPLOAD)


@dataclass(frozen=True)
class FormField:
    name: str
    value: str


class _Kind(Enum):
    PART_BEGIN = auto()
    HEADER_FIELD = auto()
    HEADER_VALUE = auto()
    HEADER_END = auto()
    HEADERS_DONE = auto()
    DATA = auto()
    PART_END = auto()
    END = auto()


_Event = tuple[_Kind, bytes]
_NO_DATA = b""


class FilePart:
    """A file part of the form. Read it with `chunks()` (once) or drop it with `skip()`; the form's next
    part can only be read after this one's last byte has passed."""

    def __init__(self, form: StreamingForm, name: str, filename: str | None, content_type: str | None
                 ) -> None:
        self.name = name
        self.filename = filename
        self.content_type = content_type
        self._form = form
        self._started = False
        self.done = False

    async def chunks(self) -> AsyncIterator[bytes]:
        if self._started:
            raise RuntimeError(f"the file part {self.name!r} is read once")
        self._started = True
        while (data := await self._next_chunk()) is not None:
            yield data

    async def skip(self) -> None:
        """Read past the rest of this part (all of it, or what a reader left) without keeping any of it."""
        self._started = True
        while await self._next_chunk() is not None:
            pass

    async def _next_chunk(self) -> bytes | None:
        """The part's next bytes, or None once its end has been read."""
        while not self.done:
            kind, data = await self._form._next_event()
            if kind is _Kind.PART_END:
                self.done = True
                self._form._current = None
            elif kind is not _Kind.DATA:  # the parser emits only data until a part's end
                raise self._form._fail(_malformed("unexpected structure inside a file part"))
            elif data:
                return data
        return None


class StreamingForm:
    """A multipart/form-data body, part by part, read from `stream` as the parts are asked for.

    `max_fields` bounds the number of parts of any kind (a form of a million empty file parts is as
    much a flood as a million fields); `max_field_bytes` bounds each non-file field's value.
    """

    def __init__(self, stream: AsyncIterator[bytes], content_type: str, *,
                 max_field_bytes: int = DEFAULT_MAX_FIELD_BYTES, max_fields: int = DEFAULT_MAX_FIELDS) -> None:
        media_type, options = parse_options_header(content_type)
        if media_type != b"multipart/form-data":
            raise InvalidInput("The request must be multipart/form-data")
        boundary = options.get(b"boundary")
        if not boundary:
            raise InvalidInput("The multipart/form-data content type has no boundary")
        callbacks: MultipartCallbacks = {
            "on_part_begin": lambda: self._push(_Kind.PART_BEGIN),
            "on_header_field": lambda data, start, end: self._push(_Kind.HEADER_FIELD, data[start:end]),
            "on_header_value": lambda data, start, end: self._push(_Kind.HEADER_VALUE, data[start:end]),
            "on_header_end": lambda: self._push(_Kind.HEADER_END),
            "on_headers_finished": lambda: self._push(_Kind.HEADERS_DONE),
            "on_part_data": lambda data, start, end: self._push(_Kind.DATA, data[start:end]),
            "on_part_end": lambda: self._push(_Kind.PART_END),
            "on_end": lambda: self._push(_Kind.END),
        }
        try:
            self._parser = MultipartParser(boundary, callbacks, max_header_count=MAX_PART_HEADERS,
                                           max_header_size=MAX_HEADER_BYTES)
        except FormParserError as exc:
            raise InvalidInput(f"The multipart/form-data boundary is not valid: {exc}") from None
        self._stream = stream
        self._events: deque[_Event] = deque()
        self._max_field_bytes = max_field_bytes
        self._max_fields = max_fields
        self._parts = 0
        self._ended = False
        self._failed: InvalidInput | None = None
        self._current: FilePart | None = None

    def _push(self, kind: _Kind, data: bytes = _NO_DATA) -> None:
        self._events.append((kind, data))

    async def _next_event(self) -> _Event:
        """The parser's next event, feeding it from the stream until it has one."""
        if self._failed is not None:
            raise self._failed
        try:
            while not self._events:
                if self._ended:
                    raise RuntimeError("the form was read to its end")
                try:
                    chunk = await anext(self._stream)
                except (StopAsyncIteration, ClientDisconnect):
                    raise incomplete() from None
                if chunk:
                    try:
                        self._parser.write(chunk)
                    except FormParserError as exc:
                        raise _malformed(str(exc)) from None
            event = self._events.popleft()
        except InvalidInput as exc:
            self._failed = exc
            raise
        if event[0] is _Kind.END:
            self._ended = True
        return event

    async def next_part(self) -> FormField | FilePart | None:
        """The next part, or None once the closing boundary has been read."""
        if self._failed is not None:
            raise self._failed
        if self._current is not None:
            raise RuntimeError(f"the file part {self._current.name!r} must be read or skipped first")
        if self._ended:
            return None
        kind, _ = await self._next_event()
        if kind is _Kind.END:
            return None
        if kind is not _Kind.PART_BEGIN:
            raise self._fail(_malformed("a part was expected"))
        self._parts += 1
        if self._parts > self._max_fields:
            raise self._fail(InvalidInput(f"The form has more than {self._max_fields} fields"))
        headers = await self._read_headers()
        name, filename, is_file = self._disposition(headers)
        if is_file:
            content_type = headers.get("content-type") or None
            self._current = FilePart(self, name, filename, content_type)
            return self._current
        return FormField(name, await self._read_value(name))

    async def _read_headers(self) -> dict[str, str]:
        headers: dict[str, str] = {}
        field = bytearray()
        value = bytearray()
        while True:
            kind, data = await self._next_event()
            if kind is _Kind.HEADER_FIELD:
                field += data
            elif kind is _Kind.HEADER_VALUE:
                value += data
            elif kind is _Kind.HEADER_END:
                # Header bytes are latin-1 on the wire (RFC 7230); a UTF-8 filename is decoded after parsing.
                headers[field.decode("latin-1").strip().lower()] = value.decode("latin-1").strip()
                field.clear()
                value.clear()
            elif kind is _Kind.HEADERS_DONE:
                return headers
            else:
                raise self._fail(_malformed("a part's headers are incomplete"))

    def _disposition(self, headers: dict[str, str]) -> tuple[str, str | None, bool]:
        disposition, options = parse_options_header(headers.get("content-disposition"))
        if disposition != b"form-data" or b"name" not in options:
            raise self._fail(_malformed("every part needs a Content-Disposition of form-data with a name"))
        name = self._text(options[b"name"], "a part's name")
        if b"filename" not in options:
            return name, None, False
        # A browser sends `filename=""` for a file input left empty: still a file part, without a name.
        filename = self._text(options[b"filename"], "a file name") or None
        return name, filename, True

    def _text(self, raw: bytes, what: str) -> str:
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise self._fail(InvalidInput(f"The form is malformed: {what} is not UTF-8")) from None

    async def _read_value(self, name: str) -> str:
        value = bytearray()
        while True:
            kind, data = await self._next_event()
            if kind is _Kind.PART_END:
                return self._text(bytes(value), f"the value of {name!r}")
            if kind is not _Kind.DATA:
                raise self._fail(_malformed("unexpected structure inside a field"))
            value += data
            if len(value) > self._max_field_bytes:
                raise self._fail(InvalidInput(
                    f"The form field {name!r} is longer than {self._max_field_bytes} bytes"))

    def _fail(self, error: InvalidInput) -> InvalidInput:
        """Remember the error: a form that failed once answers every later read with the same error."""
        self._failed = error
        return error


def _malformed(detail: str) -> InvalidInput:
    return InvalidInput(f"The form is malformed: {detail}")
