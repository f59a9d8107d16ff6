"""Ente Auth through the one port: the key and code routes with the real server's shapes and errors, other
people's ids, a diff that stays exact under concurrent writes, and what `ente account add --app auth` then
`ente export` do (cli/pkg/sync_authenticator.go), written again here with PyNaCl."""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import nacl.utils
import pytest

from shoebox.testing import RunningSystem
from shoebox.testing.ente_client import EnteClient, SignedIn, b64, code_from_log, unb64
from shoebox.testing.ente_helpers import header, user_id
from shoebox.testing.ente_library import open_secretbox, secretbox, stream_decrypt, stream_encrypt
from shoebox_lib.auth import Principal
from shoebox_metadata.authenticator.service import Sealed, forget_authenticator

KEY = {"encryptedKey": "a" * 64, "header": "n" * 32}
EXPORT_PAGE = 500  # what the CLI asks for, from sinceTime 0, until a page is short


async def create_key(api: RunningSystem, token: str) -> None:
    response = await api.client.post("/authenticator/key", headers=header(token), json=KEY)
    assert (response.status_code, response.content) == (200, b""), response.text


async def create_entity(api: RunningSystem, token: str, data: str, head: str = "h" * 32) -> dict[str, Any]:
    response = await api.client.post("/authenticator/entity", headers=header(token),
                                     json={"encryptedData": data, "header": head})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def diff(api: RunningSystem, token: str, since: int, limit: int = 5000) -> list[dict[str, Any]]:
    response = await api.client.get("/authenticator/entity/diff", headers=header(token),
                                    params={"sinceTime": since, "limit": limit})
    assert response.status_code == 200, response.text
    entries: list[dict[str, Any]] = response.json()["diff"]
    return entries


