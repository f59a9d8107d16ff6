"""The v1 face's search (seed 003): `GET /v1/search/images?q=…&limit=…&cursor=…`, in the language of
`shoebox_metadata.search.query`, over the images the caller may read (their own, those in albums shared
with them, and with `is:public` anyone's public ones), newest first. An empty query lists them all. The
cursor is the last image's id: paging while images come and go never repeats or skips one."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from shoebox_lib.auth import CurrentUser
from shoebox_lib.web.inputs import Text
from shoebox_metadata.api.deps import SearchDep
from shoebox_metadata.api.v1_shapes import ImagePage, summary
from shoebox_metadata.search.service import DEFAULT_LIMIT, MAX_LIMIT

router = APIRouter(prefix="/v1/search", tags=["v1"])

# The parser bounds the query itself (its length, its terms), so that an error names the offending token.
SearchText = Annotated[Text, Query(description="The query: words, \"phrases\", tag:, owner:me, album:, type:, "
                                               "before:, after:, is:public; '-' negates a term.")]
Cursor = Annotated[Text | None, Query(max_length=200)]


@router.get("/images")
async def search_images(user: CurrentUser, search: SearchDep, q: SearchText = "",
                        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
                        cursor: Cursor = None) -> ImagePage:
    found = await search.images(user.user_id, q, limit=limit, cursor=cursor)
    return ImagePage(images=[summary(item) for item in found.items], next_cursor=found.next_cursor)
