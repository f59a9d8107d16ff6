"""Embedded servers as children of this process: they die with it, and one a killed parent left is stopped.

A parent killed by SIGKILL runs no cleanup, so its children learn of its death from the kernel (Linux's
parent-death signal), and the next start stops a leftover before it runs a second server on the same store.
"""

from __future__ import annotations

import ctypes
import os
import select
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path

_PR_SET_PDEATHSIG = 1
_PR_GET_PDEATHSIG = 2


def _load_prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl: Callable[..., int] = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    # Probed here, once: a sandbox may refuse prctl, and a child between fork and exec cannot say so.
    current = ctypes.c_int()
    return prctl if prctl(_PR_GET_PDEATHSIG, ctypes.byref(current), 0, 0, 0) == 0 else None


_prctl = _load_prctl()


def dying_with_parent(sig: signal.Signals) -> Callable[[], None] | None:
    """A `preexec_fn` by which the kernel sends the child `sig` when this process dies, even by SIGKILL;
    None where that cannot be armed (not Linux, prctl refused, or not on the main thread)."""
    # The kernel sends it when the *thread* that forked the child ends, not the whole process: only the
    # main thread lives as long as the process (a pool thread, as asyncio.to_thread's, may end any time).
    if _prctl is None or threading.current_thread() is not threading.main_thread():
        return None
    prctl, parent = _prctl, os.getpid()

    # Runs in the child between fork and exec, where another thread's locks may be held: two plain system
    # calls through a function looked up beforehand, nothing that imports or takes a lock.
    def arm() -> None:
        prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
        if os.getppid() != parent:  # the parent died between fork and prctl: nobody will signal us
            raise ChildProcessError("the parent exited before the child started")

    return arm


def command_line(pid: int) -> list[str]:
    """The process's arguments; empty when it is gone, a zombie, or hidden from us."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [os.fsdecode(arg) for arg in raw.split(b"\0")[:-1]]


def _exits(pidfd: int, timeout: float) -> bool:
    poller = select.poll()
    poller.register(pidfd, select.POLLIN)  # a pidfd turns readable when its process exits
    return bool(poller.poll(timeout * 1000))


def stop_stale(pid_file: Path, is_ours: Callable[[list[str]], bool], timeout: float = 15) -> int | None:
    """Stop the process `pid_file` names when it is alive and `is_ours(its command line)`: SIGTERM, then
    SIGKILL after `timeout` seconds. Its pid when it was stopped, else None."""
    try:
        pid = int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return None
    if pid <= 0 or pid == os.getpid():
        return None
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return None
    try:
        # Checked after pidfd_open: signals go through the descriptor, which holds the process it was
        # opened on, so a pid reused meanwhile by an unrelated process can never be signalled.
        if not is_ours(command_line(pid)):
            return None
        try:
            signal.pidfd_send_signal(pidfd, signal.SIGTERM)
            if not _exits(pidfd, timeout):
                signal.pidfd_send_signal(pidfd, signal.SIGKILL)
                if not _exits(pidfd, 5):
                    raise TimeoutError(f"process {pid} (from {pid_file}) survives SIGKILL")
        except ProcessLookupError:
            pass  # it exited on its own meanwhile
    finally:
        os.close(pidfd)
    return pid
