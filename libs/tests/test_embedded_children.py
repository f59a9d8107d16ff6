"""Embedded servers die with the process that started them, even by SIGKILL, and a leftover on the same
store is stopped before a new one starts, while an unrelated process that holds the recorded pid is not.

Real processes throughout: a parent Python process starts the server and is killed by SIGKILL.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from shoebox_lib.embedded import EmbeddedNats, EmbeddedPostgres
from shoebox_lib.embedded.children import command_line

# Starts a server, prints "pid port", and waits to be killed. On a worker thread (argv[3] == "thread")
# the server is not tied to this parent (the kernel would signal it when that thread ends), so it outlives it.
PARENT = """
import sys, threading, time
from pathlib import Path
from shoebox_lib.embedded import {cls}

server = {cls}(Path(sys.argv[1]))
if sys.argv[2] == "thread":
    starter = threading.Thread(target=server.start)
    starter.start()
    starter.join()
else:
    server.start()
print(server.pid, server.port, flush=True)
time.sleep(600)
"""


def gone(pid: int) -> bool:
    """Exited: no such process, or a zombie its new parent has not reaped yet."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


def wait_gone(pid: int, within: float = 30) -> None:
    deadline = time.monotonic() + within
    while not gone(pid):
        assert time.monotonic() < deadline, f"process {pid} ({command_line(pid)}) still runs"
        time.sleep(0.05)


def kill_if_alive(pid: int, name: str) -> None:
    """Cleanup after a failed assertion, so a failing test leaves no server behind."""
    argv = command_line(pid)
    if argv and Path(argv[0]).name == name:
        os.kill(pid, signal.SIGKILL)


def nats_servers_on(store: Path) -> list[int]:
    config = str(store.resolve() / "nats.conf")
    pids = [int(entry.name) for entry in Path("/proc").iterdir() if entry.name.isdigit()]
    return [pid for pid in pids if config in (argv := command_line(pid)) and Path(argv[0]).name == "nats-server"]


def listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


@contextmanager
def parent_running(cls: str, directory: Path, tmp_path: Path, *, start_on: str = "main") -> Iterator[
        tuple[subprocess.Popen[str], int, int]]:
    """A parent process that has started `cls` on `directory`; the server's pid and port."""
    stderr = tmp_path / f"parent-{cls}.err"
    with stderr.open("w") as err:
        proc = subprocess.Popen([sys.executable, "-c", PARENT.format(cls=cls), str(directory), start_on],
                                stdout=subprocess.PIPE, stderr=err, stdin=subprocess.DEVNULL, text=True)
    assert proc.stdout
    try:
        line = proc.stdout.readline()
        assert line, f"the parent failed:\n{stderr.read_text()}"
        pid, port = map(int, line.split())
        yield proc, pid, port
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()


def test_nats_server_dies_with_its_parent_killed_by_sigkill(tmp_path: Path) -> None:
    with parent_running("EmbeddedNats", tmp_path / "nats", tmp_path) as (parent, pid, port):
        try:
            assert listening(port)
            parent.kill()
            parent.wait()
            wait_gone(pid)
        finally:
            kill_if_alive(pid, "nats-server")


def test_a_nats_server_left_on_the_store_is_stopped_before_another_starts(tmp_path: Path) -> None:
    store = tmp_path / "nats"
    with parent_running("EmbeddedNats", store, tmp_path, start_on="thread") as (parent, stale, port):
        parent.kill()
        parent.wait()
    server = EmbeddedNats(store, port=port)  # its port too: free again only once the leftover is stopped
    try:
        assert not gone(stale), "the leftover outlives its parent (it was not tied to it)"
        server.start()
        wait_gone(stale)
        assert nats_servers_on(store) == [server.pid]
        assert listening(port)
    finally:
        server.stop()
        kill_if_alive(stale, "nats-server")


@pytest.mark.parametrize("intruder", ["unrelated process", "nats-server on another store"])
def test_a_process_that_is_not_the_stores_nats_server_is_never_stopped(tmp_path: Path, intruder: str) -> None:
    store, other = tmp_path / "nats", EmbeddedNats(tmp_path / "other")
    sleeper = None
    if intruder == "unrelated process":
        sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
        pid = sleeper.pid
    else:
        other.start()
        assert other.pid
        pid = other.pid
    store.mkdir()
    (store / "nats.pid").write_text(str(pid))  # as if this pid had been the store's server, and reused
    server = EmbeddedNats(store)
    try:
        server.start()
        assert (store / "nats.pid").read_text().strip() == str(server.pid)
        assert not gone(pid)
        assert nats_servers_on(store) == [server.pid]
    finally:
        server.stop()
        other.stop()
        if sleeper:
            sleeper.kill()
            sleeper.wait()


def test_postgres_dies_with_its_parent_killed_by_sigkill_and_starts_again(tmp_path: Path) -> None:
    # Not under pytest's temp root (0700): as root, the server runs as a user that must reach its directory.
    root = Path(tempfile.mkdtemp(prefix="shoebox-test-pg-"))
    try:
        with parent_running("EmbeddedPostgres", root / "data", tmp_path) as (parent, pid, port):
            try:
                assert listening(port)
                parent.kill()
                parent.wait()
                wait_gone(pid)
            finally:
                kill_if_alive(pid, "postgres")
        again = EmbeddedPostgres(root / "data")
        try:
            again.start()
            assert listening(again.port)
        finally:
            again.stop()
        assert not (root / "data" / "postmaster.pid").exists(), "stopped cleanly"
    finally:
        shutil.rmtree(root, ignore_errors=True)
