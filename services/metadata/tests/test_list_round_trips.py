"""A list costs the same number of statements whatever its length: an album list reads every album's shares
and public links in one query each, not one per album. Statements are counted on the metadata service's own
engine, and only those that read the related table, so the background loops sharing the engine do not count."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event

from shoebox.testing import RunningSystem
from shoebox.testing.ente_helpers import header, new_album


@contextmanager
def statements_reading(api: RunningSystem, table: str) -> Iterator[list[str]]:
    engine = api.services["metadata"].app.state.runtime.db.engine.sync_engine
    reading = re.compile(rf"\bFROM metadata\.{table}\b")
    seen: list[str] = []

    def note(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if reading.search(statement):
            seen.append(statement)

    event.listen(engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", note)


async def listed(api: RunningSystem, token: str, table: str) -> tuple[list[dict[str, Any]], int]:
    with statements_reading(api, table) as seen:
        response = await api.client.get("/collections/v2", headers=header(token))
    assert response.status_code == 200, response.text
    return response.json()["collections"], len(seen)


async def test_the_album_list_reads_shares_and_links_once_however_many_albums(api: RunningSystem) -> None:
    owner = await api.user_token("rhea")
    await api.user_token("saul")
    albums = [await new_album(api, owner) for _ in range(3)]
    shared = await api.client.post("/collections/share", headers=header(owner), json={
        "collectionID": albums[1], "email": "saul@example.com", "role": "VIEWER", "encryptedKey": "sealed"})
    assert shared.status_code == 200, shared.text
    few, share_reads_few = await listed(api, owner, "shares")
    _, link_reads_few = await listed(api, owner, "public_links")

    albums += [await new_album(api, owner) for _ in range(12)]
    many, share_reads_many = await listed(api, owner, "shares")
    _, link_reads_many = await listed(api, owner, "public_links")

    assert len(few) == 3
    assert len(many) == 15
    assert share_reads_few == share_reads_many == 1, (share_reads_few, share_reads_many)
    assert link_reads_few == link_reads_many == 1, (link_reads_few, link_reads_many)
    # Batched, each album still gets its own shares and no other's.
    sharees = {c["id"]: [s["email"] for s in c["sharees"]] for c in many}
    assert sharees == {album: ["saul@example.com"] if album == albums[1] else [] for album in albums}
