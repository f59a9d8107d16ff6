"""Storage tiers on S3 endpoints of their own (as with two providers), and the server-side copy between
tiers that share one (`StorageDriver.copy_from`), against two real moto servers in separate processes."""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import aioboto3
import httpx
import pytest
from botocore.exceptions import ClientError
from pydantic import ValidationError

from shoebox_lib.errors import NotFound
from shoebox_lib.settings import S3Endpoint, Settings
from shoebox_lib.storage.base import ObjectInfo, StorageDriver
from shoebox_lib.storage.filesystem import FilesystemDriver
from shoebox_lib.storage.s3 import S3Driver
from shoebox_lib.storage.tiers import Storage
from shoebox_lib.testing.plugin import MOTO_KEY, MOTO_OTHER_KEY

if TYPE_CHECKING:
    from types_aiobotocore_s3 import S3Client

MiB = 1024 * 1024
KEY = "users/1/originals/photo.jpg"


def md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


@pytest.fixture
async def storage_with_cold_elsewhere(make_settings: Callable[..., Settings],
                                      s3_cold_elsewhere_settings: dict[str, Any]) -> AsyncIterator[Storage]:
    storage = Storage.from_settings(make_settings(**s3_cold_elsewhere_settings))
    await storage.start()
    yield storage
    await storage.close()


@pytest.fixture
async def s3_storage(make_settings: Callable[..., Settings], s3_settings: dict[str, Any]) -> AsyncIterator[Storage]:
    """PRIMARY and SECONDARY as two buckets of the one endpoint."""
    storage = Storage.from_settings(make_settings(**s3_settings))
    await storage.start()
    yield storage
    await storage.close()


async def bucket_keys(endpoint: str, key_id: str, bucket: str) -> set[str] | None:
    """The keys of `bucket` as a plain client of `endpoint` sees them; None when it has no such bucket."""
    session = aioboto3.Session()
    client: S3Client
    async with session.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id=key_id,
                              aws_secret_access_key=key_id) as client:
        try:
            listed = await client.list_objects_v2(Bucket=bucket)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "NoSuchBucket":
                return None
            raise
        return {found["Key"] for found in listed.get("Contents", [])}


# --- Settings -------------------------------------------------------------------------------------


def test_a_replica_tier_without_settings_of_its_own_uses_the_shared_endpoint() -> None:
    settings = Settings(s3_endpoint_url="http://s3.one", s3_region="eu-west-1", s3_access_key_id="k",
                        s3_secret_access_key="s")
    shared = S3Endpoint("http://s3.one", "eu-west-1", "k", "s")
    assert settings.s3_endpoint("primary") == shared
    assert settings.s3_endpoint("secondary") == shared
    assert settings.s3_endpoint("cold") == shared


def test_a_replica_tier_replaces_the_shared_settings_one_by_one() -> None:
    settings = Settings(s3_endpoint_url="http://s3.one", s3_region="eu-west-1", s3_access_key_id="k",
                        s3_secret_access_key="s", cold_s3_endpoint_url="http://s3.two",
                        secondary_s3_region="eu-central-1", secondary_s3_access_key_id="k2",
                        secondary_s3_secret_access_key="s2")
    assert settings.s3_endpoint("primary") == S3Endpoint("http://s3.one", "eu-west-1", "k", "s")
    assert settings.s3_endpoint("secondary") == S3Endpoint("http://s3.one", "eu-central-1", "k2", "s2")
    assert settings.s3_endpoint("cold") == S3Endpoint("http://s3.two", "eu-west-1", "k", "s")


def test_a_tier_sets_its_key_id_and_secret_together() -> None:
    with pytest.raises(ValidationError, match="cold_s3_access_key_id and cold_s3_secret_access_key"):
        Settings(cold_s3_access_key_id="only-the-id")


def test_an_endpoint_never_prints_its_secret() -> None:
    assert "s3cr3t" not in repr(S3Endpoint("http://s3.one", "us-east-1", "k", "s3cr3t"))


# --- A tier on another endpoint -------------------------------------------------------------------


