"""Quota: reservations and commits are atomic; replicas never count; nothing passes the quota together.

Holds are the upload signer's to ask for, on metadata's internal route (signed as a service would sign
it), and end with the upload: `upload.completed` consumes a hold, `upload.ended` gives it back.
"""

from __future__ import annotations

import asyncio

import httpx
from sqlalchemy import update

from shoebox.testing import RunningSystem
from shoebox.testing.flow import bearer, make_png, upload, wait_processed
from shoebox.testing.internal import call_internal, deliver
from shoebox_lib.contracts import HOLDS_PATH, HoldRequest
from shoebox_lib.errors import QuotaExceeded
from shoebox_lib.events import UploadEnded, UploadOutcome
from shoebox_metadata.models import Reservation
from shoebox_metadata.quota import Quotas


def quotas_of(api: RunningSystem) -> Quotas:
    quotas: Quotas = api.services["metadata"].app.state.container.quotas
    return quotas


async def set_quota(api: RunningSystem, owner_id: int, quota: int) -> None:
    await quotas_of(api).set_limits(owner_id, quota=quota)


async def owner_id(api: RunningSystem, token: str) -> int:
    me: int = (await api.client.get("/users/me", headers=bearer(token))).json()["id"]
    return me


async def hold(api: RunningSystem, owner: int, hold_id: str, size: int) -> httpx.Response:
    return await call_internal(api, "metadata", "POST", HOLDS_PATH,
                               HoldRequest(owner_id=owner, hold_id=hold_id, bytes=size))


async def end_upload(api: RunningSystem, owner: int, hold_id: str) -> None:
    """What uploads sends when a session ends without completing; returns once metadata applied it."""
    await deliver(api, "metadata", UploadEnded(upload_id=hold_id, owner_id=owner, outcome=UploadOutcome.ABORTED))


async def test_fifty_concurrent_reservations_never_pass_the_quota(api: RunningSystem) -> None:
    token = await api.user_token("quinn")
    owner = await owner_id(api, token)
    await set_quota(api, owner, 1000)

    async def reserve(n: int) -> int:
        response = await hold(api, owner, f"r{n}", 70)
        return response.status_code

    codes = await asyncio.gather(*(reserve(n) for n in range(50)))
    assert codes.count(201) == 14  # 14 * 70 = 980 <= 1000 < 15 * 70
    assert set(codes) == {201, 426}
    usage = (await api.client.get("/storage/usage", headers=bearer(token))).json()
    assert (usage["reserved"], usage["available"]) == (980, 20)
    refused = await hold(api, owner, "more", 21)
    assert (refused.status_code, refused.json()["code"]) == (426, "STORAGE_LIMIT_EXCEEDED")


async def test_fifty_concurrent_commits_never_pass_the_quota(api: RunningSystem) -> None:
    token = await api.user_token("rita")
    owner = await owner_id(api, token)
    await set_quota(api, owner, 1000)
    quotas = quotas_of(api)

    async def commit(n: int) -> bool:
        try:
            async with quotas.db.transaction() as session:
                await quotas.store(session, owner, 70)
        except QuotaExceeded:
            return False
        return True

    results = await asyncio.gather(*(commit(n) for n in range(50)))
    assert results.count(True) == 14
    usage = await quotas.usage(owner)
    assert (usage.used, usage.file_count) == (980, 14)


async def test_a_reservation_is_idempotent_released_on_delete_and_consumed_by_the_upload(api: RunningSystem) -> None:
    token = await api.user_token("sid")
    owner = await owner_id(api, token)
    first = await hold(api, owner, "abc", 10)
    again = await hold(api, owner, "abc", 10)
    assert first.json() == again.json()
    assert (await api.client.get("/storage/usage", headers=bearer(token))).json()["reserved"] == 10
    # The upload ends (twice, as a redelivered or repeated event would say): the hold is given back once.
    await end_upload(api, owner, "abc")
    await end_upload(api, owner, "abc")
    assert (await api.client.get("/storage/usage", headers=bearer(token))).json()["reserved"] == 0
    # Someone else's reservation id cannot be taken over or released.
    other = await owner_id(api, await api.user_token("tom"))
    await hold(api, owner, "x1", 5)
    stolen = await hold(api, other, "x1", 5)
    assert stolen.status_code == 400
    await end_upload(api, other, "x1")
    assert (await api.client.get("/storage/usage", headers=bearer(token))).json()["reserved"] == 5


async def test_stored_originals_count_and_replicas_do_not(api: RunningSystem) -> None:
    token = await api.user_token("ursula")
    data = make_png(40, 30)
    uploaded = await upload(api.client, token, data)
    body = await wait_processed(api.client, token, uploaded.image_id)
    assert body["replicas"], "replicated, and still counted once"
    usage = (await api.client.get("/storage/usage", headers=bearer(token))).json()
    assert (usage["used"], usage["fileCount"]) == (len(data), 1)


async def test_expired_reservations_are_released(api: RunningSystem) -> None:
    token = await api.user_token("vera")
    await hold(api, await owner_id(api, token), "old", 99)
    quotas = quotas_of(api)
    async with quotas.db.transaction() as session:
        await session.execute(update(Reservation).where(Reservation.id == "old")
                              .values(expires_at=Reservation.created_at))
    assert await quotas.expire_reservations() == 1
    assert (await api.client.get("/storage/usage", headers=bearer(token))).json()["reserved"] == 0
