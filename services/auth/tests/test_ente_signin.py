"""A Python Ente client signs up and signs in through the whole system, and its unsealed token works
on another service."""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import jwt
import pytest

from shoebox.testing import RunningSystem
from shoebox.testing.ente_client import (
    TEST_MEM_LIMIT,
    TEST_OPS_LIMIT,
    EnteClient,
    code_from_log,
    derive_kek,
    open_secrets,
)
from shoebox.testing.flow import make_png, upload
from shoebox_auth.ente.usage import MetadataUsage
from shoebox_lib.embedded import free_port
from shoebox_lib.errors import UpstreamUnavailable
from shoebox_lib.internal import InternalClient
from shoebox_lib.settings import Settings

PASSWORD = "correct horse battery staple"


CodeReader = Callable[[str], Awaitable[str]]


@pytest.fixture
def codes(caplog: pytest.LogCaptureFixture) -> CodeReader:
    caplog.set_level(logging.INFO, "shoebox_auth.ente.mailer")

    async def read(email: str) -> str:
        return code_from_log(caplog.records, email)

    return read


async def test_sign_up_then_sign_in_by_srp_and_use_the_token_on_metadata(api: RunningSystem, codes: CodeReader) -> None:
    client = EnteClient(api.client, "alice@example.com", PASSWORD)
    keys = await client.sign_up(codes)

    attributes = await client.srp_attributes()
    assert attributes["memLimit"] == TEST_MEM_LIMIT
    assert attributes["opsLimit"] == TEST_OPS_LIMIT
    assert attributes["kekSalt"] == keys.attributes["kekSalt"]
    assert attributes["isEmailMFAEnabled"] is False

    signed = await client.sign_in()
    assert signed.master_key == keys.master_key
    assert signed.secret_key == bytes(keys.secret_key)
    assert signed.response["keyAttributes"] == keys.attributes
    assert "token" not in signed.response  # after key attributes exist, the token only travels sealed
    # No second factor here: Ente sends these empty, and `accountsUrl` only beside a passkey session.
    for field in ("twoFactorSessionID", "twoFactorSessionIDV2", "passkeySessionID", "accountsUrl"):
        assert signed.response[field] == "", field

    # The raw token is a Shoebox session token; an Ente app sends base64url of it, and metadata takes it.
    claims = jwt.decode(signed.raw_token, options={"verify_signature": False})
    assert claims["sub"] == str(signed.user_id)
    assert claims["sid"].startswith("ses_")
    created = await api.client.post("/v1/images", headers=signed.header,
                                    json={"filename": "a.png", "content_type": "image/png", "size_bytes": 10})
    assert created.status_code == 201, created.text
    sessions = await api.client.get("/users/sessions", headers=signed.header)
    assert sessions.status_code == 200
    assert any(s.get("clientPackage") == "io.ente.photos" for s in sessions.json()["sessions"])


async def test_a_code_by_email_signs_in_an_existing_account_with_a_sealed_token(api: RunningSystem,
                                                                                codes: CodeReader) -> None:
    client = EnteClient(api.client, "bob@example.com", PASSWORD)
    keys = await client.sign_up(codes)
    assert await client.call("POST", "/users/ott", json={"email": "Bob@Example.com ", "purpose": "login"}) == {}
    answer = await client.call("POST", "/users/verify-email",
                               json={"email": "bob@example.com", "ott": await codes("bob@example.com")})
    assert set(answer) >= {"id", "keyAttributes", "encryptedToken", "twoFactorSessionID", "passkeySessionID",
                           "accountsUrl"}
    assert "token" not in answer
    signed = open_secrets(answer, derive_kek(PASSWORD, base64.b64decode(keys.attributes["kekSalt"]),
                                             TEST_OPS_LIMIT, TEST_MEM_LIMIT))
    me = await api.client.get("/users/details/v2", headers=signed.header)
    assert me.status_code == 200
    assert me.json()["email"] == "bob@example.com"


async def test_verify_email_gives_a_plain_token_until_key_attributes_exist(api: RunningSystem,
                                                                            codes: CodeReader) -> None:
    client = EnteClient(api.client, "carol@example.com", PASSWORD)
    await client.call("POST", "/users/ott", json={"email": "carol@example.com", "purpose": "signup"})
    answer = await client.call("POST", "/users/verify-email",
                               json={"email": "carol@example.com", "ott": await codes("carol@example.com")})
    assert set(answer) >= {"id", "token", "twoFactorSessionID", "passkeySessionID", "accountsUrl"}
    assert "keyAttributes" not in answer
    assert "encryptedToken" not in answer
    # The token is already in the form an Ente app sends (base64url of the raw token) …
    raw = base64.urlsafe_b64decode(answer["token"])
    assert jwt.decode(raw, options={"verify_signature": False})["sub"] == str(answer["id"])
    # … and the address counts as verified.
    auth = api.services["auth"].app.state.container.auth
    assert (await auth.get_user(answer["id"])).is_email_verified is True
    # No SRP yet: the app is told to use codes.
    missing = await api.client.get("/users/srp/attributes", params={"email": "carol@example.com"})
    assert missing.status_code == 404
    assert missing.json()["code"] == "NOT_FOUND"


