"""The CL store's auth modes through the one port: who reads and writes in each mode, both switches
(`/admin/pref` and seed 004's `/admin/config`), that the mode persists, CL's exact 401/403 messages, that
a token sent is always validated, and that guest mode opens the CL store and nothing else."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from shoebox.testing import ADMIN_EMAIL, ADMIN_PASSWORD, RunningSystem, run_system
from shoebox.testing.cl_client import ClCallers, ClClient, cl_callers, detail_of
from shoebox_lib.settings import Settings

NO_TOKEN = "Authentication required"
BAD_TOKEN = "Could not validate credentials"
EXPIRED = "JWT token has expired"
NEED_READ = "Insufficient permissions. Required: media_store_read"
NEED_WRITE = "Insufficient permissions. Required: media_store_write"
NEED_ADMIN = "Insufficient permissions. Admin access required"

READ_AUTH_ENV = "SHOEBOX_METADATA_STORE_READ_AUTH_ENABLED"
AUTH_DISABLED_ENV = "SHOEBOX_METADATA_STORE_AUTH_DISABLED"


@pytest.fixture(autouse=True)
def _mode_from_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    """The tests here choose the mode; the environment they run in must not."""
    monkeypatch.delenv(READ_AUTH_ENV, raising=False)
    monkeypatch.delenv(AUTH_DISABLED_ENV, raising=False)


@pytest.fixture
async def cl(api: RunningSystem) -> ClCallers:
    return await cl_callers(api)


def refused(response: httpx.Response, status: int, message: str) -> None:
    assert (response.status_code, detail_of(response)) == (status, message), response.text


Read = Callable[[ClClient], Awaitable[httpx.Response]]


async def read_routes(cl: ClCallers) -> dict[str, Read]:
    """Every read route of the store, over a collection and a file the editor made."""
    album = await cl.editor.create_collection("album")
    photo = await cl.editor.upload(b"some bytes of a file", filename="f.bin", parent_id=album.id)
    return {
        "GET /entities": lambda c: c.get_entities(),
        "GET /entities/{id}": lambda c: c.get_entity(album.id),
        "GET /entities/{id}?version=1": lambda c: c.get_entity(album.id, version=1),
        "GET /entities/{id}/versions": lambda c: c.get_versions(album.id),
        "GET /entities/{id}/media": lambda c: c.get_media(photo.id),
        "GET /entities/{id}/preview": lambda c: c.get_preview(photo.id),
        "GET /entities/lookup": lambda c: c.get_lookup(label="album"),
        "GET /entity/": lambda c: c.alias().get_entities(),
        "GET /entity/{id}": lambda c: c.alias().get_entity(album.id),
        "GET /entity/{id}/versions": lambda c: c.alias().get_versions(album.id),
    }


async def write_routes(cl: ClCallers) -> dict[str, Read]:
    """Every write route, each on an entity of its own (a refused write must change nothing anyway)."""
    target = await cl.editor.create_collection("target")
    gone = await cl.editor.create_collection("gone")
    also_gone = await cl.editor.create_collection("also gone")
    await cl.editor.soft_delete(gone.id)
    await cl.editor.soft_delete(also_gone.id)
    return {
        "POST /entities": lambda c: c.post_entities(is_collection=True, label="new"),
        "POST /entities (multipart)": lambda c: c.post_entities(is_collection=False,
                                                                file=("x.bin", b"written bytes", None)),
        "PUT /entities/{id}": lambda c: c.put_entity(target.id, is_collection=True, label="renamed"),
        "PATCH /entities/{id}": lambda c: c.patch_entity(target.id, {"label": "patched"}),
        "PATCH /entities/{id} (JSON)": lambda c: c.patch_entity(target.id, {"label": "patched"}, as_json=True),
        "DELETE /entities/{id}": lambda c: c.delete_entity(gone.id),
        "POST /entity/": lambda c: c.alias().post_entities(is_collection=True, label="new"),
        "PUT /entity/{id}": lambda c: c.alias().put_entity(target.id, is_collection=True, label="renamed"),
        "PATCH /entity/{id}": lambda c: c.alias().patch_entity(target.id, {"label": "patched"}),
        "DELETE /entity/{id}": lambda c: c.alias().delete_entity(also_gone.id),
    }


def admin_routes() -> dict[str, Read]:
    return {
        "GET /admin/pref": lambda c: c.get_pref(),
        "PUT /admin/pref/guest-mode": lambda c: c.put_guest_mode(True),
        "GET /admin/config": lambda c: c.get_config(),
        "PUT /admin/config/read-auth": lambda c: c.put_read_auth(False),
        "GET /system/audit": lambda c: c.get_audit(),
        "POST /system/clear-orphans": lambda c: c.post_clear_orphans(),
        "DELETE /entities": lambda c: c.delete_all(),
        "DELETE /entities/collection": lambda c: c.delete_collection_route(),
    }


async def test_root_answers_clients_first_call_without_a_token(cl: ClCallers) -> None:
    response = await cl.anonymous.get_root()
    assert response.status_code == 200, response.text
    body = response.json()
    assert {k: body[k] for k in ("status", "service", "version", "guestMode")} == {
        "status": "healthy", "service": "CoLAN Store Server", "version": "v1", "guestMode": "off"}
    assert body["auth_required"] is True
    await cl.admin.set_guest_mode(True)
    root = await cl.anonymous.root()
    assert root.guestMode == "on"
    assert isinstance(root.auth_required, bool)


async def test_by_default_reads_need_media_store_read(cl: ClCallers) -> None:
    """Shoebox starts with read auth on: the store is private until an admin opens it."""
    assert (await cl.admin.pref()).guest_mode is False
    assert (await cl.admin.config()).read_auth_enabled is True
    for name, call in (await read_routes(cl)).items():
        refused(await call(cl.anonymous), 401, NO_TOKEN)
        refused(await call(cl.garbage), 401, BAD_TOKEN)
        refused(await call(cl.forged), 401, BAD_TOKEN)
        refused(await call(cl.expired), 401, EXPIRED)
        refused(await call(cl.writer), 403, NEED_READ)
        refused(await call(cl.nobody), 403, NEED_READ)
        for allowed in (cl.reader, cl.editor, cl.admin):
            answer = await call(allowed)
            # the preview of a file compute cannot thumbnail is a 404 of the route, past its auth
            assert answer.status_code in ((200, 404) if "preview" in name else (200,)), (name, answer.text)


async def test_writes_need_media_store_write_in_every_mode(cl: ClCallers) -> None:
    for guest_mode in (False, True):
        await cl.admin.set_guest_mode(guest_mode)
        for name, call in (await write_routes(cl)).items():
            refused(await call(cl.anonymous), 401, NO_TOKEN)
            refused(await call(cl.garbage), 401, BAD_TOKEN)
            refused(await call(cl.forged), 401, BAD_TOKEN)
            refused(await call(cl.expired), 401, EXPIRED)
            refused(await call(cl.reader), 403, NEED_WRITE)
            refused(await call(cl.nobody), 403, NEED_WRITE)
            answer = await call(cl.writer)
            assert answer.status_code in (200, 201, 204), (guest_mode, name, answer.text)


async def test_an_admin_without_store_permissions_passes_every_check(cl: ClCallers) -> None:
    await cl.admin.create_user("boss", "boss-password", is_admin=True, permissions=[])
    boss = cl.admin.as_token(None)
    me = await boss.login("boss", "boss-password")
    assert (me.is_admin, me.permissions) == (True, [])
    made = await boss.create_collection("by the boss")
    assert (await boss.read_entity(made.id)).label == "by the boss"
    assert (await boss.pref()).guest_mode is False
    assert (await boss.audit()).orphaned_faces == []


async def test_admin_routes_refuse_everyone_else_with_cls_messages(cl: ClCallers) -> None:
    for name, call in admin_routes().items():
        refused(await call(cl.anonymous), 401, NO_TOKEN)
        refused(await call(cl.forged), 401, BAD_TOKEN)
        refused(await call(cl.expired), 401, EXPIRED)
        for person in (cl.reader, cl.writer, cl.editor, cl.nobody):
            response = await call(person)
            assert (response.status_code, detail_of(response)) == (403, NEED_ADMIN), (name, response.text)
    # nothing was deleted by the refused calls
    assert (await cl.admin.pref()).guest_mode is False


async def test_guest_mode_by_pref_opens_reads_and_shows_who_changed_it(cl: ClCallers) -> None:
    album = await cl.editor.create_collection("visible to guests")
    updated = await cl.admin.set_guest_mode(True)
    assert (updated.guest_mode, updated.message) == (True, "Configuration updated successfully")
    pref = await cl.admin.pref()
    assert cl.admin.me is not None
    assert (pref.guest_mode, pref.updated_by) == (True, str(cl.admin.me.id))
    assert isinstance(pref.updated_at, int)
    assert (await cl.admin.config()).read_auth_enabled is False

    for name, call in (await read_routes(cl)).items():
        answer = await call(cl.anonymous)
        assert answer.status_code in ((200, 404) if "preview" in name else (200,)), (name, answer.text)
        # reads are open, but a token that is sent is still checked, and a valid one without the
        # read permission reads like a guest
        refused(await call(cl.forged), 401, BAD_TOKEN)
        refused(await call(cl.garbage), 401, BAD_TOKEN)
        refused(await call(cl.expired), 401, EXPIRED)
        assert (await call(cl.writer)).status_code in (200, 404), name
    assert (await cl.anonymous.read_entity(album.id)).label == "visible to guests"

    await cl.admin.set_guest_mode(False)
    assert (await cl.admin.pref()).guest_mode is False
    refused(await cl.anonymous.get_entities(), 401, NO_TOKEN)
    assert (await cl.anonymous.root()).guestMode == "off"


async def test_read_auth_switch_of_seed_004_is_the_same_setting(cl: ClCallers) -> None:
    opened = await cl.admin.set_read_auth(False)
    assert cl.admin.me is not None
    assert (opened.read_auth_enabled, opened.updated_by) == (False, str(cl.admin.me.id))
    assert isinstance(opened.updated_at, int)
    assert (await cl.admin.pref()).guest_mode is True
    assert (await cl.anonymous.get_entities()).status_code == 200
    assert (await cl.anonymous.root()).guestMode == "on"

    closed = await cl.admin.set_read_auth(True)
    assert closed.read_auth_enabled is True
    assert (await cl.admin.config()).read_auth_enabled is True
    assert (await cl.admin.pref()).guest_mode is False
    refused(await cl.anonymous.get_entities(), 401, NO_TOKEN)


async def test_switches_refuse_malformed_bodies(cl: ClCallers) -> None:
    assert (await cl.admin.send("PUT", "/admin/pref/guest-mode", data={})).status_code == 422
    assert (await cl.admin.send("PUT", "/admin/pref/guest-mode", data={"guest_mode": "perhaps"})).status_code == 422
    assert (await cl.admin.send("PUT", "/admin/config/read-auth", json_body={})).status_code == 422
    assert (await cl.admin.send("PUT", "/admin/config/read-auth", json_body={"enabled": "perhaps"})
            ).status_code == 422
    assert (await cl.admin.pref()).guest_mode is False


async def test_guest_mode_opens_the_cl_store_and_no_other_face(cl: ClCallers, api: RunningSystem) -> None:
    await cl.admin.set_guest_mode(True)
    anonymous = api.client
    # (one v1 image is anyone's to ask for now, as a public image is: the list of one's own needs a token)
    for path in ("/v1/images", "/collections/v2?sinceTime=0", "/users/me", "/storage/usage"):
        response = await anonymous.get(path)
        assert response.status_code == 401, (path, response.status_code, response.text)
    # a CL token with store permissions opens no other face's data either: Ente's diff of its own
    # (empty) library is all it sees, never the store's entities
    await cl.editor.create_collection("store only")
    assert cl.editor.token is not None
    ente = await anonymous.get("/collections/v2?sinceTime=0", headers={"X-Auth-Token": cl.editor.token})
    assert ente.status_code == 200, ente.text
    assert ente.json()["collections"] == []


async def test_auth_disabled_opens_reads_and_writes(system_settings: Callable[..., Settings],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(AUTH_DISABLED_ENV, "true")
    async with run_system(system_settings()) as running:
        anyone = ClClient(running.client)
        root = await anyone.root()
        assert (root.guestMode, root.auth_required) == ("on", False)
        made = await anyone.create_collection("demo")
        assert (await anyone.read_entity(made.id)).label == "demo"
        assert (await anyone.patch(made.id, label="demo 2")).label == "demo 2"
        file = await anyone.upload(b"demo file bytes", filename="demo.bin")
        assert await anyone.download(file.id) == b"demo file bytes"
        # the other faces keep their own rules
        assert (await running.client.get("/collections/v2?sinceTime=0")).status_code == 401
        assert (await running.client.get("/v1/images")).status_code == 401


async def test_read_auth_off_at_start_is_guest_mode(system_settings: Callable[..., Settings],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(READ_AUTH_ENV, "false")
    async with run_system(system_settings()) as running:
        anyone = ClClient(running.client)
        assert (await anyone.root()).guestMode == "on"
        assert (await anyone.get_entities()).status_code == 200
        refused(await anyone.post_entities(is_collection=True, label="x"), 401, NO_TOKEN)


async def test_the_mode_persists_and_an_explicit_setting_wins_at_start(
        system_settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch) -> None:
    """Three starts of the system on one database: an admin's choice outlives the process; a variable set
    explicitly is applied at the next start over it."""
    async with run_system(system_settings()) as first:
        admin = ClClient(first.client)
        await admin.login(*admin_login())
        await admin.set_guest_mode(True)
        chosen = await admin.pref()

    async with run_system(system_settings()) as second:
        admin = ClClient(second.client)
        await admin.login(*admin_login())
        pref = await admin.pref()
        assert (pref.guest_mode, pref.updated_by, pref.updated_at) == (True, chosen.updated_by, chosen.updated_at)
        assert (await ClClient(second.client).get_entities()).status_code == 200

    monkeypatch.setenv(READ_AUTH_ENV, "true")
    async with run_system(system_settings()) as third:
        admin = ClClient(third.client)
        await admin.login(*admin_login())
        assert (await admin.pref()).guest_mode is False
        assert (await admin.config()).read_auth_enabled is True
        refused(await ClClient(third.client).get_entities(), 401, NO_TOKEN)


def admin_login() -> tuple[str, str]:
    return ADMIN_EMAIL, ADMIN_PASSWORD


async def test_free_form_permissions_are_stored_and_echoed(cl: ClCallers) -> None:
    wanted = ["read:jobs", "write:jobs", "media_store_read"]
    made = await cl.admin.create_user("jobs-person", "jobs-password", permissions=wanted)
    assert made.permissions == wanted
    fetched = await cl.admin.get_user(made.id)
    assert fetched.status_code == 200, fetched.text
    assert fetched.json()["permissions"] == wanted
    person = cl.admin.as_token(None)
    assert (await person.login("jobs-person", "jobs-password")).permissions == wanted
    # the known name keeps its meaning: this user reads the store, and cannot write it
    assert (await person.get_entities()).status_code == 200
    refused(await person.post_entities(is_collection=True, label="no"), 403, NEED_WRITE)
    names = {user.username for user in await cl.admin.list_users()}
    assert "jobs-person" in names
    assert any(user.is_admin for user in await cl.admin.list_users())


async def test_a_refreshed_token_works_and_m_insight_status_is_public(cl: ClCallers) -> None:
    old = cl.editor.token
    new = await cl.editor.refresh()
    assert new != old
    assert (await cl.editor.create_collection("after refresh")).label == "after refresh"
    status: dict[str, Any] = (await cl.anonymous.get_insight_status()).json()
    assert status["status"] in ("running", "idle")
    assert (await cl.anonymous.insight_status()).status in ("running", "idle")


async def test_user_administration_changes_what_the_store_allows(cl: ClCallers) -> None:
    made = await cl.admin.create_user("changing", "changing-password", permissions=["media_store_read"])
    person = cl.admin.as_token(None)
    await person.login("changing", "changing-password")
    assert (await person.get_entities()).status_code == 200

    cleared = await cl.admin.put_user(made.id, permissions=[])
    assert (cleared.status_code, cleared.json()["permissions"]) == (200, [])
    await person.login("changing", "changing-password")
    refused(await person.get_entities(), 403, NEED_READ)

    granted = await cl.admin.put_user(made.id, permissions=["media_store_write", "write:jobs"])
    assert granted.json()["permissions"] == ["media_store_write", "write:jobs"]
    await person.login("changing", "changing-password")
    assert (await person.create_collection("now I write")).added_by == str(made.id)

    assert (await cl.admin.delete_user(made.id)).status_code == 204
    gone = await cl.admin.get_user(made.id)
    assert (gone.status_code, detail_of(gone)) == (404, "User not found")
    taken = await cl.admin.post_users("admin-twin", "pw-123456")
    assert taken.status_code == 201
    again = await cl.admin.post_users("admin-twin", "pw-123456")
    assert (again.status_code, detail_of(again)) == (400, "Username already registered")
