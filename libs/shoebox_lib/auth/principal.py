from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Principal:
    """Who is calling, as their verified token says."""

    user_id: int
    session_id: str | None
    permissions: frozenset[str]
    is_admin: bool
    token: str  # the raw JWT, forwarded on the few synchronous calls made on the caller's behalf

    def can(self, permission: str) -> bool:
        return self.is_admin or permission in self.permissions or "*" in self.permissions
