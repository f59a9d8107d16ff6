"""Schemathesis against a running system's public port, as one caller: every phase, a fixed seed, a bounded
number of examples, and a report of every 5xx and every answer that breaks its declared schema, grouped by
route and cause (the server's exception where it logged one).

`st` runs as a child process (the fuzzer and the system then use both cores); the hooks it loads
(`shoebox.testing.schemathesis_hooks`) write what happened to a file read back here, and ask this process
for a fresh token whenever the run has spent one.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import sys
import time
import traceback
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from shoebox.testing import RunningSystem
from shoebox.testing.hostile import HOSTILE_INTEGERS, HOSTILE_OBJECT_KEYS, HOSTILE_TEXT
from shoebox.testing.instances import Unresolvable
from shoebox.testing.openapi import declares_model, openapi_path, operations, public_document
from shoebox.testing.world import Unfillable, World, fill
from shoebox_auth.service import AuthService, Origin
from shoebox_lib.web.request_id import request_id_var

HOOKS_MODULE = "shoebox.testing.schemathesis_hooks"
# What the test process tells the hooks, through the environment of `st`.
LOG_ENV = "SHOEBOX_FUZZ_LOG"
MINT_ENV = "SHOEBOX_FUZZ_MINT"  # host:port that answers each connection with a fresh token of the caller
CALLER_ENV = "SHOEBOX_FUZZ_CALLER_ID"
AIMED_ENV = "SHOEBOX_FUZZ_AIMED"  # a JSON file: per operation, its parameters and body aimed at the caller's own
HOSTILE_MARK = "x-shoebox-hostile"  # the header naming which value a hostile example varies
PHASES = ("examples", "coverage", "fuzzing", "stateful")


class Check(StrEnum):
    """What a finding broke: schemathesis' checks, and a connection that failed."""

    SERVER_ERROR = "not_a_server_error"
    CONFORMANCE = "response_schema_conformance"
    NETWORK = "network_error"


CHECKS = (Check.SERVER_ERROR, Check.CONFORMANCE)  # the ones `st` runs


class Record(StrEnum):
    """The kinds of line the hooks write."""

    CALL = "call"
    FAILURE = "failure"
    ROTATION = "rotation"
    NETWORK_ERROR = "network_error"
    BROKEN_DECLARATION = "broken_declaration"  # an operation whose schemas do not resolve: no hostile examples


@dataclass(frozen=True)
class Budget:
    seed: int = 20240909
    max_examples: int = 5  # per operation and phase; the coverage phase adds its own deterministic cases
    workers: int = 2
    dictionary_probability: float = 0.05  # how often a generated scalar is one of the hostile values
    timeout_seconds: float = 600


@dataclass(frozen=True)
class Caller:
    name: str
    user_id: int


@dataclass(frozen=True)
class Finding:
    check: str
    operation: str
    status: int | None
    title: str
    message: str
    cause: str
    request: dict[str, Any]
    response: str
    hostile: str | None = None
    connection: str | None = None


@dataclass
class FuzzRun:
    caller: Caller
    requests: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    rotations: int = 0
    findings: list[Finding] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    returncode: int | None = None
    output: str = ""
    seconds: float = 0.0
    skipped_conformance: Counter[str] = field(default_factory=Counter)
    broken_declarations: dict[str, str] = field(default_factory=dict)  # operation: why its schemas do not resolve

    @property
    def server_errors(self) -> list[Finding]:
        return [f for f in self.findings if f.check in (Check.SERVER_ERROR, Check.NETWORK)]

    @property
    def tool_errors(self) -> list[dict[str, Any]]:
        """Errors of schemathesis itself (a case it could not generate, a hook that failed), not of the API."""
        return list(self.summary.get("errors") or [])

    @property
    def hook_errors(self) -> list[dict[str, Any]]:
        return [e for e in self.tool_errors if e.get("title") == "Hook Error"]

    @property
    def conformance_failures(self) -> list[Finding]:
        return [f for f in self.findings if f.check == Check.CONFORMANCE]


