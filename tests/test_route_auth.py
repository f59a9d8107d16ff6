"""Every route of every service refuses a caller without a valid token, unless it is declared public.

Who may call a route is declared where its router is mounted (`Mount(router, face, access)`), and this test
reads it back from there rather than from a list of its own: every USER or ADMIN route must answer 401 to
an anonymous caller and to forged tokens, and so must every SPACE route (CL's store, and CL's job API, which
follows the store's mode) in the store's default mode, where reads need a token too; every LINK route must
refuse a missing or forged link, and every INTERNAL route must refuse a caller without a service's
signature, asked directly (from outside, nothing routes them at all). New routes are covered automatically.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable

import httpx
import pytest

from shoebox import routing
from shoebox.testing import RunningSystem, run_system
from shoebox_lib.internal import SIGNATURE_HEADER
from shoebox_lib.settings import Settings
from shoebox_lib.web.access import ACCESS_KEY, FACE_KEY, Access, RouteInfo
from shoebox_lib.web.faces import Face

# What test_every_non_public_route_needs_a_token checked before access was declared on the routers (every
# route but 10 public and 12 link routes); it checks no fewer now.
ROUTES_CHECKED_BEFORE = 81


def declared(system: RunningSystem) -> list[RouteInfo]:
    return [route for service in system.services.values() for route in service.routes()]


def with_access(system: RunningSystem, *access: Access) -> set[tuple[str, str]]:
    return {(route.method, route.path) for route in declared(system) if route.access in access}


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "1", path)


async def test_every_non_public_route_needs_a_token(api: RunningSystem) -> None:
    public = with_access(api, Access.PUBLIC, Access.LINK)
    store = (await api.client.get("/")).json()
    assert store["auth_required"] is True, f"CL's store starts with reads that need a token: {store}"
    checked = []
    for route in declared(api):
        if (route.method, route.path) in public:
            continue
        if route.access is Access.INTERNAL:
            await refuses_unsigned(api, route)
        elif route.access is Access.ANYONE:
            # Nothing is public at id 1: without a token it is not found; a token that is sent is verified.
            anonymous = await api.client.request(route.method, concrete(route.path))
            assert anonymous.status_code == 404, f"{route.method} {route.path} without a token: {anonymous.text}"
            for headers in ({"Authorization": "Bearer not-a-jwt"}, {"X-Auth-Token": "x.y.z"}):
                response = await api.client.request(route.method, concrete(route.path), headers=headers)
                assert response.status_code == 401, f"{route.method} {route.path} with {headers}: {response.text}"
        else:
            assert route.access in (Access.USER, Access.ADMIN, Access.SPACE), route
            for headers in ({}, {"Authorization": "Bearer not-a-jwt"}, {"X-Auth-Token": "x.y.z"}):
                response = await api.client.request(route.method, concrete(route.path), headers=headers)
                assert response.status_code == 401, f"{route.method} {route.path} with {headers}: {response.text}"
        checked.append(route.path)
    assert len(checked) >= ROUTES_CHECKED_BEFORE


async def refuses_unsigned(system: RunningSystem, route: RouteInfo) -> None:
    """Asked directly, as another service would: without a valid signature, 401."""
    forged = {SIGNATURE_HEADER: f"uploads:{int(time.time())}:{'0' * 64}"}
    transport = httpx.ASGITransport(app=system.services[route.service].app)
    async with httpx.AsyncClient(transport=transport, base_url=f"http://{route.service}") as client:
        for headers in ({}, forged, {"Authorization": "Bearer not-a-jwt"}):
            response = await client.request(route.method, concrete(route.path), headers=headers)
            assert response.status_code == 401, f"{route.method} {route.path} with {headers}: {response.status_code}"


async def test_every_route_declares_its_access_and_face_in_the_openapi(api: RunningSystem) -> None:
    for name, service in api.services.items():
        operations = {(method.upper(), path): operation
                      for path, methods in service.app.openapi()["paths"].items() if path not in routing.OPS_PATHS
                      for method, operation in methods.items()}
        routes = service.routes()
        assert len(operations) == len(routes), f"{name}: every route is in the OpenAPI, once"
        for (method, path), operation in operations.items():
            assert operation[ACCESS_KEY] in set(Access), f"{name} {method} {path}"
            assert operation[FACE_KEY] in set(Face), f"{name} {method} {path}"
        for route in routes:
            operation = operations[(route.method, re.sub(r":\w+}", "}", route.path))]
            assert (operation[ACCESS_KEY], operation[FACE_KEY]) == (route.access, route.face), route


@pytest.mark.parametrize("path", ["/ping", "/healthz", "/version", "/metrics"])
async def test_ops_endpoints_answer_for_each_service(api: RunningSystem, path: str) -> None:
    headers = {"Authorization": f"Bearer {await api.token()}"} if path == "/metrics" else {}
    for name in routing.SERVICES:
        response = await api.client.get(f"/services/{name}{path}", headers=headers)
        assert response.status_code == 200, f"{name}{path}: {response.text}"


async def test_metrics_need_an_admin_or_the_metrics_token(system_settings: Callable[..., Settings]) -> None:
    async with run_system(system_settings(metrics_token="scraper-token-for-tests")) as running:
        user = await running.user_token("nosy")
        for name in routing.SERVICES:
            path = f"/services/{name}/metrics"
            assert (await running.client.get(path)).status_code == 401, name
            assert (await running.client.get(path, headers={"Authorization": f"Bearer {user}"})).status_code == 403
            wrong = await running.client.get(path, headers={"Authorization": "Bearer scraper-token-for-test"})
            assert wrong.status_code == 401, name
            scraped = await running.client.get(path, headers={"Authorization": "Bearer scraper-token-for-tests"})
            assert scraped.status_code == 200, name
            assert "shoebox_http_requests_total" in scraped.text


async def test_unknown_paths_are_404_in_the_v1_envelope(api: RunningSystem) -> None:
    response = await api.client.get("/nothing/here")
    assert response.status_code == 404
    assert response.json()["error"] == "NOT_FOUND"
    assert response.headers["x-request-id"]


async def test_health_reports_every_service(api: RunningSystem) -> None:
    response = await api.client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert set(body["services"]) == set(routing.SERVICES)
    for report in body["services"].values():
        assert report["status"] == "ok"
        assert set(report["checks"]) >= {"database", "bus"}


async def test_a_request_id_given_is_echoed_and_a_bad_one_replaced(api: RunningSystem) -> None:
    given = await api.client.get("/v1/images/img_1", headers={"X-Request-ID": "abc-123"})
    assert given.headers["x-request-id"] == "abc-123"
    assert given.json()["requestId"] == "abc-123"
    bad = await api.client.get("/v1/images/img_1", headers={"X-Request-ID": "no spaces allowed"})
    assert bad.headers["x-request-id"].startswith("req_")


async def test_link_routes_refuse_a_missing_or_forged_link(api: RunningSystem) -> None:
    link_routes = with_access(api, Access.LINK)
    assert link_routes, "public links open some routes"
    for method, path in link_routes:
        body: dict[str, object] | None = None
        if path.endswith("verify-password"):
            body = {"passHash": "x"}
        elif path.endswith(("commit-file", "/file")):
            blob = {"objectKey": "k", "decryptionHeader": "h", "size": 1}
            body = {"collectionID": 1, "encryptedKey": "k", "keyDecryptionNonce": "n", "file": blob,
                    "thumbnail": blob, "metadata": {"decryptionHeader": "h"}}
        for headers in ({}, {"X-Auth-Access-Token": "forged-link-token"}):
            params = {"count": 1} if path.endswith("upload-urls") else None
            response = await api.client.request(method, concrete(path), headers=headers, json=body, params=params)
            assert response.status_code in (401, 404), f"{method} {path} with {headers}: {response.status_code}"
