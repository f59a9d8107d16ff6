"""Every route of every service refuses a caller without a valid token, unless it is public on purpose.

New routes are covered automatically: a route missing from PUBLIC must answer 401 to an anonymous
caller and to forged tokens.
"""

from __future__ import annotations

import re

import pytest

from shoebox import routing
from shoebox.testing import RunningSystem

# Routes anybody may call, and why.
PUBLIC = {
    ("POST", "/auth/token"),  # signing in
    ("POST", "/users/login"),  # signing in, seed 000's way
    ("GET", "/.well-known/jwks.json"),  # verifiers fetch our public keys
    ("GET", "/auth/public-key"),  # the CL face's way to the same
    ("POST", "/users/ott"),  # Ente: mail me a sign-in code
    ("POST", "/users/verify-email"),  # Ente: signing in with that code
    ("GET", "/users/srp/attributes"),  # Ente: what a client needs to start SRP
    ("POST", "/users/srp/attributes"),  # the same, seed 000's way
    ("POST", "/users/srp/create-session"),  # Ente: signing in by SRP
    ("POST", "/users/srp/verify-session"),
}

# Routes a public link's own token opens (X-Auth-Access-Token or a token in the path), not an account's;
# `test_link_routes_refuse_a_missing_or_forged_link` holds them to that.
LINK_ROUTES = {
    ("GET", "/public-collection/info"),
    ("GET", "/public-collection/diff"),
    ("POST", "/public-collection/verify-password"),
    ("GET", "/public-collection/files/preview/{file_id}"),
    ("GET", "/public-collection/files/download/{file_id}"),
    ("GET", "/public/collections/{token}"),
    ("GET", "/public/collections/{token}/preview/{file_id}"),
    ("POST", "/public/collections/{token}/commit-file"),
    ("GET", "/public/files/{token}"),
    ("GET", "/public-collection/upload-urls"),
    ("GET", "/public-collection/multipart-upload-urls"),
    ("POST", "/public-collection/file"),
}


def routes(system: RunningSystem) -> list[tuple[str, str, str]]:
    found = []
    for name, service in system.services.items():
        for path, operations in service.app.openapi()["paths"].items():
            if path in routing.OPS_PATHS:
                continue
            for method in operations:
                found.append((name, method.upper(), path))
    return found


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "1", path)


async def test_every_non_public_route_needs_a_token(api: RunningSystem) -> None:
    checked = []
    for _, method, path in routes(api):
        if (method, path) in PUBLIC | LINK_ROUTES:
            continue
        for headers in ({}, {"Authorization": "Bearer not-a-jwt"}, {"X-Auth-Token": "x.y.z"}):
            response = await api.client.request(method, concrete(path), headers=headers)
            assert response.status_code == 401, f"{method} {path} with {headers}: {response.status_code}"
        checked.append(path)
    assert len(checked) >= 6


@pytest.mark.parametrize("path", ["/ping", "/healthz", "/version", "/metrics"])
async def test_ops_endpoints_answer_for_each_service(api: RunningSystem, path: str) -> None:
    for name in routing.SERVICES:
        response = await api.client.get(f"/services/{name}{path}")
        assert response.status_code == 200, f"{name}{path}: {response.text}"


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
    assert {(method, path) for _, method, path in routes(api)} >= LINK_ROUTES
    for method, path in LINK_ROUTES:
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