class ServerErrors(logging.Handler):
    """The exceptions the system logged while answering: the cause of each 500, found by the request's id
    or else by the method and path the log line names."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.by_request: dict[str, str] = {}
        self.by_path: dict[str, list[str]] = defaultdict(list)

    def emit(self, record: logging.LogRecord) -> None:
        if not record.exc_info or record.exc_info[1] is None:
            return
        exc = record.exc_info[1]
        frames = [f for f in traceback.extract_tb(exc.__traceback__) if "site-packages" not in f.filename]
        where = f" at {_short(frames[-1].filename)}:{frames[-1].lineno}" if frames else ""
        cause = f"{type(exc).__name__}{where}: {_generalized(' '.join(str(exc).split())[:160])}"  # one line
        self.by_request[request_id_var.get()] = cause
        named = re.search(r" on ([A-Z]+) (\S+)$", record.getMessage())
        if named:
            causes = self.by_path[f"{named.group(1)} {named.group(2)}"]
            if cause not in causes:
                causes.append(cause)

    def cause_of(self, request_id: str | None, method: str, url: str) -> str | None:
        if request_id and request_id in self.by_request:
            return self.by_request[request_id]
        causes = self.by_path.get(f"{method} {urlsplit(url).path}")
        return " | ".join(causes) if causes else None

    @contextmanager
    def attached(self) -> Iterator[ServerErrors]:
        root = logging.getLogger()
        root.addHandler(self)
        try:
            yield self
        finally:
            root.removeHandler(self)


def _short(filename: str) -> str:
    for marker in ("/services/", "/libs/", "/shoebox/"):
        if marker in filename:
            return marker.strip("/") + "/" + filename.split(marker, 1)[1]
    return filename


Mint = Callable[[], Awaitable[str]]


@asynccontextmanager
async def token_server(mint: Mint) -> AsyncIterator[str]:
    """A local socket that answers each connection with `await mint()`, a fresh token of the caller."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            writer.write((await mint()).encode())
            await writer.drain()
        finally:
            writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.close()
        await server.wait_closed()


def session_mint(system: RunningSystem, user_id: int) -> Mint:
    """Tokens of new sessions of `user_id`, opened by the auth core."""
    auth: AuthService = system.services["auth"].app.state.container.auth

    async def mint() -> str:
        issued = await auth.open_session(await auth.get_user(user_id), Origin())
        return issued.token

    return mint


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a TOML basic string
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    raise TypeError(value)


def config_text(budget: Budget) -> str:
    tables: dict[str, dict[str, Any]] = {
        "": {"seed": budget.seed, "workers": budget.workers, "max-redirects": 0, "request-timeout": 60,
             "max-failures": 100_000,
             # Every case of an operation is sent even after one failed: the report lists them all.
             "continue-on-failure": True,
             # Hypothesis' health checks spend generation time warning about schemas; the run is bounded anyway.
             "suppress-health-check": ["all"]},
        "generation": {"max-examples": budget.max_examples, "no-shrink": True, "database": "none",
                       "allow-x00": True, "deterministic": False},
        # TOML has no integers past 64 bits: schemathesis reads these strings as integers where one is due.
        "dictionaries.hostile-integers": {"values": [str(v) for v in HOSTILE_INTEGERS]},
        "dictionaries.hostile-text": {"values": [*HOSTILE_TEXT, *HOSTILE_OBJECT_KEYS]},
        "generation.dictionaries.integer": {"dictionary": "hostile-integers",
                                            "probability": budget.dictionary_probability},
        "generation.dictionaries.string": {"dictionary": "hostile-text", "probability": budget.dictionary_probability},
        "phases.examples": {"fill-missing": True},
    }
    lines = []
    for table, values in tables.items():
        if table:
            lines.append(f"\n[{table}]")
        lines.extend(f"{key} = {_toml(value)}" for key, value in values.items())
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Files:
    """What one run writes in its directory."""

    schema: Path
    config: Path
    aimed: Path
    log: Path
    report: Path
    output: Path

    @classmethod
    def prepared(cls, workdir: Path, document: dict[str, Any], budget: Budget, aimed: dict[str, Any]) -> Files:
        workdir.mkdir(parents=True, exist_ok=True)
        files = cls(workdir / "openapi.json", workdir / "schemathesis.toml", workdir / "aimed.json",
                    workdir / "calls.ndjson", workdir / "report.json", workdir / "st.log")
        files.schema.write_text(json.dumps(document))
        files.aimed.write_text(json.dumps(aimed))
        files.config.write_text(config_text(budget))
        files.log.write_text("")
        return files

    def read_into(self, run: FuzzRun, causes: ServerErrors, document: dict[str, Any]) -> None:
        run.output = self.output.read_text(errors="replace")
        if self.report.exists():
            run.summary = json.loads(self.report.read_text())
        _read_log(run, self.log, causes, {op.label: declares_model(op) for op in operations(document)})


