"""Ente's admin routes with the requests `ente admin` sends (ente-io/ente `cli/internal/api/admin.go`) and the
answers it reads: list-users, get-user-id, update-subscription, disable-2fa, disable-passkey, send-mail,
delete-user. Admins only; a normal user gets the real server's 401 `{"error": "insufficient permissions"}`.
Deleting an account announces `user.deleted`; a plan announces `account.quota_set` (issue 10)."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from nats.js.errors import NotFoundError
from sqlalchemy import update

from shoebox.testing import RunningSystem
from shoebox.testing.ente_client import EnteClient, SignedIn, code_from_log
from shoebox_auth.models import Session
from shoebox_lib.events import Payload, QuotaSet, UserDeleted

PASSWORD = "an admin's careful password"
TIB = 1024**4


@pytest.fixture
def mail(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO, "shoebox_auth.ente.mailer")
    return caplog


async def ente_account(api: RunningSystem, mail: pytest.LogCaptureFixture, email: str) -> EnteClient:
    client = EnteClient(api.client, email, PASSWORD)

    async def read(address: str) -> str:
        return code_from_log(mail.records, address)

    await client.sign_up(read)
    return client


@pytest.fixture
async def admin(api: RunningSystem, mail: pytest.LogCaptureFixture) -> SignedIn:
    """An Ente account an admin has made an admin: what the CLI signs in with (it needs key attributes)."""
    client = await ente_account(api, mail, "root@example.com")
    bootstrap = {"Authorization": f"Bearer {await api.token()}"}
    signed = await client.sign_in()
    promoted = await api.client.put(f"/users/{signed.user_id}", headers=bootstrap, data={"is_admin": "true"})
    assert promoted.status_code == 200, promoted.text
    return await client.sign_in()  # a token minted after the promotion says so


@pytest.fixture
async def bob(api: RunningSystem, mail: pytest.LogCaptureFixture) -> EnteClient:
    return await ente_account(api, mail, "bob@example.com")


async def last_event(api: RunningSystem, kind: type[Payload], **match: Any) -> dict[str, Any]:
    """The newest event of its kind auth published whose data has `match`."""
    runtime = api.services["auth"].app.state.runtime
    prefix = api.settings.bus_prefix
    async with asyncio.timeout(10):
        while True:
            try:
                message = await runtime.bus.js.get_last_msg(f"{prefix.upper()}_EVENTS",
                                                            f"{prefix}.events.{kind.event_type}")
            except NotFoundError:  # not published yet
                message = None
            if message is not None and message.data:
                data: dict[str, Any] = json.loads(message.data)["data"]
                if all(data.get(k) == v for k, v in match.items()):
                    return data
            await asyncio.sleep(0.05)


async def test_list_users_as_the_cli_asks(api: RunningSystem, admin: SignedIn, bob: EnteClient) -> None:
    carol = await api.client.post("/users/", headers={"Authorization": f"Bearer {await api.token()}"},
                                  data={"username": "carol", "password": "carol-pass-1"})  # no address
    assert carol.status_code == 201
    for path in ("/admin/users/", "/admin/users"):
        listed = await api.client.get(path, params={"sinceTime": "0"}, headers=admin.header)
        assert listed.status_code == 200, listed.text
        users = listed.json()["users"]
        emails = [u["email"] for u in users]
        assert {"root@example.com", "bob@example.com"} <= set(emails)
        assert "" not in emails  # accounts without an address are not Ente's users
        bob_row = next(u for u in users if u["email"] == "bob@example.com")
        assert set(bob_row) == {"ID", "email", "name", "hash", "creationTime", "familyAdminID",
                                "isTwoFactorEnabled", "isEmailMFAEnabled"}
        assert isinstance(bob_row["ID"], int)
        assert bob_row["familyAdminID"] is None
        assert abs(bob_row["creationTime"] / 1e6 - time.time()) < 600
        assert [u["creationTime"] for u in users] == sorted(u["creationTime"] for u in users)
    later = await api.client.get("/admin/users/", params={"sinceTime": bob_row["creationTime"]},
                                 headers=admin.header)
    assert "bob@example.com" not in [u["email"] for u in later.json()["users"]]


async def test_get_user_id_then_update_the_free_plan_as_the_cli_does(api: RunningSystem, admin: SignedIn,
                                                                     bob: EnteClient) -> None:
    found = await api.client.get("/admin/user/", params={"email": " Bob@Example.com"}, headers=admin.header)
    assert found.status_code == 200, found.text
    body = found.json()
    bob_id = body["user"]["ID"]
    assert body["user"]["email"] == "bob@example.com"
    assert body["subscription"]["productID"] == "free"  # the CLI refuses any other plan
    assert body["subscription"]["storage"] == api.settings.default_quota_bytes
    assert body["details"]["email"] == "bob@example.com"
    assert "fileCount" not in body["details"]
    assert {"creationTime", "lastUsedTime", "ua", "isDeleted", "app"} <= set(body["tokens"][0])
    by_id = await api.client.get("/admin/user", params={"id": bob_id}, headers=admin.header)
    assert by_id.json()["user"]["ID"] == bob_id

    expiry = int((datetime.now(UTC) + timedelta(days=365 * 100)).timestamp() * 1_000_000)
    updated = await api.client.put("/admin/user/subscription", headers=admin.header, json={
        "userID": bob_id, "expiryTime": expiry, "transactionID": f"cli-on-{int(time.time())}",
        "productID": "free", "paymentProvider": "", "storage": 100 * TIB})  # `--no-limit`
    assert (updated.status_code, updated.json()) == (200, {})
    again = (await api.client.get("/admin/user/", params={"email": "bob@example.com"}, headers=admin.header)).json()
    assert (again["subscription"]["storage"], again["subscription"]["expiryTime"]) == (100 * TIB, expiry)
    own = await api.client.get("/users/details/v2", headers=(await bob.sign_in()).header)
    assert own.json()["subscription"]["storage"] == 100 * TIB
    event = await last_event(api, QuotaSet, user_id=bob_id)
    assert event == {"user_id": bob_id, "quota_bytes": 100 * TIB}

    for broken in ({"userID": bob_id, "storage": 0, "expiryTime": expiry, "transactionID": "t", "productID": "free"},
                   {"userID": bob_id, "storage": 1, "expiryTime": expiry, "transactionID": "", "productID": "free"},
                   {"userID": bob_id, "storage": 2**63, "expiryTime": expiry, "transactionID": "t",
                    "productID": "free"},
                   {"userID": bob_id, "storage": 1}):
        refused = await api.client.put("/admin/user/subscription", headers=admin.header, json=broken)
        assert refused.status_code == 400, broken
        assert set(refused.json()) >= {"code", "message"}
    nobody = await api.client.put("/admin/user/subscription", headers=admin.header, json={
        "userID": 987654321, "storage": 1, "expiryTime": expiry, "transactionID": "t", "productID": "free"})
    assert nobody.status_code == 404


async def test_unknown_users_are_404_in_entes_shape(api: RunningSystem, admin: SignedIn) -> None:
    for params in ({"email": "nobody@example.com"}, {"id": 987654321}):
        missing = await api.client.get("/admin/user/", params=params, headers=admin.header)
        assert missing.status_code == 404
        assert set(missing.json()) >= {"code", "message"}
    neither = await api.client.get("/admin/user/", headers=admin.header)
    assert (neither.status_code, neither.json()["code"]) == (400, "BAD_REQUEST")
    for path in ("/admin/user/disable-2fa", "/admin/user/disable-passkeys"):
        assert (await api.client.post(path, headers=admin.header, json={"userID": 987654321})).status_code == 404


async def test_disable_two_factor_and_passkeys_as_the_cli_sends_them(api: RunningSystem, admin: SignedIn,
                                                                      bob: EnteClient) -> None:
    found = (await api.client.get("/admin/user/", params={"email": "bob@example.com"}, headers=admin.header)).json()
    for path in ("/admin/user/disable-2fa", "/admin/user/disable-passkeys"):
        answer = await api.client.post(path, headers=admin.header, json={"userID": found["user"]["ID"]})
        assert (answer.status_code, answer.json()) == (200, {}), path
    assert (await bob.sign_in()).user_id == found["user"]["ID"]  # nothing else changed


async def test_email_mfa_set_by_an_admin_sends_the_client_to_codes(api: RunningSystem, admin: SignedIn,
                                                                  bob: EnteClient) -> None:
    bob_id = (await bob.sign_in()).user_id
    missing = await api.client.post("/admin/user/update-email-mfa", headers=admin.header, json={"userID": bob_id})
    assert (missing.status_code, missing.json()["message"]) == (400, "emailMFA is required")
    on = await api.client.post("/admin/user/update-email-mfa", headers=admin.header,
                               json={"userID": bob_id, "emailMFA": True})
    assert on.status_code == 200
    assert (await bob.srp_attributes())["isEmailMFAEnabled"] is True


async def test_send_mail_as_the_cli_sends_it(api: RunningSystem, admin: SignedIn,
                                             mail: pytest.LogCaptureFixture) -> None:
    sent = await api.client.post("/admin/mail", headers=admin.header, json={
        "to": ["someone@example.com"], "fromName": "Ente Admin", "fromEmail": "admin@example.com",
        "subject": "Test mail from Ente", "body": "This is a test mail from Ente"})
    assert (sent.status_code, sent.json()) == (200, {})
    logged = [r.getMessage() for r in mail.records if "mail to someone@example.com " in r.getMessage()]
    assert logged
    assert "from Ente Admin <admin@example.com>" in logged[-1]
    assert "This is a test mail from Ente" in logged[-1]
    for broken in ({"fromName": "x", "fromEmail": "admin@example.com", "subject": "s\r\nBcc: all@example.com",
                    "body": "b", "to": ["someone@example.com"]},
                   {"fromName": "x", "fromEmail": "admin@example.com", "subject": "s", "body": "b", "to": []},
                   {"fromName": "x", "fromEmail": "not-an-address", "subject": "s", "body": "b",
                    "to": ["someone@example.com"]}):
        refused = await api.client.post("/admin/mail", headers=admin.header, json=broken)
        assert refused.status_code == 400, broken
        assert set(refused.json()) >= {"code", "message"}


async def test_delete_user_as_the_cli_does_revokes_and_announces_it(api: RunningSystem, admin: SignedIn,
                                                                     bob: EnteClient) -> None:
    signed = await bob.sign_in()
    deleted = await api.client.delete("/admin/user/delete", params={"email": "bob@example.com"},
                                      headers=admin.header)
    assert deleted.status_code == 200, deleted.text
    assert deleted.json() == {"isSubscriptionCancelled": False, "userID": signed.user_id}
    assert await last_event(api, UserDeleted, user_id=signed.user_id) == {"user_id": signed.user_id}
    async with asyncio.timeout(10):
        while (await api.client.get("/users/details/v2", headers=signed.header)).status_code != 401:
            await asyncio.sleep(0.02)
    gone = await api.client.get("/admin/user/", params={"email": "bob@example.com"}, headers=admin.header)
    assert gone.status_code == 404
    missing = await api.client.get("/users/srp/attributes", params={"email": "bob@example.com"})
    assert missing.status_code == 404
    again = await api.client.delete("/admin/user/delete", params={"email": "bob@example.com"}, headers=admin.header)
    assert again.status_code == 404
    empty = await api.client.delete("/admin/user/delete", headers=admin.header)
    assert (empty.status_code, empty.json()["code"]) == (400, "BAD_REQUEST")


async def test_the_cl_delete_announces_it_too(api: RunningSystem) -> None:
    bootstrap = {"Authorization": f"Bearer {await api.token()}"}
    created = (await api.client.post("/users/", headers=bootstrap,
                                     data={"username": "dora", "password": "dora-pass-1"})).json()
    assert (await api.client.delete(f"/users/{created['id']}", headers=bootstrap)).status_code == 204
    assert await last_event(api, UserDeleted, user_id=created["id"]) == {"user_id": created["id"]}


ADMIN_CALLS: list[tuple[str, str, dict[str, Any]]] = [
    ("GET", "/admin/users/", {"params": {"sinceTime": "0"}}),
    ("GET", "/admin/users", {"params": {"sinceTime": "0"}}),
    ("GET", "/admin/user/", {"params": {"email": "bob@example.com"}}),
    ("GET", "/admin/user", {"params": {"email": "bob@example.com"}}),
    ("DELETE", "/admin/user/delete", {"params": {"email": "bob@example.com"}}),
    ("POST", "/admin/user/disable-2fa", {"json": {"userID": 1000}}),
    ("POST", "/admin/user/disable-passkeys", {"json": {"userID": 1000}}),
    ("POST", "/admin/user/update-email-mfa", {"json": {"userID": 1000, "emailMFA": False}}),
    ("PUT", "/admin/user/subscription", {"json": {"userID": 1000, "storage": 1, "expiryTime": 1,
                                                  "transactionID": "t", "productID": "free"}}),
    ("POST", "/admin/mail", {"json": {"to": ["a@example.com"], "fromName": "x", "fromEmail": "b@example.com",
                                      "subject": "s", "body": "b"}}),
]


async def test_a_normal_user_gets_the_real_servers_refusal(api: RunningSystem, bob: EnteClient) -> None:
    signed = await bob.sign_in()
    routes = {(r.method, r.path) for r in api.services["auth"].routes() if r.path.startswith("/admin/")}
    assert routes == {(method, path) for method, path, _ in ADMIN_CALLS}, "every admin route is checked here"
    for method, path, request in ADMIN_CALLS:
        refused = await api.client.request(method, path, headers=signed.header, **request)
        assert (refused.status_code, refused.json()) == (401, {"error": "insufficient permissions"}), path
        anonymous = await api.client.request(method, path, **request)
        assert anonymous.status_code == 401
        assert set(anonymous.json()) >= {"code", "message"}
    assert (await bob.sign_in()).user_id == signed.user_id  # and nothing was done to bob
    # The CL face's admin routes still answer a normal user in their own way.
    cl = await api.client.get("/users/", headers=signed.header)
    assert cl.status_code == 403
    assert "detail" in cl.json()


async def test_an_old_admin_token_is_refused_where_ente_refuses_it(api: RunningSystem, admin: SignedIn,
                                                                   bob: EnteClient) -> None:
    db = api.services["auth"].app.state.runtime.db
    async with db.transaction() as session:
        await session.execute(update(Session).values(created_at=datetime.now(UTC) - timedelta(minutes=11)))
    for method, path, request in [*ADMIN_CALLS[:2], ADMIN_CALLS[4], ADMIN_CALLS[5]]:
        old = await api.client.request(method, path, headers=admin.header, **request)
        assert (old.status_code, old.json()["code"], old.json()["message"]) == (400, "BAD_REQUEST", "Token is too old")
    lookup = await api.client.get("/admin/user/", params={"email": "bob@example.com"}, headers=admin.header)
    assert lookup.status_code == 200  # the lookup takes any admin token, as Ente's does


async def test_since_time_is_an_ascii_64_bit_integer(api: RunningSystem, admin: SignedIn) -> None:
    for value in ("٣", "9223372036854775808", "", "1e3"):
        response = await api.client.get("/admin/users/", params={"sinceTime": value}, headers=admin.header)
        assert response.status_code == 400, value
        assert set(response.json()) >= {"code", "message"}
    far = await api.client.get("/admin/users/", params={"sinceTime": str(2**63 - 1)}, headers=admin.header)
    assert (far.status_code, far.json()) == (200, {"users": []})
    missing = await api.client.get("/admin/users/", headers=admin.header)
    assert missing.status_code == 400


async def test_a_demoted_admin_loses_the_admin_routes_at_once(api: RunningSystem, admin: SignedIn) -> None:
    bootstrap = {"Authorization": f"Bearer {await api.token()}"}
    demoted = await api.client.put(f"/users/{admin.user_id}", headers=bootstrap, data={"is_admin": "false"})
    assert demoted.status_code == 200
    async with asyncio.timeout(10):  # the token that says is_admin is revoked with its session
        while (await api.client.get("/admin/user/", params={"email": "root@example.com"},
                                    headers=admin.header)).status_code != 401:
            await asyncio.sleep(0.02)
