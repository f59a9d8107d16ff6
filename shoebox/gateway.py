"""The nginx gateway, generated from the table `routing` derives from the services' declared routes, so
that it and the all-in-one process route alike.

`python -m shoebox.gateway` prints the configuration for docker-compose's service names;
`python -m shoebox.gateway --write` rewrites the committed `deploy/nginx/nginx.conf` and
`deploy/k8s/50-gateway.yaml` (a test fails while either is stale).
"""

from __future__ import annotations

import argparse
import hashlib
import re
from collections.abc import Iterable
from pathlib import Path

from shoebox import routing
from shoebox.routing import Entry, Match, RouteTable
from shoebox_lib.internal import INTERNAL_PREFIX

LISTEN = 8080
SERVICE_PORT = 8000
COMPOSE_UPSTREAMS: dict[str, str] = {name: f"{name}:{SERVICE_PORT}" for name in routing.SERVICES}
# Kubernetes Services carry the same names in the shoebox namespace (resolved through the pod's DNS
# search path, so the namespace can be renamed).
K8S_UPSTREAMS = COMPOSE_UPSTREAMS

NGINX_CONF = Path("deploy/nginx/nginx.conf")
K8S_GATEWAY = Path("deploy/k8s/50-gateway.yaml")
NGINX_IMAGE = "nginx:1.27-alpine"

# Bytes pass through these routes by design (the data plane; CL's uploads through the API, `POST
# /entities` and `PUT /entities/{id}`, and seed 002's `/entity/` alias of them; CL's job submissions with
# their files, `POST /jobs/{task_type}` and seed 004's `/compute/jobs/{task_type}`, whose prefix also holds
# the jobs' file downloads), so they take bodies of any size (the services keep their own limits);
# elsewhere bodies are JSON.
UNLIMITED_BODY = frozenset({routing.DATAPLANE_PREFIX, "/entities", "/entities/", "/entity/", "/jobs/",
                            "/compute/jobs/"})
BODY_LIMIT = "16m"

# What the services accept as a caller's request id (shoebox_lib.web.request_id): the gateway passes
# on exactly what they would keep, so the id it logs and echoes is the one in their logs and bodies.
_SANE_REQUEST_ID = "^[A-Za-z0-9._:-]{1,128}$"
_UPSTREAM = re.compile(r"^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:]+\]):[0-9]{1,5}$")
_PLAIN_PATH = re.compile(r"^/[A-Za-z0-9/._-]*$")
_ROUTE_PATH = re.compile(r"^/[A-Za-z0-9/._:-]*$")
# nginx picks a location by the normalised path (dot segments resolved, escapes decoded) but passes the
# raw one on, so a raw path with dot segments (`/files/download/../../internal/...`) could reach a route
# other than the one chosen. Clients never send them; they get the 404.
_DOT_SEGMENT = r"^[^?]*(?:/|%2[Ff])(?:\.|%2[Ee]){1,2}(?:/|%2[Ff]|\?|$)"


def _upstream_name(service: str) -> str:
    return f"shoebox_{service}"


def location_of(entry: Entry) -> str:
    """The nginx location that matches what `entry` owns: `=` for an exact path, `^~` for a prefix (nginx
    takes an exact location first, then the longest prefix: the table's own rule)."""
    if not _ROUTE_PATH.match(entry.path):
        # Anything else could break out of the quoted nginx string; refuse rather than generate a gateway
        # that routes differently.
        raise ValueError(f"route path {entry.path!r} has characters the gateway generator does not handle")
    return f'location {"=" if entry.match is Match.EXACT else "^~"} "{entry.path}"'


def _check_upstreams(upstreams: dict[str, str]) -> None:
    known = {*routing.SERVICES, routing.DATAPLANE}
    unknown = set(upstreams) - known
    if unknown:
        raise ValueError(f"unknown upstreams {sorted(unknown)}; known: {sorted(known)}")
    missing = set(routing.SERVICES) - set(upstreams)
    if missing:
        raise ValueError(f"the gateway fronts every service; missing upstreams {sorted(missing)}")
    for name, address in upstreams.items():
        if not _UPSTREAM.match(address):
            raise ValueError(f"upstream {name}={address!r} is not host:port")


def _indent(lines: Iterable[str], depth: int) -> list[str]:
    pad = "    " * depth
    return [pad + line if line else "" for line in lines]


def _upstream_blocks(upstreams: dict[str, str]) -> list[str]:
    lines: list[str] = []
    for name in [*routing.SERVICES, routing.DATAPLANE]:
        if name not in upstreams:
            continue
        lines += [
            f"upstream {_upstream_name(name)} {{",
            f"    server {upstreams[name]};",
            "    keepalive 16;",
            "}",
            "",
        ]
    return lines