async def test_a_tier_on_another_endpoint_stores_reads_lists_and_deletes_there(
        storage_with_cold_elsewhere: Storage, s3_endpoint: str, s3_endpoint_other: str) -> None:
    cold = storage_with_cold_elsewhere.tier("cold")
    primary = storage_with_cold_elsewhere.primary
    assert isinstance(cold, S3Driver)
    assert isinstance(primary, S3Driver)
    assert cold.endpoint == S3Endpoint(s3_endpoint_other, "us-east-1", MOTO_OTHER_KEY, MOTO_OTHER_KEY)
    assert primary.endpoint == S3Endpoint(s3_endpoint, "us-east-1", MOTO_KEY, MOTO_KEY)
    data = os.urandom(70_001)

    stored = await cold.put_bytes(KEY, data, content_type="image/jpeg")
    assert stored == ObjectInfo(KEY, len(data), md5(data), "image/jpeg")
    assert await cold.head(KEY) == stored
    assert await cold.get_bytes(KEY) == data
    assert [found.key async for found in cold.list_objects("users/1/")] == [KEY]

    # The bucket and the object are on the second server, and the first has never heard of them.
    assert await bucket_keys(s3_endpoint_other, MOTO_OTHER_KEY, cold.bucket) == {KEY}
    assert await bucket_keys(s3_endpoint, MOTO_KEY, cold.bucket) is None
    assert await bucket_keys(s3_endpoint_other, MOTO_OTHER_KEY, primary.bucket) is None

    await cold.delete(KEY)
    assert await cold.head(KEY) is None
    assert await bucket_keys(s3_endpoint_other, MOTO_OTHER_KEY, cold.bucket) == set()


async def test_presigned_urls_of_a_tier_on_another_endpoint_point_there(
        storage_with_cold_elsewhere: Storage, s3_endpoint_other: str) -> None:
    cold = storage_with_cold_elsewhere.tier("cold")
    data = os.urandom(1234)
    await cold.put_bytes(KEY, data)

    url = await cold.presign_get(KEY, expires=300)
    assert url.startswith(f"{s3_endpoint_other}/{cold.bucket}/")
    assert f"X-Amz-Credential={MOTO_OTHER_KEY}%2F" in url  # signed with the tier's own key
    async with httpx.AsyncClient(timeout=30) as http:
        response = await http.get(url)
    assert response.status_code == 200
    assert response.content == data


# --- Server-side copy -----------------------------------------------------------------------------


def refuse_streaming(monkeypatch: pytest.MonkeyPatch, source: StorageDriver, target: StorageDriver) -> None:
    """Make reading the source and writing the target by stream fail: a copy that works did neither."""
    def no_stream(*args: Any, **kwargs: Any) -> AsyncIterator[bytes]:
        raise AssertionError("the copy streamed the object through us")

    async def no_put(*args: Any, **kwargs: Any) -> ObjectInfo:
        raise AssertionError("the copy streamed the object through us")

    monkeypatch.setattr(source, "get_stream", no_stream)
    monkeypatch.setattr(target, "put_stream", no_put)


async def test_copy_between_buckets_of_one_endpoint_is_server_side(
        s3_storage: Storage, monkeypatch: pytest.MonkeyPatch) -> None:
    primary, secondary = s3_storage.primary, s3_storage.tier("secondary")
    data = os.urandom(300_001)
    await primary.put_bytes(KEY, data, content_type="image/jpeg")

    refuse_streaming(monkeypatch, primary, secondary)
    copied = await secondary.copy_from(primary, KEY)
    monkeypatch.undo()

    assert copied == ObjectInfo(KEY, len(data), md5(data), "image/jpeg")
    assert await secondary.head(KEY) == copied
    assert await secondary.get_bytes(KEY) == data


