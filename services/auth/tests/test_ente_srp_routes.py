"""The SRP routes against the attacks that broke earlier implementations: setup without a token or over
someone else's setup, wrong passwords, replayed and expired sessions, A ≡ 0 mod N, unknown srpUserIDs,
and what srp/attributes gives away."""

from __future__ import annotations

import base64
import hashlib
import logging
import uuid

import httpx
import pytest
from sqlalchemy import func, update

from shoebox.testing import RunningSystem
from shoebox.testing.ente_client import EnteClient, N, SrpClient, b64, code_from_log, padded
from shoebox_auth.models import EnteSrpSession

PASSWORD = "a long and careful password"


@pytest.fixture
async def alice(api: RunningSystem, caplog: pytest.LogCaptureFixture) -> EnteClient:
    caplog.set_level(logging.INFO, "shoebox_auth.ente.mailer")
    client = EnteClient(api.client, "alice@example.com", PASSWORD)

    async def read(email: str) -> str:
        return code_from_log(caplog.records, email)

    await client.sign_up(read)
    return client


def assert_ente_error(response: httpx.Response, status: int, code: str | None = None) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) >= {"code", "message"}
    if code:
        assert body["code"] == code
    assert "token" not in body
    assert "encryptedToken" not in body


SETUP_BODY = {"srpUserID": str(uuid.uuid4()), "srpSalt": b64(b"s" * 16), "srpVerifier": b64(padded(5)),
              "srpA": b64(padded(25))}


async def test_setup_complete_attributes_and_details_need_a_token(api: RunningSystem) -> None:
    for method, path, body in (
        ("POST", "/users/srp/setup", SETUP_BODY),
        ("POST", "/users/srp/complete", {"setupID": str(uuid.uuid4()), "srpM1": b64(b"m" * 32)}),
        ("PUT", "/users/attributes", {"keyAttributes": {}}),
        ("GET", "/users/details/v2", None),
    ):
        for headers in ({}, {"X-Auth-Token": "bm90LWEtdG9rZW4="}, {"Authorization": "Bearer x.y.z"}):
            response = await api.client.request(method, path, json=body, headers=headers)
            assert_ente_error(response, 401, "UNAUTHORIZED")


async def test_nobody_can_complete_a_setup_that_is_not_theirs(api: RunningSystem, alice: EnteClient) -> None:
    """Mallory, signed in as herself, tries to put her verifier on Alice's account, and to finish a
    setup Alice started: neither touches Alice."""
    signed = await alice.sign_in()
    mallory = await api.user_token("mallory")
    mallory_headers = {"Authorization": f"Bearer {mallory}"}

    # Alice starts a (second) setup; Mallory cannot complete it with her own token.
    client = SrpClient(str(uuid.uuid4()), b"x" * 16, b"y" * 16)
    started = await api.client.post("/users/srp/setup", headers=signed.header, json={
        "srpUserID": client.identity, "srpSalt": b64(client.salt),
        "srpVerifier": b64(padded(SrpClient.verifier(client.identity, client.salt, client.login_key))),
        "srpA": b64(padded(client.public)),
    })
    assert_ente_error(started, 409, "CONFLICT")  # Alice already has SRP: a second setup is refused outright

    # Mallory's own setup is bound to Mallory; completing it sets up Mallory, never Alice.
    attributes = await alice.srp_attributes()
    taken = await api.client.post("/users/srp/setup", headers=mallory_headers, json={
        **SETUP_BODY, "srpUserID": attributes["srpUserID"]})
    assert_ente_error(taken, 409, "CONFLICT")  # Alice's srpUserID cannot be taken over either
    mine = SrpClient(str(uuid.uuid4()), b"m" * 16, b"n" * 16)
    setup = await api.client.post("/users/srp/setup", headers=mallory_headers, json={
        "srpUserID": mine.identity, "srpSalt": b64(mine.salt),
        "srpVerifier": b64(padded(SrpClient.verifier(mine.identity, mine.salt, mine.login_key))),
        "srpA": b64(padded(mine.public)),
    })
    assert setup.status_code == 200
    m1 = b64(mine.proof(setup.json()["srpB"]))
    # With Alice's token, Mallory's setup does not exist.
    stolen = await api.client.post("/users/srp/complete", headers=signed.header,
                                   json={"setupID": setup.json()["setupID"], "srpM1": m1})
    assert_ente_error(stolen, 404, "NOT_FOUND")
    # Alice still signs in with her own password, and only with it.
    assert (await alice.sign_in()).user_id == signed.user_id


