"""Which service owns which path: derived from the routes the services declare, used alike by the all-in-one
process and the generated gateway configuration.

Nobody keeps this table by hand. Each service mounts its routers with a face and an access
(`shoebox_lib.web.access.Mount`); `RouteTable.of(services)` reads every declared route back
(`ServiceApp.routes()`) and makes of it:

- an EXACT entry for each path without parameters (`/files/upload-urls` → uploads), and
- a PREFIX entry for the static part of each parameterised path (`/files/download/{file_id}` gives
  `/files/download/` → metadata), the longest matching prefix winning;

an exact entry goes before any prefix. Internal routes (`Access.INTERNAL`, under `/internal/`) are never in
it: from outside they are nobody's. The filesystem storage driver's data plane (`/_storage/`) is no service
and has no declared routes, so it is the one entry written here. Two services claiming one path or one
prefix, or a public entry that would reach `/internal/`, fail the build of the table, so they fail the
gateway's generation and every system test, not a request in production.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache

from shoebox.services import SERVICES as SERVICES  # re-exported: the table and its owners go together
from shoebox.services import build_all
from shoebox_lib.internal import INTERNAL_PREFIX
from shoebox_lib.settings import Settings
from shoebox_lib.storage.filesystem import URL_PREFIX as STORAGE_URL_PREFIX
from shoebox_lib.web import ServiceApp
from shoebox_lib.web.access import Access, RouteInfo

# The filesystem storage driver's data plane is not a service, but it is routed like one.
DATAPLANE = "dataplane"
DATAPLANE_PREFIX = STORAGE_URL_PREFIX + "/"

# Every service answers these itself; through the one port they are reached as /services/<name>/<path>.
OPS_PATHS = frozenset({"/ping", "/healthz", "/version", "/metrics"})
SERVICE_PREFIX = "/services/"
# What the one port and the gateway answer themselves.
GATEWAY_PATHS = frozenset({"/healthz", "/ping"})


class Match(StrEnum):
    EXACT = "exact"  # a path without parameters: that path and nothing else
    PREFIX = "prefix"  # the static part of a parameterised path: every path that starts with it


@dataclass(frozen=True)
class Entry:
    path: str
    match: Match
    owner: str


class RouteConflict(ValueError):
    """Two owners for one path or prefix, or a public entry that would reach the internal routes or shadow
    what the one port answers itself."""


def is_internal(path: str) -> bool:
    """Whether `path` is in the internal routes' space, which nothing outside a service may reach."""
    return path == INTERNAL_PREFIX or path.startswith(INTERNAL_PREFIX + "/")


def entry_of(route: RouteInfo) -> Entry:
    if "{" in route.path:
        return Entry(route.static_prefix, Match.PREFIX, route.service)
    return Entry(route.path, Match.EXACT, route.service)


class RouteTable:
    """The public routing table: who answers a path from outside (None: nobody, a 404)."""

    def __init__(self, entries: Iterable[Entry]) -> None:
        claimed: dict[tuple[str, Match], str] = {}
        for entry in entries:
            _refuse_reserved(entry)
            other = claimed.setdefault((entry.path, entry.match), entry.owner)
            if other != entry.owner:
                kind = "path" if entry.match is Match.EXACT else "prefix"
                raise RouteConflict(f"{entry.owner} and {other} both claim the {kind} {entry.path!r}")
        self.exact: dict[str, str] = {path: owner for (path, match), owner in claimed.items() if match is Match.EXACT}
        # Longest first, so the first match is the longest; the name only keeps the order stable.
        self.prefixes: list[tuple[str, str]] = sorted(
            ((path, owner) for (path, match), owner in claimed.items() if match is Match.PREFIX),
            key=lambda item: (-len(item[0]), item[0]))

    @classmethod
    def from_routes(cls, routes: Iterable[RouteInfo], *, dataplane: bool = True) -> RouteTable:
        entries = [entry_of(route) for route in routes if route.access is not Access.INTERNAL]
        if dataplane:
            entries.append(Entry(DATAPLANE_PREFIX, Match.PREFIX, DATAPLANE))
        return cls(entries)

    @classmethod
    def of(cls, services: Mapping[str, ServiceApp], *, dataplane: bool = True) -> RouteTable:
        return cls.from_routes((route for service in services.values() for route in service.routes()),
                               dataplane=dataplane)

    @property
    def entries(self) -> list[Entry]:
        """Exact paths (sorted), then prefixes (longest first)."""
        return [*(Entry(path, Match.EXACT, owner) for path, owner in sorted(self.exact.items())),
                *(Entry(path, Match.PREFIX, owner) for path, owner in self.prefixes)]

    @property
    def owners(self) -> set[str]:
        return {*self.exact.values(), *(owner for _, owner in self.prefixes)}

    def owner_of(self, path: str) -> str | None:
        """The service that answers `path` from outside, or None when nobody does."""
        if is_internal(path):
            return None
        owner = self.exact.get(path)
        if owner is not None:
            return owner
        return next((owner for prefix, owner in self.prefixes if path.startswith(prefix)), None)


def _refuse_reserved(entry: Entry) -> None:
    """Refuse an entry that would reach the internal routes from outside, or shadow the one port's own."""
    if is_internal(entry.path) or (entry.match is Match.PREFIX and (INTERNAL_PREFIX + "/").startswith(entry.path)):
        raise RouteConflict(f"{entry.owner}'s public {entry.match} {entry.path!r} would reach {INTERNAL_PREFIX}/: "
                            "internal routes are mounted with Access.INTERNAL and never routed from outside")
    if entry.path in GATEWAY_PATHS or entry.path.startswith(SERVICE_PREFIX) or (
            entry.match is Match.PREFIX and SERVICE_PREFIX.startswith(entry.path)):
        raise RouteConflict(f"{entry.owner}'s {entry.match} {entry.path!r} would shadow the one port's own "
                            f"{', '.join(sorted(GATEWAY_PATHS))} or {SERVICE_PREFIX}<name>/")


@lru_cache
def declared_services() -> Mapping[str, ServiceApp]:
    """The services as this source declares them: their apps built from default settings (which connects
    to nothing and starts nothing), built once per process."""
    # Development mode: building an app must not depend on the shell's production secrets.
    return build_all(Settings(environment="development"))


def declared_routes() -> list[RouteInfo]:
    """Every route every service declares, internal ones included."""
    return [route for service in declared_services().values() for route in service.routes()]


@lru_cache
def declared_table() -> RouteTable:
    """The table of the declared services: what the gateway is generated from."""
    return RouteTable.of(declared_services())


def split_service_path(path: str) -> tuple[str, str] | None:
    """`/services/auth/healthz` → ("auth", "/healthz"). Only the ops paths: every other route has one
    address, its own."""
    if not path.startswith(SERVICE_PREFIX):
        return None
    name, _, rest = path[len(SERVICE_PREFIX):].partition("/")
    if name not in SERVICES or "/" + rest not in OPS_PATHS:
        return None
    return name, "/" + rest
