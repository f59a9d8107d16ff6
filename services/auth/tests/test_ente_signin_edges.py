"""Sign-in edge cases as Ente's server answers them and its CLI branches on them (issue 10): an account
without SRP is a 404 however rate-limited the caller, so the client signs in by code instead of asking for
a password forever; made-up attributes only for addresses without an account; email MFA."""

from __future__ import annotations

import logging

import pytest

from shoebox.testing import RunningSystem
from shoebox.testing.ente_client import EnteClient, b64, code_from_log, padded

PASSWORD = "a long and careful password"


@pytest.fixture
def mail(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO, "shoebox_auth.ente.mailer")
    return caplog


@pytest.fixture
async def alice(api: RunningSystem, mail: pytest.LogCaptureFixture) -> EnteClient:
    client = EnteClient(api.client, "alice@example.com", PASSWORD)

    async def read(email: str) -> str:
        return code_from_log(mail.records, email)

    await client.sign_up(read)
    return client


async def lookups(api: RunningSystem, email: str) -> list[tuple[int, dict[str, object]]]:
    answers = [await api.client.get("/users/srp/attributes", params={"email": email}),
               await api.client.post("/users/srp/attributes", json={"email": email}),
               await api.client.post("/users/srp/attributes", params={"email": email})]
    return [(a.status_code, {k: v for k, v in a.json().items() if k != "requestId"}) for a in answers]


async def test_an_account_without_srp_is_404_even_when_the_address_is_rate_limited(api: RunningSystem) -> None:
    """Today's defect: past the probe limit the CLI got decoys for a real account and asked for a
    password that could never verify, forever."""
    await api.user_token("carol")  # an account made elsewhere (CL), with an address and no SRP
    unknown = await lookups(api, "nobody@example.com")
    carol = await lookups(api, "carol@example.com")
    assert carol == unknown == [(404, {"code": "NOT_FOUND", "message": "No SRP attributes for this account"})] * 3
    for n in range(25):  # this address now probes too much: unknown addresses get decoys …
        await api.client.get("/users/srp/attributes", params={"email": f"probe{n}@example.com"})
    assert {status for status, _ in await lookups(api, "nobody@example.com")} == {200}
    # … and the account without SRP is still a 404, so the client signs in by code.
    assert await lookups(api, "carol@example.com") == carol
    assert await lookups(api, "Carol@Example.com ") == carol


async def test_email_mfa_refuses_the_password_and_the_code_still_signs_in(api: RunningSystem, alice: EnteClient,
                                                                        mail: pytest.LogCaptureFixture) -> None:
    signed = await alice.sign_in()
    on = await api.client.put("/users/email-mfa", headers=signed.header, json={"isEnabled": True})
    assert (on.status_code, on.json()) == (200, {})
    attributes = await alice.srp_attributes()
    assert attributes["isEmailMFAEnabled"] is True  # the CLI goes to a code by email on this
    refused = await api.client.post("/users/srp/create-session",
                                    json={"srpUserID": attributes["srpUserID"], "srpA": b64(padded(5))})
    assert refused.status_code == 409
    assert {k: v for k, v in refused.json().items() if k != "requestId"} == {
        "code": "EMAIL_MFA_ENABLED", "message": "Email MFA is enabled"}
    await alice.call("POST", "/users/ott", json={"email": "alice@example.com", "purpose": "login"})
    answer = await alice.call("POST", "/users/verify-email", json={
        "email": "alice@example.com", "ott": code_from_log(mail.records, "alice@example.com")})
    assert answer["encryptedToken"]
    details = await api.client.get("/users/details/v2", headers=signed.header)
    assert details.json()["profileData"]["isEmailMFAEnabled"] is True
    off = await api.client.put("/users/email-mfa", headers=signed.header, json={"isEnabled": False})
    assert off.status_code == 200
    assert (await alice.sign_in()).user_id == signed.user_id


async def test_email_mfa_stays_on_without_a_password_to_sign_in_with(api: RunningSystem) -> None:
    token = await api.user_token("dan")  # no SRP: a mailed code is the only way in
    headers = {"Authorization": f"Bearer {token}"}
    assert (await api.client.put("/users/email-mfa", headers=headers, json={"isEnabled": True})).status_code == 200
    refused = await api.client.put("/users/email-mfa", headers=headers, json={"isEnabled": False})
    assert (refused.status_code, refused.json()["code"]) == (409, "CONFLICT")
    assert (await api.client.put("/users/email-mfa", headers=headers, json={})).status_code == 400


async def test_every_sign_in_answer_carries_the_second_factor_fields_empty(
        api: RunningSystem, mail: pytest.LogCaptureFixture) -> None:
    """Ente's verify answers always carry them (no omitempty); the CLI branches on `!= ""`."""
    await api.client.post("/users/ott", json={"email": "erin@example.com", "purpose": "signup"})
    answer = await api.client.post("/users/verify-email", json={
        "email": "erin@example.com", "ott": code_from_log(mail.records, "erin@example.com")})
    body = answer.json()
    for field in ("twoFactorSessionID", "twoFactorSessionIDV2", "passkeySessionID", "accountsUrl"):
        assert body[field] == "", field
    assert body["token"]
