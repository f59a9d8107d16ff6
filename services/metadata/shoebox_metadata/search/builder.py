"""A parsed query as one SQL statement over the images the caller may read, newest (highest id) first,
keyset-paged by id.

What the caller may read: their own images, the images in live collections they own or that are shared
with them now (a live `Share`; as `library.access.readable_item` decides for one image), and, only when the
query says `is:public`, anyone's public images. Never CL's store space, never an image that is not stored.
"""

from __future__ import annotations

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    exists,
    false,
    func,
    literal,
    literal_column,
    not_,
    or_,
    select,
    true,
)

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
    """The live collections the user owns or that are shared with them now."""
    shared_with_user = select(Share.collection_id).where(Share.user_id == user_id, Share.is_deleted.is_(False))
    return select(Collection.id).where(
        Collection.is_deleted.is_(False), or_(Collection.owner_id == user_id, Collection.id.in_(shared_with_user)))


def in_readable_collection(user_id: int) -> ColumnElement[bool]:
    """Whether the item is in one of those collections (a live membership). Correlated, so that the planner
    may probe it for the few rows an index found, or hash it once."""
    return exists().where(CollectionFile.item_id == Item.id, CollectionFile.is_deleted.is_(False),
                          CollectionFile.collection_id.in_(readable_collections(user_id)))


def scope(user_id: int, query: Query) -> ColumnElement[bool]:
    readable = or_(Item.owner_id == user_id, in_readable_collection(user_id))
    if query.includes_public:
        readable = or_(readable, Item.visibility == Visibility.PUBLIC)
    return and_(Item.status == ItemStatus.STORED, Item.owner_id != STORE_SPACE, readable)


def _like_pattern(text: str) -> str:
    escaped = text.replace(LIKE_ESCAPE, LIKE_ESCAPE * 2).replace("%", LIKE_ESCAPE + "%").replace("_", LIKE_ESCAPE + "_")
    return f"%{escaped}%"


def _matches(query: ColumnElement[str]) -> ColumnElement[bool]:
    return document.search_document().op("@@")(query)


def condition(term: Condition, user_id: int) -> ColumnElement[bool]:
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
            # Kept lower-cased (`library.items.tidy_tags`), as the parser lower-cases the tag asked for.
            return Item.tags.contains([key])
        case OwnedByCaller():
            return Item.owner_id == user_id
        case InAlbum(collection_id):
            return Item.id.in_(select(CollectionFile.item_id).where(
                CollectionFile.collection_id == collection_id, CollectionFile.is_deleted.is_(False),
                CollectionFile.collection_id.in_(readable_collections(user_id))))
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


def statement(query: Query, user_id: int, *, before_id: int | None, limit: int) -> Select[Item]:
    """The page of `limit` + 1 items (the extra one says whether more follow) below `before_id`."""
    where = [scope(user_id, query)]
    for term in query.terms:
        met = condition(term.condition, user_id)
        # A negated term excludes what the condition holds for; where it is unknown (a NULL content type),
        # the item is not excluded.
        where.append(not_(met.is_(true())) if term.negated else met)
    if before_id is not None:
        where.append(Item.id < before_id)
    return select(Item).where(*where).order_by(Item.id.desc()).limit(limit + 1)