async def test_a_wrong_password_is_refused_and_gives_no_token(api: RunningSystem, alice: EnteClient) -> None:
    client, session, _ = await alice.start_sign_in(password="not the password")
    response = await api.client.post("/users/srp/verify-session", json={
        "srpUserID": session["srpUserID"], "sessionID": session["sessionID"],
        "srpM1": b64(client.proof(session["srpB"]))})
    assert_ente_error(response, 401, "INVALID_PASSWORD")
    assert "srpM2" not in response.json()
    assert "keyAttributes" not in response.json()


async def test_a_session_is_good_for_one_proof_only(api: RunningSystem, alice: EnteClient) -> None:
    client, session, _ = await alice.start_sign_in()
    body = {"srpUserID": session["srpUserID"], "sessionID": session["sessionID"],
            "srpM1": b64(client.proof(session["srpB"]))}
    first = await api.client.post("/users/srp/verify-session", json=body)
    assert first.status_code == 200
    assert first.json()["encryptedToken"]
    replayed = await api.client.post("/users/srp/verify-session", json=body)
    assert_ente_error(replayed, 410, "SESSION_ALREADY_VERIFIED")

    # A wrong proof spends the session too: no second guess on the same exchange.
    client, session, _ = await alice.start_sign_in()
    wrong = {"srpUserID": session["srpUserID"], "sessionID": session["sessionID"], "srpM1": b64(b"\1" * 32)}
    assert_ente_error(await api.client.post("/users/srp/verify-session", json=wrong), 401, "INVALID_PASSWORD")
    right = {**wrong, "srpM1": b64(client.proof(session["srpB"]))}
    assert_ente_error(await api.client.post("/users/srp/verify-session", json=right), 410)


async def test_an_expired_session_is_refused(api: RunningSystem, alice: EnteClient) -> None:
    client, session, _ = await alice.start_sign_in()
    db = api.services["auth"].app.state.runtime.db
    async with db.transaction() as tx:
        await tx.execute(update(EnteSrpSession).values(expires_at=func.now()))
    response = await api.client.post("/users/srp/verify-session", json={
        "srpUserID": session["srpUserID"], "sessionID": session["sessionID"],
        "srpM1": b64(client.proof(session["srpB"]))})
    assert_ente_error(response, 410, "SESSION_EXPIRED")


async def test_a_session_answers_only_for_its_own_srp_user(api: RunningSystem, alice: EnteClient) -> None:
    client, session, _ = await alice.start_sign_in()
    response = await api.client.post("/users/srp/verify-session", json={
        "srpUserID": str(uuid.uuid4()), "sessionID": session["sessionID"],
        "srpM1": b64(client.proof(session["srpB"]))})
    assert_ente_error(response, 401, "INVALID_PASSWORD")
    unknown = await api.client.post("/users/srp/verify-session", json={
        "srpUserID": session["srpUserID"], "sessionID": str(uuid.uuid4()), "srpM1": b64(b"\1" * 32)})
    assert_ente_error(unknown, 401, "INVALID_PASSWORD")


