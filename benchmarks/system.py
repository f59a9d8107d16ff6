"""The benchmarks' system: each service a process of its own (`shoebox serve`), on embedded PostgreSQL
and NATS, with moto's S3 server (a process of its own too) as storage, so psutil can tell what each part
spends.

    async with system.started(("auth", "metadata"), public="metadata") as live:
        live.urls["metadata"], live.services["metadata"].pid, ...

auth is started (and healthy) first, as the other services read its keys; then the others, each
waited for until its /healthz answers. Everything stops however the block ends.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import ExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from shoebox.testing import clean_environment, running, shoebox_command, wait_healthy
from shoebox_lib.embedded import EmbeddedNats, EmbeddedPostgres, free_port
from shoebox_lib.embedded.ports import wait_for_port

PASSWORD = "bench-password"  # the admin's (admin@shoebox.local)
ADMIN = "admin@shoebox.local"
HOST = "127.0.0.1"
AUTH = "auth"


@dataclass(frozen=True)
class System:
    root: Path  # a temporary directory, gone after the block
    urls: dict[str, str]  # service name → http://127.0.0.1:<port>
    services: dict[str, subprocess.Popen[bytes]]  # service name → its process
    storage: subprocess.Popen[bytes]  # moto's S3 server
    servers: tuple[EmbeddedPostgres, EmbeddedNats]
    env: dict[str, str]  # what the services were started with
    log: Path  # every process's output


@asynccontextmanager
async def started(names: Sequence[str], *, public: str, env: Mapping[str, str] | None = None,
                  prefix: str = "shoebox-bench-") -> AsyncIterator[System]:
    """`names` started (auth is always among them), `public` the service whose URL is the public one;
    `env` adds to (or overrides) the services' settings."""
    names = [AUTH, *(name for name in names if name != AUTH)]
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        root = Path(tmp)
        postgres, nats = EmbeddedPostgres(root / "pg"), EmbeddedNats(root / "nats")
        database_url, nats_url = postgres.start(), nats.start()
        try:
            s3_port = free_port()
            urls = {name: f"http://{HOST}:{free_port()}" for name in names}
            settings = clean_environment()
            settings.update({
                "SHOEBOX_DATABASE_URL": database_url, "SHOEBOX_NATS_URL": nats_url, "SHOEBOX_LOG_LEVEL": "WARNING",
                "SHOEBOX_STORAGE_DRIVER": "s3", "SHOEBOX_S3_ENDPOINT_URL": f"http://{HOST}:{s3_port}",
                "SHOEBOX_S3_ACCESS_KEY_ID": "bench", "SHOEBOX_S3_SECRET_ACCESS_KEY": "bench",
                "SHOEBOX_AUTH_URL": urls[AUTH], "SHOEBOX_PUBLIC_URL": urls[public],
                "SHOEBOX_ADMIN_PASSWORD": PASSWORD, "SHOEBOX_DATA_DIR": str(root / "data"),
            })
            if "metadata" in urls:
                settings["SHOEBOX_METADATA_URL"] = urls["metadata"]
            settings.update(env or {})
            log = root / "services.log"
            subprocess.run(shoebox_command("migrate"), env=settings, check=True, capture_output=True)
            serve = shoebox_command("serve")
            with ExitStack() as stack:
                storage = stack.enter_context(running(
                    [sys.executable, "-m", "moto.server", "-p", str(s3_port)], log, settings))
                services: dict[str, subprocess.Popen[bytes]] = {}
                for name in names:
                    port = urls[name].rsplit(":", 1)[1]
                    services[name] = stack.enter_context(running(
                        [*serve, name, "--port", port, "--host", HOST], log, settings))
                    if name == AUTH:
                        wait_for_port(HOST, s3_port)
                        await wait_healthy(urls[AUTH], services[AUTH], log)
                for name in names[1:]:
                    await wait_healthy(urls[name], services[name], log)
                yield System(root, urls, services, storage, (postgres, nats), settings, log)
        finally:
            nats.stop()
            postgres.stop()
