"""What clients see while a dependency is down (issue 15): a service that cannot get auth's signing keys
checks tokens with the last ones it kept, across a restart, and with none kept answers 503 with
Retry-After, never 401; a database that cannot be reached is 503 too. Each in the face's own error shape."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from shoebox.testing import run_system
from shoebox.testing.callers import bearer
from shoebox.testing.outage import EndpointOutage
from shoebox_lib.embedded import free_port
from shoebox_lib.settings import Settings

V1, ENTE, CL = "/v1/images", "/collections/v2?sinceTime=0", "/entities"


def unavailable(response: httpx.Response) -> bool:
    return response.status_code == 503 and response.headers.get("retry-after") == "5"


async def test_a_service_restarted_while_auth_is_down_checks_tokens_with_the_keys_it_kept(
        system_settings: Callable[..., Settings]) -> None:
    settings = system_settings()
    async with run_system(settings) as system:
        token = await system.user_token("kim")
        for path in (V1, ENTE, CL):
            answered = await system.client.get(path, headers=bearer(token))
            assert answered.status_code == 200, (path, answered.text)
    assert settings.jwks_cache_path.is_file()

    auth_down = settings.model_copy(update={"auth_url": f"http://127.0.0.1:{free_port()}"})
    async with run_system(auth_down) as system:
        for path in (V1, ENTE, CL):
            answered = await system.client.get(path, headers=bearer(token))
            assert answered.status_code == 200, (path, answered.text)

    settings.jwks_cache_path.unlink()  # a service that never saw auth's keys
    async with run_system(auth_down) as system:
        v1, ente, cl = [await system.client.get(path, headers=bearer(token)) for path in (V1, ENTE, CL)]
        assert all(unavailable(r) for r in (v1, ente, cl)), [(r.status_code, r.text) for r in (v1, ente, cl)]
        assert v1.json()["error"] == "SERVICE_UNAVAILABLE"
        assert ente.json()["code"] == "SERVICE_UNAVAILABLE"
        assert "detail" in cl.json()


async def test_a_database_that_cannot_be_reached_is_503_with_retry_after_in_each_face(
        system_settings: Callable[..., Settings]) -> None:
    base = system_settings()
    database = EndpointOutage(f"http://{base.database_url.split('@', 1)[1].split('/', 1)[0]}")
    await database.up()
    prefix, rest = base.database_url.split("@", 1)
    settings = base.model_copy(update={"database_url": f"{prefix}@127.0.0.1:{database.port}/{rest.split('/', 1)[1]}"})
    try:
        async with run_system(settings) as system:
            token = await system.user_token("kim")
            assert (await system.client.get(V1, headers=bearer(token))).status_code == 200
            await database.down()
            v1, ente, cl = [await system.client.get(path, headers=bearer(token)) for path in (V1, ENTE, CL)]
            assert all(unavailable(r) for r in (v1, ente, cl)), [(r.status_code, r.text) for r in (v1, ente, cl)]
            assert v1.json()["error"] == ente.json()["code"] == "SERVICE_UNAVAILABLE"
            assert "detail" in cl.json()
            await database.up()
            answered = await system.client.get(V1, headers=bearer(token))
            assert answered.status_code == 200, answered.text  # back once it is: the pool reconnects
    finally:
        await database.down()
