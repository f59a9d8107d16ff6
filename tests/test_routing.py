"""Routing is defined once; every path of every service's OpenAPI must reach that service."""

from __future__ import annotations

import pytest

from shoebox import routing
from shoebox.services import factory
from shoebox_lib.settings import Settings


def test_every_openapi_path_of_every_service_reaches_its_owner() -> None:
    settings = Settings()
    checked = 0
    for name in routing.SERVICES:
        app = factory(name)(settings).app
        for path in app.openapi()["paths"]:
            if path in routing.OPS_PATHS:
                assert routing.split_service_path(f"/services/{name}{path}") == (name, path)
                continue
            sample = path.replace("{", "").replace("}", "")
            assert routing.owner_of(sample) == name, f"{path} of {name} is routed to {routing.owner_of(sample)}"
            checked += 1
    assert checked >= 8


@pytest.mark.parametrize(("path", "owner"), [
    ("/v1/uploads:resumable", "uploads"),
    ("/v1/uploads/up_1/parts/2", "uploads"),
    ("/v1/images/img_1:view", "metadata"),
    ("/files/upload-urls", "uploads"),
    ("/files/download/5", "metadata"),
    ("/files", "metadata"),
    ("/users/me", "auth"),
    ("/.well-known/jwks.json", "auth"),
    ("/_storage/bucket/key", routing.DATAPLANE),
    ("/v1/uploadsX", None),
    ("/filesystem", None),
    ("/", None),
])
def test_longest_prefix_at_a_boundary_wins(path: str, owner: str | None) -> None:
    assert routing.owner_of(path) == owner
