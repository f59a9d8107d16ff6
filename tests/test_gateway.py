"""The generated nginx gateway routes every path where the table derived from the services' declared routes
says, refuses the internal routes from outside (as the one port does), and the committed copies are fresh.

The nginx tests run the real nginx in front of stub upstreams: the stubs stand in for the services only
to report which one a request reached, what path it arrived with and which headers it carried.
"""

from __future__ import annotations

import functools
import http.client
import json
import os
import queue
import re
import shutil
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from shoebox import gateway, routing
from shoebox.routing import Entry, Match, RouteTable
from shoebox.testing import ADMIN_EMAIL, RunningSystem
from shoebox_lib.contracts import USAGE_PATH, USER_BY_EMAIL_PATH, Usage, UserKey
from shoebox_lib.embedded import free_port
from shoebox_lib.errors import Unauthenticated
from shoebox_lib.internal import SIGNATURE_HEADER, InternalClient
from shoebox_lib.web.access import Access, RouteInfo

ROOT = Path(__file__).resolve().parents[1]
MiB = 1024 * 1024
GATEWAY_OWN = "gateway"  # what the gateway answers itself


def table() -> RouteTable:
    return routing.declared_table()


def declared_routes() -> list[RouteInfo]:
    return routing.declared_routes()


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "1", path)


@functools.cache
def internal_paths() -> tuple[str, ...]:
    """Every internal route, and the ways round to it a raw path could try."""
    paths = sorted({concrete(r.path) for r in declared_routes() if r.access is Access.INTERNAL})
    return (*paths, "/internal", "/internal/", "/internal/nothing", "/%69nternal/metadata/usage/1",
            "/files/download/../../internal/metadata/usage/1", "/files/download/%2e%2e/%2E%2E/internal/x",
            "/files/download/1%2F..%2F..%2F..%2Finternal%2Fx", "/v1/images/./../../internal/x")


# The sample: every entry of the table (an exact path, and what merely continues it; a prefix, and what
# stops short of it), every public route of every service, and the internal ones.


def sample_paths() -> list[str]:
    paths = ["/", "/healthz", "/ping", "/nowhere", "//v1//uploads", "/services/nobody/healthz"]
    for entry in table().entries:
        if entry.match is Match.EXACT:
            paths += [entry.path, f"{entry.path}/x", f"{entry.path}:x", f"{entry.path}X"]
        else:
            paths += [f"{entry.path}x", f"{entry.path}x/y:z", entry.path.rstrip("/"), entry.path.rstrip("/") + "X"]
    paths += sorted({concrete(r.path) for r in declared_routes() if r.access is not Access.INTERNAL})
    paths += internal_paths()
    paths += [f"{routing.SERVICE_PREFIX}{name}{ops}" for name in routing.SERVICES for ops in sorted(routing.OPS_PATHS)]
    return list(dict.fromkeys(paths))


def expected_owner(path: str) -> str | None:
    """Who answers `path` through the gateway: a service, the gateway itself, or nobody (None: 404)."""
    target = routing.split_service_path(path)
    if target is not None:
        return target[0]
    if path in routing.GATEWAY_PATHS:
        return GATEWAY_OWN
    if path in internal_paths():
        return None
    return table().owner_of(path)


# Stub upstreams


@dataclass
class Seen:
    service: str
    path: str
    headers: dict[str, str]


