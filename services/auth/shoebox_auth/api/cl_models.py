"""The CL face's answers (reference/cl-api.md), in its snake_case."""

from __future__ import annotations

from pydantic import BaseModel

from shoebox_auth.models import User


class ClToken(BaseModel):
    access_token: str
    token_type: str = "bearer"


class ClPublicKey(BaseModel):
    public_key: str  # PEM
    algorithm: str


class ClUser(BaseModel):
    id: int
    username: str | None
    email: str | None
    is_admin: bool
    is_active: bool
    permissions: list[str]
    created_at: str  # CL's naive ISO datetime, in UTC


def cl_user(user: User) -> ClUser:
    return ClUser(id=user.id, username=user.username or user.email, email=user.email, is_admin=user.is_admin,
                  is_active=user.is_active, permissions=list(user.permissions),
                  created_at=user.created_at.replace(tzinfo=None).isoformat())