async def aimed_requests(system: RunningSystem, world: World, document: dict[str, Any]) -> dict[str, Any]:
    """Per operation, its parameters and body filled with the world's resources (whose owner is the
    caller); an operation the world cannot fill is left out here (the authorization matrix fails on it)."""
    services = {(route.method, openapi_path(route.path)): route.service
                for service in system.services.values() for route in service.routes()}
    aimed: dict[str, Any] = {}
    for operation in operations(document):
        try:
            filled = await fill(operation, services[(operation.method, operation.path)], document, world)
        except (Unfillable, Unresolvable):  # the hooks report a broken declaration
            continue
        aimed[operation.label] = {"path_parameters": filled.path_parameters, "query": filled.query,
                                  "body": filled.body}
    return aimed


async def fuzz(system: RunningSystem, caller: Caller, workdir: Path, budget: Budget | None = None,
               world: World | None = None) -> FuzzRun:
    """One run against the system's public port as `caller`; with a `world` whose owner is the caller,
    the examples also aim at its resources."""
    document = public_document(system.services)
    aimed = await aimed_requests(system, world, document) if world is not None else {}
    return await run_schemathesis(document, system.settings.public_url, caller, session_mint(system, caller.user_id),
                                  workdir, budget, aimed)


async def run_schemathesis(document: dict[str, Any], base_url: str, caller: Caller, mint: Mint, workdir: Path,
                           budget: Budget | None = None, aimed: dict[str, Any] | None = None) -> FuzzRun:
    """`st run` over `document` against `base_url`, read back into a `FuzzRun`."""
    budget = budget or Budget()
    files = Files.prepared(workdir, document, budget, aimed or {})
    run = FuzzRun(caller)
    started = time.monotonic()
    errors = ServerErrors()
    with errors.attached():
        async with token_server(mint) as minting:
            env = {**os.environ, "SCHEMATHESIS_HOOKS": HOOKS_MODULE, LOG_ENV: str(files.log), MINT_ENV: minting,
                   CALLER_ENV: str(caller.user_id), AIMED_ENV: str(files.aimed), "NO_COLOR": "1"}
            command = [sys.executable, "-m", "schemathesis.cli", "--config-file", str(files.config), "run",
                       str(files.schema), "--url", base_url, "--phases", ",".join(PHASES),
                       "--checks", ",".join(CHECKS), "--report", "json", "--report-json-path", str(files.report),
                       "--no-color"]
            with open(files.output, "wb") as output:  # noqa: ASYNC230 - opening a local file does not block
                # In its own directory: schemathesis and Hypothesis keep caches in the working directory.
                process = await asyncio.create_subprocess_exec(
                    *command, env=env, cwd=files.schema.parent, stdout=output, stderr=asyncio.subprocess.STDOUT,
                    stdin=asyncio.subprocess.DEVNULL)
                try:
                    run.returncode = await asyncio.wait_for(process.wait(), budget.timeout_seconds)
                except TimeoutError:
                    process.kill()
                    await process.wait()
                    raise
    run.seconds = time.monotonic() - started
    files.read_into(run, errors, document)
    return run


