"""A tier's health check (`StorageDriver.ping`) sees what stops writes: a full disk, a tier that cannot be
written, an S3 endpoint down or hanging, and answers within the 3 s /healthz gives it. Its write probe
leaves nothing behind and never shows in a listing. Everything here is real: the disk's own figures, a
directory that really refuses files, a moto server really stopped and killed."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from shoebox_lib.embedded import free_port
from shoebox_lib.embedded.ports import wait_for_port
from shoebox_lib.settings import Settings, Tier
from shoebox_lib.storage.base import HEALTH_PROBE_KEY, StorageDriver, StorageFull, StorageUnwritable
from shoebox_lib.storage.filesystem import FilesystemDriver
from shoebox_lib.storage.s3 import S3Driver
from shoebox_lib.testing.plugin import MOTO_KEY

HEALTH_TIMEOUT = 3.0  # what ServiceApp.health gives each check


async def listed(driver: StorageDriver) -> list[str]:
    return [stored.key async for stored in driver.list_objects()]


@pytest.fixture
async def fs_drivers(make_settings: Callable[..., Settings]) -> AsyncIterator[Callable[..., Any]]:
    """Started filesystem drivers of a tier's bucket on settings of the test's choosing."""
    started: list[FilesystemDriver] = []

    async def make(tier: Tier = "primary", **overrides: Any) -> FilesystemDriver:
        settings = make_settings(**overrides)
        driver = FilesystemDriver(settings, settings.tiers()[tier])
        await driver.start()
        started.append(driver)
        return driver

    yield make
    for driver in started:
        await driver.close()


def tmp_dir(driver: FilesystemDriver) -> Path:
    return driver.root / ".shoebox" / "tmp"


def replace_with_a_file(directory: Path) -> None:
    """The directory becomes a regular file: nothing can be created in it, yet `os.access(…, W_OK)` says yes
    (as it does to root on any directory)."""
    shutil.rmtree(directory)
    directory.write_bytes(b"not a directory")


# --- Filesystem -----------------------------------------------------------------------------------


async def test_a_healthy_tier_passes_and_its_probe_leaves_nothing(fs_drivers: Callable[..., Any]) -> None:
    driver: FilesystemDriver = await fs_drivers(storage_probe_interval_seconds=0)
    for _ in range(3):
        await driver.ping()
    assert os.listdir(tmp_dir(driver)) == []
    assert await listed(driver) == []


async def test_a_full_tier_fails_and_says_so_with_the_figures(fs_drivers: Callable[..., Any]) -> None:
    probe = await fs_drivers()
    free = shutil.disk_usage(probe.root).free
    driver: FilesystemDriver = await fs_drivers(storage_min_free_bytes=free + 1024**4)
    with pytest.raises(StorageFull, match=r"is full: [0-9.]+ [KMGTPE]i?B free, below the minimum of "
                                          r"[0-9.]+ [KMGTPE]iB"):
        await driver.ping()
    # The same disk with a minimum it meets is healthy: the figure compared is the disk's own.
    await (await fs_drivers(storage_min_free_bytes=1)).ping()


async def test_a_replica_tier_can_keep_a_minimum_of_its_own(fs_drivers: Callable[..., Any]) -> None:
    huge = 2**62
    primary = await fs_drivers("primary", secondary_storage_min_free_bytes=huge)
    secondary = await fs_drivers("secondary", secondary_storage_min_free_bytes=huge)
    await primary.ping()
    with pytest.raises(StorageFull, match="is full"):
        await secondary.ping()


async def test_a_tier_whose_writes_fail_fails_even_where_os_access_says_writable(
        fs_drivers: Callable[..., Any]) -> None:
    driver: FilesystemDriver = await fs_drivers(storage_probe_interval_seconds=0)
    await driver.ping()
    replace_with_a_file(tmp_dir(driver))
    assert os.access(tmp_dir(driver), os.W_OK)  # the check that was all there was would have said "ok"
    with pytest.raises(StorageUnwritable, match="is not writable: Not a directory"):
        await driver.ping()
    tmp_dir(driver).unlink()
    tmp_dir(driver).mkdir()
    await driver.ping()  # a failure is not reused: the tier is healthy again at once


async def test_a_missing_tier_directory_fails(fs_drivers: Callable[..., Any]) -> None:
    driver: FilesystemDriver = await fs_drivers()
    away = driver.root.with_name(driver.root.name + "-away")
    driver.root.rename(away)
    try:
        with pytest.raises(OSError, match="missing or not writable"):
            await driver.ping()
        assert not driver.root.exists()  # the check made nothing in its place
    finally:
        away.rename(driver.root)
    await driver.ping()


async def test_the_write_probe_runs_at_most_once_an_interval(fs_drivers: Callable[..., Any]) -> None:
    driver: FilesystemDriver = await fs_drivers(storage_probe_interval_seconds=3600)
    await driver.ping()
    replace_with_a_file(tmp_dir(driver))
    await driver.ping()  # within the interval the last success stands: no write was tried
    tmp_dir(driver).unlink()
    tmp_dir(driver).mkdir()


# --- S3 -------------------------------------------------------------------------------------------


@pytest.fixture
async def s3_drivers(make_settings: Callable[..., Settings], s3_settings: dict[str, Any]
                     ) -> AsyncIterator[Callable[..., Any]]:
    started: list[S3Driver] = []

    async def make(**overrides: Any) -> S3Driver:
        settings = make_settings(**{**s3_settings, **overrides})
        driver = S3Driver(settings, settings.bucket_primary, endpoint=settings.s3_endpoint("primary"))
        await driver.start()
        started.append(driver)
        return driver

    yield make
    for driver in started:
        await driver.close()


async def raw_keys(driver: S3Driver) -> list[str]:
    found = await driver._client.list_objects_v2(Bucket=driver.bucket)
    return [o["Key"] for o in found.get("Contents", [])]


async def test_the_s3_probe_leaves_nothing_and_listings_never_show_it(s3_drivers: Callable[..., Any]) -> None:
    driver: S3Driver = await s3_drivers(storage_probe_interval_seconds=0)
    await driver.ping()
    assert await raw_keys(driver) == []
    # A probe a crash left behind (put, never deleted) is no object to a listing, and the next probe takes it.
    await driver._client.put_object(Bucket=driver.bucket, Key=HEALTH_PROBE_KEY, Body=b"left")
    await driver.put_bytes("users/1/a", b"a")
    assert await listed(driver) == ["users/1/a"]
    await driver.ping()
    assert await raw_keys(driver) == ["users/1/a"]
    with pytest.raises(ValueError, match="invalid object key"):
        await driver.put_bytes(HEALTH_PROBE_KEY, b"x")  # no caller can ever write or read it


async def test_the_s3_write_probe_runs_at_most_once_an_interval(s3_drivers: Callable[..., Any]) -> None:
    driver: S3Driver = await s3_drivers(storage_probe_interval_seconds=3600)
    await driver.ping()
    await driver._client.put_object(Bucket=driver.bucket, Key=HEALTH_PROBE_KEY, Body=b"marker")
    await driver.ping()
    assert await raw_keys(driver) == [HEALTH_PROBE_KEY]  # not written (nor deleted) again within the interval


@pytest.fixture
def own_moto() -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A moto server in a process of its own, to stop (SIGSTOP: it hangs, as a black-holed endpoint) and kill."""
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port("127.0.0.1", port)
        yield f"http://127.0.0.1:{port}", server
    finally:
        if server.poll() is None:
            server.send_signal(signal.SIGCONT)
            server.kill()
        server.wait()


