"""Handing out N upload URLs costs one transaction whatever N is, and asks metadata for room at most once in a
few seconds: the URLs are signed in the uploads service itself. Statements are counted on the uploads
service's engine, only those of the signing path (the owner's lock, the session rows), so the sweepers that
share the engine do not count."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event

from shoebox.testing import RunningSystem
from shoebox_uploads.signer.library import Library
from shoebox_uploads.testing import container_of, ente_headers, set_quota

LOCK = re.compile(r"pg_advisory_xact_lock")
INSERT = re.compile(r"^INSERT INTO uploads\.upload_sessions\b")
COUNT = re.compile(r"^SELECT count\(\*\).*FROM uploads\.upload_sessions\b", re.S)  # the open uploads, counted


@contextmanager
def signing_statements(api: RunningSystem) -> Iterator[dict[str, int]]:
    engine = api.services["uploads"].app.state.runtime.db.engine.sync_engine
    seen = {"locks": 0, "counts": 0, "inserts": 0}

    def note(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen["locks"] += bool(LOCK.search(statement))
        seen["counts"] += bool(COUNT.search(statement))
        seen["inserts"] += bool(INSERT.search(statement))

    event.listen(engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", note)


async def test_n_upload_urls_cost_one_transaction_and_one_question_for_room(
        api: RunningSystem, monkeypatch: pytest.MonkeyPatch) -> None:
    token = await api.user_token("tara")
    asked: list[int] = []
    available = Library.available

    async def counted(self: Library, owner_id: int) -> int:
        asked.append(owner_id)
        return await available(self, owner_id)

    monkeypatch.setattr(Library, "available", counted)
    for count in (1, 10, 50):
        with signing_statements(api) as seen:
            response = await api.client.get("/files/upload-urls", params={"count": count},
                                            headers=ente_headers(token))
        assert response.status_code == 200, response.text
        urls = response.json()["urls"]
        assert len({u["objectKey"] for u in urls}) == count
        assert seen == {"locks": 1, "counts": 1, "inserts": 1}, (count, seen)
    assert len(asked) == 1, "room seen a moment ago is believed"


async def test_no_room_is_never_believed(api: RunningSystem) -> None:
    """Room is remembered, its absence is not: once space is freed, URLs come at once."""
    token = await api.user_token("uma")
    owner = await set_quota(api, token, 0)
    refused = await api.client.get("/files/upload-urls", params={"count": 1}, headers=ente_headers(token))
    assert (refused.status_code, refused.json()["code"]) == (426, "STORAGE_LIMIT_EXCEEDED")
    assert not container_of(api).uploads.room.believed(owner)
    await set_quota(api, token, 10**9)
    granted = await api.client.get("/files/upload-urls", params={"count": 1}, headers=ente_headers(token))
    assert granted.status_code == 200, granted.text
    assert container_of(api).uploads.room.believed(owner)
