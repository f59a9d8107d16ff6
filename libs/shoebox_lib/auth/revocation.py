"""Revoked sessions, known to every process without asking auth per request.

Each process follows `sessions.revoked` with its own ordered (ephemeral) consumer, from the stream's start;
a revocation older than a token lifetime concerns only tokens that have expired anyway, and is forgotten.
Every replica sees every revocation, within milliseconds of auth committing it.
"""

from __future__ import annotations

import logging
import time

from nats.js.api import DeliverPolicy
from pydantic import ValidationError

from shoebox_lib.bus.connection import Bus
from shoebox_lib.events import Envelope, SessionsRevoked

log = logging.getLogger(__name__)


class RevocationList:
    def __init__(self, token_ttl_seconds: int) -> None:
        self.ttl = token_ttl_seconds
        self._sessions: dict[str, float] = {}  # session id → when we may forget it (epoch seconds)
        self._users: dict[int, float] = {}  # user id → tokens issued at or before this are refused
        self.applied = 0

    def apply(self, event: SessionsRevoked) -> None:
        forget_at = event.revoked_at.timestamp() + self.ttl
        for session_id in event.session_ids:
            self._sessions[session_id] = forget_at
        if event.all_sessions:
            self._users[event.user_id] = max(self._users.get(event.user_id, 0.0), event.revoked_at.timestamp())
        self.applied += 1
        self._prune()

    def _prune(self) -> None:
        now = time.time()
        self._sessions = {sid: at for sid, at in self._sessions.items() if at > now}
        self._users = {uid: at for uid, at in self._users.items() if at + self.ttl > now}

    def is_revoked(self, user_id: int, session_id: str | None, issued_at: float) -> bool:
        if session_id is not None and session_id in self._sessions:
            return True
        cutoff = self._users.get(user_id)
        return cutoff is not None and issued_at <= cutoff

    async def follow(self, bus: Bus) -> None:
        # From the stream's start, not one token lifetime back: an ordered consumer lost with its server (a
        # NATS restart) is made again from its last sequence, and nats-py keeps a start time beside it, which
        # the server refuses for good. Revocations are few, and those older than a token's life are forgotten
        # as they are applied.
        subscription = await bus.js.subscribe(
            bus.subject(SessionsRevoked.subject_pattern()),
            ordered_consumer=True,
            deliver_policy=DeliverPolicy.ALL,
        )
        async for message in subscription.messages:
            try:
                self.apply(SessionsRevoked.model_validate(Envelope.model_validate_json(message.data).data))
            except ValidationError:
                log.warning("ignoring a malformed sessions.revoked message")
