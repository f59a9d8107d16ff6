"""Routing is derived once, from the services' declared routes; every path of every service's OpenAPI must
reach that service, and nothing reaches an internal route from outside."""

from __future__ import annotations

import re

import pytest
from fastapi import APIRouter

from shoebox import routing
from shoebox.routing import Entry, Match, RouteConflict, RouteTable
from shoebox_lib.web import ServiceApp, create_app
from shoebox_lib.web.access import Access, Mount
from shoebox_lib.web.faces import Face


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "1", path)


def test_every_openapi_path_of_every_service_reaches_its_owner() -> None:
    table = routing.declared_table()
    checked = 0
    for name, service in routing.declared_services().items():
        app = service.app
        for path in app.openapi()["paths"]:
            if path in routing.OPS_PATHS:
                assert routing.split_service_path(f"/services/{name}{path}") == (name, path)
                continue
            if routing.is_internal(path):
                assert table.owner_of(concrete(path)) is None, f"{path} of {name} is routed from outside"
                continue
            for sample in (path.replace("{", "").replace("}", ""), concrete(path)):
                assert table.owner_of(sample) == name, f"{path} of {name} is routed to {table.owner_of(sample)}"
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
    ("/", "metadata"),  # the CL root: the store answers it (and CL clients ask compute there too)
])
def test_longest_prefix_at_a_boundary_wins(path: str, owner: str | None) -> None:
    assert routing.declared_table().owner_of(path) == owner


def test_every_entry_is_a_declared_route_but_the_data_plane() -> None:
    declared = {routing.entry_of(route) for route in routing.declared_routes() if route.access is not Access.INTERNAL}
    assert set(routing.declared_table().entries) == declared | {
        Entry(routing.DATAPLANE_PREFIX, Match.PREFIX, routing.DATAPLANE)}


@pytest.mark.parametrize("path", ["/internal", "/internal/", "/internal/metadata/usage/1", "/internal/auth/x"])
def test_the_internal_routes_are_nobodys_from_outside(path: str) -> None:
    assert routing.declared_table().owner_of(path) is None


# The derivation itself, on small apps of its own


def service(name: str, *mounts: tuple[Access, Face, list[str]]) -> ServiceApp:
    built = []
    for access, face, paths in mounts:
        router = APIRouter()
        for path in paths:
            router.add_api_route(path, lambda: {}, methods=["GET"])
        built.append(Mount(router, face, access))
    return create_app(name, "0", mounts=built)


def test_exact_paths_and_the_static_part_of_parameterised_ones() -> None:
    a = service("a", (Access.USER, Face.V1, ["/things", "/things/{thing_id}", "/things/{thing_id}:view"]),
                (Access.PUBLIC, Face.V1, ["/things/special"]))
    b = service("b", (Access.USER, Face.ENTE, ["/things/mine/{n}", "/other"]))
    table = RouteTable.of({"a": a, "b": b}, dataplane=False)
    assert table.entries == [
        Entry("/other", Match.EXACT, "b"), Entry("/things", Match.EXACT, "a"),
        Entry("/things/special", Match.EXACT, "a"),
        Entry("/things/mine/", Match.PREFIX, "b"), Entry("/things/", Match.PREFIX, "a"),
    ]
    assert table.owner_of("/things/1:view") == "a"
    assert table.owner_of("/things/mine/2") == "b"
    assert table.owner_of("/thingsX") is None


def test_longest_prefix_and_exact_paths_win() -> None:
    a = service("a", (Access.USER, Face.V1, ["/files/{file_id}"]))
    b = service("b", (Access.USER, Face.ENTE, ["/files/download/{file_id}", "/files/upload-urls"]))
    table = RouteTable.of({"a": a, "b": b})
    assert table.owner_of("/files/1") == "a"
    assert table.owner_of("/files/download/1") == "b"
    assert table.owner_of("/files/upload-urls") == "b"
    assert table.owner_of("/files") is None, "nothing serves /files itself"
    assert table.owner_of("/_storage/primary/key") == routing.DATAPLANE


def test_two_owners_of_one_path_or_prefix_fail_the_build() -> None:
    a = service("a", (Access.USER, Face.V1, ["/files", "/x/{x}"]))
    with pytest.raises(RouteConflict, match="'/files'"):
        RouteTable.of({"a": a, "b": service("b", (Access.ADMIN, Face.V1, ["/files"]))})
    with pytest.raises(RouteConflict, match="'/x/'"):
        RouteTable.of({"a": a, "b": service("b", (Access.USER, Face.V1, ["/x/{y}/z"]))})
    with pytest.raises(RouteConflict, match="_storage"):
        RouteTable.of({"a": service("a", (Access.USER, Face.V1, ["/_storage/{bucket}"]))})


def test_internal_routes_are_never_in_the_public_table() -> None:
    a = service("a", (Access.INTERNAL, Face.INTERNAL, ["/internal/a/things/{thing_id}", "/internal/a/things"]),
                (Access.USER, Face.V1, ["/things"]))
    table = RouteTable.of({"a": a}, dataplane=False)
    assert table.entries == [Entry("/things", Match.EXACT, "a")]
    assert table.owner_of("/internal/a/things") is None


@pytest.mark.parametrize("path", ["/{anything}", "/i{x}", "/internal{x}", "/services/{name}", "/healthz"])
def test_a_public_route_that_would_reach_internal_or_shadow_the_port_fails_the_build(path: str) -> None:
    with pytest.raises(RouteConflict):
        RouteTable.of({"a": service("a", (Access.PUBLIC, Face.V1, [path]))})
