"""Searching the caller's readable images: parse the query, find the collections the caller may read, run
the one statement the builder makes of both, page by id."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text

from shoebox_lib.db import Database
from shoebox_metadata.library.cursors import decode_cursor, encode_cursor
from shoebox_metadata.library.repo import page
from shoebox_metadata.models import Item
from shoebox_metadata.search.builder import readable_collections, statement
from shoebox_metadata.search.query import parse

MAX_LIMIT = 200
DEFAULT_LIMIT = 50


@dataclass(frozen=True)
class SearchPage:
    items: list[Item]
    next_cursor: str | None  # the last item's id: the next page starts below it, whatever was added since


class Search:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def images(self, user_id: int, q: str, *, limit: int = DEFAULT_LIMIT, cursor: str | None = None
                     ) -> SearchPage:
        """A page of the images matching `q` that `user_id` may read, newest first. A malformed query or
        cursor is InvalidInput."""
        query = parse(q)
        before_id = decode_cursor(cursor, 1)[0] if cursor is not None else None
        limit = max(1, min(limit, MAX_LIMIT))
        async with self.db.transaction() as session:
            # Plan every search with its own values: whether a word's index or the newest-first scan is the
            # better path depends on how rare the word is, which a cached generic plan cannot know.
            await session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))
            readable = list((await session.execute(readable_collections(user_id))).scalars())
            rows = (await session.execute(statement(query, user_id, readable=readable, before_id=before_id,
                                                    limit=limit))).scalars().all()
        items, more = page(rows, limit)
        return SearchPage(items, encode_cursor(items[-1].id) if more else None)
