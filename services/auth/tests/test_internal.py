"""Auth's internal route (the contract in `shoebox_lib.contracts`): other services find a user by address,
and only a service signing with the installation secret may ask. Auth runs alone here."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from asgi_lifespan import LifespanManager

from shoebox_auth.app import MIGRATIONS, create_service
from shoebox_auth.models import EnteKeyAttributes
from shoebox_auth.service import AuthService
from shoebox_lib.contracts import USER_BY_EMAIL_PATH, UserKey
from shoebox_lib.errors import NotFound, Unauthenticated
from shoebox_lib.internal import InternalClient
from shoebox_lib.settings import Settings
from shoebox_lib.web import ServiceApp


@pytest.fixture
async def auth_service(make_settings: Callable[..., Settings]) -> AsyncIterator[ServiceApp]:
    settings = make_settings()
    await MIGRATIONS.upgrade_async(settings.database_url)
    service = create_service(settings)
    async with LifespanManager(service.app):
        yield service


def http_to(service: ServiceApp) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=service.app), base_url="http://auth")


async def test_a_service_finds_an_active_user_by_address(auth_service: ServiceApp) -> None:
    core: AuthService = auth_service.app.state.container.auth
    user = await core.create_user(email="Sharee@Example.com", username=None, password="sharee-password")
    async with http_to(auth_service) as http:
        metadata = InternalClient("metadata", "auth", http, auth_service.app.state.runtime.settings.secret_key)
        found = await metadata.call("GET", USER_BY_EMAIL_PATH, UserKey, params={"email": " sharee@EXAMPLE.com "})
        assert found == UserKey(user_id=user.id, email="Sharee@Example.com", public_key=None)

        async with auth_service.app.state.runtime.db.transaction() as session:
            session.add(EnteKeyAttributes(user_id=user.id, attributes={"publicKey": "c2hhcmVlLWtleQ=="}))
        keyed = await metadata.call("GET", USER_BY_EMAIL_PATH, UserKey, params={"email": "sharee@example.com"})
        assert keyed.public_key == "c2hhcmVlLWtleQ=="

        with pytest.raises(NotFound):
            await metadata.call("GET", USER_BY_EMAIL_PATH, UserKey, params={"email": "nobody@example.com"})


async def test_only_a_service_may_ask(auth_service: ServiceApp) -> None:
    async with http_to(auth_service) as http:
        unsigned = await http.get(USER_BY_EMAIL_PATH, params={"email": "admin@shoebox.local"})
        assert unsigned.status_code == 401
        token = (await http.post("/auth/token", data={"username": "admin@shoebox.local",
                                                      "password": "admin-password-for-tests"})).json()["access_token"]
        with_a_token = await http.get(USER_BY_EMAIL_PATH, params={"email": "admin@shoebox.local"},
                                      headers={"Authorization": f"Bearer {token}"})
        assert with_a_token.status_code == 401  # even an admin's token is not a service
        forger = InternalClient("metadata", "auth", http, "not-the-installation-secret")
        with pytest.raises(Unauthenticated):
            await forger.call("GET", USER_BY_EMAIL_PATH, UserKey, params={"email": "admin@shoebox.local"})
