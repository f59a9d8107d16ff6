"""A parsed query as one SQL statement over the images the caller may read, newest (highest id) first,
keyset-paged by id.

What the caller may read: their own images, the images in live collections they own or that are shared
with them now (a live `Share`; as `library.access.readable_item` decides for one image), and, only when the
query says `is:public`, anyone's public images. Never CL's store space, never an image that is not stored.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import (
    ColumnElement,
    Select,
    Text,
    and_,
    cast,
    exists,
    false,
    func,
    literal,
    literal_column,
    not_,
    or_,
    select,
    true,
    union,
)
from sqlalchemy.dialects.postgresql import ARRAY, array

from shoebox_metadata.kinds import ItemStatus, Visibility
from shoebox_metadata.models import Collection, CollectionFile, Item, Share
from shoebox_metadata.search import document
from shoebox_metadata.search.query import (
    Before,
    Condition,
    InAlbum,
    MediaKind,
    NotBefore,
    OfKind,
    OwnedByCaller,
    Phrase,
    Public,
    Query,
    Tag,
    Word,
)
from shoebox_metadata.store.space import STORE_SPACE

# The document's configuration (migration 0008): no stemming or stop words, for names, tags and titles in
# any language. A constant in the SQL, as in the index.
TEXT_SEARCH_CONFIG: ColumnElement[str] = literal_column("'simple'::regconfig")
LIKE_ESCAPE = "\\"


def readable_collections(user_id: int) -> Select[int]:
    """The live collections the user owns or that are shared with them now. The search asks for them first
    and passes their ids into its statement: with the ids as constants, the planner knows how many images
    they hold, where a subquery (an OR over owned and shared) leaves it guessing."""
    shared_with_user = select(Share.collection_id).where(Share.user_id == user_id, Share.is_deleted.is_(False))
    return select(Collection.id).where(
        Collection.is_deleted.is_(False), or_(Collection.owner_id == user_id, Collection.id.in_(shared_with_user)))


def scopes(user_id: int, query: Query, readable: Sequence[int]) -> list[ColumnElement[bool]]:
    """Where the results may come from, each searched on its own (their union is what the caller may read):
    the caller's own images, and those in the collections they may read (a live membership). As separate
    branches, each is a plain condition the planner can join or index as it sees fit, where one OR of them
    would have it hash every membership of every album the caller may read, for every search.

    With an (un-negated) `is:public`, every result must be public, and public images are anyone's to find:
    one branch, the public images.
    """
    live = and_(Item.status == ItemStatus.STORED, Item.owner_id != STORE_SPACE)
    if query.includes_public:
        return [and_(live, Item.visibility == Visibility.PUBLIC)]
    branches = [and_(live, Item.owner_id == user_id)]
    if readable:
        branches.append(and_(live, exists().where(
            CollectionFile.item_id == Item.id, CollectionFile.is_deleted.is_(False),
            CollectionFile.collection_id.in_(readable))))
    return branches


def _like_pattern(text: str) -> str:
    escaped = text.replace(LIKE_ESCAPE, LIKE_ESCAPE * 2).replace("%", LIKE_ESCAPE + "%").replace("_", LIKE_ESCAPE + "_")
    return f"%{escaped}%"


def _matches(query: ColumnElement[str]) -> ColumnElement[bool]:
    return document.search_document().op("@@")(query)


def condition(term: Condition, user_id: int, readable: Sequence[int]) -> ColumnElement[bool]:
    """What one term asks of an item (before any negation)."""
    match term:
        case Word(text) if term.short and text.isalnum():
            # Too short for a trigram: the beginning of a word, through the full-text index (alphanumeric
            # only, so nothing in it is tsquery syntax).
            return _matches(func.to_tsquery(TEXT_SEARCH_CONFIG, f"{text}:*"))
        case Word(text):
            return document.search_text().ilike(_like_pattern(text), escape=LIKE_ESCAPE)
        case Phrase(text):
            return _matches(func.phraseto_tsquery(TEXT_SEARCH_CONFIG, document.search_words(literal(text))))
        case Tag(key):
            return document.tag_keys().op("@>")(cast(array([key]), ARRAY(Text)))
        case OwnedByCaller():
            return Item.owner_id == user_id
        case InAlbum(collection_id):
            if collection_id not in readable:
                return false()  # someone else's album, or none: it holds nothing the caller may see
            return Item.id.in_(select(CollectionFile.item_id).where(
                CollectionFile.collection_id == collection_id, CollectionFile.is_deleted.is_(False)))
        case OfKind(kind):
            prefix = "image/%" if kind is MediaKind.IMAGE else "video/%"
            return Item.content_type.ilike(prefix)
        case Before(ms):
            return document.moment() < ms
        case NotBefore(ms):
            return document.moment() >= ms
        case Public():
            return Item.visibility == Visibility.PUBLIC
    return false()  # unreachable: every condition is matched above


def statement(query: Query, user_id: int, *, readable: Sequence[int], before_id: int | None, limit: int
              ) -> Select[Item]:
    """The page of `limit` + 1 items (the extra one says whether more follow) below `before_id`, newest
    first: the newest `limit` + 1 ids of each branch, their union, and the newest `limit` + 1 of that.
    `readable` are the ids `readable_collections` found for the user."""
    terms = []
    for term in query.terms:
        met = condition(term.condition, user_id, readable)
        # A negated term excludes what the condition holds for; where it is unknown (a NULL content type),
        # the item is not excluded.
        terms.append(not_(met.is_(true())) if term.negated else met)
    if before_id is not None:
        terms.append(Item.id < before_id)
    branches = [select(Item.id).where(where, *terms).order_by(Item.id.desc()).limit(limit + 1)
                for where in scopes(user_id, query, readable)]
    found = (union(*branches) if len(branches) > 1 else branches[0]).subquery("found")
    return select(Item).where(Item.id.in_(select(found.c.id))).order_by(Item.id.desc()).limit(limit + 1)