class Stubs:
    """One tiny HTTP server per upstream, each answering with its own name."""

    def __init__(self, names: list[str]) -> None:
        self.started: queue.Queue[Seen] = queue.Queue()  # a request's headers have arrived
        self.servers = {name: self._server(name) for name in names}
        for server in self.servers.values():
            threading.Thread(target=server.serve_forever, daemon=True).start()

    def _server(self, name: str) -> ThreadingHTTPServer:
        stubs = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # nginx keeps upstream connections alive

            def _answer(self) -> None:
                seen = Seen(name, self.path, {k.lower(): v for k, v in self.headers.items()})
                stubs.started.put(seen)
                received = self._drain()
                body = json.dumps({"service": name, "path": self.path, "headers": seen.headers,
                                   "received": received}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("X-Request-ID", "stub-" + name)  # the gateway must hide this one
                self.end_headers()
                self.wfile.write(body)

            def _drain(self) -> int:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    return self._drain_chunked()
                left = int(self.headers.get("Content-Length") or 0)
                total = 0
                while left:
                    chunk = self.rfile.read(min(left, 256 * 1024))
                    if not chunk:
                        break
                    left -= len(chunk)
                    total += len(chunk)
                return total

            def _drain_chunked(self) -> int:
                total = 0
                while size := int(self.rfile.readline().split(b";")[0], 16):
                    total += len(self.rfile.read(size))
                    self.rfile.readline()
                self.rfile.readline()
                return total

            do_GET = do_POST = do_PUT = do_HEAD = do_DELETE = do_PATCH = _answer

            def log_message(self, format: str, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        return server

    def address(self, name: str) -> str:
        return f"127.0.0.1:{self.servers[name].server_address[1]}"

    def close(self) -> None:
        for server in self.servers.values():
            server.shutdown()
            server.server_close()


# nginx


@dataclass
class Gateway:
    port: int
    stubs: Stubs

    def connect(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> tuple[http.client.HTTPResponse, bytes]:
        conn = self.connect()
        try:
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            return response, response.read()
        finally:
            conn.close()


def _wait_until_listening(process: subprocess.Popen[bytes], port: int, log: Path) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"nginx exited with {process.returncode}:\n{log.read_text()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    pytest.fail(f"nginx did not listen on {port}:\n{log.read_text()}")


def _nginx_binary() -> str:
    # Debian puts nginx in /usr/sbin, which is not on an ordinary user's PATH.
    found = shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(p, os.X_OK)), None)
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("CI must run the gateway test: nginx is missing")
        pytest.skip("nginx is not installed; .ci/run installs it")
    return found


@contextmanager
def running_gateway(workdir: Path, *, behind_proxy: bool = False) -> Iterator[Gateway]:
    """nginx with the generated configuration, in front of one stub per upstream."""
    nginx = _nginx_binary()
    stubs = Stubs([*routing.SERVICES, routing.DATAPLANE])
    port = free_port()
    upstreams = {name: stubs.address(name) for name in stubs.servers}
    conf = workdir / "nginx.conf"
    conf.write_text(gateway.nginx_config(upstreams, port, runtime_dir=str(workdir), behind_proxy=behind_proxy))
    log = workdir / "nginx.log"
    # As root the workers would otherwise run as nobody, who may not enter the private temp dir.
    directives = "daemon off;" + (" user root;" if os.geteuid() == 0 else "")
    with log.open("wb") as out:
        process = subprocess.Popen([nginx, "-c", str(conf), "-p", str(workdir), "-e", "stderr", "-g", directives],
                                   stdout=subprocess.DEVNULL, stderr=out)
    try:
        _wait_until_listening(process, port, log)
        yield Gateway(port, stubs)
    finally:
        process.terminate()
        process.wait(timeout=15)
        stubs.close()


@pytest.fixture(scope="module")
def nginx_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    with running_gateway(tmp_path_factory.mktemp("nginx")) as running:
        yield running


# (a) routing through the real nginx


@pytest.mark.parametrize("path", sample_paths())
def test_nginx_routes_like_routing(nginx_gateway: Gateway, path: str) -> None:
    response, body = nginx_gateway.request("GET", path)
    owner = expected_owner(path)
    if owner is None:
        assert response.status == 404, body
        assert json.loads(body)["error"] == "NOT_FOUND"
        return
    assert response.status == 200, body
    answer = json.loads(body)
    assert answer["service"] == owner
    target = routing.split_service_path(path)
    if target is not None:
        assert answer["path"] == target[1], "the /services/<name> prefix is stripped"
    elif owner != GATEWAY_OWN:
        assert answer["path"] == path, "route paths reach the service unchanged"


def test_nginx_passes_raw_paths_and_query_strings(nginx_gateway: Gateway) -> None:
    for path in ("/v1/uploads:resumable?uploadType=multipart&x=%2F", "/_storage/primary/a%20b/c%3Ad?X-Sig=1"):
        response, body = nginx_gateway.request("GET", path)
        assert response.status == 200
        assert json.loads(body)["path"] == path


def test_nginx_request_id_and_forwarded_headers(nginx_gateway: Gateway) -> None:
    response, body = nginx_gateway.request("GET", "/users/me", headers={"X-Request-ID": "client-id.1:2"})
    seen = json.loads(body)["headers"]
    assert seen["x-request-id"] == "client-id.1:2"
    assert response.headers.get_all("X-Request-ID") == ["client-id.1:2"], "exactly one, the caller's"
    assert seen["host"] == f"127.0.0.1:{nginx_gateway.port}"
    assert seen["x-forwarded-for"] == "127.0.0.1"
    assert seen["x-forwarded-proto"] == "http"

    # At the edge a client cannot claim another scheme or host.
    _, body = nginx_gateway.request("GET", "/users/me", headers={"X-Forwarded-Proto": "https",
                                                                "X-Forwarded-Host": "evil.example"})
    seen = json.loads(body)["headers"]
    assert (seen["x-forwarded-proto"], seen["x-forwarded-host"]) == ("http", f"127.0.0.1:{nginx_gateway.port}")

    for given in ({}, {"X-Request-ID": "not a sane id"}):
        response, body = nginx_gateway.request("GET", "/users/me", headers=given)
        generated = json.loads(body)["headers"]["x-request-id"]
        assert re.fullmatch(r"[0-9a-f]{32}", generated)
        assert response.headers.get_all("X-Request-ID") == [generated]

    response, _ = nginx_gateway.request("GET", "/nowhere", headers={"X-Request-ID": "on-a-404"})
    assert response.headers["X-Request-ID"] == "on-a-404", "the gateway's own answers carry it too"


def test_nginx_behind_a_proxy_passes_on_its_scheme_and_host(tmp_path: Path) -> None:
    """The Kubernetes flavour: an Ingress terminates TLS in front of the gateway."""
    with running_gateway(tmp_path, behind_proxy=True) as behind:
        _, body = behind.request("GET", "/users/me", headers={"X-Forwarded-Proto": "https",
                                                             "X-Forwarded-Host": "shoebox.example.com",
                                                             "X-Forwarded-For": "203.0.113.7"})
        seen = json.loads(body)["headers"]
        assert seen["x-forwarded-proto"] == "https"
        assert seen["x-forwarded-host"] == "shoebox.example.com"
        assert seen["x-forwarded-for"] == "203.0.113.7, 127.0.0.1"
        _, body = behind.request("GET", "/users/me")
        assert json.loads(body)["headers"]["x-forwarded-proto"] == "http"


@pytest.mark.parametrize("path", ["/v1/images", "/files/upload-urls", "/users/me"])
def test_nginx_limits_json_bodies(nginx_gateway: Gateway, path: str) -> None:
    # Headers only: nginx refuses on the declared length, before any of the body is sent.
    conn = nginx_gateway.connect()
    try:
        conn.putrequest("POST", path)
        conn.putheader("Content-Length", str(17 * MiB))
        conn.endheaders()
        response = conn.getresponse()
        assert response.status == 413
        assert json.loads(response.read())["error"] == "PAYLOAD_TOO_LARGE"
    finally:
        conn.close()


@pytest.mark.parametrize(("method", "path"), [("PUT", "/_storage/primary/big"), ("POST", "/entities"),
                                             ("PUT", "/entities/10001"), ("POST", "/entity/"),
                                             ("POST", "/jobs/media_thumbnail"),
                                             ("POST", "/compute/jobs/media_thumbnail")])
def test_nginx_streams_unlimited_bodies(nginx_gateway: Gateway, method: str, path: str) -> None:
    """Large bodies pass, and the service sees the request before the client has finished sending it."""
    size, first = 20 * MiB, 256 * 1024
    body = os.urandom(size)
    target = f"{path}?probe={uuid.uuid4().hex}"  # tells this request from the earlier ones
    conn = nginx_gateway.connect()
    try:
        conn.putrequest(method, target)
        conn.putheader("Content-Length", str(size))
        conn.endheaders(body[:first])
        seen = _wait_for_start(nginx_gateway.stubs, target)
        assert seen.service == table().owner_of(path)
        conn.send(body[first:])
        response = conn.getresponse()
        assert response.status == 200
        assert json.loads(response.read())["received"] == size
    finally:
        conn.close()


def _wait_for_start(stubs: Stubs, path: str) -> Seen:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            seen = stubs.started.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            break
        if seen.path == path:
            return seen
    pytest.fail(f"{path} did not reach its service until the whole body was sent: the gateway buffers")


# (d) from outside, the internal routes are nobody's: not through nginx, not through the one port; a
# service itself takes them only signed


def test_nginx_refuses_the_internal_routes(nginx_gateway: Gateway) -> None:
    assert any(r.access is Access.INTERNAL for r in declared_routes()), "the services declare internal routes"
    for path in internal_paths():
        for method in ("GET", "POST"):
            response, body = nginx_gateway.request(method, path)
            assert response.status == 404, f"{method} {path}: {response.status} {body!r}"
            assert json.loads(body)["error"] == "NOT_FOUND"


async def test_the_one_port_refuses_the_internal_routes(api: RunningSystem) -> None:
    for path in internal_paths():
        for method in ("GET", "POST"):
            response = await api.client.request(method, path)
            assert response.status_code == 404, f"{method} {path}: {response.status_code} {response.text}"
    # So the services' calls to each other cannot go through it: in the one process they go straight to
    # the other app (and every test that uploads shows they arrive).
    for name, service in api.services.items():
        assert service.runtime is not None
        assert service.runtime.in_process == {n: s.app for n, s in api.services.items()}, name


async def test_a_service_takes_its_internal_routes_only_signed(api: RunningSystem) -> None:
    def direct(service: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=api.services[service].app),
                                 base_url=f"http://{service}")

    forged = {SIGNATURE_HEADER: f"uploads:{int(time.time())}:{'0' * 64}"}
    checked = 0
    for route in declared_routes():
        if route.access is not Access.INTERNAL:
            continue
        async with direct(route.service) as client:
            for headers in ({}, forged):
                response = await client.request(route.method, concrete(route.path), headers=headers)
                assert response.status_code == 401, f"{route.method} {route.path} with {headers}: {response.text}"
        checked += 1
    assert checked >= 2

    async with direct("auth") as to_auth, direct("metadata") as to_metadata:
        user = await InternalClient("metadata", "auth", to_auth, api.settings.secret_key).call(
            "GET", USER_BY_EMAIL_PATH, UserKey, params={"email": ADMIN_EMAIL})
        assert user.email == ADMIN_EMAIL
        usage = await InternalClient("uploads", "metadata", to_metadata, api.settings.secret_key).call(
            "GET", USAGE_PATH.format(owner_id=user.user_id), Usage)
        assert usage.owner_id == user.user_id
        wrong_secret = InternalClient("uploads", "metadata", to_metadata, "not-the-installation-secret")
        with pytest.raises(Unauthenticated):
            await wrong_secret.call("GET", USAGE_PATH.format(owner_id=user.user_id), Usage)


