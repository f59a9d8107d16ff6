"""`open_form`, the opening CL's forms with files share: the size refused before any byte is read, a plain
form read whole, multipart handed back to be streamed, anything else refused."""

from __future__ import annotations

import pytest
from starlette.requests import Request
from starlette.types import Message

from shoebox_lib.errors import InvalidInput, PayloadTooLarge
from shoebox_lib.web.plain_form import open_form
from shoebox_lib.web.streaming_form import FormField, StreamingForm

TOO_LARGE = "too large"


class Body:
    """A request's body, counting how many times the app asked for it."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.asked = 0

    async def __call__(self) -> Message:
        self.asked += 1
        return {"type": "http.request", "body": self.data, "more_body": False}


def request(body: Body, headers: dict[str, str]) -> Request:
    scope = {"type": "http", "method": "POST", "path": "/", "query_string": b"",
             "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()]}
    return Request(scope, body)


async def test_a_declared_length_past_the_bound_is_refused_before_the_body_is_read() -> None:
    body = Body(b"a=1")
    with pytest.raises(PayloadTooLarge, match=TOO_LARGE):
        await open_form(request(body, {"content-length": "11", "content-type": "multipart/form-data; boundary=b"}),
                        max_bytes=10, too_large=TOO_LARGE)
    assert body.asked == 0


@pytest.mark.parametrize("content_type", [None, "application/x-www-form-urlencoded; charset=utf-8"])
async def test_a_plain_form_is_read_whole(content_type: str | None) -> None:
    headers = {"content-length": "7"} | ({"content-type": content_type} if content_type else {})
    assert await open_form(request(Body(b"a=1&a=2"), headers), max_bytes=10, too_large=TOO_LARGE) == {"a": "1"}


async def test_multipart_comes_back_to_be_streamed() -> None:
    data = b'--b\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n--b--\r\n'
    opened = await open_form(request(Body(data), {"content-type": "multipart/form-data; boundary=b"}),
                             max_bytes=1000, too_large=TOO_LARGE)
    assert isinstance(opened, StreamingForm)
    assert await opened.next_part() == FormField("a", "1")
    assert await opened.next_part() is None


async def test_another_content_type_is_refused() -> None:
    with pytest.raises(InvalidInput, match="not application/json"):
        await open_form(request(Body(b"{}"), {"content-type": "application/json"}), max_bytes=10,
                        too_large=TOO_LARGE)
