"""v1 search: what an image is found by (its title, file name, description and tags), indexed for full-text
search and for trigram substring matching, plus its tags, its moment (capture time, else upload time), and the public images

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

# Each is IMMUTABLE (an index expression must be): they read only their arguments. `item_moment` calls
# extract(epoch …), which PostgreSQL marks STABLE for every field, though the epoch does not depend on the
# time zone.
FUNCTIONS = {
    "item_tags_text(tags jsonb)": """
        RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
            SELECT CASE WHEN jsonb_typeof(tags) = 'array'
                        THEN (SELECT coalesce(string_agg(tag, ' '), '') FROM jsonb_array_elements_text(tags) tag)
                        ELSE '' END
        $$""",
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
    # deleted, leaving the gap. (`\\:` keeps SQLAlchemy from reading `:1` as a parameter.)
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
            SELECT coalesce(taken_at, (extract(epoch FROM created_at) * 1000)::bigint)
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