async def timed_failure(driver: S3Driver) -> tuple[float, BaseException]:
    started = time.monotonic()
    try:
        await driver.ping()
    except Exception as exc:  # what /healthz would report
        return time.monotonic() - started, exc
    raise AssertionError("the health check passed")


async def test_an_s3_endpoint_hanging_or_down_fails_the_check_in_time(
        make_settings: Callable[..., Settings], own_moto: tuple[str, subprocess.Popen[bytes]]) -> None:
    url, server = own_moto
    settings = make_settings(storage_driver="s3", s3_endpoint_url=url, s3_access_key_id=MOTO_KEY,
                             s3_secret_access_key=MOTO_KEY, storage_probe_interval_seconds=0)
    driver = S3Driver(settings, settings.bucket_primary)
    await driver.start()
    try:
        await driver.ping()

        server.send_signal(signal.SIGSTOP)  # connections are accepted by the kernel, never answered
        elapsed, exc = await timed_failure(driver)
        assert elapsed < HEALTH_TIMEOUT, (elapsed, exc)
        assert str(exc)

        server.send_signal(signal.SIGCONT)
        await driver.ping()

        server.kill()  # the port is closed: connections are refused
        server.wait()
        elapsed, exc = await timed_failure(driver)
        assert elapsed < HEALTH_TIMEOUT, (elapsed, exc)
        assert str(exc)
        elapsed, exc = await timed_failure(driver)  # a fresh connection now: refused, said so at once
        assert elapsed < 1.0, (elapsed, exc)
        assert "Could not connect" in str(exc), exc
    finally:
        await driver.close()
