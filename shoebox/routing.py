"""Which service owns which path: defined once, used by the all-in-one process and the gateway config.

A prefix matches a path that equals it or continues it at a `/` or `:` (so `/v1/uploads` owns
`/v1/uploads:resumable` but not `/v1/uploadsX`); the longest matching prefix wins.
"""

from __future__ import annotations

SERVICES = ("auth", "metadata", "uploads", "replicator", "compute")

# The filesystem storage driver's data plane is not a service, but it is routed like one.
DATAPLANE = "dataplane"

ROUTES: dict[str, str] = {
    "/.well-known/jwks.json": "auth",
    "/auth": "auth",
    "/users": "auth",
    "/v1/images": "metadata",
    "/v1/albums": "metadata",
    "/v1/search": "metadata",
    "/files": "metadata",
    "/collections": "metadata",
    "/trash": "metadata",
    "/public-collection": "metadata",
    "/public": "metadata",
    "/storage": "metadata",
    "/entities": "metadata",
    "/entity": "metadata",
    "/admin/config": "metadata",
    "/v1/uploads": "uploads",
    "/files/upload-urls": "uploads",
    "/files/upload-url": "uploads",
    "/files/multipart-upload-url": "uploads",
    "/files/multipart-upload-urls": "uploads",
    "/files/multipart-complete": "uploads",
    "/public-collection/upload-urls": "uploads",
    "/public-collection/multipart-upload-urls": "uploads",
    "/s3": "uploads",
    "/replicas": "replicator",
    "/compute": "compute",
    "/admin/compute": "compute",
    "/_storage": DATAPLANE,
}

# Every service answers these itself; through the one port they are reached as /services/<name>/<path>.
OPS_PATHS = frozenset({"/ping", "/healthz", "/version", "/metrics"})
SERVICE_PREFIX = "/services/"

_BY_LENGTH = sorted(ROUTES.items(), key=lambda item: -len(item[0]))


def _continues(path: str, prefix: str) -> bool:
    return path == prefix or (path.startswith(prefix) and path[len(prefix)] in "/:")


def owner_of(path: str) -> str | None:
    """The service that answers `path`, or None when nobody does."""
    for prefix, service in _BY_LENGTH:
        if _continues(path, prefix):
            return service
    return None


def split_service_path(path: str) -> tuple[str, str] | None:
    """`/services/auth/healthz` → ("auth", "/healthz"). Only the ops paths: every other route has one
    address, its own."""
    if not path.startswith(SERVICE_PREFIX):
        return None
    name, _, rest = path[len(SERVICE_PREFIX):].partition("/")
    if name not in SERVICES or "/" + rest not in OPS_PATHS:
        return None
    return name, "/" + rest