def _read_log(run: FuzzRun, path: Path, causes: ServerErrors, declared: dict[str, bool]) -> None:
    for line in path.read_text().splitlines():
        record = json.loads(line)
        kind = Record(record["kind"])
        if kind is Record.CALL:
            run.requests += 1
            run.statuses[record["status"]] += 1
        elif kind is Record.ROTATION:
            run.rotations += 1
        elif kind is Record.BROKEN_DECLARATION:
            run.broken_declarations[record["operation"]] = record["message"]
        elif kind is Record.NETWORK_ERROR:
            run.requests += 1
            run.findings.append(Finding(Check.NETWORK, record["operation"], None, "Network error", "",
                                        "the connection failed (reset or closed without an answer)",
                                        record["request"], ""))
        elif kind is Record.FAILURE:
            operation = record["operation"]
            if record["check"] == Check.CONFORMANCE and not declared.get(operation, False):
                run.skipped_conformance[operation] += 1  # the route declares no model: nothing to conform to
                continue
            run.findings.append(Finding(
                check=record["check"], operation=operation, status=record["status"], title=record["title"],
                message=record["message"], cause=_cause(record, causes), request=record["request"],
                response=record["response"], hostile=record.get("hostile"), connection=record.get("connection"),
            ))


def _cause(record: dict[str, Any], causes: ServerErrors) -> str:
    if record["check"] == Check.CONFORMANCE:
        lines = [line.strip() for line in record["message"].splitlines() if line.strip()]
        where = next((line.rstrip(":") for line in lines if line.startswith("Schema at")), "")
        first = lines[0] if lines else record["title"]
        return f"answer breaks its schema: {_generalized(first)}" + (f" ({where})" if where else "")
    logged = causes.cause_of(record.get("request_id"), record["request"]["method"], record["request"]["url"])
    if logged:
        return logged
    return f"{record['status']} {_generalized(record['response'][:160])}"


def _generalized(text: str) -> str:
    """The text with its numbers and quoted values blanked, so one cause groups many requests."""
    text = re.sub(r"'[^']*'|\"[^\"]*\"", "…", text)
    return re.sub(r"\d+", "N", text)


def grouped(findings: list[Finding]) -> dict[tuple[str, str], list[Finding]]:
    groups: dict[tuple[str, str], list[Finding]] = defaultdict(list)
    for finding in findings:
        groups[(finding.operation, finding.cause)].append(finding)
    return dict(sorted(groups.items()))


def describe(run: FuzzRun) -> str:
    """Counts, then every finding grouped by route and cause, with one request that reproduces it."""
    lines = [f"schemathesis as {run.caller.name}: {run.requests} requests in {run.seconds:.0f}s "
             f"(exit {run.returncode}, {run.rotations} fresh tokens), statuses {dict(sorted(run.statuses.items()))}"]
    cases = run.summary.get("test_cases") if run.summary else None
    if cases:
        lines.append(f"  schemathesis counted: {cases}")
    if run.skipped_conformance:
        lines.append(f"  not counted (no declared model): {dict(run.skipped_conformance)}")
    for operation, message in sorted(run.broken_declarations.items()):
        lines.append(f"  {operation}: its declaration is broken ({message}); no hostile examples")
    for error in run.tool_errors:
        lines.append(f"  schemathesis could not run some cases: {error['title']} x{error['count']} (see st.log)")
    for title, findings in (("5xx and broken connections", run.server_errors),
                            ("answers that break their declared schema", run.conformance_failures)):
        groups = grouped(findings)
        lines.append(f"  {title}: {len(findings)} answers in {len(groups)} groups")
        for (operation, cause), members in groups.items():
            example = members[0]
            lines.append(f"    {operation} (x{len(members)}): {cause}")
            body = example.request.get("body") or ""
            lines.append(f"      e.g. {example.request.get('method')} {example.request.get('url')}"
                         + (f" body={body[:300]}" if body else "")
                         + (f" [varies {example.hostile}]" if example.hostile else ""))
            if example.check == Check.SERVER_ERROR and (example.connection or "").lower() != "close":
                lines.append("      and the 500 did not close its connection")
    return "\n".join(lines)
