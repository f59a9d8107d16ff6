"""`shoebox worker --module pkg.mod`: run a plug-in worker's task functions against an installation.

The module either defines a `Worker` at module level (`worker = Worker()` with `@worker.task(...)`
functions; the command fills in what it was not given) or registers functions with
`shoebox_lib.worker.runtime.task(...)`. The worker talks only to NATS and to presigned URLs, with the
credential an admin issued; it never needs the database or the installation secret.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import os
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from shoebox_lib.worker.runtime import Worker

CREDENTIAL_ENV = "SHOEBOX_WORKER_CREDENTIAL"


def add_parser(commands: Any) -> None:
    """The `worker` subcommand, on the CLI's subparsers."""
    parser: argparse.ArgumentParser = commands.add_parser(
        "worker", help="run a plug-in worker: the task functions of a Python module, over the bus")
    parser.add_argument("--module", required=True,
                        help="the module defining the tasks (a module-level Worker, or @task functions)")
    parser.add_argument("--nats", default=None,
                        help="NATS URL of the installation; default SHOEBOX_NATS_URL, else nats://127.0.0.1:4222")
    parser.add_argument("--prefix", default=None,
                        help="the installation's bus prefix; default SHOEBOX_BUS_PREFIX, else shoebox")
    parser.add_argument("--credential", default=None,
                        help=f"the worker credential an admin issued; default {CREDENTIAL_ENV}")
    parser.add_argument("--slots", type=int, default=None, help="jobs run at once; default the module's, else 2")
    parser.add_argument("--worker-id", default=None, help="default host-pid-random")
    parser.add_argument("--app-dir", type=Path, default=Path("."),
                        help="a directory put first on the import path (default: the current one)")
    parser.add_argument("--log-level", default=os.environ.get("SHOEBOX_LOG_LEVEL", "INFO"))


def load_worker(module_name: str, app_dir: Path | None = None) -> Worker:
    """The module's Worker, or a new one with the functions it registered with `task(...)`."""
    from shoebox_lib.worker.runtime import Worker, registered_tasks

    if app_dir is not None:
        sys.path.insert(0, str(app_dir.resolve()))
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name and module_name.startswith(error.name):
            raise SystemExit(f"shoebox worker: no module {module_name!r} on the import path "
                             f"(run from its project, or give --app-dir): {error}") from error
        raise  # the module was found and one of its own imports is missing: the traceback says which
    workers = [value for value in vars(module).values() if isinstance(value, Worker)]
    if len(workers) > 1:
        raise SystemExit(f"shoebox worker: {module_name} defines {len(workers)} Worker objects; keep one")
    worker = workers[0] if workers else Worker()
    for name, fn in registered_tasks().items():
        if name not in worker.task_types:
            worker.add_task(name, fn)
    if not worker.task_types:
        raise SystemExit(f"shoebox worker: {module_name} defines no task (use @worker.task(name) or @task(name))")
    return worker


def run(args: argparse.Namespace) -> None:
    from shoebox_lib.logs import configure_logging

    configure_logging(args.log_level)
    worker = load_worker(args.module, args.app_dir)
    # Flags first, then the environment, then what the module set.
    worker.nats_url = args.nats or os.environ.get("SHOEBOX_NATS_URL") or worker.nats_url or "nats://127.0.0.1:4222"
    worker.prefix = args.prefix or os.environ.get("SHOEBOX_BUS_PREFIX") or worker.prefix
    worker.credential = args.credential or os.environ.get(CREDENTIAL_ENV) or worker.credential
    if args.slots is not None:
        worker.slots = args.slots
    if args.worker_id:
        worker.worker_id = args.worker_id
    if not worker.credential:
        raise SystemExit(f"shoebox worker: no credential: pass --credential or set {CREDENTIAL_ENV} "
                         "(an admin issues one)")
    try:
        asyncio.run(_serve(worker))
    except ValueError as error:  # a configuration the worker refuses: say so, without a traceback
        raise SystemExit(f"shoebox worker: {error}") from error


async def _serve(worker: Worker) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, worker.stop)
    await worker.run()
