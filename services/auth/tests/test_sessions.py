"""Sessions: listing, revoking in every way the faces offer, and every service refusing a revoked token."""

from __future__ import annotations

import asyncio
import base64
import time

import jwt

from shoebox.testing import ADMIN_EMAIL, ADMIN_PASSWORD, RunningSystem
from shoebox_lib.auth.revocation import RevocationList

# One route of each service that needs a token: a refused token answers 401 where a good one gets 404.
ELSEWHERE = ["/v1/images/img_1", "/v1/uploads/up_missing", "/users/me"]


def auth(token: str) -> dict[str, str]:
    return {"X-Auth-Token": token}


async def sign_in(api: RunningSystem, package: str = "io.ente.photos") -> str:
    response = await api.client.post("/users/login", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD},
                                     headers={"X-Client-Package": package, "X-Client-Version": "1.2.3",
                                              "User-Agent": "Mozilla/5.0 Firefox/120.0"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["tokenType"] == "bearer"
    assert body["expiresIn"] > 0
    token: str = body["authToken"]
    return token


def session_of(token: str) -> str:
    sid: str = jwt.decode(token, options={"verify_signature": False})["sid"]
    return sid


async def accepted(api: RunningSystem, token: str) -> list[bool]:
    return [(await api.client.get(path, headers=auth(token))).status_code != 401 for path in ELSEWHERE]


async def wait_refused(api: RunningSystem, token: str) -> float:
    """Seconds until every service refuses the token."""
    started = time.monotonic()
    async with asyncio.timeout(10):
        while any(await accepted(api, token)):
            await asyncio.sleep(0.02)
    return time.monotonic() - started


async def test_sessions_are_listed_with_their_client(api: RunningSystem) -> None:
    first, second = await sign_in(api, "io.ente.photos"), await sign_in(api, "io.ente.auth")
    listed = (await api.client.get("/users/sessions", headers=auth(second))).json()["sessions"]
    mine = {s["id"]: s for s in listed}
    assert {session_of(first), session_of(second)} <= set(mine)
    current = mine[session_of(second)]
    assert current["isCurrent"] is True
    assert mine[session_of(first)]["isCurrent"] is False
    assert current["clientPackage"] == "io.ente.auth"
    assert current["clientVersion"] == "1.2.3"
    assert current["prettyUA"] == "Firefox"
    assert current["ip"] == "127.0.0.1"
    assert current["token"] == current["id"]
    assert current["creationTime"] > 1_600_000_000_000_000  # microseconds, as Ente counts


async def test_a_revoked_session_is_refused_by_every_service_and_others_live_on(api: RunningSystem) -> None:
    keep, lose = await sign_in(api), await sign_in(api)
    assert all(await accepted(api, lose))
    revoked = await api.client.delete(f"/users/sessions/{session_of(lose)}", headers=auth(keep))
    assert revoked.status_code == 204
    seconds = await wait_refused(api, lose)
    print(f"revocation applied by every service after {seconds * 1000:.0f} ms")
    assert all(await accepted(api, keep))
    gone = await api.client.get("/users/sessions", headers=auth(keep))
    assert session_of(lose) not in {s["id"] for s in gone.json()["sessions"]}


async def test_every_way_to_end_sessions(api: RunningSystem) -> None:
    a, b, c = await sign_in(api), await sign_in(api), await sign_in(api)
    others = await api.client.post("/users/sessions/revoke-others", headers=auth(a))
    assert others.json()["revoked"] >= 2
    await wait_refused(api, b)
    await wait_refused(api, c)
    assert all(await accepted(api, a))
    assert (await api.client.delete("/users/sessions/current", headers=auth(a))).status_code == 204
    await wait_refused(api, a)

    d, e, f = await sign_in(api), await sign_in(api), await sign_in(api)
    ente = await api.client.delete("/users/session", params={"token": session_of(e)}, headers=auth(d))
    assert ente.status_code == 200
    await wait_refused(api, e)
    assert (await api.client.post("/users/logout", headers=auth(f))).status_code == 200
    await wait_refused(api, f)
    assert all(await accepted(api, d))


async def test_someone_elses_session_cannot_be_revoked(api: RunningSystem) -> None:
    mine, theirs = await api.user_token("sam"), await sign_in(api)
    response = await api.client.delete(f"/users/sessions/{session_of(theirs)}", headers=auth(mine))
    assert response.status_code == 404
    assert response.json()["code"] == "NOT_FOUND"
    assert all(await accepted(api, theirs))


async def test_refresh_gives_a_new_token_for_the_same_session_until_it_is_revoked(api: RunningSystem) -> None:
    token = await api.token()
    refreshed = await api.client.post("/auth/token/refresh", headers={"Authorization": f"Bearer {token}"})
    assert refreshed.status_code == 200
    new = refreshed.json()["access_token"]
    assert session_of(new) == session_of(token)
    accounts = await api.client.get("/users/accounts-token", headers=auth(new))
    inner = base64.b64decode(accounts.json()["accountsToken"]).decode()
    assert session_of(inner) == session_of(token)
    await api.client.post("/users/logout", headers=auth(new))
    await wait_refused(api, token)
    again = await api.client.post("/auth/token/refresh", headers={"Authorization": f"Bearer {new}"})
    assert again.status_code == 401


async def test_seed_login_errors_are_ente_shaped(api: RunningSystem) -> None:
    wrong = await api.client.post("/users/login", json={"email": ADMIN_EMAIL, "password": "nope"})
    assert wrong.status_code == 401
    assert set(wrong.json()) >= {"code", "message"}
    bad = await api.client.post("/users/login", json={"email": ADMIN_EMAIL})
    assert bad.status_code == 400


async def test_a_revocation_reaches_a_process_that_starts_later(api: RunningSystem) -> None:
    """A service (re)started after the revocation replays recent revocations from the stream."""
    token = await sign_in(api)
    await api.client.post("/users/logout", headers=auth(token))
    await wait_refused(api, token)
    late = RevocationList(api.settings.access_token_ttl_seconds)
    following = asyncio.create_task(late.follow(api.services["metadata"].app.state.runtime.bus))
    async with asyncio.timeout(10):
        while not late.is_revoked(1000, session_of(token), time.time()):
            await asyncio.sleep(0.02)
    following.cancel()
    await asyncio.gather(following, return_exceptions=True)
