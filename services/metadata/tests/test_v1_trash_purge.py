"""A deleted v1 image is purged with its objects on every tier once the retention period is over (set short
here), and one restored in time stays, objects and all; on both storage drivers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from shoebox.testing import RunningSystem, run_system
from shoebox.testing.flow import bearer, make_png, upload, wait_processed
from shoebox_lib.ids import parse_image_id
from shoebox_lib.settings import Settings
from shoebox_lib.storage import Storage
from shoebox_metadata.library import repo
from shoebox_metadata.library.objects import object_keys_of

RETENTION_SECONDS = 2


@pytest.fixture(params=["filesystem", "s3"])
async def short_trash(request: pytest.FixtureRequest, system_settings: Callable[..., Settings],
                      monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[RunningSystem]:
    monkeypatch.setenv("SHOEBOX_METADATA_TRASH_RETENTION_SECONDS", str(RETENTION_SECONDS))
    monkeypatch.setenv("SHOEBOX_METADATA_TRASH_PURGE_INTERVAL_SECONDS", "0.2")
    overrides: dict[str, Any] = request.getfixturevalue("s3_settings") if request.param == "s3" else {}
    async with run_system(system_settings(**overrides)) as running:
        yield running


def storage_of(api: RunningSystem) -> Storage:
    storage: Storage = api.services["metadata"].app.state.runtime.storage
    return storage


async def object_keys(api: RunningSystem, image_id: str) -> list[str]:
    """Every object the image has, read from metadata's own rows (the original and its variants)."""
    container = api.services["metadata"].app.state.container
    async with container.items.db.transaction() as session:
        item = await repo.item(session, parse_image_id(image_id))
        assert item is not None
        return object_keys_of(item, await repo.variants_of(session, item.id))


async def held_by(storage: Storage, keys: list[str]) -> dict[str, list[str]]:
    """For each tier, the keys it still holds."""
    return {tier: [k for k in keys if await driver.head(k) is not None] for tier, driver in storage.tiers.items()}


async def test_a_deleted_image_is_purged_from_every_tier_after_the_retention(short_trash: RunningSystem) -> None:
    api = short_trash
    token = await api.user_token("una")
    uploaded = await upload(api.client, token, make_png(300, 200))
    await wait_processed(api.client, token, uploaded.image_id)
    keys = await object_keys(api, uploaded.image_id)
    assert len(keys) == 3  # the original, its thumb and its medium
    storage = storage_of(api)
    assert set(storage.tiers) == {"primary", "secondary"}
    assert await held_by(storage, keys) == {tier: keys for tier in storage.tiers}
    usage = (await api.client.get("/storage/usage", headers=bearer(token))).json()
    assert usage["fileCount"] == 1

    deleted = (await api.client.delete(f"/v1/images/{uploaded.image_id}", headers=bearer(token))).json()
    assert deleted["deleted"] is True
    async with asyncio.timeout(60):
        while (await api.client.get(f"/v1/images/{uploaded.image_id}", headers=bearer(token))).status_code != 404:
            await asyncio.sleep(0.2)
        while any((await held_by(storage, keys)).values()):
            await asyncio.sleep(0.2)
    usage = (await api.client.get("/storage/usage", headers=bearer(token))).json()
    assert (usage["used"], usage["fileCount"]) == (0, 0)
    assert (await api.client.post(f"/v1/images/{uploaded.image_id}:restore", headers=bearer(token))).status_code \
        == 404


async def test_an_image_restored_in_time_is_never_purged(short_trash: RunningSystem) -> None:
    api = short_trash
    token = await api.user_token("val")
    kept = await upload(api.client, token, make_png(120, 80))
    purged = await upload(api.client, token, make_png(121, 80))
    for image in (kept, purged):
        await wait_processed(api.client, token, image.image_id)
    keys = await object_keys(api, kept.image_id)
    await api.client.delete(f"/v1/images/{kept.image_id}", headers=bearer(token))
    restored = await api.client.post(f"/v1/images/{kept.image_id}:restore", headers=bearer(token))
    assert restored.status_code == 200, restored.text
    # The other image's purge shows the sweeper ran past the kept one's deadline.
    await api.client.delete(f"/v1/images/{purged.image_id}", headers=bearer(token))
    async with asyncio.timeout(60):
        while (await api.client.get(f"/v1/images/{purged.image_id}", headers=bearer(token))).status_code != 404:
            await asyncio.sleep(0.2)
    await asyncio.sleep(RETENTION_SECONDS)
    assert (await api.client.get(f"/v1/images/{kept.image_id}", headers=bearer(token))).json()["status"] == "ready"
    storage = storage_of(api)
    assert await held_by(storage, keys) == {tier: keys for tier in storage.tiers}