async def test_the_key_is_set_once_and_kept_exactly(api: RunningSystem) -> None:
    token = await api.user_token("kira")
    missing = await api.client.get("/authenticator/key", headers=header(token))
    assert (missing.status_code, missing.json()["code"]) == (404, "NOT_FOUND")
    early = await api.client.post("/authenticator/entity", headers=header(token),
                                  json={"encryptedData": "d", "header": "h"})
    assert (early.status_code, early.json()["code"]) == (400, "AUTH_KEY_NOT_CREATED")
    for bad in ({"encryptedKey": "", "header": "h"}, {"encryptedKey": "k"}, {"encryptedKey": "k\x00", "header": "h"},
                {"encryptedKey": "k" * 2000, "header": "h"}):
        refused = await api.client.post("/authenticator/key", headers=header(token), json=bad)
        assert refused.status_code == 400, bad
        assert set(refused.json()) >= {"code", "message"}

    await create_key(api, token)
    again = await api.client.post("/authenticator/key", headers=header(token),
                                  json={"encryptedKey": "other", "header": "other"})
    assert (again.status_code, again.json()["code"], again.json()["message"]) == (409, "CONFLICT", "Key already exists")
    key = (await api.client.get("/authenticator/key", headers=header(token))).json()
    assert set(key) == {"userID", "encryptedKey", "header", "createdAt"}
    assert (key["userID"], key["encryptedKey"], key["header"]) == (user_id(token), KEY["encryptedKey"], KEY["header"])
    assert abs(key["createdAt"] - time.time_ns() // 1000) < 60_000_000


async def test_codes_are_created_updated_and_deleted_as_the_real_server_does(api: RunningSystem) -> None:
    token = await api.user_token("lena")
    await create_key(api, token)
    created = await create_entity(api, token, "sealed-1", "head-1")
    assert set(created) == {"id", "userID", "encryptedData", "header", "isDeleted", "createdAt", "updatedAt"}
    assert str(uuid.UUID(created["id"])) == created["id"]
    assert (created["userID"], created["encryptedData"], created["header"], created["isDeleted"]) == (
        user_id(token), "sealed-1", "head-1", False)
    assert created["createdAt"] == created["updatedAt"]
    assert await diff(api, token, 0) == [created]

    update = {"id": created["id"], "encryptedData": "sealed-2", "header": "head-2"}
    response = await api.client.put("/authenticator/entity", headers=header(token), json=update)
    assert (response.status_code, response.content) == (200, b"")
    [updated] = await diff(api, token, created["updatedAt"])
    assert (updated["encryptedData"], updated["header"], updated["createdAt"]) == (
        "sealed-2", "head-2", created["createdAt"])
    assert updated["updatedAt"] > created["updatedAt"]
    # The same update again (a retry) is accepted and is no new change.
    assert (await api.client.put("/authenticator/entity", headers=header(token), json=update)).status_code == 200
    assert await diff(api, token, updated["updatedAt"]) == []

    deleted = await api.client.delete("/authenticator/entity", headers=header(token), params={"id": created["id"]})
    assert (deleted.status_code, deleted.content) == (200, b"")
    [tombstone] = await diff(api, token, updated["updatedAt"])
    assert (tombstone["id"], tombstone["isDeleted"], tombstone["encryptedData"], tombstone["header"]) == (
        created["id"], True, None, None)
    assert [e["id"] for e in await diff(api, token, 0)] == [created["id"]], "one entry per code, its latest state"
    # Deleting again changes nothing; updating a deleted code is refused.
    assert (await api.client.delete("/authenticator/entity", headers=header(token),
                                    params={"id": created["id"]})).status_code == 200
    assert await diff(api, token, tombstone["updatedAt"]) == []
    gone = await api.client.put("/authenticator/entity", headers=header(token), json=update)
    assert (gone.status_code, gone.json()["code"], gone.json()["message"]) == (
        400, "BAD_REQUEST", "entity is already deleted")

    unknown = {**update, "id": str(uuid.uuid4())}
    missing = await api.client.put("/authenticator/entity", headers=header(token), json=unknown)
    assert (missing.status_code, missing.json()["code"]) == (404, "NOT_FOUND")
    assert (await api.client.delete("/authenticator/entity", headers=header(token),
                                    params={"id": unknown["id"]})).status_code == 200, "as on the real server"
    for params in ({"id": "not-a-uuid"}, {}):
        refused = await api.client.delete("/authenticator/entity", headers=header(token), params=params)
        assert refused.status_code == 400, params
    for bad_update in ({**update, "id": "nope"}, {**update, "encryptedData": ""}, {"id": created["id"]}):
        assert (await api.client.put("/authenticator/entity", headers=header(token),
                                     json=bad_update)).status_code == 400, bad_update


async def test_the_diff_takes_the_real_servers_parameters(api: RunningSystem) -> None:
    token = await api.user_token("mona")
    await create_key(api, token)
    await create_entity(api, token, "x")
    before = time.time_ns() // 1000
    response = await api.client.get("/authenticator/entity/diff", headers=header(token),
                                    params={"sinceTime": 0, "limit": 1})
    body = response.json()
    assert set(body) == {"diff", "timestamp"}, "no hasMore: clients page by the newest updatedAt"
    assert before <= body["timestamp"] <= time.time_ns() // 1000, "the wall clock: the apps measure drift by it"
    cases: list[tuple[dict[str, Any], str]] = [
        ({"limit": 10}, "VALIDATION_ERROR"), ({"sinceTime": 0}, "VALIDATION_ERROR"),
        ({"sinceTime": 0, "limit": 0}, "BAD_REQUEST"), ({"sinceTime": 0, "limit": 5001}, "BAD_REQUEST"),
        ({"sinceTime": "x", "limit": 10}, "VALIDATION_ERROR"), ({"sinceTime": 2**63, "limit": 10}, "VALIDATION_ERROR"),
    ]
    for params, code in cases:
        refused = await api.client.get("/authenticator/entity/diff", headers=header(token), params=params)
        assert (refused.status_code, refused.json()["code"]) == (400, code), params
        if code == "BAD_REQUEST":
            assert refused.json()["message"] == "limit must be between 1 and 5000"
    assert len(await diff(api, token, -5, 5000)) == 1, "a negative sinceTime is a time before everything"


async def test_other_peoples_codes_are_not_there(api: RunningSystem) -> None:
    owner, intruder = await api.user_token("nina"), await api.user_token("otto")
    await create_key(api, owner)
    await create_key(api, intruder)
    theirs = await create_entity(api, owner, "owners-secret")
    update = {"id": theirs["id"], "encryptedData": "mine", "header": "mine"}
    response = await api.client.put("/authenticator/entity", headers=header(intruder), json=update)
    assert (response.status_code, response.json()["code"]) == (404, "NOT_FOUND")
    # A delete of an id one does not have is a 200 that does nothing, as for an unknown id.
    assert (await api.client.delete("/authenticator/entity", headers=header(intruder),
                                    params={"id": theirs["id"]})).status_code == 200
    assert await diff(api, intruder, 0) == []
    assert await diff(api, owner, 0) == [theirs], "untouched"
    key = (await api.client.get("/authenticator/key", headers=header(intruder))).json()
    assert key["userID"] == user_id(intruder)

    # What an account's deletion calls: the key and every code go, nobody else's.
    async with api.services["metadata"].app.state.container.authenticator.db.transaction() as session:
        await forget_authenticator(session, user_id(owner))
    assert (await api.client.get("/authenticator/key", headers=header(owner))).status_code == 404
    assert await diff(api, owner, 0) == []
    assert (await api.client.get("/authenticator/key", headers=header(intruder))).status_code == 200


async def test_a_diff_paged_during_concurrent_writes_sees_every_change_exactly_once(api: RunningSystem) -> None:
    token = await api.user_token("pia")
    await create_key(api, token)
    early = [await create_entity(api, token, f"early-{n}") for n in range(5)]
    writing = True
    seen: list[tuple[str, int]] = []
    state: dict[str, dict[str, Any]] = {}

    async def page_until_quiet() -> None:
        since = 0
        while True:
            quiet = not writing
            page = await diff(api, token, since, limit=3)
            for entry in page:
                seen.append((entry["id"], entry["updatedAt"]))
                state[entry["id"]] = entry
                since = max(since, entry["updatedAt"])
            if quiet and not page:
                return
            await asyncio.sleep(0)

    async def write() -> None:
        nonlocal writing
        try:
            creates = [create_entity(api, token, f"new-{n}") for n in range(20)]
            updates = [api.client.put("/authenticator/entity", headers=header(token), json={
                "id": e["id"], "encryptedData": f"changed-{n}", "header": "h"}) for n, e in enumerate(early[:3])]
            deletes = [api.client.delete("/authenticator/entity", headers=header(token), params={"id": e["id"]})
                       for e in early[3:]]
            results = await asyncio.gather(*creates, *updates, *deletes)
            assert all(getattr(r, "status_code", 200) == 200 for r in results)
        finally:
            writing = False

    await asyncio.gather(page_until_quiet(), write())
    assert len(seen) == len(set(seen)), "no change came twice"
    everything = {e["id"]: e for e in await diff(api, token, 0)}
    assert state == everything, "the paged client ends with the server's state"
    assert len(everything) == 25
    assert sorted(e["encryptedData"] for e in everything.values() if e["encryptedData"] and
                  e["encryptedData"].startswith("changed")) == ["changed-0", "changed-1", "changed-2"]
    assert sum(e["isDeleted"] for e in everything.values()) == 2
    times = [e["updatedAt"] for e in everything.values()]
    assert len(times) == len(set(times)), "change times are unique per owner"


# --- `ente account add --app auth`, then `ente export` ------------------------------------------------------

CodeReader = Callable[[str], Awaitable[str]]


@pytest.fixture
def codes(caplog: pytest.LogCaptureFixture) -> CodeReader:
    caplog.set_level(logging.INFO, "shoebox_auth.ente.mailer")

    async def read(email: str) -> str:
        return code_from_log(caplog.records, email)

    return read


@dataclass
class AuthApp:
    """What Ente Auth does with the routes: a random Auth key sealed with the master key, and each code an
    `otpauth://` URI, JSON-encoded and encrypted with secretstream under the Auth key."""

    api: RunningSystem
    user: SignedIn
    auth_key: bytes = field(default_factory=lambda: nacl.utils.random(32))

    async def call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = await self.api.client.request(method, path, headers=self.user.header, **kwargs)
        assert response.status_code == 200, f"{method} {path}: {response.status_code} {response.text}"
        return response.json() if response.content else None

    async def set_up(self) -> None:
        encrypted_key, nonce = secretbox(self.user.master_key, self.auth_key)
        await self.call("POST", "/authenticator/key", json={"encryptedKey": encrypted_key, "header": nonce})

    def seal(self, uri: str) -> dict[str, str]:
        data, head = stream_encrypt(self.auth_key, json.dumps(uri).encode())
        return {"encryptedData": b64(data), "header": head}

    async def add(self, uri: str) -> str:
        created: dict[str, Any] = await self.call("POST", "/authenticator/entity", json=self.seal(uri))
        return str(created["id"])

    async def change(self, entity_id: str, uri: str) -> None:
        await self.call("PUT", "/authenticator/entity", json={"id": entity_id, **self.seal(uri)})

    async def remove(self, entity_id: str) -> None:
        await self.call("DELETE", "/authenticator/entity", params={"id": entity_id})


@dataclass
class Export:
    lines: list[str] | None  # None: "No data to export"
    entities: list[dict[str, Any]]
    pages: int


async def ente_export(api: RunningSystem, user: SignedIn, since: int = 0) -> Export:
    """cli/pkg/sync_authenticator.go: pages of 500 from `since` (the CLI always starts at 0), the next page
    from the newest updatedAt of a full one; then the key, opened with the master key; deleted codes skipped;
    each code decrypted and JSON-decoded into one line of ente_auth.txt."""
    entities: list[dict[str, Any]] = []
    pages = 0
    while True:
        response = await api.client.get("/authenticator/entity/diff", headers=user.header,
                                        params={"sinceTime": since, "limit": EXPORT_PAGE})
        assert response.status_code == 200, response.text
        fetched = response.json()["diff"]
        pages += 1
        entities += fetched
        if len(fetched) < EXPORT_PAGE:
            break
        since = max([since, *(e["updatedAt"] for e in fetched)])
    if not entities:
        return Export(None, [], pages)
    key = (await api.client.get("/authenticator/key", headers=user.header)).json()
    auth_key = open_secretbox(user.master_key, key["encryptedKey"], key["header"])
    lines = [json.loads(stream_decrypt(auth_key, unb64(e["encryptedData"]), e["header"]))
             for e in entities if not e["isDeleted"]]
    return Export(lines, entities, pages)


def uri(n: int) -> str:
    return f"otpauth://totp/Shoebox:user{n}%40example.com?secret=JBSWY3DPEHPK3P{n:04d}&issuer=Shoebox"


async def test_ente_account_add_app_auth_then_export(api: RunningSystem, codes: CodeReader) -> None:
    client = EnteClient(api.client, "quinn@example.com", "correct horse battery staple")
    await client.sign_up(codes)
    client.headers["X-Client-Package"] = "io.ente.auth"  # `ente account add --app auth`
    user = await client.sign_in()
    assert (await ente_export(api, user)).lines is None, "No data to export"

    app = AuthApp(api, user)
    await app.set_up()
    ids = [await app.add(uri(n)) for n in range(3)]
    # Past one page of 500, straight on the core (HTTP for 500 codes would only make the test slow).
    core = api.services["metadata"].app.state.container.authenticator
    principal = Principal(user_id=user.user_id, session_id=None, permissions=frozenset(), is_admin=False, token="")
    for n in range(3, 3 + EXPORT_PAGE):
        sealed = app.seal(uri(n))
        ids.append(str((await core.create_entity(principal, Sealed(sealed["encryptedData"], sealed["header"]))).id))

    first = await ente_export(api, user)
    assert first.pages == 2
    assert first.lines is not None
    assert sorted(first.lines) == sorted(uri(n) for n in range(3 + EXPORT_PAGE))
    assert len({e["id"] for e in first.entities}) == len(first.entities) == len(ids)
    synced_to = max(e["updatedAt"] for e in first.entities)

    await app.change(ids[0], uri(9000))
    await app.remove(ids[1])
    added = await app.add(uri(9001))
    changes = await ente_export(api, user, since=synced_to)
    assert [(e["id"], e["isDeleted"]) for e in changes.entities] == [(ids[0], False), (ids[1], True), (added, False)]
    assert changes.lines == [uri(9000), uri(9001)], "only the changes"

    again = await ente_export(api, user)
    expected = {uri(n) for n in range(2, 3 + EXPORT_PAGE)} | {uri(9000), uri(9001)}
    assert again.lines is not None
    assert sorted(again.lines) == sorted(expected), "a full export has the new state"
    assert len(again.lines) == len(expected)
