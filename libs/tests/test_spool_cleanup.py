"""What a write killed half way leaves in a filesystem tier is removed when a driver next starts on it, and
only that: another live process's (or driver's) file being written is left alone. The writer killed here is
a real process, killed with SIGKILL in the middle of a `put_stream`."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable

import pytest

from shoebox_lib.settings import Settings
from shoebox_lib.storage import filesystem
from shoebox_lib.storage.filesystem import FilesystemDriver

MiB = 1024 * 1024

# A process that starts a driver on a bucket and writes an object whose stream sends 2 MiB and then never
# ends; it says "writing" once those bytes are in its spool file, then waits to be killed.
WRITER = """
import asyncio, sys
from pathlib import Path
from shoebox_lib.settings import Settings
from shoebox_lib.storage.filesystem import FilesystemDriver

async def main() -> None:
    settings = Settings(storage_root=Path(sys.argv[1]), bucket_primary=sys.argv[2])
    driver = FilesystemDriver(settings, sys.argv[2])
    await driver.start()

    async def slow():
        yield b"x" * (2 * 1024 * 1024)
        print("writing", flush=True)
        await asyncio.sleep(3600)
        yield b"never"

    await driver.put_stream("users/1/originals/big.mov", slow())

asyncio.run(main())
"""


def temp_files(driver: FilesystemDriver) -> dict[str, int]:
    tmp = driver.root / ".shoebox" / "tmp"
    return {name: (tmp / name).stat().st_size for name in os.listdir(tmp)}


async def killed_mid_write(settings: Settings) -> None:
    """Run the writer process until its spool file holds bytes, then SIGKILL it."""
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(settings.storage_path), settings.bucket_primary],
                              stdout=subprocess.PIPE)
    try:
        assert writer.stdout is not None
        line = await asyncio.to_thread(writer.stdout.readline)
        assert line == b"writing\n", line
    finally:
        writer.send_signal(signal.SIGKILL)
        await asyncio.to_thread(writer.wait)
        if writer.stdout is not None:
            writer.stdout.close()
    assert writer.returncode == -signal.SIGKILL


class Gate:
    """A stream that sends 2 MiB, then waits for `open()` before it ends."""

    def __init__(self) -> None:
        self.opened = asyncio.Event()

    async def chunks(self) -> AsyncIterator[bytes]:
        yield b"y" * (2 * MiB)
        await self.opened.wait()
        yield b"end"


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings()


async def test_a_writer_killed_mid_write_is_cleaned_at_start_and_a_live_one_is_not(
        settings: Settings, caplog: pytest.LogCaptureFixture) -> None:
    live = FilesystemDriver(settings, settings.bucket_primary)
    await live.start()
    gate = Gate()
    writing = asyncio.create_task(live.put_stream("users/2/originals/live.mov", gate.chunks()))
    try:
        async with asyncio.timeout(30):
            while not any(size >= 2 * MiB for size in temp_files(live).values()):
                await asyncio.sleep(0.02)
        live_spool = set(temp_files(live))

        await killed_mid_write(settings)
        left = {name: size for name, size in temp_files(live).items() if name not in live_spool}
        assert len(left) == 1, left  # the dead writer's half-made file
        assert next(iter(left.values())) >= 2 * MiB, left

        with caplog.at_level(logging.INFO, logger=filesystem.__name__):
            starting = FilesystemDriver(settings, settings.bucket_primary)
            await starting.start()
        try:
            assert set(temp_files(live)) == live_spool  # the dead writer's file is gone, the live one's kept
            assert any("removed 1 temporary files (2.0 MiB) left by writers that are gone" in r.getMessage()
                       for r in caplog.records), caplog.text
        finally:
            await starting.close()

        gate.opened.set()
        info = await writing
        assert info.size == 2 * MiB + 3
        assert await live.get_bytes("users/2/originals/live.mov") == b"y" * (2 * MiB) + b"end"
        assert await live.head("users/1/originals/big.mov") is None
        assert temp_files(live) == {}
    finally:
        gate.opened.set()
        await writing
        await live.close()


async def test_a_writer_of_another_process_alive_keeps_its_spool(settings: Settings) -> None:
    """The live writer is a process of its own here: its file is kept by the lock that process holds."""
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(settings.storage_path), settings.bucket_primary],
                              stdout=subprocess.PIPE)
    try:
        assert writer.stdout is not None
        assert await asyncio.to_thread(writer.stdout.readline) == b"writing\n"
        starting = FilesystemDriver(settings, settings.bucket_primary)
        await starting.start()
        try:
            assert len(temp_files(starting)) == 1  # still being written: left alone
        finally:
            await starting.close()
    finally:
        writer.send_signal(signal.SIGKILL)
        await asyncio.to_thread(writer.wait)
        if writer.stdout is not None:
            writer.stdout.close()
    # Once that process is gone, the next start takes what it left.
    again = FilesystemDriver(settings, settings.bucket_primary)
    await again.start()
    try:
        assert temp_files(again) == {}
    finally:
        await again.close()


async def test_nameless_temporary_files_of_before_are_removed_once_stale(settings: Settings) -> None:
    driver = FilesystemDriver(settings, settings.bucket_primary)
    await driver.start()
    await driver.close()
    tmp = driver.root / ".shoebox" / "tmp"
    # Files of the version before temporary files were locked: their writer may be alive without a lock.
    stale, fresh = tmp / "tmpa1b2c3d4.tmp", tmp / "tmpe5f6g7h8.json"
    stale.write_bytes(b"half")
    fresh.write_bytes(b"maybe being written by a process of the version before")
    old = time.time() - filesystem.STALE_TEMP_SECONDS - 60
    os.utime(stale, (old, old))

    again = FilesystemDriver(settings, settings.bucket_primary)
    await again.start()
    try:
        assert sorted(os.listdir(tmp)) == [fresh.name]
    finally:
        await again.close()


async def test_a_sweep_leaves_this_processs_own_writes_alone(settings: Settings) -> None:
    """The data plane's drivers are never started, and share the process (and the bucket) with started ones."""
    started = FilesystemDriver(settings, settings.bucket_primary)
    await started.start()
    unstarted = FilesystemDriver(settings, settings.bucket_primary)
    gate = Gate()
    writing = asyncio.create_task(unstarted.put_stream("users/3/a", gate.chunks()))
    try:
        async with asyncio.timeout(30):
            while not temp_files(started):
                await asyncio.sleep(0.02)
        sweeper = FilesystemDriver(settings, settings.bucket_primary)
        await sweeper.start()
        await sweeper.close()
        assert len(temp_files(started)) == 1
    finally:
        gate.opened.set()
        await writing
        await started.close()
        await unstarted.close()
    assert await started.get_bytes("users/3/a") == b"y" * (2 * MiB) + b"end"
