"""Running the whole system in-process on a real port, for tests and benchmarks."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
import uvicorn

from shoebox.dev import build_app
from shoebox.services import migrate_all
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
        auth: AuthService = self.services["auth"].app.state.auth
        await auth.create_user(email=f"{name}@example.com", username=name, password=f"{name}-password-123")
        return await self.token(name, f"{name}-password-123")


@asynccontextmanager
async def run_system(settings: Settings) -> AsyncIterator[RunningSystem]:
    await migrate_all(settings)
    app = build_app(settings)
    port = int(settings.public_url.rsplit(":", 1)[1])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="on"))
    serving = asyncio.create_task(server.serve())
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