def _route_location(entry: Entry) -> list[str]:
    body = [f"proxy_pass http://{_upstream_name(entry.owner)};"]
    if entry.path in UNLIMITED_BODY:
        body += [
            "client_max_body_size 0;",
            # Downloads stream too, instead of spilling large bodies to the gateway's disk.
            "proxy_buffering off;",
            # The service answers after the last byte has gone on to storage.
            "proxy_read_timeout 300s;",
        ]
    return [f"{location_of(entry)} {{", *_indent(body, 1), "}"]


def prefix_stems(table: RouteTable) -> list[tuple[str, str | None]]:
    """Each `/`-ended prefix without its slash, and who owns that path by the table (usually nobody).

    nginx answers such a path with a 301 to the prefix location unless an exact location says otherwise,
    so each gets one: the table's answer, not nginx's redirect.
    """
    stems = {entry.path[:-1] for entry in table.entries
             if entry.match is Match.PREFIX and entry.path.endswith("/") and len(entry.path) > 1}
    return [(stem, table.owner_of(stem)) for stem in sorted(stems - set(table.exact))]


def _route_locations(table: RouteTable, upstreams: dict[str, str]) -> list[str]:
    lines: list[str] = []
    for entry in table.entries:
        if entry.owner not in upstreams:
            # Only the data plane can be absent (S3 deployments have none): its paths get the 404.
            lines.append(f"# {entry.path} -> {entry.owner}: no upstream given, answered by the 404 below")
            continue
        lines += _route_location(entry)
    lines.append("# A prefix without its slash is not the prefix's (nginx would redirect it there).")
    for stem, owner in prefix_stems(table):
        if owner is not None and owner in upstreams:
            lines += _route_location(Entry(stem, Match.EXACT, owner))
        else:
            lines.append(f"{location_of(Entry(stem, Match.EXACT, owner or '-'))} {{ return 404; }}")
    return lines


def _service_locations(upstreams: dict[str, str]) -> list[str]:
    lines: list[str] = [
        "# /services/<name>/<ops path> reaches one service's own /ping, /healthz (its readiness: database,",
        "# bus, storage), /version and /metrics; nothing else, so every route keeps one address.",
    ]
    for name in routing.SERVICES:
        for path in sorted(routing.OPS_PATHS):
            lines += [
                f"location = {routing.SERVICE_PREFIX}{name}{path} {{",
                f"    proxy_pass http://{_upstream_name(name)}{path};",
                "}",
            ]
    return lines


def _json_return(status: int, body: str) -> list[str]:
    return ["default_type application/json;", f"return {status} '{body}';"]


_NOT_FOUND = '{"error":"NOT_FOUND","message":"No route for this path"}'


def _gateway_locations() -> list[str]:
    return [
        "# The gateway's own liveness. nginx cannot aggregate the services' readiness into one answer;",
        "# that is /services/<name>/healthz, one per service.",
        "location = /healthz {",
        *_indent(_json_return(200, '{"status":"ok","service":"gateway"}'), 1),
        "}",
        "location = /ping {",
        *_indent(_json_return(200, '{"status":"ok","service":"gateway"}'), 1),
        "}",
        "",
        "# No route owns the path: the same answer the all-in-one process gives.",
        "location / {",
        *_indent(_json_return(404, _NOT_FOUND), 1),
        "}",
        "# Internal routes are for the services only, which reach each other directly: from outside,",
        f"# {INTERNAL_PREFIX}/ is nobody's.",
        f'location = "{INTERNAL_PREFIX}" {{ return 404; }}',
        f'location ^~ "{INTERNAL_PREFIX}/" {{ return 404; }}',
        "# nginx's own 404s (`return 404;`) in the same shape.",
        "location @not_found {",
        *_indent(_json_return(404, _NOT_FOUND), 1),
        "}",
        "",
        "location @too_large {",
        *_indent(_json_return(413, f'{{"error":"PAYLOAD_TOO_LARGE","message":"Request bodies here are '
                                   f'limited to {BODY_LIMIT}"}}'), 1),
        "}",
        "location @unavailable {",
        *_indent(_json_return(502, '{"error":"UNAVAILABLE","message":"The service is not answering"}'), 1),
        "}",
    ]


