"""Running the whole system for tests and benchmarks: in-process on a real port, or as child processes."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import AbstractContextManager, asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from shoebox.dev import build_app
from shoebox.services import migrate_all
from shoebox.serving import uvicorn_options
from shoebox_auth.service import AuthService
from shoebox_lib.settings import Settings
from shoebox_lib.web import ServiceApp

ADMIN_EMAIL = "admin@shoebox.local"
ADMIN_PASSWORD = "admin-password-for-tests"


@dataclass
class RunningSystem:
    settings: Settings
    client: httpx.AsyncClient
    services: dict[str, ServiceApp]

    async def token(self, username: str = ADMIN_EMAIL, password: str = ADMIN_PASSWORD) -> str:
        response = await self.client.post("/auth/token", data={"username": username, "password": password})
        assert response.status_code == 200, response.text
        token: str = response.json()["access_token"]
        return token

    async def user_token(self, name: str) -> str:
        """A new ordinary user, signed in."""
        auth: AuthService = self.services["auth"].app.state.container.auth
        await auth.create_user(email=f"{name}@example.com", username=name, password=f"{name}-password-123")
        return await self.token(name, f"{name}-password-123")


@asynccontextmanager
async def run_system(settings: Settings) -> AsyncIterator[RunningSystem]:
    await migrate_all(settings)
    app = build_app(settings)
    port = int(settings.public_url.rsplit(":", 1)[1])
    # A request still running at the end of a test must not hold the shutdown for ever.
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="on",
                                           timeout_graceful_shutdown=10, **uvicorn_options(settings)))
    serving = asyncio.create_task(_serve(server))
    while not server.started:
        if serving.done():
            serving.result()
        await asyncio.sleep(0.02)
    async with httpx.AsyncClient(base_url=settings.public_url, timeout=30) as client:
        try:
            yield RunningSystem(settings, client, app.services)
        finally:
            server.should_exit = True
            await serving


class SystemDidNotStart(RuntimeError):
    pass


async def _serve(server: uvicorn.Server) -> None:
    # uvicorn ends a failed start with SystemExit, which escapes a task and the event loop running it: under
    # pytest-asyncio's one loop for the session, that broke every test after. As an ordinary exception it
    # fails the test whose system did not start, and only that one.
    try:
        await server.serve()
    except SystemExit as exit_:
        raise SystemDidNotStart(f"the system did not start (uvicorn exited with {exit_.code}); the log says why"
                                ) from None


def clean_environment(**extra: str) -> dict[str, str]:
    """This process's environment without any `SHOEBOX_` setting, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHOEBOX_")}
    env.update(extra)
    return env


def shoebox_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "shoebox", *args]


@contextmanager
def running(args: list[str], log: Path, env: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    """A child process writing to `log`, stopped however the block ends (SIGTERM, then SIGKILL after a
    minute), so a failing test or benchmark orphans no PostgreSQL or NATS."""
    with log.open("ab") as out:
        proc = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)


async def wait_healthy(url: str, proc: subprocess.Popen[bytes], log: Path | None = None,
                       within: float = 120) -> tuple[float, dict[str, Any]]:
    """Seconds until `url/healthz` answered 200, and its report; fails at once if the process exits."""
    started = time.monotonic()
    async with httpx.AsyncClient(timeout=5) as client, asyncio.timeout(within):
        while True:
            if proc.poll() is not None:
                output = (await asyncio.to_thread(log.read_text))[-4000:] if log else ""
                raise RuntimeError(f"{proc.args!r} exited with {proc.returncode}\n{output}")
            try:
                response = await client.get(f"{url}/healthz")
                if response.status_code == 200:
                    report: dict[str, Any] = response.json()
                    return time.monotonic() - started, report
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)


def shoebox_dev(data_dir: Path, port: int, log: Path, *options: str, **env: str
                ) -> AbstractContextManager[subprocess.Popen[bytes]]:
    command = shoebox_command("dev", "--data-dir", str(data_dir), "--port", str(port), *options)
    return running(command, log, clean_environment(**env))


def tail(log: Path) -> str:
    return log.read_text(errors="replace")[-4000:]


def stop(proc: subprocess.Popen[bytes]) -> int:
    proc.send_signal(signal.SIGTERM)
    return proc.wait(60)