@pytest.mark.parametrize("value", [0, N, 2 * N], ids=["zero", "N", "2N"])
async def test_a_client_value_congruent_to_zero_is_refused(api: RunningSystem, alice: EnteClient, value: int) -> None:
    """With A ≡ 0 mod N the shared secret is 0 whatever the password: the classic SRP bypass."""
    attributes = await alice.srp_attributes()
    raw = value.to_bytes(max(512, (value.bit_length() + 7) // 8), "big")
    response = await api.client.post("/users/srp/create-session",
                                     json={"srpUserID": attributes["srpUserID"], "srpA": b64(raw)})
    assert_ente_error(response, 400)
    signed = await alice.sign_in()
    setup = await api.client.post("/users/srp/setup", headers=signed.header, json={**SETUP_BODY, "srpA": b64(raw)})
    assert_ente_error(setup, 400)


async def test_a_forged_proof_for_a_zero_secret_does_not_work(api: RunningSystem, alice: EnteClient) -> None:
    """Even if A were taken, the matching forgery (S = 0) must not verify: belt and braces."""
    attributes = await alice.srp_attributes()
    session = await api.client.post("/users/srp/create-session",
                                     json={"srpUserID": attributes["srpUserID"], "srpA": b64(padded(1))})
    assert session.status_code == 200  # A = 1 is a legal group element
    server_public = int.from_bytes(base64.b64decode(session.json()["srpB"]), "big")
    forged = hashlib.sha256(padded(1) + padded(server_public) + padded(0)).digest()
    response = await api.client.post("/users/srp/verify-session", json={
        "srpUserID": attributes["srpUserID"], "sessionID": session.json()["sessionID"], "srpM1": b64(forged)})
    assert_ente_error(response, 401, "INVALID_PASSWORD")


async def test_an_unknown_srp_user_looks_like_a_known_one_until_the_proof(api: RunningSystem) -> None:
    nobody = SrpClient(str(uuid.uuid4()), b"z" * 16, b"w" * 16)
    session = await api.client.post("/users/srp/create-session",
                                     json={"srpUserID": nobody.identity, "srpA": b64(padded(nobody.public))})
    assert session.status_code == 200
    assert len(base64.b64decode(session.json()["srpB"])) == 512
    response = await api.client.post("/users/srp/verify-session", json={
        "srpUserID": nobody.identity, "sessionID": session.json()["sessionID"],
        "srpM1": b64(nobody.proof(session.json()["srpB"]))})
    assert_ente_error(response, 401, "INVALID_PASSWORD")


async def test_srp_attributes_404_unless_an_address_probes_too_much(api: RunningSystem, alice: EnteClient) -> None:
    """Ente's own server answers 404 for an unknown address (its apps then use a code by email) and
    switches to decoys once one client has asked about too many; so does this one."""
    known = await alice.srp_attributes()
    assert (await api.client.post("/users/srp/attributes", json={"email": "alice@example.com"})).json() == {
        "attributes": known}
    missing = await api.client.get("/users/srp/attributes", params={"email": "nobody@example.com"})
    assert_ente_error(missing, 404, "NOT_FOUND")
    for n in range(25):
        await api.client.get("/users/srp/attributes", params={"email": f"probe{n}@example.com"})
    decoy = await api.client.get("/users/srp/attributes", params={"email": "nobody@example.com"})
    assert decoy.status_code == 200
    shape = {"srpUserID", "srpSalt", "memLimit", "opsLimit", "kekSalt", "isEmailMFAEnabled"}
    assert set(decoy.json()["attributes"]) == set(known) == shape
    assert uuid.UUID(decoy.json()["attributes"]["srpUserID"]).version == 4
    again = await api.client.post("/users/srp/attributes", json={"email": "nobody@example.com"})
    assert again.json() == decoy.json()  # stable, so asking twice gives nothing away
    assert (await alice.srp_attributes()) == known  # real accounts still get their own


async def test_sign_in_attempts_back_off_and_a_success_resets(api: RunningSystem, alice: EnteClient) -> None:
    attributes = await alice.srp_attributes()
    client = SrpClient(attributes["srpUserID"], b"q" * 16, b"r" * 16)

    async def open_session() -> int:
        response = await api.client.post("/users/srp/create-session", json={
            "srpUserID": attributes["srpUserID"], "srpA": b64(padded(client.public))})
        return response.status_code

    assert [await open_session() for _ in range(4)] == [200] * 4
    await alice.sign_in()  # the fifth try, and a success: the account's count starts again
    assert [await open_session() for _ in range(6)] == [200] * 6
    blocked = await api.client.post("/users/srp/create-session", json={
        "srpUserID": attributes["srpUserID"], "srpA": b64(padded(client.public))})
    assert_ente_error(blocked, 429, "TOO_MANY_REQUESTS")
    assert int(blocked.headers["retry-after"]) >= 1


async def test_malformed_srp_input_gets_a_400(api: RunningSystem) -> None:
    for path, body in (
        ("/users/srp/create-session", {"srpUserID": "not-a-uuid", "srpA": b64(padded(5))}),
        ("/users/srp/create-session", {"srpUserID": str(uuid.uuid4()), "srpA": "%%%"}),
        ("/users/srp/verify-session", {"srpUserID": str(uuid.uuid4()), "sessionID": str(uuid.uuid4())}),
        ("/users/srp/verify-session", {"srpUserID": str(uuid.uuid4()), "sessionID": str(uuid.uuid4()),
                                       "srpM1": b64(b"m" * 40)}),
    ):
        assert_ente_error(await api.client.post(path, json=body), 400)
    assert_ente_error(await api.client.get("/users/srp/attributes"), 400, "VALIDATION_ERROR")
