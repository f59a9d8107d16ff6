"""The bounded chaos suite (issue 15), inside `make test`: two processes of every service over one PostgreSQL,
one NATS and three filesystem tiers, a few uploads a second, and each fault in turn, short. After each, once
the system has caught up: nothing lost, nothing done twice, no dead letters, every outbox empty, a hold for
each open session and none other. `make chaos` runs the same faults longer and more often."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from shoebox.chaos.faults import Fault, FaultKind
from shoebox.chaos.report import Row, markdown
from shoebox.chaos.run import BOUNDED, Session
from shoebox.chaos.topology import Topology


@pytest.fixture(scope="module")
async def chaos() -> AsyncIterator[Session]:
    async with Topology() as topology:
        yield await Session.open(topology, BOUNDED)


def _fault(kind: FaultKind) -> Fault:
    return next(fault for fault in BOUNDED.faults if fault.kind is kind)


async def _survives(chaos: Session, kind: FaultKind) -> Row:
    row = await chaos.run(_fault(kind))
    print(markdown([row]))
    assert row.completed > 0, row  # the load got through at all
    assert row.problems == [], markdown([row])
    assert (row.lost, row.duplicated, row.dead_letters) == (0, 0, 0), markdown([row])
    assert row.verified == row.completed
    assert row.convergence is not None  # every check held (outboxes empty, holds == open sessions) in time
    return row


async def test_kill_9_of_one_process_of_each_service_under_load(chaos: Session) -> None:
    await _survives(chaos, FaultKind.KILL)


async def test_nats_down_under_load(chaos: Session) -> None:
    await _survives(chaos, FaultKind.NATS_DOWN)


async def test_postgres_down_under_load(chaos: Session) -> None:
    await _survives(chaos, FaultKind.POSTGRES_DOWN)


async def test_secondary_full_then_freed_under_load(chaos: Session) -> None:
    await _survives(chaos, FaultKind.TIER_FULL)


async def test_auth_down_while_metadata_restarts(chaos: Session) -> None:
    await _survives(chaos, FaultKind.AUTH_DOWN_RESTART)
