"""The broker's side of the worker protocol (`shoebox_lib.worker.protocol`) on the bus: each request is
checked (its body, its credential) and answered from `Broker`. A malformed or refused request gets an
`ErrorReply`; nothing a worker sends can raise here."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from pydantic import BaseModel, ValidationError

from shoebox_compute.broker import Broker, CredentialRefused
from shoebox_lib.bus import Bus
from shoebox_lib.worker.protocol import (
    Completion,
    CompletionReply,
    ErrorReply,
    LeaseReply,
    LeaseRequest,
    OutputReply,
    OutputRequest,
    ProgressReply,
    ProgressReport,
    Signed,
    Subject,
    WorkerStatus,
)

log = logging.getLogger(__name__)

MAX_REQUEST_BYTES = 256 * 1024
M = TypeVar("M", bound=Signed)


class Dispatcher:
    def __init__(self, bus: Bus, broker: Broker) -> None:
        self.bus = bus
        self.broker = broker

    async def wake(self, task_type: str) -> None:
        await self.bus.core.publish(self.bus.subject(f"{Subject.WAKE}.{task_type}"), b"")

    async def run(self) -> None:
        """Serve until cancelled; in a queue group, so several compute processes share the requests."""
        subscriptions: list[Subscription] = []
        routes: list[tuple[Subject, Callable[[Msg], Awaitable[None]]]] = [
            (Subject.WORKERS, self._workers), (Subject.LEASE, self._lease), (Subject.OUTPUT, self._output),
            (Subject.PROGRESS, self._progress), (Subject.COMPLETE, self._complete),
        ]
        try:
            for subject, handler in routes:
                subscriptions.append(await self.bus.core.subscribe(
                    self.bus.subject(subject), queue="compute-broker", cb=self._guarded(handler)))
            await asyncio.Event().wait()
        finally:
            for subscription in subscriptions:
                with contextlib.suppress(Exception):
                    await subscription.unsubscribe()

    def _guarded(self, handler: Callable[[Msg], Awaitable[None]]) -> Callable[[Msg], Awaitable[None]]:
        async def guarded(msg: Msg) -> None:
            try:
                await handler(msg)
            except Exception:
                log.exception("worker request on %s failed", msg.subject)
                await self._reply(msg, ErrorReply(error="the broker could not handle this request"))

        return guarded

    @staticmethod
    async def _reply(msg: Msg, answer: BaseModel) -> None:
        if msg.reply:
            await msg.respond(answer.model_dump_json().encode())

    async def _read(self, msg: Msg, model: type[M]) -> tuple[M, str] | None:
        """The request and its credential's id, or None once it has been answered with an error."""
        if len(msg.data) > MAX_REQUEST_BYTES:
            await self._reply(msg, ErrorReply(error="request too large"))
            return None
        try:
            request = model.model_validate_json(msg.data)
        except ValidationError as exc:
            await self._reply(msg, ErrorReply(error=f"malformed request: {exc.errors(include_url=False)[:3]}"))
            return None
        try:
            credential_id = await self.broker.check_credential(request.credential)
        except CredentialRefused as exc:
            await self._reply(msg, ErrorReply(error=f"credential refused: {exc}"))
            return None
        return request, credential_id

    async def _workers(self, msg: Msg) -> None:
        found = await self._read(msg, WorkerStatus)
        if found is not None:
            await self.broker.heard(*found)

    async def _lease(self, msg: Msg) -> None:
        found = await self._read(msg, LeaseRequest)
        if found is not None:
            request = found[0]
            jobs = await self.broker.lease(request.worker_id, request.task_types, request.slots)
            await self._reply(msg, LeaseReply(jobs=jobs))

    async def _output(self, msg: Msg) -> None:
        found = await self._read(msg, OutputRequest)
        if found is None:
            return
        try:
            url, headers = await self.broker.output_url(found[0])
        except (LookupError, ValueError) as exc:
            await self._reply(msg, ErrorReply(error=str(exc)))
            return
        await self._reply(msg, OutputReply(url=url, headers=headers))

    async def _progress(self, msg: Msg) -> None:
        found = await self._read(msg, ProgressReport)
        if found is not None:
            request = found[0]
            keep_going = await self.broker.progress(request.worker_id, request.job_id, request.progress)
            await self._reply(msg, ProgressReply(keep_going=keep_going))

    async def _complete(self, msg: Msg) -> None:
        found = await self._read(msg, Completion)
        if found is not None:
            await self._reply(msg, CompletionReply(accepted=await self.broker.complete(found[0])))
