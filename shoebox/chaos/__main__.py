"""`python -m shoebox.chaos [--bounded] [--only FAULT] [--keep]`: every fault in turn on one topology (or those
of one kind, to try a fix again without the whole run), then the report; the exit status is 1 when any check
failed."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import sys

from shoebox.chaos.faults import FaultKind
from shoebox.chaos.report import markdown
from shoebox.chaos.run import BOUNDED, FULL, run_plan


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shoebox.chaos", description=__doc__)
    parser.add_argument("--bounded", action="store_true", help="the short faults `make test` runs")
    parser.add_argument("--only", choices=[kind.name.lower() for kind in FaultKind],
                        help="run only the faults of this kind")
    parser.add_argument("--keep", action="store_true", help="keep the data and the processes' logs")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    plan = BOUNDED if args.bounded else FULL
    if args.only:
        plan = dataclasses.replace(plan, faults=tuple(f for f in plan.faults if f.kind.name.lower() == args.only))
    rows = asyncio.run(run_plan(plan, keep=args.keep))
    print(markdown(rows))
    return 0 if all(row.ok for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
