"""One-time codes by email: wrong, expired, reused and too-often-guessed codes; answers that do not tell
whether an account exists; sending limited per address and per client."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update

from shoebox.testing import ADMIN_EMAIL, RunningSystem
from shoebox.testing.ente_client import code_from_log
from shoebox_auth.models import EnteEmailCode

Mailbox = pytest.LogCaptureFixture  # what the server without SMTP mails, in the log


@pytest.fixture
def mail(caplog: pytest.LogCaptureFixture) -> Mailbox:
    caplog.set_level(logging.INFO, "shoebox_auth.ente.mailer")
    return caplog


async def send(api: RunningSystem, email: str, purpose: str = "signup") -> tuple[int, dict[str, Any]]:
    response = await api.client.post("/users/ott", json={"email": email, "purpose": purpose})
    return response.status_code, response.json()


async def verify(api: RunningSystem, email: str, code: str) -> httpx.Response:
    return await api.client.post("/users/verify-email", json={"email": email, "ott": code})


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 10**6:06d}"


def mails_to(caplog: Mailbox, email: str) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.name == "shoebox_auth.ente.mailer" and f"mail to {email} " in r.getMessage()]


async def test_a_code_is_six_digits_and_the_right_one_signs_up(api: RunningSystem, mail: Mailbox) -> None:
    assert await send(api, "new@example.com") == (200, {})
    code = code_from_log(mail.records, "new@example.com")
    assert len(code) == 6
    assert code.isdigit()
    refused = await verify(api, "new@example.com", wrong(code))
    assert refused.status_code == 401
    assert refused.json()["code"] == "INCORRECT_OTT"
    assert refused.json()["message"]
    accepted = await verify(api, "NEW@example.com", code)  # the address is compared as Ente does: lower case
    assert accepted.status_code == 200
    assert accepted.json()["token"]


async def test_codes_are_stored_hashed(api: RunningSystem, mail: Mailbox) -> None:
    await send(api, "hashed@example.com")
    code = code_from_log(mail.records, "hashed@example.com")
    db = api.services["auth"].app.state.runtime.db
    async with db.transaction() as session:
        stored = (await session.execute(select(EnteEmailCode.code_hash))).scalars().all()
    assert stored
    assert all(code not in value and len(value) == 64 for value in stored)


async def test_a_used_code_cannot_be_used_again(api: RunningSystem, mail: Mailbox) -> None:
    await send(api, "once@example.com")
    code = code_from_log(mail.records, "once@example.com")
    assert (await verify(api, "once@example.com", code)).status_code == 200
    again = await verify(api, "once@example.com", code)
    assert again.status_code == 410
    assert again.json()["code"] == "EXPIRED_OTT"


async def test_an_expired_code_is_refused(api: RunningSystem, mail: Mailbox) -> None:
    await send(api, "late@example.com")
    code = code_from_log(mail.records, "late@example.com")
    db = api.services["auth"].app.state.runtime.db
    async with db.transaction() as session:
        await session.execute(update(EnteEmailCode).values(expires_at=func.now()))
    late = await verify(api, "late@example.com", code)
    assert late.status_code == 410
    assert late.json()["code"] == "EXPIRED_OTT"


async def test_codes_expire_after_ten_minutes_by_default(api: RunningSystem, mail: Mailbox) -> None:
    await send(api, "ten@example.com")
    db = api.services["auth"].app.state.runtime.db
    async with db.transaction() as session:
        row = (await session.execute(select(EnteEmailCode))).scalar_one()
    assert 590 <= (row.expires_at - row.created_at).total_seconds() <= 610


async def test_too_many_wrong_codes_burn_them(api: RunningSystem, mail: Mailbox) -> None:
    await send(api, "guess@example.com")
    code = code_from_log(mail.records, "guess@example.com")
    for _ in range(4):
        assert (await verify(api, "guess@example.com", wrong(code))).status_code == 401
    fifth = await verify(api, "guess@example.com", wrong(code))
    assert fifth.status_code == 429
    assert int(fifth.headers["retry-after"]) >= 1
    assert fifth.json()["code"] == "TOO_MANY_REQUESTS"
    burnt = await verify(api, "guess@example.com", code)  # even the right code is spent now
    assert burnt.status_code == 410
    # A new code works again.
    await send(api, "guess@example.com")
    assert (await verify(api, "guess@example.com", code_from_log(mail.records, "guess@example.com"))).status_code == 200


async def test_wrong_codes_across_new_codes_back_off_per_account(api: RunningSystem, mail: Mailbox) -> None:
    await send(api, "persistent@example.com")
    code = code_from_log(mail.records, "persistent@example.com")
    statuses = [(await verify(api, "persistent@example.com", wrong(code))).status_code for _ in range(5)]
    assert statuses == [401] * 4 + [429]
    await send(api, "persistent@example.com")
    code = code_from_log(mail.records, "persistent@example.com")
    assert (await verify(api, "persistent@example.com", wrong(code))).status_code == 401
    # Six failures for the account: now it waits, even with the right code in hand.
    blocked = await verify(api, "persistent@example.com", code)
    assert blocked.status_code == 429
    assert blocked.headers["retry-after"]


async def test_login_does_not_tell_whether_the_account_exists(api: RunningSystem, mail: Mailbox) -> None:
    known = await send(api, ADMIN_EMAIL, "login")
    unknown = await send(api, "stranger@example.com", "login")
    assert known == unknown == (200, {})
    # The owner of an address without an account gets a note, never a code …
    (note,) = mails_to(mail, "stranger@example.com")
    assert "no account" in note
    assert "verification code" not in note
    # … and a guess is refused just as a wrong guess for a real account is.
    admin_code = code_from_log(mail.records, ADMIN_EMAIL)
    for email, guess in ((ADMIN_EMAIL, wrong(admin_code)), ("stranger@example.com", "123456")):
        response = await verify(api, email, guess)
        assert (response.status_code, response.json()["code"]) == (401, "INCORRECT_OTT")
    # No account was made for the stranger.
    auth = api.services["auth"].app.state.container.auth
    assert await auth.find_by_login("stranger@example.com") is None


async def test_a_code_by_email_signs_in_an_account_made_elsewhere(api: RunningSystem, mail: Mailbox) -> None:
    """The admin account was not made by Ente sign-up; a code to its address signs it in all the same."""
    await send(api, ADMIN_EMAIL, "login")
    answer = await verify(api, ADMIN_EMAIL, code_from_log(mail.records, ADMIN_EMAIL))
    assert answer.status_code == 200
    me = await api.client.get("/users/me", headers={"X-Auth-Token": answer.json()["token"]})
    assert me.status_code == 200
    assert me.json()["email"] == ADMIN_EMAIL


async def test_sending_is_limited_per_address_with_or_without_an_account(api: RunningSystem, mail: Mailbox) -> None:
    for email in ("flood@example.com", ADMIN_EMAIL):
        purpose = "signup" if email == "flood@example.com" else "login"
        statuses = [(await send(api, email, purpose))[0] for _ in range(7)]
        assert statuses == [200] * 6 + [429], email
    limited = await api.client.post("/users/ott", json={"email": ADMIN_EMAIL, "purpose": "login"})
    assert limited.status_code == 429
    assert limited.headers["retry-after"]
    assert set(limited.json()) >= {"code", "message"}


async def test_bad_input_gets_entes_error_shape(api: RunningSystem) -> None:
    for body in ({"email": "not-an-address", "purpose": "signup"}, {"purpose": "signup"}, {"email": 5}):
        response = await api.client.post("/users/ott", json=body)
        assert response.status_code == 400, body
        assert set(response.json()) >= {"code", "message"}
    response = await api.client.post("/users/verify-email", json={"email": "a@example.com"})
    assert response.status_code == 400
    assert response.json()["code"] == "VALIDATION_ERROR"
