"""What an image is found by, as SQL: calls of the immutable functions migration 0008 made, over an item's
columns, and the indexes over those very calls. The search builds its conditions from the same calls, so
the planner matches them to the indexes (an index on an expression serves only that expression).

The indexes are declared here, on the items table, rather than in `models.py`, beside the only code whose
SQL they serve; importing this module adds them to the models' metadata.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Index, Text, text
from sqlalchemy.dialects.postgresql import ARRAY, TSVECTOR
from sqlalchemy.sql import ColumnElement, func

from shoebox_metadata.models import Item

_SEARCH_COLUMNS = (Item.title, Item.filename, Item.description, Item.tags)


def search_text() -> ColumnElement[str]:
    """Title, file name, description and tags in one text: what free words match as substrings."""
    return func.metadata.item_search_text(*_SEARCH_COLUMNS, type_=Text)


def search_document() -> ColumnElement[str]:
    """The same fields as words (every run of other characters a break), a phrase never running from one field
    into the next: what phrases and short words match."""
    return func.metadata.item_search_document(*_SEARCH_COLUMNS, type_=TSVECTOR)


def tag_keys() -> ColumnElement[list[str]]:
    """The item's tags in lower case, as an array (tags match whole and without regard to case)."""
    return func.metadata.item_tag_keys(Item.tags, type_=ARRAY(Text))


def moment() -> ColumnElement[int]:
    """When the image was taken (ms) if its EXIF said, else when it was uploaded."""
    return func.metadata.item_moment(Item.taken_at, Item.created_at, type_=BigInteger)


def search_words(value: ColumnElement[str]) -> ColumnElement[str]:
    """A client's text broken into words as the document is."""
    return func.metadata.search_words(value, type_=Text)


INDEXES = (
    Index("ix_items_search_document", search_document(), postgresql_using="gin"),
    Index("ix_items_search_text", search_text().label("search_text"), postgresql_using="gin",
          postgresql_ops={"search_text": "gin_trgm_ops"}),
    Index("ix_items_tag_keys", tag_keys(), postgresql_using="gin"),
    Index("ix_items_moment", moment(), Item.id),
    Index("ix_items_public", Item.id, postgresql_where=text("visibility = 'public' AND status = 'stored'")),
)
