"""Finding another account by its address: whom to share with, and the public key to seal for them."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select

from shoebox_auth.models import EnteKeyAttributes, User
from shoebox_lib.db import Database
from shoebox_lib.errors import NotFound


@dataclass(frozen=True)
class Listing:
    """An active account, found by its address. `public_key` is that of its Ente key attributes, if any."""

    user_id: int
    email: str
    public_key: str | None


class Directory:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def by_email(self, email: str) -> Listing:
        """The active account of an address (compared trimmed, in any case); NotFound otherwise."""
        async with self.db.transaction() as session:
            row = (await session.execute(
                select(User.id, User.email, EnteKeyAttributes.attributes).outerjoin(EnteKeyAttributes)
                .where(func.lower(User.email) == email.strip().lower(), User.is_active.is_(True))
            )).first()
        if row is None or row.email is None:
            raise NotFound("No user with this email")
        public_key = (row.attributes or {}).get("publicKey")
        return Listing(user_id=row.id, email=row.email, public_key=public_key if isinstance(public_key, str) else None)
