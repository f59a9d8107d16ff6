"""Routes that answer a redirect (307) to a signed URL or a page: how they declare it, so the OpenAPI says
what they answer."""

from __future__ import annotations

from typing import Any

from fastapi.responses import RedirectResponse

# `@router.get(path, **REDIRECT)`
REDIRECT: dict[str, Any] = {
    "status_code": 307,
    "response_class": RedirectResponse,
    "responses": {307: {"description": "Where the object or page is", "headers": {
        "Location": {"description": "A signed URL, or the page of a link", "schema": {"type": "string"}}}}},
}


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=307)
