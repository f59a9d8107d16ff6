"""CL user administration: admin only, CL shapes, and taking access away revokes sessions everywhere."""

from __future__ import annotations

import asyncio

from shoebox.testing import RunningSystem


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def login(api: RunningSystem, username: str, password: str) -> int:
    return (await api.client.post("/auth/token", data={"username": username, "password": password})).status_code


async def refused_everywhere(api: RunningSystem, token: str) -> None:
    async with asyncio.timeout(10):
        while True:
            codes = {(await api.client.get(p, headers=bearer(token))).status_code
                     for p in ("/users/me", "/v1/images/img_1", "/v1/uploads/up_1")}
            if codes == {401}:
                return
            await asyncio.sleep(0.02)


async def test_admin_creates_lists_reads_and_updates_users(api: RunningSystem) -> None:
    admin = bearer(await api.token())
    created = await api.client.post("/users/", headers=admin, data={
        "username": "carol", "password": "carol-pass-1", "permissions": '["media_store_read", "admin"]'})
    assert created.status_code == 201, created.text
    carol = created.json()
    assert carol["username"] == "carol"
    assert carol["permissions"] == ["media_store_read", "admin"], "as given, in the order given"
    assert carol["is_active"] is True
    assert "T" in carol["created_at"]
    assert not carol["created_at"].endswith("+00:00"), "CL's created_at is a naive ISO datetime"

    listed = (await api.client.get("/users/", headers=admin, params={"limit": 10})).json()
    assert "carol" in [u["username"] for u in listed]
    got = await api.client.get(f"/users/{carol['id']}", headers=admin)
    assert got.json() == carol
    updated = await api.client.put(f"/users/{carol['id']}", headers=admin,
                                   data={"permissions": "media_store_write,media_store_read"})
    assert updated.json()["permissions"] == ["media_store_write", "media_store_read"]
    cleared = await api.client.put(f"/users/{carol['id']}", headers=admin, data={"permissions": ""})
    assert cleared.json()["permissions"] == []


async def test_errors_are_cl_shaped(api: RunningSystem) -> None:
    admin = bearer(await api.token())
    await api.client.post("/users/", headers=admin, data={"username": "dup", "password": "p"})
    duplicate = await api.client.post("/users/", headers=admin, data={"username": "dup", "password": "p"})
    assert (duplicate.status_code, duplicate.json()["detail"]) == (400, "Username already registered")
    too_long = await api.client.post("/users/", headers=admin,
                                     data={"username": "x1", "password": "p", "permissions": "r" * 65})
    assert (too_long.status_code, too_long.json()["detail"]) == (400, "A permission must be at most 64 characters")
    missing = await api.client.get("/users/987654321", headers=admin)
    assert (missing.status_code, missing.json()["detail"]) == (404, "User not found")
    ordinary = bearer(await api.user_token("olive"))
    for method, path in (("GET", "/users/"), ("GET", "/users/1000"), ("DELETE", "/users/1000"),
                         ("PUT", "/users/1000"), ("POST", "/users/")):
        response = await api.client.request(method, path, headers=ordinary)
        assert (response.status_code, response.json()["detail"]) == (403, "The user doesn't have enough privileges")
        anonymous = await api.client.request(method, path)
        assert anonymous.status_code == 401
        assert "detail" in anonymous.json()


async def test_deactivating_a_user_ends_their_sessions_and_sign_in(api: RunningSystem) -> None:
    admin = bearer(await api.token())
    token = await api.user_token("dave")
    me = (await api.client.get("/users/me", headers=bearer(token))).json()
    response = await api.client.put(f"/users/{me['id']}", headers=admin, data={"is_active": "false"})
    assert response.json()["is_active"] is False
    await refused_everywhere(api, token)
    assert await login(api, "dave", "dave-password-123") == 401
    await api.client.put(f"/users/{me['id']}", headers=admin, data={"is_active": "true"})
    assert await login(api, "dave", "dave-password-123") == 200


async def test_a_new_password_ends_old_sessions(api: RunningSystem) -> None:
    admin = bearer(await api.token())
    token = await api.user_token("erin")
    me = (await api.client.get("/users/me", headers=bearer(token))).json()
    await api.client.put(f"/users/{me['id']}", headers=admin, data={"password": "erin-new-pass"})
    await refused_everywhere(api, token)
    assert await login(api, "erin", "erin-password-123") == 401
    assert await login(api, "erin", "erin-new-pass") == 200


