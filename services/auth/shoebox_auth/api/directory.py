"""Finding another user to share with: Ente's `GET /users/public-key?email=`."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query
from sqlalchemy import func, select

from shoebox_auth.api.deps import Auth
from shoebox_auth.models import EnteKeyAttributes, User
from shoebox_lib.auth import CurrentUser
from shoebox_lib.errors import NotFound

router = APIRouter(tags=["directory"])


@router.get("/users/public-key")
async def public_key(user: CurrentUser, auth: Auth, email: str = Query(min_length=3, max_length=320)
                     ) -> dict[str, Any]:
    """Signed-in callers only, as Ente does: a sharer needs the sharee's public key to seal the album key."""
    async with auth.db.transaction() as session:
        row = (await session.execute(
            select(User.id, EnteKeyAttributes.attributes).outerjoin(EnteKeyAttributes)
            .where(func.lower(User.email) == email.strip().lower(), User.is_active.is_(True))
        )).first()
    if row is None:
        raise NotFound("No user with this email")
    attributes = row.attributes or {}
    return {"userID": row.id, "publicKey": attributes.get("publicKey", "")}
