"""v1 search: what an image is found by (its title, file name, description and tags), indexed for full-text
search and for trigram substring matching; its tags; its moment (capture time, else upload time); and the
public images

The documents are immutable SQL functions of an item's columns, indexed as expressions; the search builds
its SQL from the very same calls (`shoebox_metadata.search.document`), so the planner matches the indexes.

Revision ID: 0008_search
Revises: 0007_v1_library
Create Date: 2026-12-02 15:00:00.000000
"""
from collections.abc import Sequence

from alembic import op


revision: str = "0008_search"
down_revision: str | None = "0007_v1_library"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Each is IMMUTABLE (an index expression must be): they read only their arguments. All but `item_tag_keys`
# call only immutable functions and hold no subquery, so the planner inlines them (a call it cannot inline
# costs microseconds on every row it rechecks). Hence `item_moment` takes the epoch of an interval:
# extract(epoch FROM timestamptz) is STABLE.
FUNCTIONS = {
    # The tags as their JSON text (`["pets", "new york"]`): enough for substrings, and a cast, which the
    # planner inlines (a subquery over the array cost ~15 times as much on every row rechecked).
    "item_tags_text(tags jsonb)": """
        RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
            SELECT coalesce(tags::text, '')
        $$""",
    # The tags as an array: an expression index over it gets element statistics (ANALYZE gathers them for
    # arrays, not for jsonb), so the planner knows a rare tag from a common one. Lower-cased, though the
    # library keeps tags so (`library.items.tidy_tags`), as the parser lower-cases the tag asked for.
    "item_tag_keys(tags jsonb)": """
        RETURNS text[] LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
            SELECT CASE WHEN jsonb_typeof(tags) = 'array'
                        THEN ARRAY(SELECT lower(tag) FROM jsonb_array_elements_text(tags) tag)
                        ELSE '{}'::text[] END
        $$""",
    "item_search_text(title text, filename text, description text, tags jsonb)": """
        RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
            SELECT coalesce(title, '') || ' ' || coalesce(filename, '') || ' ' || coalesce(description, '')
                   || ' ' || metadata.item_tags_text(tags)
        $$""",
    "search_words(value text)": """
        RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
            SELECT regexp_replace(value, '[^[:alnum:]]+', ' ', 'g')
        $$""",
    # Each field's words, then the tags' (to_tsvector of jsonb takes each string on its own), with a gap
    # between any two, so that a phrase never runs from one into the next: a placeholder lexeme `|` (which
    # no word holds: `search_words` keeps letters and digits only) takes a position between them and is
    # deleted, leaving the gap. (`\:` keeps SQLAlchemy from reading `:1` as a parameter.)
    "item_search_document(title text, filename text, description text, tags jsonb)": r"""
        RETURNS tsvector LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
            SELECT ts_delete(
                to_tsvector('simple'::regconfig, metadata.search_words(coalesce(title, '')))
                || '''|''\:1'::tsvector
                || to_tsvector('simple'::regconfig, metadata.search_words(coalesce(filename, '')))
                || '''|''\:1'::tsvector
                || to_tsvector('simple'::regconfig, metadata.search_words(coalesce(description, '')))
                || '''|''\:1'::tsvector
                || to_tsvector('simple'::regconfig, tags),
                '|'::text)
        $$""",
    "item_moment(taken_at bigint, created_at timestamptz)": """
        RETURNS bigint LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
            SELECT coalesce(taken_at,
                            (extract(epoch FROM created_at - timestamptz '1970-01-01 00:00:00+00') * 1000)::bigint)
        $$""",
}

SEARCH_COLUMNS = "title, filename, description, tags"
INDEXES = {
    "ix_items_search_document": f"USING gin (metadata.item_search_document({SEARCH_COLUMNS}))",
    "ix_items_search_text": f"USING gin (metadata.item_search_text({SEARCH_COLUMNS}) gin_trgm_ops)",
    "ix_items_tag_keys": "USING gin (metadata.item_tag_keys(tags))",
    "ix_items_moment": "(metadata.item_moment(taken_at, created_at), id)",
    # `is:public` reaches beyond the caller's own images: anyone's public ones, newest first.
    "ix_items_public": "(id) WHERE visibility = 'public' AND status = 'stored'",
}


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for signature, body in FUNCTIONS.items():
        op.execute(f"CREATE OR REPLACE FUNCTION metadata.{signature} {body}")
    for name, definition in INDEXES.items():
        op.execute(f"CREATE INDEX {name} ON metadata.items {definition}")


def downgrade() -> None:
    for name in reversed(INDEXES):
        op.execute(f"DROP INDEX IF EXISTS metadata.{name}")
    for signature in reversed(FUNCTIONS):
        op.execute(f"DROP FUNCTION IF EXISTS metadata.{signature}")
    # pg_trgm stays: other schemas of the database may use it.