def _server_block(table: RouteTable, upstreams: dict[str, str], listen: int, behind_proxy: bool) -> list[str]:
    proto, host = ("$shoebox_forwarded_proto", "$shoebox_forwarded_host") if behind_proxy else ("$scheme", "$http_host")
    settings = [
        f"listen {listen};",
        "",
        # Decide on the path exactly as the service will see it (the all-in-one process does not
        # merge slashes either), so both agree on who owns `//v1//uploads`: nobody.
        "merge_slashes off;",
        f"client_max_body_size {BODY_LIMIT};",
        # Stream request bodies to the service as they arrive; never hold a whole upload here.
        "proxy_request_buffering off;",
        "proxy_http_version 1.1;",
        # An empty Connection lets upstream connections be kept alive.
        'proxy_set_header Connection "";',
        "proxy_set_header Host $http_host;",
        "proxy_set_header X-Request-ID $shoebox_request_id;",
        "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
        f"proxy_set_header X-Forwarded-Proto {proto};",
        f"proxy_set_header X-Forwarded-Host {host};",
        # The services echo the id; hide theirs and add ours so every answer, the gateway's own
        # 404/413/502 included, carries exactly one.
        "proxy_hide_header X-Request-ID;",
        "add_header X-Request-ID $shoebox_request_id always;",
        "error_page 404 @not_found;",
        "error_page 413 @too_large;",
        "error_page 502 504 @unavailable;",
        "# nginx picks a location by the normalised path but passes the raw one on: with dot segments in",
        "# it, a route other than the one chosen (an internal one) could be reached. Clients send none.",
        "if ($shoebox_dot_segments) {",
        "    return 404;",
        "}",
        "",
        *_gateway_locations(),
        "",
        *_service_locations(upstreams),
        "",
        "# One location per entry of the table derived from the services' declared routes: an exact",
        "# location per path without parameters, a prefix location per parameterised path's static part.",
        *_route_locations(table, upstreams),
    ]
    return ["server {", *_indent(settings, 1), "}"]


def _forwarded_maps() -> list[str]:
    # Behind a load balancer or Ingress that terminates TLS, pass on the scheme and host the client
    # used rather than this hop's. Only trusted behind a proxy: at the edge a client could claim any.
    return [
        "map $http_x_forwarded_proto $shoebox_forwarded_proto {",
        '    "" $scheme;',
        "    default $http_x_forwarded_proto;",
        "}",
        "map $http_x_forwarded_host $shoebox_forwarded_host {",
        '    "" $http_host;',
        "    default $http_x_forwarded_host;",
        "}",
        "",
    ]


def _http_block(table: RouteTable, upstreams: dict[str, str], listen: int, runtime_dir: str,
                behind_proxy: bool) -> list[str]:
    settings = [
        "default_type application/octet-stream;",
        "server_tokens off;",
        "sendfile on;",
        "tcp_nodelay on;",
        "keepalive_timeout 65s;",
        "",
        # Nothing under /var: the same file runs in the nginx image, read-only root or not, and in a test.
        f"client_body_temp_path {runtime_dir}/nginx-client-body;",
        f"proxy_temp_path {runtime_dir}/nginx-proxy;",
        f"fastcgi_temp_path {runtime_dir}/nginx-fastcgi;",
        f"uwsgi_temp_path {runtime_dir}/nginx-uwsgi;",
        f"scgi_temp_path {runtime_dir}/nginx-scgi;",
        "",
        "# The caller's X-Request-ID when the services would accept it, else a new one.",
        "map $http_x_request_id $shoebox_request_id {",
        f'    "~{_SANE_REQUEST_ID}" $http_x_request_id;',
        "    default $request_id;",
        "}",
        "",
        "map $request_uri $shoebox_dot_segments {",
        f'    "~{_DOT_SEGMENT}" 1;',
        "    default 0;",
        "}",
        "",
        "log_format shoebox_json escape=json",
        "    '{\"time\":\"$time_iso8601\",\"service\":\"gateway\",\"request_id\":\"$shoebox_request_id\",'",
        "    '\"remote\":\"$remote_addr\",\"method\":\"$request_method\",\"path\":\"$uri\",'",
        "    '\"status\":$status,\"bytes_in\":$request_length,\"bytes_out\":$bytes_sent,'",
        "    '\"seconds\":$request_time,\"upstream\":\"$upstream_addr\"}';",
        "access_log /dev/stdout shoebox_json;",
        "",
        *(_forwarded_maps() if behind_proxy else []),
        *_upstream_blocks(upstreams),
        *_server_block(table, upstreams, listen, behind_proxy),
    ]
    return ["http {", *_indent(settings, 1), "}"]