async def test_key_attributes_are_kept_exactly_and_set_once(api: RunningSystem, codes: CodeReader) -> None:
    client = EnteClient(api.client, "dave@example.com", PASSWORD)
    keys = await client.sign_up(codes)
    signed = await client.sign_in()
    again = await api.client.put("/users/attributes", headers=signed.header, json={"keyAttributes": keys.attributes})
    assert again.status_code == 403
    assert again.json()["code"] == "FORBIDDEN"
    # The extra fields an app sends (recovery key material, kekHash, …) come back untouched.
    assert signed.response["keyAttributes"]["recoveryKeyDecryptionNonce"] == keys.attributes[
        "recoveryKeyDecryptionNonce"]


async def test_key_attributes_are_checked_before_they_are_stored(api: RunningSystem, codes: CodeReader) -> None:
    client = EnteClient(api.client, "erin@example.com", PASSWORD)
    await client.call("POST", "/users/ott", json={"email": "erin@example.com", "purpose": "signup"})
    token = (await client.call("POST", "/users/verify-email", json={
        "email": "erin@example.com", "ott": await codes("erin@example.com")}))["token"]
    good = {"kekSalt": "c2FsdA==", "encryptedKey": "a2V5", "keyDecryptionNonce": "bm9uY2U=",
            "publicKey": base64.b64encode(b"\1" * 32).decode(), "encryptedSecretKey": "c2s=",
            "secretKeyDecryptionNonce": "bm9uY2U=", "memLimit": 8388608, "opsLimit": 2}
    for broken in ({**good, "publicKey": "c2hvcnQ="}, {**good, "memLimit": "lots"}, {**good, "opsLimit": 0},
                   {k: v for k, v in good.items() if k != "encryptedKey"}, {**good, "memLimit": True},
                   {**good, "padding": "x" * 70_000}):
        response = await api.client.put("/users/attributes", headers={"X-Auth-Token": token},
                                        json={"keyAttributes": broken})
        assert response.status_code == 400, broken
        assert set(response.json()) >= {"code", "message"}
    stored = await api.client.put("/users/attributes", headers={"X-Auth-Token": token}, json={"keyAttributes": good})
    assert stored.status_code == 200
    assert stored.json() == {"keyAttributes": good}


async def test_details_v2_has_entes_shape_and_the_usage_metadata_counts(api: RunningSystem, codes: CodeReader) -> None:
    client = EnteClient(api.client, "frank@example.com", PASSWORD)
    await client.sign_up(codes)
    signed = await client.sign_in()

    details = (await api.client.get("/users/details/v2", headers=signed.header)).json()
    assert details["email"] == "frank@example.com"
    assert (details["usage"], details["fileCount"], details["storageBonus"]) == (0, 0, 0)
    subscription = details["subscription"]
    assert subscription["storage"] == api.settings.default_quota_bytes
    assert subscription["productID"] == "free"
    assert subscription["userID"] == signed.user_id
    assert subscription["expiryTime"] > time.time() * 1_000_000
    assert details["profileData"]["canDisableEmailMFA"] is True  # SRP is set up
    assert details["bonusData"] == {"storageBonuses": []}
    without_count = (await api.client.get("/users/details/v2", headers=signed.header,
                                          params={"memoryCount": "false"})).json()
    assert "fileCount" not in without_count

    data = make_png(32, 24)
    await upload(api.client, signed.raw_token.decode(), data)
    for _ in range(200):  # metadata counts the file once the upload's event has reached it
        details = (await api.client.get("/users/details/v2", headers=signed.header)).json()
        if details["fileCount"]:
            break
        await asyncio.sleep(0.05)
    assert (details["usage"], details["fileCount"]) == (len(data), 1)


async def test_usage_from_a_metadata_out_of_reach_is_a_503() -> None:
    """Only metadata knows what a user stores: when it cannot be reached, details/v2 says so, never 0."""
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{free_port()}") as http:
        usage = MetadataUsage(InternalClient("auth", "metadata", http, "a-secret-for-this-test"))
        with pytest.raises(UpstreamUnavailable) as refused:
            await usage.usage_of(1000)
    assert refused.value.status_code == 503


async def test_sign_up_uses_the_mail_server_when_one_is_configured(
        system_settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch) -> None:
    from aiosmtpd.controller import Controller

    from shoebox.testing import run_system

    received: list[tuple[list[str], str]] = []

    class Inbox:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            received.append((list(envelope.rcpt_tos), envelope.content.decode()))
            return "250 Message accepted"

    port = free_port()
    controller = Controller(Inbox(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        monkeypatch.setenv("SHOEBOX_AUTH_SMTP_HOST", "127.0.0.1")
        monkeypatch.setenv("SHOEBOX_AUTH_SMTP_PORT", str(port))
        monkeypatch.setenv("SHOEBOX_AUTH_SMTP_FROM", "Shoebox <auth@shoebox.test>")
        async with run_system(system_settings()) as api:

            async def read(email: str) -> str:
                for _ in range(100):
                    for recipients, content in reversed(received):
                        if email in recipients and "verification code is " in content:
                            return content.split("verification code is ")[1][:6]
                    await asyncio.sleep(0.02)
                raise AssertionError(f"no mail reached {email}")

            client = EnteClient(api.client, "grace@example.com", PASSWORD)
            await client.sign_up(read)
            assert (await client.sign_in()).user_id
    finally:
        controller.stop()
    assert received
    assert all("From: Shoebox <auth@shoebox.test>" in content for _, content in received)