# (b) the committed files are what the generator writes now


def test_committed_nginx_conf_is_fresh() -> None:
    committed = (ROOT / gateway.NGINX_CONF).read_text()
    assert committed == gateway.nginx_config(gateway.COMPOSE_UPSTREAMS), (
        "deploy/nginx/nginx.conf is stale: run `python -m shoebox.gateway --write` and commit it")


def test_committed_k8s_gateway_is_fresh() -> None:
    committed = (ROOT / gateway.K8S_GATEWAY).read_text()
    assert committed == gateway.k8s_gateway_manifest(), (
        "deploy/k8s/50-gateway.yaml is stale: run `python -m shoebox.gateway --write` and commit it")
    config_map = next(yaml.safe_load_all(committed))
    assert config_map["data"]["nginx.conf"] == gateway.nginx_config(gateway.K8S_UPSTREAMS, behind_proxy=True)


# (c) every entry is in the config, and nginx's choice among its locations agrees with the table


def _route_locations(conf: str) -> list[tuple[Match, str, str]]:
    found = re.findall(r'location (=|\^~) "([^"]+)" \{\s*proxy_pass http://shoebox_(\w+);', conf)
    return [(Match.EXACT if kind == "=" else Match.PREFIX, path, service) for kind, path, service in found]


def _nginx_choice(locations: list[tuple[Match, str, str]], path: str) -> str | None:
    """What nginx does: an exact location first, else the longest prefix location."""
    exact = [service for match, where, service in locations if match is Match.EXACT and where == path]
    if exact:
        return exact[0]
    prefixes = [(where, service) for match, where, service in locations if match is Match.PREFIX
                and path.startswith(where)]
    return max(prefixes, key=lambda item: len(item[0]))[1] if prefixes else None