def nginx_config(upstreams: dict[str, str], listen: int = LISTEN, *, runtime_dir: str = "/tmp",
                 behind_proxy: bool = False, table: RouteTable | None = None) -> str:
    """A complete nginx.conf (runnable with `nginx -c`) routing like `table.owner_of`.

    `upstreams` maps every service (and optionally the data plane) to its host:port; the pid file and
    temporary files go to `runtime_dir`. `behind_proxy` passes on the X-Forwarded-Proto and -Host of
    a proxy in front (a Kubernetes Ingress) instead of this hop's own. `table` defaults to the one
    derived from the services' declared routes.
    """
    table = table or routing.declared_table()
    _check_upstreams(upstreams)
    if not _PLAIN_PATH.match(runtime_dir):
        raise ValueError(f"runtime_dir {runtime_dir!r} must be an absolute path without spaces or quotes")
    lines = [
        "# Generated by `python -m shoebox.gateway` from the services' declared routes (shoebox/routing.py).",
        "# Do not edit by hand.",
        # `auto` would count the host's CPUs, not the container's share; streaming is I/O-bound anyway.
        "worker_processes 2;",
        f"pid {runtime_dir}/nginx.pid;",
        "error_log stderr warn;",
        "",
        "events {",
        "    worker_connections 4096;",
        "}",
        "",
        *_http_block(table, upstreams, listen, runtime_dir, behind_proxy),
    ]
    return "\n".join(lines) + "\n"


def _yaml_literal(text: str, depth: int) -> list[str]:
    pad = "  " * depth
    return [pad + line if line else "" for line in text.splitlines()]


def k8s_gateway_manifest(upstreams: dict[str, str] | None = None) -> str:
    """The gateway for Kubernetes: the same nginx.conf in a ConfigMap, a Deployment and a Service.

    The Ingress sends every path here rather than to the services: an Ingress `Prefix` path matches
    whole path segments only, so it cannot say that `/v1/uploads` owns `/v1/uploads:resumable`, and
    regex paths differ from one Ingress controller to the next.
    """
    conf = nginx_config(upstreams or K8S_UPSTREAMS, behind_proxy=True)
    digest = hashlib.sha256(conf.encode()).hexdigest()[:16]
    manifest = f"""\
# Generated by `python -m shoebox.gateway --write` from the services' declared routes. Do not edit by hand.
apiVersion: v1
kind: ConfigMap
metadata:
  name: gateway-nginx
  namespace: shoebox
  labels: {{app.kubernetes.io/name: gateway, app.kubernetes.io/part-of: shoebox}}
data:
  nginx.conf: |
{{conf}}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: gateway
  namespace: shoebox
  labels: {{app.kubernetes.io/name: gateway, app.kubernetes.io/part-of: shoebox}}
spec:
  replicas: 2
  selector:
    matchLabels: {{app.kubernetes.io/name: gateway}}
  template:
    metadata:
      labels: {{app.kubernetes.io/name: gateway, app.kubernetes.io/part-of: shoebox}}
      annotations:
        # A subPath mount never sees ConfigMap updates; a new digest rolls the pods instead.
        shoebox/nginx-conf-sha256: "{digest}"
    spec:
      containers:
        - name: nginx
          image: {NGINX_IMAGE}
          ports:
            - {{name: http, containerPort: {LISTEN}}}
          readinessProbe:
            httpGet: {{path: /healthz, port: http}}
            periodSeconds: 5
          livenessProbe:
            httpGet: {{path: /ping, port: http}}
            periodSeconds: 10
          resources:
            requests: {{cpu: 50m, memory: 64Mi}}
            limits: {{memory: 256Mi}}
          volumeMounts:
            - {{name: config, mountPath: /etc/nginx/nginx.conf, subPath: nginx.conf, readOnly: true}}
      volumes:
        - name: config
          configMap: {{name: gateway-nginx}}
---
apiVersion: v1
kind: Service
metadata:
  name: gateway
  namespace: shoebox
  labels: {{app.kubernetes.io/name: gateway, app.kubernetes.io/part-of: shoebox}}
spec:
  selector: {{app.kubernetes.io/name: gateway}}
  ports:
    - {{name: http, port: {LISTEN}, targetPort: http}}
"""
    return manifest.replace("{conf}", "\n".join(_yaml_literal(conf, 2)))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m shoebox.gateway", description=__doc__.splitlines()[0])
    parser.add_argument("--listen", type=int, default=LISTEN)
    parser.add_argument("--dataplane", metavar="HOST:PORT",
                        help="also route /_storage (the filesystem storage driver's data plane) here")
    parser.add_argument("--k8s", action="store_true", help="print the Kubernetes gateway manifest instead")
    parser.add_argument("--write", action="store_true",
                        help=f"rewrite {NGINX_CONF} and {K8S_GATEWAY} below the current directory")
    args = parser.parse_args(argv)
    if args.write:
        NGINX_CONF.write_text(nginx_config(COMPOSE_UPSTREAMS))
        K8S_GATEWAY.write_text(k8s_gateway_manifest())
        print(f"wrote {NGINX_CONF} and {K8S_GATEWAY}")
        return
    if args.k8s:
        print(k8s_gateway_manifest(), end="")
        return
    upstreams = dict(COMPOSE_UPSTREAMS)
    if args.dataplane:
        upstreams[routing.DATAPLANE] = args.dataplane
    print(nginx_config(upstreams, args.listen), end="")


if __name__ == "__main__":
    main()