async def test_a_large_copy_goes_part_by_part(s3_storage: Storage, monkeypatch: pytest.MonkeyPatch) -> None:
    primary, secondary = s3_storage.primary, s3_storage.tier("secondary")
    assert isinstance(secondary, S3Driver)
    monkeypatch.setattr(secondary, "copy_single_max_size", 5 * MiB)
    monkeypatch.setattr(secondary, "copy_part_size", 5 * MiB)
    data = os.urandom(12 * MiB)
    await primary.put_bytes(KEY, data, content_type="video/mp4")

    refuse_streaming(monkeypatch, primary, secondary)
    copied = await secondary.copy_from(primary, KEY)

    assert copied is not None
    assert copied.etag.endswith("-3")  # 5 + 5 + 2 MiB, each part an UploadPartCopy
    assert (copied.size, copied.content_type) == (len(data), "video/mp4")
    monkeypatch.undo()
    assert hashlib.sha256(await secondary.get_bytes(KEY)).digest() == hashlib.sha256(data).digest()
    far_future = datetime.now(UTC) + timedelta(days=1)
    assert await secondary.list_multipart_uploads(initiated_before=far_future) == []


async def test_a_part_by_part_copy_that_fails_is_aborted(
        s3_storage: Storage, monkeypatch: pytest.MonkeyPatch) -> None:
    primary, secondary = s3_storage.primary, s3_storage.tier("secondary")
    assert isinstance(secondary, S3Driver)
    monkeypatch.setattr(secondary, "copy_single_max_size", 5 * MiB)
    monkeypatch.setattr(secondary, "copy_part_size", 5 * MiB)
    await primary.put_bytes(KEY, os.urandom(12 * MiB))

    client = secondary._client
    copy_part = client.upload_part_copy

    async def source_deleted_after_the_first_part(**kwargs: Any) -> Any:
        if kwargs["PartNumber"] == 2:
            await primary.delete(KEY)  # as a delete racing the copy would
        return await copy_part(**kwargs)

    monkeypatch.setattr(client, "upload_part_copy", source_deleted_after_the_first_part)
    with pytest.raises(NotFound):
        await secondary.copy_from(primary, KEY)

    far_future = datetime.now(UTC) + timedelta(days=1)
    assert await secondary.list_multipart_uploads(initiated_before=far_future) == []
    assert await secondary.head(KEY) is None


async def test_copying_a_missing_object_is_not_found(s3_storage: Storage) -> None:
    with pytest.raises(NotFound):
        await s3_storage.tier("secondary").copy_from(s3_storage.primary, "users/1/never-stored")


async def test_no_server_side_copy_across_endpoints(
        storage_with_cold_elsewhere: Storage, make_settings: Callable[..., Settings], s3_settings: dict[str, Any],
        s3_endpoint: str) -> None:
    primary, cold = storage_with_cold_elsewhere.primary, storage_with_cold_elsewhere.tier("cold")
    await primary.put_bytes(KEY, b"on the first endpoint")
    await cold.put_bytes(KEY, b"on the second endpoint")

    assert await cold.copy_from(primary, KEY) is None
    assert await primary.copy_from(cold, KEY) is None
    assert await cold.get_bytes(KEY) == b"on the second endpoint"

    # The same URL signed as another account is another endpoint too: it may not read PRIMARY's bucket.
    settings = make_settings(**s3_settings)
    other_account = S3Driver(settings, f"{settings.bucket_primary}-x",
                             endpoint=S3Endpoint(s3_endpoint, "us-east-1", MOTO_OTHER_KEY, MOTO_OTHER_KEY))
    await other_account.start()
    try:
        assert await other_account.copy_from(primary, KEY) is None
    finally:
        await other_account.close()


async def test_the_filesystem_driver_never_copies_server_side(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings()
    primary = FilesystemDriver(settings, settings.bucket_primary)
    secondary = FilesystemDriver(settings, settings.bucket_secondary)
    await primary.start()
    await secondary.start()
    try:
        await primary.put_bytes(KEY, b"bytes")
        assert await secondary.copy_from(primary, KEY) is None
        assert await secondary.head(KEY) is None
    finally:
        await primary.close()
        await secondary.close()


async def test_an_s3_tier_does_not_copy_server_side_from_a_filesystem_one(
        s3_storage: Storage, make_settings: Callable[..., Settings]) -> None:
    settings = make_settings()
    local = FilesystemDriver(settings, settings.bucket_primary)
    await local.start()
    try:
        await local.put_bytes(KEY, b"bytes")
        assert await s3_storage.tier("secondary").copy_from(local, KEY) is None
    finally:
        await local.close()