async def test_deleting_a_user_ends_everything(api: RunningSystem) -> None:
    admin = bearer(await api.token())
    token = await api.user_token("fred")
    me = (await api.client.get("/users/me", headers=bearer(token))).json()
    assert (await api.client.delete(f"/users/{me['id']}", headers=admin)).status_code == 204
    await refused_everywhere(api, token)
    assert await login(api, "fred", "fred-password-123") == 401
    assert (await api.client.get(f"/users/{me['id']}", headers=admin)).status_code == 404


async def test_permissions_are_free_form_and_echoed_as_given(api: RunningSystem) -> None:
    """CL's SDK grants its own names (`read:jobs`), comma-joined, and expects them back exactly."""
    admin = bearer(await api.token())
    created = await api.client.post("/users/", headers=admin, data={
        "username": "jobber", "password": "jobber-pass-1", "permissions": "read:jobs,write:jobs"})
    assert created.status_code == 201, created.text
    jobber = created.json()
    assert jobber["permissions"] == ["read:jobs", "write:jobs"]
    token = (await api.client.post("/auth/token", data={"username": "jobber", "password": "jobber-pass-1"})).json()
    me = (await api.client.get("/users/me", headers=bearer(token["access_token"]))).json()
    assert me["permissions"] == ["read:jobs", "write:jobs"]

    as_json = await api.client.put(f"/users/{jobber['id']}", headers=admin,
                                   data={"permissions": '["write:jobs", " media_store_read ", "write:jobs", "*"]'})
    assert as_json.json()["permissions"] == ["write:jobs", "media_store_read", "*"], "trimmed, each once, in order"
    spaced = await api.client.put(f"/users/{jobber['id']}", headers=admin,
                                  data={"permissions": " read:jobs , Jobs Admin "})
    assert spaced.json()["permissions"] == ["read:jobs", "Jobs Admin"]
    most = ",".join(f"p{i}" for i in range(64))
    at_limit = await api.client.put(f"/users/{jobber['id']}", headers=admin, data={"permissions": most})
    assert at_limit.json()["permissions"] == [f"p{i}" for i in range(64)]
    longest = await api.client.put(f"/users/{jobber['id']}", headers=admin, data={"permissions": "x" * 64})
    assert longest.json()["permissions"] == ["x" * 64]


INSANE = [
    ("read:jobs,,write:jobs", "A permission must not be empty"),
    ("read:jobs,", "A permission must not be empty"),
    ('["read:jobs", "  "]', "A permission must not be empty"),
    ("y" * 65, "A permission must be at most 64 characters"),
    ('["a,b"]', "A permission must not contain a comma"),
    ('["a\\u0000b"]', "A permission must not contain control characters"),
    ('["a\\tb"]', "A permission must not contain control characters"),
    ('["a\\u200bb"]', "A permission must not contain control characters"),
    (",".join(f"p{i}" for i in range(65)), "A user can have at most 64 permissions"),
    ('["a", 1]', "permissions must be a list of strings"),
    ('["a", ', "permissions is not a valid JSON array"),
]


async def test_insane_permissions_are_a_clear_400_and_change_nothing(api: RunningSystem) -> None:
    admin = bearer(await api.token())
    kept = await api.client.post("/users/", headers=admin, data={
        "username": "sane", "password": "sane-pass-1", "permissions": "read:jobs"})
    user_id = kept.json()["id"]
    for permissions, detail in INSANE:
        refused = await api.client.post("/users/", headers=admin, data={
            "username": "insane", "password": "insane-pass-1", "permissions": permissions})
        assert (refused.status_code, refused.json()["detail"]) == (400, detail), permissions
        changed = await api.client.put(f"/users/{user_id}", headers=admin, data={"permissions": permissions})
        assert (changed.status_code, changed.json()["detail"]) == (400, detail), permissions
    assert await login(api, "insane", "insane-pass-1") == 401, "no user was created"
    got = await api.client.get(f"/users/{user_id}", headers=admin)
    assert got.json()["permissions"] == ["read:jobs"]
