"""sessions keep facts, not face answers; quota holds live at metadata alone

- `size_bytes` and `etag` (what storage holds once assembled) replace the stored `result` JSON, which
  held one face's rendering; they are filled from it.
- `claimed_at`: when a complete claimed the session (the new status `completing`).
- `reserved_bytes` and `reservation_open` mirrored metadata's holds; they go. Sessions that had ended
  without completing and whose hold was still open get their `upload.ended` in the outbox now, so that
  metadata gives those holds back (uploads no longer does at the owner's next call).

Revision ID: 0003_facts
Revises: 0002_faces
Create Date: 2026-11-30 10:00:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0003_facts'
down_revision: str | None = '0002_faces'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The envelope `shoebox_lib.bus.emit` writes, built in SQL: the event id is the outbox row's id.
ENDED_HOLDS = """
INSERT INTO uploads.outbox (id, subject, envelope)
SELECT ended.event_id, 'events.upload.ended', jsonb_build_object(
    'id', ended.event_id::text,
    'type', 'upload.ended',
    'occurred_at', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
    'data', jsonb_build_object('upload_id', ended.id, 'owner_id', ended.owner_id, 'outcome', ended.outcome))
FROM (
    SELECT gen_random_uuid() AS event_id, id, owner_id,
           CASE status WHEN 'aborted' THEN 'aborted' WHEN 'failed' THEN 'failed' ELSE 'expired' END AS outcome
    FROM uploads.upload_sessions
    WHERE reservation_open AND status IN ('aborted', 'failed', 'expired', 'swept')
) AS ended
"""


def upgrade() -> None:
    op.add_column('upload_sessions', sa.Column('size_bytes', sa.BigInteger(), nullable=True), schema='uploads')
    op.add_column('upload_sessions', sa.Column('etag', sa.Text(), nullable=True), schema='uploads')
    op.add_column('upload_sessions', sa.Column('claimed_at', sa.DateTime(timezone=True), nullable=True),
                  schema='uploads')
    op.execute("""
        UPDATE uploads.upload_sessions
        SET size_bytes = COALESCE((result->>'size_bytes')::bigint, (result->>'size')::bigint),
            etag = result->>'etag'
        WHERE result IS NOT NULL
    """)
    op.execute(ENDED_HOLDS)
    op.drop_column('upload_sessions', 'result', schema='uploads')
    op.drop_column('upload_sessions', 'reservation_open', schema='uploads')
    op.drop_column('upload_sessions', 'reserved_bytes', schema='uploads')


def downgrade() -> None:
    op.add_column('upload_sessions', sa.Column('reserved_bytes', sa.BigInteger(), server_default='0',
                                               nullable=False), schema='uploads')
    op.add_column('upload_sessions', sa.Column('reservation_open', sa.Boolean(), server_default='false',
                                               nullable=False), schema='uploads')
    op.add_column('upload_sessions', sa.Column('result', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
                  schema='uploads')
    # The answers as each face rendered them; sessions still being completed go back to open.
    op.execute("""
        UPDATE uploads.upload_sessions
        SET result = CASE WHEN kind IN ('ente', 'ente-mp') THEN jsonb_build_object(
                'objectKey', object_key, 'uploadId', id, 'size', size_bytes, 'etag', etag)
            ELSE jsonb_build_object(
                'image_id', 'img_' || item_id, 'session_id', id,
                'status', CASE status WHEN 'verifying' THEN 'verifying' ELSE 'stored' END,
                'original_object_key', object_key, 'size_bytes', size_bytes) END
        WHERE size_bytes IS NOT NULL AND status IN ('verifying', 'completed', 'committed')
    """)
    op.execute("UPDATE uploads.upload_sessions SET status = 'open' WHERE status = 'completing'")
    op.drop_column('upload_sessions', 'claimed_at', schema='uploads')
    op.drop_column('upload_sessions', 'etag', schema='uploads')
    op.drop_column('upload_sessions', 'size_bytes', schema='uploads')