def test_every_route_entry_is_in_the_config() -> None:
    conf = gateway.nginx_config({**gateway.COMPOSE_UPSTREAMS, routing.DATAPLANE: "dataplane:8000"})
    for entry in table().entries:
        assert f"{gateway.location_of(entry)} {{" in conf, entry
    stems = {(Match.EXACT, stem, owner) for stem, owner in gateway.prefix_stems(table()) if owner is not None}
    assert set(_route_locations(conf)) == {(e.match, e.path, e.owner) for e in table().entries} | stems


def test_config_locations_agree_with_owner_of() -> None:
    # The same check as the nginx test, in Python, so it runs where nginx is not installed (paths that
    # only nginx's normalisation decides are left to that test).
    conf = gateway.nginx_config({**gateway.COMPOSE_UPSTREAMS, routing.DATAPLANE: "dataplane:8000"})
    locations = _route_locations(conf)
    for path in sample_paths():
        if routing.split_service_path(path) is not None or path in routing.GATEWAY_PATHS or "%" in path or "." in path:
            continue
        assert _nginx_choice(locations, path) == table().owner_of(path), path


def test_unlimited_bodies_only_where_bytes_pass() -> None:
    assert gateway.UNLIMITED_BODY.issubset({entry.path for entry in table().entries}), (
        "a path left the table; drop it from UNLIMITED_BODY")
    conf = gateway.nginx_config({**gateway.COMPOSE_UPSTREAMS, routing.DATAPLANE: "dataplane:8000"})
    unlimited = [entry for entry in table().entries if entry.path in gateway.UNLIMITED_BODY]
    assert conf.count("client_max_body_size 0;") == len(unlimited)


