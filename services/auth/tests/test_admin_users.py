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
    assert carol["permissions"] == ["admin", "media_store_read"]
    assert carol["is_active"] is True
    assert "T" in carol["created_at"]
    assert not carol["created_at"].endswith("+00:00"), "CL's created_at is a naive ISO datetime"

    listed = (await api.client.get("/users/", headers=admin, params={"limit": 10})).json()
    assert "carol" in [u["username"] for u in listed]
    got = await api.client.get(f"/users/{carol['id']}", headers=admin)
    assert got.json() == carol
    updated = await api.client.put(f"/users/{carol['id']}", headers=admin,
                                   data={"permissions": "media_store_write,media_store_read"})
    assert updated.json()["permissions"] == ["media_store_read", "media_store_write"]
    cleared = await api.client.put(f"/users/{carol['id']}", headers=admin, data={"permissions": ""})
    assert cleared.json()["permissions"] == []


async def test_errors_are_cl_shaped(api: RunningSystem) -> None:
    admin = bearer(await api.token())
    await api.client.post("/users/", headers=admin, data={"username": "dup", "password": "p"})
    duplicate = await api.client.post("/users/", headers=admin, data={"username": "dup", "password": "p"})
    assert (duplicate.status_code, duplicate.json()["detail"]) == (400, "Username already registered")
    unknown = await api.client.post("/users/", headers=admin,
                                    data={"username": "x1", "password": "p", "permissions": "root"})
    assert unknown.status_code == 400
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
