"""The `shoebox` command."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from shoebox import dead_command, replicas_command, routing, worker_command


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="shoebox", description="Self-hostable media storage")
    commands = parser.add_subparsers(dest="command", required=True)

    dev = commands.add_parser("dev", help="run the whole system on one machine, behind one port")
    dev.add_argument("--data-dir", type=Path, default=Path(".shoebox"))
    dev.add_argument("--port", type=int, default=8000)
    dev.add_argument("--host", default="127.0.0.1")
    dev.add_argument("--workers", type=_positive, default=None, metavar="N",
                     help="processes running the services, beside the one embedded PostgreSQL and NATS (default: "
                          "one per core beyond the first, at most 4; 1 on a machine of 2 cores or fewer)")

    serve = commands.add_parser("serve", help="run one service alone, as a container would")
    serve.add_argument("service", choices=[*routing.SERVICES, routing.DATAPLANE])
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--host", default="0.0.0.0")
    serve.add_argument("--workers", type=_positive, default=1, metavar="N",
                       help="processes serving the service on the one port (default 1); each has its own "
                            "database pool and bus connection, and /metrics sums them all")

    migrate = commands.add_parser("migrate", help="run database migrations (all services, or one)")
    migrate.add_argument("service", nargs="?", choices=routing.SERVICES)

    rotate = commands.add_parser("rotate-keys", help="one step of a signing key rotation (run twice, minutes apart)")
    rotate.add_argument("--force", action="store_true", help="promote the next key without waiting for caches")

    cors = commands.add_parser("cors", help="set the CORS rules browser uploads need on every bucket "
                                            "(ETag and Location exposed)")
    cors.add_argument("--origin", action="append", required=True, help="a page origin allowed to upload (repeat)")

    config = commands.add_parser("config", help="print every setting: its environment variable, current value "
                                                "(secrets masked) and where it came from")
    config.add_argument("--json", action="store_true", help="as JSON, with each setting's default and meaning")

    worker_command.add_parser(commands)
    replicas_command.add_parser(commands)
    dead_command.add_parser(commands)

    args = parser.parse_args(argv)
    if args.command == "dev":
        from shoebox.dev import run_dev

        run_dev(args.data_dir, args.port, args.host, args.workers)
    elif args.command == "serve":
        _serve(args.service, args.host, args.port, args.workers)
    elif args.command == "migrate":
        _migrate(args.service)
    elif args.command == "cors":
        _cors(args.origin)
    elif args.command == "config":
        from shoebox.config_report import print_config

        print_config(args.json)
    elif args.command == "worker":
        worker_command.run(args)
    elif args.command == "replicas":
        raise SystemExit(replicas_command.run(args))
    elif args.command == "dead":
        raise SystemExit(dead_command.run(args))
    elif args.command == "rotate-keys":
        print(asyncio.run(_rotate_keys(args.force)))


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, not {value}")
    return value


def _serve(service: str, host: str, port: int, workers: int) -> None:
    from shoebox.serving import serve_service
    from shoebox_lib.logs import configure_logging
    from shoebox_lib.settings import get_settings

    settings = get_settings()
    configure_logging(settings.log_level)
    serve_service(service, settings, host, port, workers)


def _cors(origins: list[str]) -> None:
    from shoebox_lib.settings import get_settings
    from shoebox_lib.storage.cors import set_browser_cors

    for bucket, rules in asyncio.run(set_browser_cors(get_settings(), origins)).items():
        for rule in rules:
            print(f"{bucket}: {', '.join(rule.allowed_methods)} from {', '.join(rule.allowed_origins)}; "
                  f"exposes {', '.join(rule.expose_headers)}")


def _migrate(service: str | None) -> None:
    from shoebox.services import migrate_all, migrations
    from shoebox_lib.settings import get_settings

    settings = get_settings()
    if service:
        migrations(service).upgrade(settings.database_url)
    else:
        asyncio.run(migrate_all(settings))


async def _rotate_keys(force: bool) -> str:
    from shoebox_auth.keys import KeyRing
    from shoebox_lib.db import Database
    from shoebox_lib.settings import get_settings

    settings = get_settings()
    db = Database(settings.database_url)
    try:
        outcome: str = await KeyRing(db, settings).rotate(force=force)
        return outcome
    finally:
        await db.close()