def test_without_a_dataplane_its_paths_are_not_routed() -> None:
    conf = gateway.nginx_config(gateway.COMPOSE_UPSTREAMS)
    assert "shoebox_dataplane" not in conf
    assert {service for _, _, service in _route_locations(conf)} == table().owners - {routing.DATAPLANE}
    assert "proxy_pass http://shoebox_dataplane" in gateway.nginx_config(
        {**gateway.COMPOSE_UPSTREAMS, routing.DATAPLANE: "dataplane:8000"})


def test_generator_refuses_what_it_cannot_express() -> None:
    with pytest.raises(ValueError, match="characters"):
        gateway.location_of(Entry('/a"b', Match.EXACT, "auth"))
    with pytest.raises(ValueError, match="missing upstreams"):
        gateway.nginx_config({"auth": "auth:8000"})
    with pytest.raises(ValueError, match="host:port"):
        gateway.nginx_config({**gateway.COMPOSE_UPSTREAMS, "auth": "auth:8000; evil"})


# The deployment files around the gateway agree with it


def test_compose_runs_every_service_behind_the_gateway() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    for name, address in gateway.COMPOSE_UPSTREAMS.items():
        host, port = address.split(":")
        assert host == name
        assert services[name]["command"] == ["serve", name, "--port", port]
        assert "healthz" in " ".join(services[name]["healthcheck"]["test"])
    mounts = " ".join(services["gateway"]["volumes"])
    assert f"./{gateway.NGINX_CONF}:/etc/nginx/nginx.conf" in mounts


def test_k8s_manifests_parse_and_name_every_service() -> None:
    kinds: dict[tuple[str, str], dict[str, Any]] = {}
    for path in sorted((ROOT / "deploy/k8s").glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            assert doc["metadata"].get("namespace", "shoebox") == "shoebox", path
            kinds[(doc["kind"], doc["metadata"]["name"])] = doc
    for name in routing.SERVICES:
        assert ("Deployment", name) in kinds
        assert ("Service", name) in kinds
    assert kinds[("StatefulSet", "nats")]["spec"]["replicas"] == 3
