"""Listing a bucket (`StorageDriver.list_objects`), on both drivers: the filesystem driver's directory and
moto's S3. What a listing must leave out is the driver's own state, and names that are not keys."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest

from shoebox_lib.storage import filesystem
from shoebox_lib.storage.base import StorageDriver, StoredObject
from shoebox_lib.storage.filesystem import FilesystemDriver
from shoebox_lib.storage.s3 import S3Driver

KEYS = {"a/b": b"1", "a/bc/d": b"22", "a-b": b"333", "ab": b"4444", "s/-1/o/0f": b"", "z/it's_(1)!*.jpg": b"x" * 70}


@pytest.fixture(params=["fs", "s3"])
async def driver(request: pytest.FixtureRequest, make_settings: Any) -> AsyncIterator[StorageDriver]:
    found: StorageDriver
    if request.param == "s3":
        settings = make_settings(**request.getfixturevalue("s3_settings"))
        found = S3Driver(settings, settings.bucket_primary)
    else:
        settings = make_settings()
        found = FilesystemDriver(settings, settings.bucket_primary)
    await found.start()
    yield found
    await found.close()


async def listed(driver: StorageDriver, prefix: str = "") -> dict[str, StoredObject]:
    return {stored.key: stored async for stored in driver.list_objects(prefix)}


async def test_an_empty_bucket_lists_nothing(driver: StorageDriver) -> None:
    assert await listed(driver) == {}


async def test_every_object_is_listed_with_its_size_and_an_aware_utc_time(driver: StorageDriver) -> None:
    for key, data in KEYS.items():
        await driver.put_bytes(key, data)
    found = await listed(driver)
    assert {key: stored.size for key, stored in found.items()} == {key: len(data) for key, data in KEYS.items()}
    for stored in found.values():
        assert stored.last_modified.utcoffset() == timedelta(0), stored


@pytest.mark.parametrize(("prefix", "keys"), [
    ("a/b", {"a/b", "a/bc/d"}),  # a prefix, not a directory
    ("a/", {"a/b", "a/bc/d"}),
    ("a/bc/", {"a/bc/d"}),
    ("a", {"a/b", "a/bc/d", "a-b", "ab"}),
    ("a-", {"a-b"}),
    ("s/-1/o/", {"s/-1/o/0f"}),
    ("z/it's", {"z/it's_(1)!*.jpg"}),
    ("nothing/", set()),
    ("a/bc/d/e", set()),
])
async def test_a_prefix_is_matched_as_a_string(driver: StorageDriver, prefix: str, keys: set[str]) -> None:
    for key, data in KEYS.items():
        await driver.put_bytes(key, data)
    assert set(await listed(driver, prefix)) == keys


async def test_deleted_and_overwritten_objects(driver: StorageDriver) -> None:
    await driver.put_bytes("k/gone", b"abc")
    await driver.put_bytes("k/kept", b"abc")
    await driver.delete("k/gone")
    await driver.put_bytes("k/kept", b"abcdef")
    found = await listed(driver)
    assert {key: stored.size for key, stored in found.items()} == {"k/kept": 6}


async def test_multipart_uploads_in_flight_are_not_objects(driver: StorageDriver) -> None:
    upload_id = await driver.create_multipart("m/big")
    if isinstance(driver, FilesystemDriver):
        async def part() -> AsyncIterator[bytes]:
            yield b"part one"

        await driver.write_part("m/big", upload_id, 1, part())
    assert await listed(driver) == {}
    await driver.abort_multipart("m/big", upload_id)


@pytest.mark.parametrize("prefix", ["../", "/etc", "a//b", "a/../b", "a\nb", "x" * 1025])
async def test_a_prefix_that_no_key_could_start_with_is_refused(driver: StorageDriver, prefix: str) -> None:
    with pytest.raises(ValueError, match="invalid"):
        await listed(driver, prefix)


async def test_filesystem_listing_leaves_out_the_drivers_state_and_names_that_are_not_keys(
        make_settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = make_settings()
    driver = FilesystemDriver(settings, settings.bucket_primary)
    await driver.start()
    monkeypatch.setattr(filesystem, "LIST_BATCH", 2)  # several trips to the worker thread
    for key, data in KEYS.items():
        await driver.put_bytes(key, data)
    (driver.root / ".shoebox" / "tmp" / "left-by-a-crash.tmp").write_bytes(b"half")
    (driver.root / "not a key.txt").write_bytes(b"put there by hand")
    (driver.root / "empty-dir").mkdir()
    os.symlink(driver.root / "ab", driver.root / "link")
    assert set(await listed(driver)) == set(KEYS)
    assert await listed(driver, ".shoebox/") == {}
    assert await listed(driver, ".shoebox/tmp/") == {}


async def test_a_listing_left_early_is_closed(driver: StorageDriver) -> None:
    for key, data in KEYS.items():
        await driver.put_bytes(key, data)
    listing = driver.list_objects()
    first = await anext(listing)
    assert first.key in KEYS
    await listing.aclose()  # type: ignore[attr-defined]
