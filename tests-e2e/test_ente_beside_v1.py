"""One account on two faces: albums and images made through v1 (plaintext) and an Ente app's encrypted
library. The Ente CLI decrypts every album `/collections/v2` gives it and stops its whole sync at one it
cannot, so Ente's apps (which say so in `X-Client-Package`) are given only the albums they can open, and
the faithful sync client goes on working; v1 and seed 000's clients see every album."""

from __future__ import annotations

import logging

import pytest

from shoebox.testing import RunningSystem
from shoebox.testing.ente_client import EnteClient, code_from_log
from shoebox.testing.ente_library import Library
from shoebox.testing.ente_sync import EnteSync


async def test_an_ente_app_syncs_beside_v1_albums(api: RunningSystem, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="shoebox_auth.ente.mailer")
    client = EnteClient(api.client, "nina@example.com", "nina-long-password")

    async def read_code(email: str) -> str:
        return code_from_log(caplog.records, email)

    await client.sign_up(read_code)
    signed_in = await client.sign_in()
    library = Library(api.client, signed_in)
    encrypted = await library.create_album("Encrypted")
    await library.upload(encrypted, b"x" * 1000, "a.jpg")

    # The same account, through v1 (the same token; v1 clients send no X-Client-Package).
    v1 = {"X-Auth-Token": signed_in.header["X-Auth-Token"]}
    plain = await api.client.post("/v1/albums", headers=v1, json={"title": "Plain"})
    assert plain.status_code == 201, plain.text
    plain_id = int(plain.json()["album_id"].removeprefix("alb_"))
    declared = await api.client.post("/v1/images", headers=v1, json={
        "filename": "b.png", "content_type": "image/png", "size_bytes": 5, "album_id": plain.json()["album_id"]})
    assert declared.status_code == 201, declared.text

    sync = EnteSync(library)
    run = await sync.sync()
    assert plain_id not in run.albums_returned
    assert encrypted.id in run.albums_returned
    assert [f.title for f in sync.files[encrypted.id].values()] == ["a.jpg"]

    seen_by_v1 = await api.client.get("/collections/v2", headers=v1, params={"sinceTime": 0})
    assert {plain_id, encrypted.id} <= {c["id"] for c in seen_by_v1.json()["collections"]}
    listed = await api.client.get("/v1/albums", headers=v1)
    assert {a["album_id"] for a in listed.json()["albums"]} == {f"alb_{plain_id}", f"alb_{encrypted.id}"}
