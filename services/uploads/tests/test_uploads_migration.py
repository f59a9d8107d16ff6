"""Migration 0003 on a database that already has sessions: facts kept, face answers and mirrored holds
dropped, and holds of sessions that had ended handed back to metadata through the outbox."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import select, text
from sqlalchemy.engine import Connection

from shoebox_lib.db import Database
from shoebox_lib.events import Envelope, UploadEnded, UploadOutcome
from shoebox_lib.settings import Settings
from shoebox_uploads.app import MIGRATIONS
from shoebox_uploads.models import BUS, SCHEMA, Base, SessionStatus, UploadKind, UploadSession

INSERT = text("""
    INSERT INTO uploads.upload_sessions (id, kind, owner_id, item_id, object_key, status, result, reserved_bytes,
                                         reservation_open, expires_at)
    VALUES (:id, :kind, 5, :item, :key, :status, CAST(:result AS jsonb), :held, :open, :expires)
""")


def _diff(conn: Connection) -> list[Any]:
    context = MigrationContext.configure(conn, opts={
        "include_schemas": True, "compare_type": True,
        "include_name": lambda n, t, _: (t != "schema" or n == SCHEMA) and n != "alembic_version",
    })
    return list(compare_metadata(context, Base.metadata))


async def test_0003_keeps_the_facts_and_gives_ended_holds_back(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings()
    await MIGRATIONS.upgrade_async(settings.database_url, "0002_faces")
    db = Database(settings.database_url)
    expires = datetime.now(UTC) + timedelta(hours=1)
    rows = [
        ("up_v1", "v1", 1, "u/5/i/1/up_v1/original", "completed",
         '{"image_id": "img_1", "session_id": "up_v1", "status": "stored", "size_bytes": 10}', 10, False),
        ("up_ente", "ente-mp", None, "u/5/e/up_ente", "completed",
         '{"objectKey": "u/5/e/up_ente", "uploadId": "up_ente", "size": 7, "etag": "abc-1"}', 0, False),
        ("up_aborted", "uppy", None, "u/5/uppy/up_aborted", "aborted", None, 30, True),
        ("up_swept", "ente", None, "u/5/e/up_swept", "swept", None, 40, True),
        ("up_given_back", "v1", 2, "u/5/i/2/up_given_back/original", "failed", None, 50, False),
        ("up_open", "v1", 3, "u/5/i/3/up_open/original", "open", None, 60, True),
    ]
    try:
        async with db.transaction() as session:
            for row_id, kind, item, key, status, result, held, still_open in rows:
                await session.execute(INSERT, {"id": row_id, "kind": kind, "item": item, "key": key, "status": status,
                                               "result": result, "held": held, "open": still_open,
                                               "expires": expires})
        await MIGRATIONS.upgrade_async(settings.database_url)
        await MIGRATIONS.upgrade_async(settings.database_url)  # nothing left to do

        async with db.transaction() as session:
            found = {r.id: r for r in (await session.execute(select(UploadSession))).scalars()}
            envelopes = (await session.execute(select(BUS.outbox.c.id, BUS.outbox.c.envelope))).all()
        assert (found["up_v1"].size_bytes, found["up_v1"].etag) == (10, None)
        assert (found["up_ente"].size_bytes, found["up_ente"].etag) == (7, "abc-1")
        assert (found["up_ente"].kind, found["up_ente"].status) == (UploadKind.ENTE_MULTIPART, SessionStatus.COMPLETED)
        assert found["up_open"].size_bytes is None

        ended = {}
        for row_id, envelope in envelopes:
            parsed = Envelope.model_validate(envelope)
            assert (parsed.id, parsed.type) == (row_id, UploadEnded.event_type)
            event = UploadEnded.model_validate(parsed.data)
            ended[event.upload_id] = (event.owner_id, event.outcome)
        assert ended == {"up_aborted": (5, UploadOutcome.ABORTED), "up_swept": (5, UploadOutcome.EXPIRED)}

        async with db.engine.connect() as conn:
            assert await conn.run_sync(_diff) == [], "the models and the migrations differ"

        # And back: each face's answer rebuilt from the facts.
        await asyncio.to_thread(command.downgrade, MIGRATIONS.config(settings.database_url), "0002_faces")
        async with db.transaction() as session:
            results: dict[str, Any] = dict((await session.execute(text(
                "SELECT id, result FROM uploads.upload_sessions WHERE result IS NOT NULL"))).all())
        assert results == {
            "up_v1": {"image_id": "img_1", "session_id": "up_v1", "status": "stored",
                      "original_object_key": "u/5/i/1/up_v1/original", "size_bytes": 10},
            "up_ente": {"objectKey": "u/5/e/up_ente", "uploadId": "up_ente", "size": 7, "etag": "abc-1"},
        }
    finally:
        await db.close()
